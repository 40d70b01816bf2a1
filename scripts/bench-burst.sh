#!/usr/bin/env bash
# Memory after a burst (issue 22 item 4): `accord up` on a fresh data directory is filled with REPORTS reports by the
# load generator, then READERS clients read the agency's TAXII collection in full at the same time
# (scripts/bench_burst.py, the OASIS taxii2-client). Prints the server's RSS before, at the peak and 15, 30 and 60 s
# after the burst: whether the memory a burst took is returned.
#
# Usage: scripts/bench-burst.sh
# Environment: ACCORD_BIN (default target/release/accord), PORT (18500), REPORTS (5000: ~105 000 objects),
#              READERS (8), PYTHON (the project venv's python3 when .venv exists, as scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${ACCORD_BIN:-target/release/accord}"
PORT="${PORT:-18500}"
REPORTS="${REPORTS:-5000}"
READERS="${READERS:-8}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python3 ]; then PYTHON=.venv/bin/python3; else PYTHON=python3; fi
fi
[ -x "$BIN" ] || { echo "bench-burst: no binary at $BIN" >&2; exit 1; }
"$PYTHON" -c "import taxii2client" 2>/dev/null || { echo "bench-burst: $PYTHON lacks taxii2-client" >&2; exit 1; }

export ACCORD_ADMIN_TOKEN="bench-burst-admin-token-$(date +%s)-0123456789abcdef"
URL="http://127.0.0.1:$PORT"
data=$(mktemp -d /tmp/bench-burst.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT

# The load generator posts from one partner token: the per-token rate limit is off for the fill.
printf '[http]\nrate_limit_per_second = 0\n' >"$data/bench.toml"
"$BIN" up --config "$data/bench.toml" --data-dir "$data" --listen "127.0.0.1:$PORT" >"$data/up.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  curl -fs "$URL/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
"$BIN" loadgen --url "$URL" --reports "$REPORTS" --lookups 10 --unknown-lookups 10 --pid "$pid" --seed "$REPORTS" \
  >"$data/loadgen.out" 2>"$data/loadgen.err"
agency=$(sed -n 's/.*agency \([^,]*\),.*/\1/p' "$data/loadgen.err" | head -1)
reply=$(curl -fs -X POST "$URL/v1/tokens" -H "Authorization: Bearer $ACCORD_ADMIN_TOKEN" \
  -H 'Content-Type: application/json' \
  -d "{\"organization\":\"$agency\",\"role\":\"investigator\",\"purpose\":\"investigation\",\"case\":\"BENCH-BURST\",\"label\":\"bench-burst\"}")
token=$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$reply")
# A new token travels through the directory topic: wait until it authenticates.
for _ in $(seq 1 100); do
  curl -fs -u "bench:$token" -H 'Accept: application/taxii+json;version=2.1' "$URL/taxii2/accord/collections/" \
    | grep -q '"can_read":true' && break
  sleep 0.2
done
# Let the ingest's own memory settle (the allocator's decay) before the burst.
sleep 20
"$PYTHON" scripts/bench_burst.py "$URL/taxii2/accord/" bench "$token" "$pid" "$READERS"
