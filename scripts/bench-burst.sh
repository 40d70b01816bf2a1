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
source scripts/bench-lib.sh

BIN="${ACCORD_BIN:-target/release/accord}"
PORT="${PORT:-18500}"
REPORTS="${REPORTS:-5000}"
READERS="${READERS:-8}"
bench_python bench-burst
[ -x "$BIN" ] || { echo "bench-burst: no binary at $BIN" >&2; exit 1; }

export ACCORD_ADMIN_TOKEN="bench-burst-admin-token-$(date +%s)-0123456789abcdef"
URL="http://127.0.0.1:$PORT"
data=$(mktemp -d /tmp/bench-burst.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT

bench_start "$BIN" "$PORT" "$data"
pid=$BENCH_PID
"$BIN" loadgen --url "$URL" --reports "$REPORTS" --lookups 10 --unknown-lookups 10 --pid "$pid" --seed "$REPORTS" \
  >"$data/loadgen.out" 2>"$data/loadgen.err"
token=$(bench_agency_token "$URL" "$data" BENCH-BURST)
# Let the ingest's own memory settle (the allocator's decay) before the burst.
sleep 20
"$PYTHON" scripts/bench_burst.py "$URL/taxii2/accord/" bench "$token" "$pid" "$READERS"
