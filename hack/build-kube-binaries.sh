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

GO_BUILD_NAME=build-kube-binaries
# shellcheck source=hack/lib/go-build.sh
source "$HERE/lib/go-build.sh"
parse_build_args "$@"

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

install_staging "$BIN_DIR" "$WANTED_VERSIONS"
