#!/usr/bin/env bash
# The README's first command: set up .venv, start `readout serve` (the embedded Redis, the API
# and the workers) in the background, convert a bundled public-domain article to MP3 with
# Piper, print the result and the cluster stats, then stop the service.
# Usage: scripts/demo.sh [ARTICLE]  (default samples/federalist-10.txt).
# Run it twice: the second run is served from the warm chunk cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export READOUT_DATA_DIR="${READOUT_DATA_DIR:-.readout-data}"
export READOUT_PORT="${READOUT_PORT:-8000}"
export READOUT_URL="http://127.0.0.1:${READOUT_PORT}"
article="${1:-samples/federalist-10.txt}"
out="out/$(basename "${article%.*}").mp3"
mkdir -p "$READOUT_DATA_DIR/logs"
.venv/bin/readout serve >>"$READOUT_DATA_DIR/logs/serve.log" 2>&1 &
serve_pid=$!
stop() {
  kill -INT "$serve_pid" 2>/dev/null || true   # readout serve stops everything it started
  wait "$serve_pid" 2>/dev/null || true
}
trap stop EXIT
.venv/bin/python - "$serve_pid" <<'PY'
import json, os, sys, time, urllib.request, urllib.error
url = os.environ["READOUT_URL"] + "/readyz"
deadline = time.monotonic() + 120
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if json.load(r).get("workers", 0) >= 1:
                break
    except (urllib.error.URLError, OSError):
        pass
    try:
        os.kill(int(sys.argv[1]), 0)
    except ProcessLookupError:
        raise SystemExit("readout serve exited; see " + os.environ["READOUT_DATA_DIR"] + "/logs/")
    if time.monotonic() > deadline:
        raise SystemExit("the API or the workers did not become ready; see " + os.environ["READOUT_DATA_DIR"] + "/logs/")
    time.sleep(0.1)
PY
workers=$(.venv/bin/python -c 'import json, os, urllib.request; print(json.load(urllib.request.urlopen(os.environ["READOUT_URL"] + "/readyz"))["workers"])')
echo "Converting $article with Piper (readout serve at $READOUT_URL, $workers worker(s))..."
.venv/bin/readout convert "$article" -o "$out"
echo "Cluster stats:"
.venv/bin/readout stats
