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
KINDS = ["paraphrase", "identifier", "path", "keyword", "mixed",
         "paraphrase_strict", "conceptual", "typo", "cross_project", "negative"]
HALVES = ("tune", "heldout")
# Minimum number of queries per kind.
KIND_MIN = {"paraphrase": 15, "identifier": 15, "path": 15, "paraphrase_strict": 12,
            "conceptual": 12, "typo": 12, "cross_project": 12, "negative": 30}
PROMPT_MIN_RELATED, PROMPT_MIN_UNRELATED = 6, 8
TS_MIN, TS_MAX = 1790000000000, 1795600000000
OBS_FIELDS = {
    "id": int, "project": str, "type": str, "title": str, "subtitle": str,
    "narrative": str, "facts": list, "concepts": list, "files_read": list,
    "files_modified": list, "keywords": list, "created_at": int,
}
Q_FIELDS = {"id": str, "query": str, "relevant": list, "kind": str, "half": str}
P_FIELDS = {"id": str, "project": str, "prompt": str, "related": bool, "relevant": list, "half": str}

# --- paraphrase_strict: no content word shared with the memory --------------------------------
# Crude on purpose: lowercase, split identifiers (camelCase, snake_case, paths) and punctuation,
# drop function words, strip one plural/-ed/-ing suffix, and compare the first 5 letters.
STOPWORDS = set("""
a about above after again against all also am an and any anyway are as at be been before being
below between both but by can could d did do does doing down during each even ever every few for
from further had has have having he her here hers herself him himself his how i if in instead into
is it its itself just ll m me more most my myself no nor not of off on once only or other our ours
ourselves out over own per re s same she should since so some still such t than that the their
theirs them themselves then there these they this those through to too under until up ve very via
was we were what whatever when whenever where wherever which while who whom why will with would yet
you your yours yourself yourselves because already
""".split())


def split_words(text):
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def crude_stem(word):
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:5]


def content_stems(text):
    return {crude_stem(w) for w in split_words(text)
            if w not in STOPWORDS and not (len(w) == 1 and w.isalpha())}


def memory_text(o):
    # Every indexed text field, which is stricter than title/subtitle/narrative/facts/keywords.
    return " ".join([o["title"], o["subtitle"], o["narrative"], *o["facts"], *o["concepts"],
                     *o["keywords"], *o["files_read"], *o["files_modified"]])


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
stamps = [o["created_at"] for _, o in obs_rows if isinstance(o.get("created_at"), int)]
if any(b <= a for a, b in zip(stamps, stamps[1:])):
    err("created_at must increase strictly with id")
if ids != list(range(1, len(ids) + 1)):
    err("observation ids must be 1..N, unique and in order")
if len(obs) < 240:
    err(f"need at least 240 observations, have {len(obs)}")

projects = {o["project"] for o in obs.values()}
vocabulary = set()
for o in obs.values():
    vocabulary.update(split_words(memory_text(o)))


def expected_halves(rows, group_of, unit_of=lambda r, i: i):
    """The split rule: alternate tune/heldout within each group, in file order.
    unit_of maps the i-th row of a group to the unit that alternates (a cross_project pair)."""
    seen = Counter()
    out = []
    for r in rows:
        g = group_of(r)
        i = seen[g]
        seen[g] += 1
        out.append(HALVES[unit_of(r, i) % 2])
    return out


q_rows = load("queries.jsonl")
queries = []
qids = set()
kinds = Counter()
kind_halves = Counter()
rel_sizes = Counter()
filtered = 0
texts = set()
for n, q in q_rows:
    where = f"queries.jsonl:{n}"
    expected = set(Q_FIELDS) | {"project"}
    if set(q) != expected:
        err(f"{where}: fields {sorted(set(q) ^ expected)} missing or unexpected")
        continue
    bad_type = False
    for k, t in Q_FIELDS.items():
        if not isinstance(q[k], t):
            err(f"{where}: {k} should be {t.__name__}")
            bad_type = True
    if not (q["project"] is None or isinstance(q["project"], str)):
        err(f"{where}: project should be null or a string")
        bad_type = True
    if bad_type:
        continue
    queries.append((n, q))
    if q["id"] in qids:
        err(f"{where}: duplicate query id {q['id']}")
    qids.add(q["id"])
    if not q["query"].strip():
        err(f"{where}: empty query")
    if (q["query"], q["project"]) in texts:
        err(f"{where}: the same query with the same project filter appears twice")
    texts.add((q["query"], q["project"]))
    if q["kind"] not in KINDS:
        err(f"{where}: bad kind {q['kind']!r}")
    if q["half"] not in HALVES:
        err(f"{where}: half must be one of {HALVES}, not {q['half']!r}")
    kinds[q["kind"]] += 1
    kind_halves[(q["kind"], q["half"])] += 1
    rel = q["relevant"]
    if q["kind"] == "negative":
        if rel:
            err(f"{where}: negative queries must have an empty relevant list")
    elif not 1 <= len(rel) <= 5:
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
        if proj not in projects:
            err(f"{where}: unknown project {proj!r}")
        for r in rel:
            if r in obs and obs[r]["project"] != proj:
                err(f"{where}: relevant id {r} is in {obs[r]['project']}, not {proj}")
    if q["kind"] == "paraphrase_strict":
        memory = set()
        for r in rel:
            if r in obs:
                memory |= content_stems(memory_text(obs[r]))
        shared = sorted(content_stems(q["query"]) & memory)
        if shared:
            err(f"{where}: paraphrase_strict query shares content words with its memory: {shared}")
    if q["kind"] == "typo":
        if all(w in vocabulary for w in split_words(q["query"])):
            err(f"{where}: typo query has no misspelled word (every word occurs in some observation)")

ids_q = [q["id"] for _, q in queries]
if ids_q != [f"q{i}" for i in range(1, len(ids_q) + 1)]:
    err("query ids must be q1..qN, unique and in order")

# cross_project queries come in consecutive pairs: first "project": null with the matching
# memories of every project, then a project-filtered query whose relevant ids are that
# project's share of the first one's.
cross = [(n, q) for n, q in queries if q["kind"] == "cross_project"]
if len(cross) % 2:
    err("cross_project queries must come in pairs")
for (n1, a), (n2, b) in zip(cross[0::2], cross[1::2]):
    where = f"queries.jsonl:{n1}-{n2}"
    if a["project"] is not None or b["project"] is None:
        err(f"{where}: a cross_project pair is a null-project query followed by a filtered one")
        continue
    if len({obs[r]["project"] for r in a["relevant"] if r in obs}) < 2:
        err(f"{where}: the null-project query must have relevant memories in 2+ projects")
    wanted = sorted(r for r in a["relevant"] if r in obs and obs[r]["project"] == b["project"])
    if sorted(b["relevant"]) != wanted:
        err(f"{where}: the filtered query's relevant should be {wanted}, the {b['project']} part of the pair")

# The split is fixed by rule, not picked: alternate within each kind in file order, starting with
# tune; a cross_project pair is one unit, so both queries of a pair share a half.
rule = expected_halves(
    [q for _, q in queries], lambda q: q["kind"],
    lambda q, i: i // 2 if q["kind"] == "cross_project" else i)
for (n, q), half in zip(queries, rule):
    if q["half"] != half:
        err(f"queries.jsonl:{n}: half should be {half!r} by the alternation rule, not {q['half']!r}")

if len(q_rows) < 70:
    err(f"need at least 70 queries, have {len(q_rows)}")
for k, least in KIND_MIN.items():
    if kinds[k] < least:
        err(f"need at least {least} {k} queries, have {kinds[k]}")
for k in KINDS:
    if kinds[k] and not all(kind_halves[(k, h)] for h in HALVES):
        err(f"kind {k} must have queries in both halves")
negatives = [q for _, q in queries if q["kind"] == "negative"]
if negatives and not any(q["project"] for q in negatives):
    err("some negative queries should carry a project filter")
if sum(1 for q in negatives if q["project"] is None) * 2 < len(negatives):
    err("most negative queries should have no project filter")

# --- prompts.jsonl: per-prompt recall ---------------------------------------------------------
p_rows = load("prompts.jsonl")
prompts = []
pids = set()
ptexts = set()
per_project = Counter()
prompt_halves = Counter()
for n, p in p_rows:
    where = f"prompts.jsonl:{n}"
    if set(p) != set(P_FIELDS):
        err(f"{where}: fields {sorted(set(p) ^ set(P_FIELDS))} missing or unexpected")
        continue
    if any(not isinstance(p[k], t) for k, t in P_FIELDS.items()):
        err(f"{where}: field types should be {({k: t.__name__ for k, t in P_FIELDS.items()})}")
        continue
    prompts.append((n, p))
    if p["id"] in pids:
        err(f"{where}: duplicate prompt id {p['id']}")
    pids.add(p["id"])
    if not p["prompt"].strip():
        err(f"{where}: empty prompt")
    if (p["project"], p["prompt"]) in ptexts:
        err(f"{where}: duplicate prompt in {p['project']}")
    ptexts.add((p["project"], p["prompt"]))
    if p["project"] not in projects:
        err(f"{where}: unknown project {p['project']!r}")
    if p["half"] not in HALVES:
        err(f"{where}: half must be one of {HALVES}, not {p['half']!r}")
    rel = p["relevant"]
    if p["related"] != bool(rel):
        err(f"{where}: related prompts list 1+ relevant ids, unrelated ones an empty list")
    if len(rel) > 5 or len(set(rel)) != len(rel):
        err(f"{where}: relevant must hold at most 5 distinct ids")
    for r in rel:
        if r not in obs:
            err(f"{where}: relevant id {r} does not exist")
        elif obs[r]["project"] != p["project"]:
            err(f"{where}: relevant id {r} is in {obs[r]['project']}, not {p['project']}")
    per_project[(p["project"], p["related"])] += 1
    prompt_halves[(p["related"], p["half"])] += 1

ids_p = [p["id"] for _, p in prompts]
if ids_p != [f"p{i}" for i in range(1, len(ids_p) + 1)]:
    err("prompt ids must be p1..pN, unique and in order")
# Same rule as for queries: alternate within each kind (related, unrelated) in file order.
rule = expected_halves([p for _, p in prompts], lambda p: p["related"])
for (n, p), half in zip(prompts, rule):
    if p["half"] != half:
        err(f"prompts.jsonl:{n}: half should be {half!r} by the alternation rule, not {p['half']!r}")
for proj in sorted(projects):
    if per_project[(proj, True)] < PROMPT_MIN_RELATED:
        err(f"{proj}: need at least {PROMPT_MIN_RELATED} related prompts, have {per_project[(proj, True)]}")
    if per_project[(proj, False)] < PROMPT_MIN_UNRELATED:
        err(f"{proj}: need at least {PROMPT_MIN_UNRELATED} unrelated prompts, have {per_project[(proj, False)]}")
for proj in sorted(projects):
    for related in (True, False):
        if not all(any(p["project"] == proj and p["related"] == related and p["half"] == h
                       for _, p in prompts) for h in HALVES):
            err(f"{proj}: {'related' if related else 'unrelated'} prompts must appear in both halves")

print(f"observations: {len(obs)}")
print("  per project: " + ", ".join(f"{p}={c}" for p, c in sorted(Counter(o['project'] for o in obs.values()).items())))
print("  per type:    " + ", ".join(f"{t}={c}" for t, c in sorted(Counter(o['type'] for o in obs.values()).items())))
print(f"queries: {len(q_rows)} ({filtered} with a project filter)")
print("  per kind (tune/heldout):")
for k in KINDS:
    print(f"    {k:<18} {kinds[k]:>3} ({kind_halves[(k, 'tune')]}/{kind_halves[(k, 'heldout')]})")
print("  |relevant|:  " + ", ".join(f"{s}={c}" for s, c in sorted(rel_sizes.items())))
print(f"prompts: {len(prompts)} (related {sum(1 for _, p in prompts if p['related'])}, "
      f"unrelated {sum(1 for _, p in prompts if not p['related'])})")
for related in (True, False):
    print(f"  {'related' if related else 'unrelated':<10} tune/heldout: "
          f"{prompt_halves[(related, 'tune')]}/{prompt_halves[(related, 'heldout')]}")
print("  per project (related/unrelated): " + ", ".join(
    f"{p}={per_project[(p, True)]}/{per_project[(p, False)]}" for p in sorted(projects)))
if errors:
    print(f"\n{len(errors)} problem(s):")
    for e in errors:
        print("  " + e)
    sys.exit(1)
print("OK")
