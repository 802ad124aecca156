#!/usr/bin/env bash
# Installs what building claude-mem needs on Debian/Ubuntu, only where it is missing. Sourced by the other
# scripts; safe to run again.
set -euo pipefail

# test.sh sets CLAUDE_MEM_SETUP_TESTS=1: the test-only tools (a browser for the viewer's end-to-end test,
# the Python MCP SDK) are then installed too.
tests="${CLAUDE_MEM_SETUP_TESTS:-0}"

missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v git >/dev/null 2>&1 || missing+=(git)
if [ "$tests" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium fonts-dejavu-core)
fi
# Team mode's tests (tests/team_*.rs) start their own private PostgreSQL servers from Debian's binaries
# (crates/team/src/pg_cluster.rs); the package's own cluster and service are not wanted.
if [ "$tests" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
  pg_no_main_cluster=1
fi
# The desktop app (src-tauri, part of the workspace): WebKitGTK and the tray's libraries; the tests also
# run it under Xvfb in a D-Bus session.
if [ "$tests" = 1 ] || [ "${CLAUDE_MEM_SETUP_APP:-0}" = 1 ]; then
  pkg-config --exists webkit2gtk-4.1 2>/dev/null || missing+=(libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev \
    libsoup-3.0-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev)
  if [ "$tests" = 1 ]; then
    command -v xvfb-run >/dev/null 2>&1 || missing+=(xvfb xauth)
    command -v dbus-run-session >/dev/null 2>&1 || missing+=(dbus dbus-x11)
  fi
fi
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "==> installing system packages: ${missing[*]}"
  if [ "${pg_no_main_cluster:-0}" = 1 ]; then
    # Read by postgresql-common when the package installs: no system cluster is created or started.
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/claude-mem-tests.conf >/dev/null
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "claude-mem needs a Rust toolchain (1.85 or newer): https://rustup.rs" >&2
  exit 1
fi

# The viewer (frontend/) is built before the Rust binaries, which embed it.
if ! command -v npm >/dev/null 2>&1; then
  echo "claude-mem's viewer needs Node.js 20.19+ and npm: https://nodejs.org" >&2
  exit 1
fi
if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  echo "==> installing the viewer's npm packages"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "==> building the viewer (frontend/dist)"
(cd frontend && npm run --silent build >/dev/null)

# The real Claude Code CLI, pinned (tests/claude_code_e2e.rs runs a real session against a scripted model;
# tests/support/lib.rs names the same version): into tests/.claude-code/ (ignored by git), only when that version is missing.
claude_code_version=2.1.197
claude_code_dir=tests/.claude-code
if [ "$tests" = 1 ]; then
  installed=$(node -p "try { require('./$claude_code_dir/node_modules/@anthropic-ai/claude-code/package.json').version } catch { '' }")
  if [ "$installed" != "$claude_code_version" ]; then
    echo "==> installing Claude Code $claude_code_version into $claude_code_dir (tests/claude_code_e2e.rs)"
    mkdir -p "$claude_code_dir"
    npm install --prefix "$claude_code_dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "@anthropic-ai/claude-code@$claude_code_version" \
      || echo "warning: could not install Claude Code; tests/claude_code_e2e.rs will fail" >&2
  fi
fi

# Test-only Python packages: the official MCP SDK drives `claude-mem mcp` (tests/mcp_e2e.rs), and Pillow
# grabs the Xvfb screen in the desktop app's smoke test (tests/app_gui.rs).
pip_install() {
  python3 -m pip install --quiet "$@" \
    || python3 -m pip install --quiet --user "$@" \
    || python3 -m pip install --quiet --user --break-system-packages "$@"
}
if [ "$tests" != 1 ]; then
  :
elif command -v python3 >/dev/null 2>&1; then
  if ! python3 -c 'import mcp' >/dev/null 2>&1; then
    echo "==> installing the Python MCP SDK (for tests/mcp_client.py)"
    pip_install 'mcp>=1.2' || echo "warning: could not install the Python 'mcp' package; the MCP e2e tests will fail" >&2
  fi
  if ! python3 -c 'from PIL import ImageGrab' >/dev/null 2>&1; then
    echo "==> installing Pillow (screenshots in the app's Xvfb test)"
    pip_install 'pillow>=10' || echo "warning: could not install Pillow; the app GUI test will fail" >&2
  fi
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    echo "==> installing moto's S3-compatible server (backup round trip in tests/backup_e2e.rs)"
    pip_install 'moto[server]>=5' || echo "warning: could not install moto; the S3 backup test will fail" >&2
  fi
else
  echo "warning: python3 not found; the MCP e2e tests (tests/mcp_e2e.rs) need it" >&2
fi
