#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy, at the
# versions pinned in hack/kube-binaries/go.mod and hack/kube-binaries/etcd/go.mod,
# into ${MNP_CACHE_DIR:-$HOME/.cache/mnp}/kube/<k8s>-etcd<etcd>/bin/.
#
# Skips the build when that directory's VERSIONS file names the pinned versions.
# On failure it prints the compiler's errors and exits non-zero; it never falls
# back to other binaries.
#
# Usage: hack/build-kube-binaries.sh [--print-bin-dir] [--force]
#   --print-bin-dir  print the bin directory for the pinned versions and exit
#   --force          rebuild even when VERSIONS matches
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_MODULE_DIR="$HERE/kube-binaries"
ETCD_MODULE_DIR="$HERE/kube-binaries/etcd"

log() { printf '[build-kube-binaries] %s\n' "$*" >&2; }
die() { printf '[build-kube-binaries] ERROR: %s\n' "$*" >&2; exit 1; }

print_only=false
force=false
for arg in "$@"; do
  case "$arg" in
    --print-bin-dir) print_only=true ;;
    --force) force=true ;;
    *) die "unknown argument '$arg' (expected --print-bin-dir or --force)" ;;
  esac
done

# The go.mod files are the single source of the pinned versions.
pinned_version() { # <go.mod> <module path>
  local v
  v="$(awk -v m="$2" '$1 == "require" && $2 == m { print $3 } $1 == m && $2 ~ /^v/ { print $2 }' "$1" | head -n1)"
  [[ -n "$v" ]] || die "cannot find the version of $2 in $1"
  printf '%s' "$v"
}
K8S_VERSION="$(pinned_version "$K8S_MODULE_DIR/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(pinned_version "$ETCD_MODULE_DIR/go.mod" go.etcd.io/etcd/server/v3)"

CACHE_DIR="${MNP_CACHE_DIR:-$HOME/.cache/mnp}"
TARGET_DIR="$CACHE_DIR/kube/${K8S_VERSION}-etcd${ETCD_VERSION#v}"
BIN_DIR="$TARGET_DIR/bin"
VERSIONS_FILE="$BIN_DIR/VERSIONS"
WANTED_VERSIONS="kubernetes=$K8S_VERSION
etcd=$ETCD_VERSION"

if $print_only; then
  printf '%s\n' "$BIN_DIR"
  exit 0
fi

# One build at a time per version directory: a second caller waits, then finds it done.
mkdir -p "$TARGET_DIR"
exec 9>"$TARGET_DIR/.lock"
if ! flock -n 9; then
  log "another build of these versions is running; waiting for it to finish"
  flock 9
fi

binaries_present() {
  [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kubectl" && -x "$BIN_DIR/etcd" ]]
}
if ! $force && binaries_present && [[ -f "$VERSIONS_FILE" ]] &&
  [[ "$(grep -E '^(kubernetes|etcd)=' "$VERSIONS_FILE")" == "$WANTED_VERSIONS" ]]; then
  log "up to date: $BIN_DIR (kubernetes $K8S_VERSION, etcd $ETCD_VERSION)"
  exit 0
fi

# Where the Go toolchain usually lives when it is not on a non-login PATH.
command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 ||
  die "the 'go' command is not on PATH; install Go >= 1.25 (e.g. /usr/local/go/bin) and rerun"
GO_VERSION="$(go env GOVERSION)"

# A fresh staging directory, moved into place only after every binary built, so a
# half-finished build is never taken for a finished one.
STAGING="$(mktemp -d "$TARGET_DIR/.build.XXXXXX")"
BUILD_LOG="$TARGET_DIR/build.log"
: >"$BUILD_LOG"
ticker_pid=""
cleanup() {
  if [[ -n "$ticker_pid" ]]; then kill "$ticker_pid" 2>/dev/null || true; fi
  rm -rf "$STAGING"
}
trap cleanup EXIT

# Prints how many packages `go build -v` has compiled so far, every 30 s, so a
# 20-minute cold build on 2 cores visibly makes progress.
start_ticker() { # <label>
  local label="$1" start=$SECONDS
  (
    # The sleep is killed with the ticker, so no orphan keeps our stderr open after we exit.
    sleep_pid=""
    trap 'if [[ -n "$sleep_pid" ]]; then kill "$sleep_pid" 2>/dev/null; fi; exit 0' TERM
    while true; do
      sleep 30 &
      sleep_pid=$!
      wait "$sleep_pid"
      log "$label: $(grep -c -v -E '^(#|go: downloading)' "$BUILD_LOG" || true) packages compiled so far, $((SECONDS - start))s elapsed"
    done
  ) &
  ticker_pid=$!
}
stop_ticker() {
  kill "$ticker_pid" 2>/dev/null || true
  wait "$ticker_pid" 2>/dev/null || true
  ticker_pid=""
}

run_build() { # <label> <module dir> <go build args...>
  local label="$1" dir="$2"
  shift 2
  log "$label: go build in $dir (log: $BUILD_LOG)"
  start_ticker "$label"
  local rc=0
  (cd "$dir" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -v -trimpath "$@") >>"$BUILD_LOG" 2>&1 || rc=$?
  stop_ticker
  if [[ $rc -ne 0 ]]; then
    log "$label: go build failed (exit $rc); the last lines of $BUILD_LOG:"
    grep -v -E '^[a-zA-Z0-9._/-]+$' "$BUILD_LOG" | tail -n 40 >&2 || true
    die "$label did not build with $GO_VERSION; fix the error above (no fallback binaries are used)"
  fi
  log "$label: done"
}

# Version stamps that `kubectl version` and the apiserver's /version report, as
# k8s' hack/lib/version.sh sets them; the build date is the release's tag time
# so that rebuilds are reproducible.
k8s_release_time="$(cd "$K8S_MODULE_DIR" && GOFLAGS=-mod=readonly go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes 2>>"$BUILD_LOG")" ||
  die "cannot resolve k8s.io/kubernetes $K8S_VERSION from the module proxy; see $BUILD_LOG"
k8s_minor="${K8S_VERSION#v1.}"
k8s_minor="${k8s_minor%%.*}"
k8s_ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$k8s_release_time"
done

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

printf '%s\ngo=%s\n' "$WANTED_VERSIONS" "$GO_VERSION" >"$STAGING/VERSIONS"
rm -rf "$BIN_DIR"
chmod 0755 "$STAGING"
mv "$STAGING" "$BIN_DIR"
log "built: $BIN_DIR"
cat "$BIN_DIR/VERSIONS" >&2
