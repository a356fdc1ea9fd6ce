#!/usr/bin/env bash
# Builds cert-manager's controller and cainjector from the Go module proxy, at the
# version pinned in hack/cert-manager/go.mod, into
# ${MNP_CACHE_DIR:-$HOME/.cache/mnp}/cert-manager/<version>/bin/, and copies the
# module's CRDs (deploy/crds/) beside them into .../cert-manager/<version>/crds/.
#
# The module's zip has no cmd/: hack/cert-manager/controller and .../cainjector are
# small mains over its library packages (self-signed and CA issuers, and the injector
# for webhook configurations).
#
# Skips the build when that directory's VERSIONS file names the pinned version and the
# CRDs are there. On failure it prints the compiler's errors and exits non-zero; it
# never falls back to other binaries.
#
# Usage: hack/build-cert-manager-binaries.sh [--print-bin-dir] [--force]
#   --print-bin-dir  print the bin directory for the pinned version and exit
#   --force          rebuild even when VERSIONS matches
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CM_MODULE_DIR="$HERE/cert-manager"
CM_MODULE=github.com/cert-manager/cert-manager
BINARIES=(cert-manager-controller cert-manager-cainjector)

GO_BUILD_NAME=build-cert-manager-binaries
# shellcheck source=hack/lib/go-build.sh
source "$HERE/lib/go-build.sh"
parse_build_args "$@"

CM_VERSION="$(pinned_version "$CM_MODULE_DIR/go.mod" "$CM_MODULE")"

TARGET_DIR="$CACHE_DIR/cert-manager/$CM_VERSION"
BIN_DIR="$TARGET_DIR/bin"
CRD_DIR="$TARGET_DIR/crds"
WANTED_VERSIONS="cert-manager=$CM_VERSION"

if $print_only; then
  printf '%s\n' "$BIN_DIR"
  exit 0
fi

crds_present() { compgen -G "$CRD_DIR/cert-manager.io_certificates.yaml" >/dev/null; }

lock_target_dir "$TARGET_DIR"
if ! $force && crds_present && binaries_up_to_date "$BIN_DIR" "$WANTED_VERSIONS" "${BINARIES[@]}"; then
  log "up to date: $BIN_DIR (cert-manager $CM_VERSION)"
  exit 0
fi

find_go
start_staging "$TARGET_DIR"

log "building cert-manager $CM_VERSION (controller, cainjector) with $GO_VERSION into $BIN_DIR"
log "a cold build takes several minutes on 2 cores; the Go build cache makes the next one fast"
run_build "cert-manager $CM_VERSION" "$CM_MODULE_DIR" -ldflags="-s -w" -o "$STAGING/" \
  ./controller ./cainjector
for b in controller cainjector; do
  [[ -x "$STAGING/$b" ]] || die "go build reported success but $STAGING/$b is missing"
  mv "$STAGING/$b" "$STAGING/cert-manager-$b"
  # The mains print the cert-manager module version linked into them.
  "$STAGING/cert-manager-$b" --version 2>&1 | grep -q -x -F "cert-manager-$b $CM_VERSION" ||
    die "the built cert-manager-$b does not report $CM_VERSION: $("$STAGING/cert-manager-$b" --version 2>&1)"
done

# The build downloaded and verified the module, so its directory is in the module cache.
cm_dir="$(cd "$CM_MODULE_DIR" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' "$CM_MODULE" 2>>"$BUILD_LOG")" ||
  die "cannot find the $CM_MODULE $CM_VERSION module directory; see $BUILD_LOG"
[[ -d "$cm_dir/deploy/crds" ]] || die "$cm_dir has no deploy/crds/ directory"
new_staging_dir crd_staging "$TARGET_DIR" .crds
cp "$cm_dir"/deploy/crds/*.yaml "$crd_staging/"
chmod 0644 "$crd_staging"/*.yaml
[[ -f "$crd_staging/cert-manager.io_certificates.yaml" ]] ||
  die "$cm_dir/deploy/crds/ has no cert-manager.io_certificates.yaml"

# The CRDs first: bin/ with its VERSIONS is what marks the build finished.
move_into_place "$crd_staging" "$CRD_DIR"
log "CRDs: $CRD_DIR"
install_staging "$BIN_DIR" "$WANTED_VERSIONS"
