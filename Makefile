# Two commands from a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := ovn-central ovn-common openvswitch-common wrk
STAMP := $(VENV)/.installed

.PHONY: all demo test test-unit test-integration test-e2e lint deps system-deps venv kube-binaries cert-manager-binaries bench clean

all: test

# Debian packages for the real OVN (ovsdb-server, ovn-northd, ovn-nbctl, ovn-trace) and wrk.
system-deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The product editable with the dev and lab extras; the lab extra installs lab/ as a plain
# copy, so it is installed again editable (no deps) for lab edits to be live.
$(STAMP): pyproject.toml lab/pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,lab]'
	$(BIN)/pip install -q --no-deps -e ./lab
	@touch $@

venv: $(STAMP)

deps: system-deps venv

# kube-apiserver, kubectl and etcd built from Go modules, cached outside the tree, plus
# kube-apiserver at every other pinned minor (hack/kube-binaries/v1.NN/).
kube-binaries:
	@bash hack/build-kube-binaries.sh --all

# cert-manager's controller and cainjector built from Go modules, cached beside them.
cert-manager-binaries:
	@bash hack/build-cert-manager-binaries.sh

demo: deps kube-binaries cert-manager-binaries
	@bash hack/demo.sh

lint: venv
	$(BIN)/ruff check mnp webhook enforcer kubewatch lab tests bench
	$(BIN)/ruff format --check mnp webhook enforcer kubewatch lab tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test-unit: venv
	$(BIN)/pytest -q tests/unit

test-integration: deps
	$(BIN)/pytest -q tests/integration

test-e2e: deps kube-binaries cert-manager-binaries
	$(BIN)/pytest -q tests/e2e

test: deps kube-binaries cert-manager-binaries lint
	$(BIN)/pytest -q -p no:cacheprovider tests

# make bench BENCH_ARGS=--short for a brief run (under 3 minutes).
bench: deps
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
