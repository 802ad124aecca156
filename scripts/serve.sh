#!/usr/bin/env bash
# Builds claude-mem (release) and runs the headless worker on http://127.0.0.1:37777.
# Extra arguments go to `claude-mem serve` (e.g. --port 0).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
cargo build --release --locked -p claude-mem
exec target/release/claude-mem serve "$@"
