#!/usr/bin/env bash
# Sets up a fresh Debian machine (system packages, if missing) and runs every check claude-mem has:
# formatting, lints, unit tests and the cross-process end-to-end tests. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

export CLAUDE_MEM_SETUP_TESTS=1
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

# Each step prints when it started and the disk left, so a slow or full CI run shows where it went.
step() { printf '\n==> %s (%s, %s free)\n' "$*" "$(date -u +%T)" "$(df -h --output=avail . | tail -n1 | tr -d ' ')"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (the binaries the end-to-end tests run)"
cargo build --workspace --locked --bins

step "viewer: type check and unit tests"
(cd frontend && npm run --silent check && npm test --silent)

step "cargo test (unit + end-to-end)"
cargo test --workspace --locked

step "viewer end to end (real worker, Debian's chromium)"
(cd frontend && E2E_STRICT=1 CLAUDE_MEM_BIN=../target/debug/claude-mem npm run --silent e2e)

# The desktop package as a user gets it: a .deb of the debug app with the CLI beside it (bundling only,
# ~15 s; the release package is scripts/package.sh), unpacked with dpkg -x, connected, and a hook through it.
step "package: .deb carries the CLI, the app hosts the worker, an installed hook reaches it"
(cd src-tauri && ../frontend/node_modules/.bin/tauri bundle --bundles deb --debug \
  --config '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/claude-mem":"../target/debug/claude-mem"}}}}}')
scripts/package_smoke.sh target/debug/bundle/deb/claude-mem_*.deb

# Deterministic: every committed fuzz input (fuzz/seeds, fuzz/regressions) once, no random mutation, so
# CI fails for a known bug and never for an unlucky walk. Exploration is `scripts/fuzz.sh` without --replay.
step "fuzz replay: hook payload and search query parsers (committed corpus + past crashes)"
scripts/fuzz.sh --replay
step "done"
