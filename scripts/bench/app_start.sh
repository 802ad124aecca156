#!/usr/bin/env bash
# Desktop app cold start (process spawn → worker answering /api/health) and idle memory, under Xvfb with a
# D-Bus session and a fresh HOME. Usage: scripts/bench/app_start.sh [APP_BINARY] [RUNS]
# Prints a table and writes docs/bench/app-start.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
app="$(realpath "${1:-target/release/claude-mem-app}")"
runs="${2:-3}"
out="$(mktemp)"
for _ in $(seq "$runs"); do
  home="$(mktemp -d)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  HOME="$home" CLAUDE_MEM_DATA_DIR="$home/.claude-mem" CLAUDE_MEM_PORT="$port" CLAUDE_MEM_EMBEDDER=hash APP="$app" PORT="$port" \
    xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash -c '
      t0=$(date +%s%N)
      setsid "$APP" >/dev/null 2>&1 &
      pid=$!
      until curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null; do sleep 0.005; done
      t1=$(date +%s%N)
      sleep 10
      app_kb=$(awk "/^VmRSS/ {print \$2}" /proc/$pid/status)
      group_kb=$(ps -o rss= -g "$(ps -o pgid= $pid | tr -d " ")" | awk "{s+=\$1} END {print s}")
      echo "$(( (t1 - t0) / 1000000 )) $(( app_kb / 1024 )) $(( group_kb / 1024 ))"
      kill -TERM -- -$pid 2>/dev/null; sleep 1; kill -KILL -- -$pid 2>/dev/null; true' 2>/dev/null >> "$out"
  rm -rf "$home"
done
python3 - "$out" "$app" <<'PY'
import json, statistics, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1])
        if len(l.split()) == 3 and all(t.isdigit() for t in l.split())]  # D-Bus chatter shares stdout
ready = [r[0] for r in rows]; app = [r[1] for r in rows]; group = [r[2] for r in rows]
print("| runs | cold start → worker ready, median (min–max) | idle RSS, app process | idle RSS, app + WebKit processes |")
print("|---|---|---|---|")
print(f"| {len(rows)} | {statistics.median(ready):.0f} ms ({min(ready)}–{max(ready)}) | {statistics.median(app):.0f} MiB | {statistics.median(group):.0f} MiB |")
json.dump({"binary": sys.argv[2], "runs": rows, "ready_ms_median": statistics.median(ready),
           "app_rss_mib_median": statistics.median(app), "group_rss_mib_median": statistics.median(group)},
          open("docs/bench/app-start.json", "w"), indent=2)
PY
