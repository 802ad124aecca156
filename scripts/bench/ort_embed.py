#!/usr/bin/env python3
"""ONNX Runtime side of `claude-mem-bench embed-vs-ort`: times all-MiniLM-L6-v2's ONNX export on the
same texts, batch sizes and thread count as our embedder, and prints one JSON object on stdout.

It reproduces the product's pipeline (tokenizer.json with truncation at 256 tokens, padding to the
batch's longest text, mean pooling over real tokens, L2 normalisation), so its vectors can also be
compared with ours. Only the bench runs it; the product never imports onnxruntime.

Usage: ort_embed.py --model-dir DIR --texts FILE.json --threads 2 --batches 1,8 --rounds 3 [--vectors]
"""

import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MAX_TOKENS = 256


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--texts", required=True, help="a JSON list of strings")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the texts per batch size")
    ap.add_argument("--vectors", action="store_true", help="also return each text's vector")
    a = ap.parse_args()

    with open(a.texts, encoding="utf-8") as f:
        texts = json.load(f)
    tok = Tokenizer.from_file(f"{a.model_dir}/tokenizer.json")
    tok.enable_truncation(MAX_TOKENS)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(
        f"{a.model_dir}/onnx/model.onnx", so, providers=["CPUExecutionProvider"]
    )
    input_names = {i.name for i in sess.get_inputs()}

    def embed(batch):
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = sess.run(None, feed)[0]  # (batch, seq, 384)
        m = mask[:, :, None].astype(np.float32)
        mean = (hidden * m).sum(1) / m.sum(1)
        return mean / np.linalg.norm(mean, axis=1, keepdims=True)

    results = []
    for b in [int(x) for x in a.batches.split(",") if x]:
        chunks = [texts[i : i + b] for i in range(0, len(texts), b)]
        for c in chunks:  # warm-up pass
            embed(c)
        t = time.perf_counter()
        for _ in range(a.rounds):
            for c in chunks:
                embed(c)
        secs = time.perf_counter() - t
        n = a.rounds * len(texts)
        results.append({"batch": b, "texts": n, "seconds": secs, "texts_per_second": n / secs})

    out = {
        "engine": f"onnxruntime {ort.__version__}",
        "threads": a.threads,
        "results": results,
    }
    if a.vectors:
        out["vectors"] = embed(texts).tolist() if len(texts) else []
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
