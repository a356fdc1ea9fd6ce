# Shared by the hack/build-*-binaries.sh scripts, which build pinned binaries from Go
# modules into ${MNP_CACHE_DIR:-$HOME/.cache/mnp}: argument parsing, the per-version
# lock, the up-to-date check, a progress ticker, staging directories that move into
# place only after every binary built, and failure reasons that name the Go version.
#
# Source it after setting GO_BUILD_NAME (the prefix of every message), under
# `set -euo pipefail`. Sets print_only, force and CACHE_DIR.

log() { printf '[%s] %s\n' "$GO_BUILD_NAME" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$GO_BUILD_NAME" "$*" >&2; exit 1; }

print_only=false
force=false
parse_build_args() { # "$@" of the script
  local arg
  for arg in "$@"; do
    case "$arg" in
      --print-bin-dir) print_only=true ;;
      --force) force=true ;;
      *) die "unknown argument '$arg' (expected --print-bin-dir or --force)" ;;
    esac
  done
}

CACHE_DIR="${MNP_CACHE_DIR:-$HOME/.cache/mnp}"

# The go.mod files are the single source of the pinned versions.
pinned_version() { # <go.mod> <module path>
  local v
  v="$(awk -v m="$2" '$1 == "require" && $2 == m { print $3 } $1 == m && $2 ~ /^v/ { print $2 }' "$1" | head -n1)"
  [[ -n "$v" ]] || die "cannot find the version of $2 in $1"
  printf '%s' "$v"
}

# One build at a time per version directory: a second caller waits, then finds it done.
lock_target_dir() { # <target dir>
  mkdir -p "$1"
  exec 9>"$1/.lock"
  if ! flock -n 9; then
    log "another build of these versions is running; waiting for it to finish"
    flock 9
  fi
}

# True when <bin dir> holds every named executable and its VERSIONS file has exactly
# the wanted name=version lines (other lines, such as go=, are not compared).
binaries_up_to_date() { # <bin dir> <wanted "name=version" lines> <binary>...
  local bin_dir="$1" wanted="$2" keys b
  shift 2
  for b in "$@"; do
    [[ -x "$bin_dir/$b" ]] || return 1
  done
  [[ -f "$bin_dir/VERSIONS" ]] || return 1
  keys="$(cut -d= -f1 <<<"$wanted" | paste -sd'|')"
  [[ "$(grep -E "^($keys)=" "$bin_dir/VERSIONS")" == "$wanted" ]]
}

# Where the Go toolchain usually lives when it is not on a non-login PATH. Sets GO_VERSION.
find_go() {
  command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null 2>&1 ||
    die "the 'go' command is not on PATH; install Go >= 1.25 (e.g. /usr/local/go/bin) and rerun"
  GO_VERSION="$(go env GOVERSION)"
}

# A fresh staging directory, moved into place only after every binary built, so a
# half-finished build is never taken for a finished one. Sets STAGING and BUILD_LOG;
# the EXIT trap removes every staging directory that was not moved into place.
STAGING_DIRS=()
ticker_pid=""
cleanup() {
  if [[ -n "$ticker_pid" ]]; then kill "$ticker_pid" 2>/dev/null || true; fi
  if [[ ${#STAGING_DIRS[@]} -gt 0 ]]; then rm -rf "${STAGING_DIRS[@]}"; fi
}
start_staging() { # <target dir>
  trap cleanup EXIT
  new_staging_dir STAGING "$1" .build
  BUILD_LOG="$1/build.log"
  : >"$BUILD_LOG"
}
new_staging_dir() { # <variable to set> <target dir> <name prefix>
  local dir
  dir="$(mktemp -d "$2/$3.XXXXXX")"
  STAGING_DIRS+=("$dir")
  printf -v "$1" '%s' "$dir"
}

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

# Replaces <dest> with a staging directory in one rename.
move_into_place() { # <staging dir> <dest>
  rm -rf "$2"
  chmod 0755 "$1"
  mv "$1" "$2"
}

# Writes VERSIONS (the wanted lines and go=) into $STAGING and moves it to <bin dir>.
install_staging() { # <bin dir> <wanted "name=version" lines>
  printf '%s\ngo=%s\n' "$2" "$GO_VERSION" >"$STAGING/VERSIONS"
  move_into_place "$STAGING" "$1"
  log "built: $1"
  cat "$1/VERSIONS" >&2
}
