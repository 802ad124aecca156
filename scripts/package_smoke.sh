#!/usr/bin/env bash
# Checks a built .deb the way a user gets it, without root or a container: `dpkg -x` into a throwaway
# root, then from there: both binaries are in /usr/bin, `claude-mem-app --help/--version` print and exit,
# the app (headless, temp HOME) hosts the worker, `claude-mem install` wires Claude Code's settings to the
# packaged CLI, and the hook command exactly as installed reaches the app's worker and is stored.
#
#   scripts/package_smoke.sh [path/to/claude-mem_*.deb]   (default: the newest under target/*/bundle/deb)
#
# scripts/package.sh builds the package (release); `cd src-tauri && ../frontend/node_modules/.bin/tauri
# bundle --bundles deb --debug` packages a debug app with the release CLI at target/release/claude-mem.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=${1:-$(ls -t target/*/bundle/deb/claude-mem_*.deb 2>/dev/null | head -1)}
[[ -f ${DEB:-} ]] || { echo "no .deb found: run scripts/package.sh first" >&2; exit 2; }
FIXTURES=${CLAUDE_MEM_FIXTURES:-$(pwd)/../shared/fixtures/hooks}
work=$(mktemp -d)
app_pid=""
cleanup() { [[ -n $app_pid ]] && kill "$app_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "package: $DEB ($(du -h "$DEB" | cut -f1))"
dpkg -x "$DEB" "$work/root"
cli=$work/root/usr/bin/claude-mem
app=$work/root/usr/bin/claude-mem-app
[[ -x $cli ]] || fail "the package has no /usr/bin/claude-mem"
[[ -x $app ]] || fail "the package has no /usr/bin/claude-mem-app"
echo "ok   /usr/bin/claude-mem and /usr/bin/claude-mem-app"

export HOME=$work/home CLAUDE_MEM_DATA_DIR=$work/home/.claude-mem CLAUDE_MEM_EMBEDDER=hash \
  CLAUDE_MEM_COMPRESSOR=local CLAUDE_MEM_MODEL_DOWNLOAD=off CLAUDE_MEM_AUTOSTART=0
mkdir -p "$HOME"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export CLAUDE_MEM_PORT=$port

timeout 20 "$app" --help | grep -q "Usage: claude-mem-app" || fail "claude-mem-app --help"
timeout 20 "$app" --version | grep -q "^claude-mem-app " || fail "claude-mem-app --version"
[[ ! -e $CLAUDE_MEM_DATA_DIR ]] || fail "--help/--version started something (data dir created)"
echo "ok   claude-mem-app --help / --version print and exit"

env -u DISPLAY -u WAYLAND_DISPLAY "$app" --headless > "$work/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$port/api/health" > /dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/api/health" > /dev/null || { cat "$work/app.log"; fail "the app's worker does not answer"; }
echo "ok   the app hosts the worker on 127.0.0.1:$port"

"$cli" install > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "claude-mem install"; }
hook=$(python3 - "$HOME/.claude/settings.json" <<'PY'
import json, sys
hooks = json.load(open(sys.argv[1]))["hooks"]["PostToolUse"]
print(next(h["command"] for g in hooks for h in g["hooks"] if "claude-mem" in h.get("command", "")))
PY
)
[[ $hook == *"$cli"* ]] || fail "install wired $hook, not the packaged CLI"
echo "ok   claude-mem install wired Claude Code to the packaged CLI: $hook"

bash -c "$hook" < "$FIXTURES/PostToolUse.Bash.json" > /dev/null
token=$(cat "$CLAUDE_MEM_DATA_DIR/api-token")
for _ in $(seq 1 40); do
  events=$(curl -fsS -H "authorization: Bearer $token" "http://127.0.0.1:$port/api/health" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["events"])')
  [[ $events -ge 1 ]] && break
  sleep 0.25
done
[[ $events -ge 1 ]] || fail "the installed hook's event did not reach the app's worker"
echo "ok   the installed hook reached the app's worker ($events event stored)"
