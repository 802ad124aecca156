#!/usr/bin/env bash
# Builds the desktop app's Linux packages (.deb and .rpm) with the @tauri-apps/cli npm package (the CLI is
# a frontend dev dependency: nothing is downloaded outside npm). AppImage is not built: it downloads tools.
set -euo pipefail
cd "$(dirname "$0")/.."
export CLAUDE_MEM_SETUP_APP=1
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
# The CLI finds the app through src-tauri/tauri.conf.json (a link to the root config).
# The package carries the `claude-mem` CLI beside the app (tauri.conf.json bundle.linux.*.files): hooks,
# `install`, `mcp` and `models download` are the CLI's, and a package without it cannot connect Claude Code.
cargo build --release --locked -p claude-mem
(cd src-tauri && ../frontend/node_modules/.bin/tauri build --bundles deb,rpm "$@")
ls -la target/release/bundle/deb target/release/bundle/rpm 2>/dev/null || true
