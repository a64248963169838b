#!/usr/bin/env bash
# The README's first command: set up, start the embedded Redis, the API and two workers,
# convert a bundled public-domain article to MP3 with Piper, print the result, stop.
# Run it twice: the second run is served from the warm chunk cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export READOUT_DATA_DIR="${READOUT_DATA_DIR:-.readout-data}"
export READOUT_PORT="${READOUT_PORT:-8000}"
export READOUT_URL="http://127.0.0.1:${READOUT_PORT}"
article="${1:-samples/federalist-10.txt}"
out="out/$(basename "${article%.*}").mp3"
logs="$READOUT_DATA_DIR/logs"
mkdir -p "$logs"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  .venv/bin/python -m shared.redis_conn stop >/dev/null || true
}
trap cleanup EXIT
.venv/bin/python -m shared.redis_conn >/dev/null          # embedded redis-server, data in $READOUT_DATA_DIR
.venv/bin/python -m api >>"$logs/api.log" 2>&1 & pids+=($!)
.venv/bin/python -m worker >>"$logs/worker-1.log" 2>&1 & pids+=($!)
.venv/bin/python -m worker >>"$logs/worker-2.log" 2>&1 & pids+=($!)
.venv/bin/python - <<'PY'
import json, os, time, urllib.request, urllib.error
url = os.environ["READOUT_URL"] + "/readyz"
deadline = time.monotonic() + 90
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if json.load(r).get("workers", 0) >= 2:
                break
    except (urllib.error.URLError, OSError):
        pass
    if time.monotonic() > deadline:
        raise SystemExit("the API or the workers did not become ready; see .readout-data/logs/")
    time.sleep(0.1)
PY
echo "Converting $article with Piper (API $READOUT_URL, 2 workers)..."
.venv/bin/readout convert "$article" -o "$out"
echo "Cluster stats:"
.venv/bin/readout stats
