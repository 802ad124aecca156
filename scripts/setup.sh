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
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "==> installing system packages: ${missing[*]}"
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

# The MCP end-to-end test (tests/mcp_e2e.rs) drives `claude-mem mcp` with the official Python MCP SDK.
if [ "$tests" != 1 ]; then
  :
elif command -v python3 >/dev/null 2>&1; then
  if ! python3 -c 'import mcp' >/dev/null 2>&1; then
    echo "==> installing the Python MCP SDK (for tests/mcp_client.py)"
    python3 -m pip install --quiet 'mcp>=1.2' \
      || python3 -m pip install --quiet --user 'mcp>=1.2' \
      || python3 -m pip install --quiet --user --break-system-packages 'mcp>=1.2' \
      || echo "warning: could not install the Python 'mcp' package; the MCP e2e tests will fail" >&2
  fi
else
  echo "warning: python3 not found; the MCP e2e tests (tests/mcp_e2e.rs) need it" >&2
fi
