#!/usr/bin/env bash
# Resident memory of a real worker (release build) running the local MiniLM embedder: at idle after start,
# and after N hook events were compressed, embedded and indexed and searches were served.
# Usage: scripts/bench/worker_rss.sh [MODEL_DIR] [EVENTS]   (prints a table and docs/bench/worker-rss.json)
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${1:-../shared/models/all-MiniLM-L6-v2}"
events="${2:-2000}"
bin=target/release/claude-mem
[ -x "$bin" ] || { echo "build it first: cargo build --release -p claude-mem" >&2; exit 1; }
tmp="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export CLAUDE_MEM_DATA_DIR="$tmp/data" CLAUDE_MEM_PORT="$port" CLAUDE_MEM_EMBEDDER=minilm \
  CLAUDE_MEM_MODEL_DIR="$(realpath "$model")" CLAUDE_MEM_COMPRESSOR=local CLAUDE_MEM_BATCH_LINGER_MS=0 \
  CLAUDE_MEM_LOG_LEVEL=warn HOME="$tmp"
setsid "$bin" serve >"$tmp/worker.log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/api/health" >/dev/null && break; sleep 0.1; done
# Every memory route wants the worker's API token (made at its first start, 0600 in the data dir).
token="$(cat "$CLAUDE_MEM_DATA_DIR/api-token")"
export CLAUDE_MEM_API_TOKEN="$token"
auth=(-H "Authorization: Bearer $token")
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print int($2/1024)}' "/proc/$pid/status"; }
sleep 2
idle=$(rss)
python3 - "$url" "$events" <<'PY'
import json, os, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
def post(event, body):
    req = urllib.request.Request(f"{url}/hooks/{event}", json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["CLAUDE_MEM_API_TOKEN"]})
    urllib.request.urlopen(req).read()
files = ["src/store/db.rs", "src/api/routes.rs", "src/auth/token.rs", "web/src/useAuth.ts", "infra/vpc.tf"]
for i in range(n):
    s = f"rss-session-{i // 50}"
    f = files[i % len(files)]
    post("PostToolUse", {"session_id": s, "cwd": "/home/dev/work/acme-api", "hook_event_name": "PostToolUse",
        "tool_name": "Edit", "tool_use_id": f"tu-{i}",
        "tool_input": {"file_path": f"/home/dev/work/acme-api/{f}", "old_string": f"retry_{i}", "new_string": f"backoff_{i}"},
        "tool_response": {"filePath": f"/home/dev/work/acme-api/{f}", "success": True}})
PY
# Wait until every observation is indexed.
for _ in $(seq 1200); do
  h="$(curl -sf "${auth[@]}" "$url/api/health")"
  done_=$(python3 -c 'import json,sys; h=json.loads(sys.argv[1]); c=h["counts"]; i=h.get("index") or {}; print(int(c.get("pending",1))==0 and i.get("last_indexed_id",0)>=c.get("observations",0) and c.get("observations",0)>0)' "$h")
  [ "$done_" = True ] && break
  sleep 0.5
done
for q in "retry backoff" "auth token refresh" "store db" "vpc terraform" "useAuth hook"; do
  curl -sf "${auth[@]}" "$url/api/search?q=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))' "$q")" >/dev/null
done
loaded=$(rss); peak=$(hwm)
obs=$(curl -sf "${auth[@]}" "$url/api/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["observations"])')
embedder=$(curl -sf "${auth[@]}" "$url/api/health" | python3 -c 'import json,sys; print((json.load(sys.stdin).get("index") or {}).get("embedder"))')
printf '| worker (%s) | idle after start | after %s observations indexed + searches | peak (VmHWM) |\n|---|---|---|---|\n| RSS | %s MiB | %s MiB | %s MiB |\n' "$embedder" "$obs" "$idle" "$loaded" "$peak"
mkdir -p docs/bench
printf '{"embedder": "%s", "observations": %s, "idle_rss_mib": %s, "loaded_rss_mib": %s, "peak_rss_mib": %s}\n' \
  "$embedder" "$obs" "$idle" "$loaded" "$peak" > docs/bench/worker-rss.json
