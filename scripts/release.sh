#!/usr/bin/env bash
# Cross-builds the `claude-mem` binary for x86_64 and aarch64 Linux and x86_64 Windows, writes them with
# SHA-256 sums to target/dist/, and smoke-tests each on this machine: natively, under qemu-user
# (aarch64) and under wine (Windows): `serve` answers /api/health, `hook` stores a real Claude Code
# payload, `install` writes the hooks into a throwaway HOME.
#
#   scripts/release.sh                  # all three
#   RELEASE_TARGETS="x86_64-unknown-linux-gnu" scripts/release.sh
#   RELEASE_INSTALL=1 scripts/release.sh  # first install the cross toolchains (Debian, root)
#
# Toolchains (Debian 12): rustup targets aarch64-unknown-linux-gnu and x86_64-pc-windows-gnu, and the
# packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user mingw-w64 wine wine64. Debian's wine 8.0
# lacks bcryptprimitives.dll, which Rust's std imports for ProcessPrng; the smoke test puts a stub
# beside the exe (built here with mingw) that forwards to advapi32's SystemFunction036 (RtlGenRandom).
# The shipped exe does not carry the stub: real Windows has the DLL. At the end the plugin's launcher
# (plugin/bin/claude-mem-launch) is pinned to the new SHA256SUMS (scripts/pin-release.sh).
#
# Not in CI (three release builds take CI past its time); the last run's output is in
# docs/release-last-run.txt. macOS is not built here (no SDK on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGETS=${RELEASE_TARGETS:-"x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-pc-windows-gnu"}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DIST=$ROOT/target/dist
FIXTURES=${CLAUDE_MEM_FIXTURES:-$ROOT/../shared/fixtures/hooks}
mkdir -p "$DIST"

step() { printf '\n== %s\n' "$*"; }

if [[ ${RELEASE_INSTALL:-0} == 1 ]]; then
  step "toolchains"
  rustup target add aarch64-unknown-linux-gnu x86_64-pc-windows-gnu
  apt-get install -y -q gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user mingw-w64 wine wine64
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs one built binary through serve / hook / install. $1 = how to run it (a command prefix + path).
# Called in a subshell: it points HOME at a throwaway directory, which must not reach cargo and rustup.
smoke() {
  local name=$1; shift
  local run=("$@")
  local home; home=$(mktemp -d)
  local port; port=$(free_port)
  local data=$home/.claude-mem
  mkdir -p "$home/.claude"
  echo '{}' > "$home/.claude/settings.json"
  export HOME=$home CLAUDE_MEM_DATA_DIR=$data CLAUDE_MEM_PORT=$port CLAUDE_MEM_EMBEDDER=hash \
    CLAUDE_MEM_COMPRESSOR=local CLAUDE_MEM_MODEL_DOWNLOAD=off CLAUDE_MEM_AUTOSTART=0 WINEDEBUG=-all
  "${run[@]}" serve > "$home/serve.log" 2>&1 &
  local pid=$!
  local ok=""
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/api/health" -o "$home/health.json" 2>/dev/null; then ok=1; break; fi
    sleep 0.5
  done
  if [[ -z $ok ]]; then
    echo "FAIL $name: serve did not answer /api/health"; cat "$home/serve.log"; kill "$pid" 2>/dev/null; return 1
  fi
  echo "ok   $name: serve answers /api/health ($(python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); print(h.get("status"), h.get("version", ""))' "$home/health.json"))"
  "${run[@]}" hook PostToolUse < "$FIXTURES/PostToolUse.Bash.json" > "$home/hook.out"
  local stored=""
  for _ in $(seq 1 40); do
    local token; token=$(cat "$data/api-token")
    if curl -fsS -H "authorization: Bearer $token" "http://127.0.0.1:$port/api/health" 2>/dev/null \
      | python3 -c 'import json,sys; h=json.load(sys.stdin); sys.exit(0 if h["counts"]["events"] >= 1 else 1)' 2>/dev/null; then
      stored=1; break
    fi
    sleep 0.25
  done
  if [[ -z $stored ]]; then
    echo "FAIL $name: the hook's event was not stored"; cat "$home/serve.log"; kill "$pid" 2>/dev/null; return 1
  fi
  echo "ok   $name: hook PostToolUse stored"
  "${run[@]}" install > "$home/install.log" 2>&1
  # Windows finds the home through its known-folder API: under wine, the prefix's user profile.
  local written=("$home/.claude/settings.json")
  [[ -n ${WINEPREFIX:-} ]] && written+=("$WINEPREFIX"/drive_c/users/*/.claude/settings.json)
  if ! grep -qs 'claude-mem' "${written[@]}"; then
    echo "FAIL $name: install wrote no hooks"; cat "$home/install.log"; kill "$pid" 2>/dev/null; return 1
  fi
  echo "ok   $name: install wrote the hooks into the user's .claude/settings.json"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  rm -rf "$home"
}

prng_stub() {
  local dir=$1
  cat > "$dir/bcryptprimitives.c" <<'C'
#include <windows.h>
typedef BOOLEAN (WINAPI *RtlGenRandomFn)(PVOID, ULONG);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  static RtlGenRandomFn gen;
  if (!gen) gen = (RtlGenRandomFn)GetProcAddress(LoadLibraryA("advapi32.dll"), "SystemFunction036");
  if (!gen) return FALSE;
  while (len) {
    ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
    if (!gen(data, n)) return FALSE;
    data += n; len -= n;
  }
  return TRUE;
}
C
  x86_64-w64-mingw32-gcc -shared -O2 -o "$dir/bcryptprimitives.dll" "$dir/bcryptprimitives.c"
}

for target in $TARGETS; do
  step "build $target"
  start=$(date +%s)
  cargo build --release --locked -p claude-mem --target "$target"
  echo "built in $(( $(date +%s) - start )) s"
  exe=claude-mem; [[ $target == *windows* ]] && exe=claude-mem.exe
  out=$DIST/claude-mem-$VERSION-$target${exe#claude-mem}
  cp "target/$target/release/$exe" "$out"
  ls -la "$out"

  step "smoke $target"
  case $target in
    x86_64-unknown-linux-gnu) (smoke "$target" "$out") ;;
    aarch64-unknown-linux-gnu) (smoke "$target" qemu-aarch64 -L /usr/aarch64-linux-gnu "$out") ;;
    x86_64-pc-windows-gnu)
      dir=$(mktemp -d); cp "$out" "$dir/claude-mem.exe"; prng_stub "$dir"
      (WINEPREFIX=$dir/prefix smoke "$target" wine "$dir/claude-mem.exe") ;;
  esac
done
step "dist"
(cd "$DIST" && sha256sum claude-mem-"$VERSION"-* > SHA256SUMS && cat SHA256SUMS)
# Publish target/dist/ as the GitHub release v$VERSION (SHA256SUMS is its manifest: `claude-mem update`
# and the plugin's launcher read it), and commit the launcher pinned to these sums.
step "pin the plugin's launcher to this release"
scripts/pin-release.sh "$VERSION" "$DIST/SHA256SUMS"
