#!/usr/bin/env python3
"""Validate the search evaluation set in this directory.

Usage: python3 tests/eval/validate.py
Exits non-zero and prints every problem found if the set is malformed.
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TYPES = {"decision", "bugfix", "feature", "refactor", "discovery", "change"}
KINDS = ["paraphrase", "identifier", "path", "keyword", "mixed"]
TS_MIN, TS_MAX = 1790000000000, 1795600000000
OBS_FIELDS = {
    "id": int, "project": str, "type": str, "title": str, "subtitle": str,
    "narrative": str, "facts": list, "concepts": list, "files_read": list,
    "files_modified": list, "keywords": list, "created_at": int,
}
Q_FIELDS = {"id": str, "query": str, "relevant": list, "kind": str}

errors = []


def err(msg):
    errors.append(msg)


def load(name):
    rows = []
    for n, line in enumerate((HERE / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            err(f"{name}:{n}: blank line")
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            err(f"{name}:{n}: invalid JSON: {e}")
    return rows


def sentences(text):
    # Rough count: split on ., ! or ? followed by whitespace and an upper-case letter/quote/backtick.
    return len(re.split(r"(?<=[.!?])\s+(?=[A-Z`\"'(])", text.strip()))


obs_rows = load("observations.jsonl")
obs = {}
for n, o in obs_rows:
    where = f"observations.jsonl:{n}"
    if set(o) != set(OBS_FIELDS):
        err(f"{where}: fields {sorted(set(o) ^ set(OBS_FIELDS))} missing or unexpected")
        continue
    for k, t in OBS_FIELDS.items():
        if not isinstance(o[k], t) or (t is int and isinstance(o[k], bool)):
            err(f"{where}: {k} should be {t.__name__}")
    for k in ("facts", "concepts", "files_read", "files_modified", "keywords"):
        if isinstance(o[k], list) and not all(isinstance(x, str) and x for x in o[k]):
            err(f"{where}: {k} must hold non-empty strings")
    if o["id"] in obs:
        err(f"{where}: duplicate id {o['id']}")
    obs[o["id"]] = o
    if o["type"] not in TYPES:
        err(f"{where}: bad type {o['type']!r}")
    if not (TS_MIN <= o["created_at"] <= TS_MAX):
        err(f"{where}: created_at {o['created_at']} out of range")
    if len(o["title"]) > 80:
        err(f"{where}: title longer than 80 chars ({len(o['title'])})")
    if not o["subtitle"].strip():
        err(f"{where}: empty subtitle")
    if not 1 <= sentences(o["narrative"]) <= 3:
        err(f"{where}: narrative should be 1-3 sentences")
    if not 1 <= len(o["facts"]) <= 4:
        err(f"{where}: needs 1-4 facts")
    if not 1 <= len(o["concepts"]) <= 4:
        err(f"{where}: needs 1-4 concepts")
    if any(c != c.lower() for c in o["concepts"]):
        err(f"{where}: concepts must be lowercase")
    if not o["keywords"]:
        err(f"{where}: needs keywords")
    for p in o["files_read"] + o["files_modified"]:
        if p.startswith("/") or "\\" in p:
            err(f"{where}: file path {p!r} should be relative with forward slashes")

ids = [o["id"] for _, o in obs_rows if isinstance(o.get("id"), int)]
if ids != list(range(1, len(ids) + 1)):
    err("observation ids must be 1..N, unique and in order")
if len(obs) < 240:
    err(f"need at least 240 observations, have {len(obs)}")

q_rows = load("queries.jsonl")
qids = set()
kinds = Counter()
rel_sizes = Counter()
filtered = 0
for n, q in q_rows:
    where = f"queries.jsonl:{n}"
    if set(q) != set(Q_FIELDS) | {"project"}:
        err(f"{where}: fields {sorted(set(q) ^ (set(Q_FIELDS) | {'project'}))} missing or unexpected")
        continue
    for k, t in Q_FIELDS.items():
        if not isinstance(q[k], t):
            err(f"{where}: {k} should be {t.__name__}")
    if q["id"] in qids:
        err(f"{where}: duplicate query id {q['id']}")
    qids.add(q["id"])
    if not q["query"].strip():
        err(f"{where}: empty query")
    if q["kind"] not in KINDS:
        err(f"{where}: bad kind {q['kind']!r}")
    kinds[q["kind"]] += 1
    rel = q["relevant"]
    if not 1 <= len(rel) <= 5:
        err(f"{where}: relevant must list 1-5 ids")
    if len(set(rel)) != len(rel):
        err(f"{where}: duplicate ids in relevant")
    rel_sizes[len(rel)] += 1
    for r in rel:
        if r not in obs:
            err(f"{where}: relevant id {r} does not exist")
    proj = q["project"]
    if proj is not None:
        filtered += 1
        projects = {o["project"] for o in obs.values()}
        if proj not in projects:
            err(f"{where}: unknown project {proj!r}")
        for r in rel:
            if r in obs and obs[r]["project"] != proj:
                err(f"{where}: relevant id {r} is in {obs[r]['project']}, not {proj}")

if len(q_rows) < 70:
    err(f"need at least 70 queries, have {len(q_rows)}")
for k in ("paraphrase", "identifier", "path"):
    if kinds[k] < 15:
        err(f"need at least 15 {k} queries, have {kinds[k]}")

print(f"observations: {len(obs)}")
print("  per project: " + ", ".join(f"{p}={c}" for p, c in sorted(Counter(o['project'] for o in obs.values()).items())))
print("  per type:    " + ", ".join(f"{t}={c}" for t, c in sorted(Counter(o['type'] for o in obs.values()).items())))
print(f"queries: {len(q_rows)} ({filtered} with a project filter)")
print("  per kind:    " + ", ".join(f"{k}={kinds[k]}" for k in KINDS))
print("  |relevant|:  " + ", ".join(f"{s}={c}" for s, c in sorted(rel_sizes.items())))
if errors:
    print(f"\n{len(errors)} problem(s):")
    for e in errors:
        print("  " + e)
    sys.exit(1)
print("OK")
