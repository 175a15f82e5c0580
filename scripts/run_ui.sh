#!/usr/bin/env bash
# `make ui`: the API and the web UI on 127.0.0.1, on the embedded defaults (the champion, else the newest
# bundle that passed its gate, as `tweetops serve` chooses; SQLite history). Prints the UI's URL; Ctrl-C
# (SIGINT) stops both and exits 0; SIGTERM stops both too; if either server ends by itself, the other is
# stopped and the script exits with its status.
#
#   API_PORT (8000)  UI_PORT (8501)  TWEETOPS_API_KEY (optional: the API then requires it, the UI sends it)
#   API_URL          talk to an API that is already running (local or deployed) instead of starting one
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
API_PORT=${API_PORT:-8000}
UI_PORT=${UI_PORT:-8501}
cd "$ROOT"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# Ctrl-C is how a person ends `make ui`: not an error. (The servers run in the background, where bash has them
# ignore SIGINT; uvicorn and Streamlit set their own handlers, and either way `stop` ends them.)
trap 'echo "stopping the UI and the API" >&2; stop; exit 0' INT
trap 'stop; exit 143' TERM
trap stop EXIT

if [ -z "${API_URL:-}" ]; then
  if ! "$BIN/tweetops" model-path >/dev/null 2>&1; then
    echo "no model to serve: training one with \`tweetops run\` first" >&2
    "$BIN/tweetops" run
  fi
  API_URL="http://127.0.0.1:$API_PORT"
  # The key, when set, is the API's only key: the UI sends the same one.
  HOST=127.0.0.1 PORT=$API_PORT WEB_CONCURRENCY=1 \
    TWEETOPS_API_KEYS=${TWEETOPS_API_KEY:-} "$BIN/tweetops" serve &
  pids+=($!)
  for _ in $(seq 1 240); do
    "$BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/ping', timeout=2)" \
      "$API_URL" 2>/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || { echo "error: the API did not start; see its log above." >&2; exit 1; }
    sleep 0.25
  done
fi

API_URL=$API_URL "$BIN/streamlit" run ui/app.py --server.headless true --server.address 127.0.0.1 \
  --server.port "$UI_PORT" --browser.gatherUsageStats false --client.toolbarMode viewer \
  --client.disableDataExport true &
pids+=($!)
echo "tweetops UI: http://127.0.0.1:$UI_PORT  (API: $API_URL)  Ctrl-C stops both"
status=0
wait -n "${pids[@]}" || status=$?
echo "error: a server stopped by itself (exit status $status); stopping the other." >&2
exit "$status"
