#!/usr/bin/env bash
# Our MiniLM embedder side by side with ONNX Runtime (and candle, the engine before) on the same texts,
# batch sizes and 2 threads, back to back, 3 runs; prints a table with the ratios and writes
# docs/bench/embed-vs-ort.json (issue 22).
# Usage: scripts/bench/embed_vs_ort.sh [claude-mem-bench embed-vs-ort flags, e.g. --model-dir DIR]
# ONNX Runtime comes from PyPI into a venv under target/ (ORT_VENV to move it); only this bench uses it.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${ORT_VENV:-target/ort-venv}"
if ! "$venv/bin/python" -c 'import onnxruntime, tokenizers, numpy' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'onnxruntime==1.32.0' 'tokenizers>=0.20,<0.24' 'numpy<3'
fi
bin="${CARGO_TARGET_DIR:-target}/release/claude-mem-bench"
[ -x "$bin" ] || cargo build --release -p claude-mem-bench
# candle sizes its matmul parallelism from RAYON_NUM_THREADS; the bench sets it too.
RAYON_NUM_THREADS=2 "$bin" embed-vs-ort --python "$venv/bin/python" --threads 2 \
  --json docs/bench/embed-vs-ort.json "$@"
