#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy, at the
# versions pinned in hack/kube-binaries/go.mod and hack/kube-binaries/etcd/go.mod,
# into ${MNP_CACHE_DIR:-$HOME/.cache/mnp}/kube/<k8s>-etcd<etcd>/bin/.
#
# Other supported Kubernetes minors are pinned in hack/kube-binaries/v<minor>/go.mod;
# for those only kube-apiserver is built (the default kubectl and etcd serve them), into
# ${MNP_CACHE_DIR:-$HOME/.cache/mnp}/kube/<k8s>/bin/.
#
# Skips the build when that directory's VERSIONS file names the pinned versions.
# On failure it prints the compiler's errors and exits non-zero; it never falls
# back to other binaries.
#
# Usage: hack/build-kube-binaries.sh [--minor <1.NN> | --all] [--print-bin-dir] [--force]
#   --minor 1.37     build (or print) the kube-apiserver pinned in hack/kube-binaries/v1.37/
#   --all            the default versions, then every other pinned minor
#   --print-bin-dir  print the bin directory for the pinned versions and exit
#   --force          rebuild even when VERSIONS matches
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_MODULE_DIR="$HERE/kube-binaries"
ETCD_MODULE_DIR="$HERE/kube-binaries/etcd"

GO_BUILD_NAME=build-kube-binaries
# shellcheck source=hack/lib/go-build.sh
source "$HERE/lib/go-build.sh"

# Version stamps that `kubectl version` and the apiserver's /version report, as
# k8s' hack/lib/version.sh sets them; the build date is the release's tag time
# so that rebuilds are reproducible.
version_ldflags() { # <module dir> <k8s version>
  local release_time k8s_minor flags pkg
  release_time="$(cd "$1" && GOFLAGS=-mod=readonly go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes 2>>"$BUILD_LOG")" ||
    die "cannot resolve k8s.io/kubernetes $2 from the module proxy; see $BUILD_LOG"
  k8s_minor="${2#v1.}"
  k8s_minor="${k8s_minor%%.*}"
  flags="-s -w"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$2 -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    flags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$release_time"
  done
  printf '%s' "$flags"
}

# kube-apiserver alone from hack/kube-binaries/v<minor>/, for the other tested minors.
build_apiserver_only() { # <module dir>
  local version target bin wanted
  version="$(pinned_version "$1/go.mod" k8s.io/kubernetes)"
  target="$CACHE_DIR/kube/$version"
  bin="$target/bin"
  wanted="kubernetes=$version"
  if $print_only; then
    printf '%s\n' "$bin"
    return 0
  fi
  lock_target_dir "$target"
  if ! $force && binaries_up_to_date "$bin" "$wanted" kube-apiserver; then
    log "up to date: $bin (kube-apiserver $version)"
    return 0
  fi
  find_go
  start_staging "$target"
  local ldflags
  ldflags="$(version_ldflags "$1" "$version")"
  log "building kube-apiserver $version with $GO_VERSION into $bin"
  run_build "kube-apiserver $version" "$1" -ldflags="$ldflags" -o "$STAGING/" \
    k8s.io/kubernetes/cmd/kube-apiserver
  "$STAGING/kube-apiserver" --version 2>&1 | grep -q -F "$version" ||
    die "the built kube-apiserver does not report $version: $("$STAGING/kube-apiserver" --version 2>&1)"
  install_staging "$bin" "$wanted"
}

minor=""
all=false
build_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minor)
      [[ $# -ge 2 ]] || die "--minor needs a version such as 1.37"
      minor="$2"
      shift 2
      ;;
    --all) all=true && shift ;;
    *) build_args+=("$1") && shift ;;
  esac
done
parse_build_args "${build_args[@]+"${build_args[@]}"}"

# Every pinned minor besides the default, one directory each: hack/kube-binaries/v1.NN/.
other_minors() {
  local dir
  for dir in "$K8S_MODULE_DIR"/v1.*/; do
    if [[ -f "$dir/go.mod" ]]; then basename "$dir" | sed 's/^v//'; fi
  done
}

if $all; then
  bash "${BASH_SOURCE[0]}" "${build_args[@]+"${build_args[@]}"}"
  for m in $(other_minors); do
    bash "${BASH_SOURCE[0]}" --minor "$m" "${build_args[@]+"${build_args[@]}"}"
  done
  exit 0
fi

if [[ -n "$minor" ]]; then
  MINOR_MODULE_DIR="$K8S_MODULE_DIR/v$minor"
  [[ -f "$MINOR_MODULE_DIR/go.mod" ]] ||
    die "no Kubernetes $minor is pinned (expected $MINOR_MODULE_DIR/go.mod; pinned: $(other_minors | paste -sd' '))"
  build_apiserver_only "$MINOR_MODULE_DIR"
  exit 0
fi

K8S_VERSION="$(pinned_version "$K8S_MODULE_DIR/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(pinned_version "$ETCD_MODULE_DIR/go.mod" go.etcd.io/etcd/server/v3)"

TARGET_DIR="$CACHE_DIR/kube/${K8S_VERSION}-etcd${ETCD_VERSION#v}"
BIN_DIR="$TARGET_DIR/bin"
WANTED_VERSIONS="kubernetes=$K8S_VERSION
etcd=$ETCD_VERSION"

if $print_only; then
  printf '%s\n' "$BIN_DIR"
  exit 0
fi

lock_target_dir "$TARGET_DIR"
if ! $force && binaries_up_to_date "$BIN_DIR" "$WANTED_VERSIONS" kube-apiserver kubectl etcd; then
  log "up to date: $BIN_DIR (kubernetes $K8S_VERSION, etcd $ETCD_VERSION)"
  exit 0
fi

find_go
start_staging "$TARGET_DIR"

k8s_ldflags="$(version_ldflags "$K8S_MODULE_DIR" "$K8S_VERSION")"

log "building kubernetes $K8S_VERSION (kube-apiserver, kubectl) and etcd $ETCD_VERSION with $GO_VERSION into $BIN_DIR"
log "a cold build takes a long time on 2 cores; the Go build cache makes the next one fast"
run_build "kubernetes $K8S_VERSION" "$K8S_MODULE_DIR" -ldflags="$k8s_ldflags" -o "$STAGING/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
run_build "etcd $ETCD_VERSION" "$ETCD_MODULE_DIR" \
  -ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$STAGING/etcd" \
  go.etcd.io/etcd/server/v3

for b in kube-apiserver kubectl etcd; do
  [[ -x "$STAGING/$b" ]] || die "go build reported success but $STAGING/$b is missing"
done
"$STAGING/kubectl" version --client 2>&1 | grep -q -F "$K8S_VERSION" ||
  die "the built kubectl does not report $K8S_VERSION: $("$STAGING/kubectl" version --client 2>&1)"

install_staging "$BIN_DIR" "$WANTED_VERSIONS"
