#!/usr/bin/env bash
# TAXII benchmark (issue 14 item 4): fills an agency's collection through `accord up` with the load generator, then
# measures it with the unmodified OASIS taxii2-client (scripts/bench_taxii.py): the first page of 1 000, a full paged
# read (objects/s), `match[id]` and an `added_after` poll. One fresh data directory per size.
#
# Usage: scripts/bench-taxii.sh [REPORTS ...]          (default: 1000 10000; each report holds 10 indicators, which
#                                                      the collection serves as ~21 objects: report, 10 indicators,
#                                                      10 observables, plus the shared identity and marking)
# Environment: ACCORD_BIN (default target/release/accord; build it with `cargo build --release --bin accord`),
#              PORT (18480; medallion gets PORT+1), BUDGET (seconds for the full read, 120), LOOKUPS (200),
#              PYTHON (the project venv's python3 when .venv exists, as scripts/test.sh installs it; else python3
#              with taxii2-client), MEDALLION (a `medallion` executable, e.g. from `pip install medallion` in a venv
#              of its own: the objects Accord served are dumped and served by medallion's memory backend, measured
#              the same way, and the ratios printed; for sizes up to MEDALLION_MAX_REPORTS, 1000 by default),
#              ADD_ENVELOPES (300: after the reads, envelopes of 100 indicators posted to the partner's inbox with
#              add_objects by ADD_CLIENTS clients, 4; scripts/bench_taxii_add.py; 0 skips it).
# Prints one JSON line per size and server ({"reports": N, "server": "accord"|"medallion", "taxii": {...},
# "add_objects": {...}}), and with MEDALLION one line of ratios per size ({"reports": N, "medallion_over_accord": {...}}).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

BIN="${ACCORD_BIN:-target/release/accord}"
PORT="${PORT:-18480}"
BUDGET="${BUDGET:-120}"
LOOKUPS="${LOOKUPS:-200}"
ADD_ENVELOPES="${ADD_ENVELOPES:-300}"
ADD_CLIENTS="${ADD_CLIENTS:-4}"
bench_python bench-taxii
[ -x "$BIN" ] || { echo "bench-taxii: no binary at $BIN" >&2; exit 1; }
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000)

export ACCORD_ADMIN_TOKEN="bench-taxii-admin-token-$(date +%s)-0123456789abcdef"
URL="http://127.0.0.1:$PORT"
TAXII_TYPE='Accept: application/taxii+json;version=2.1'
# Servers started by this script, stopped when it exits (also on an error).
STARTED=()
trap 'for started in "${STARTED[@]}"; do kill "$started" 2>/dev/null || true; done' EXIT

# add_objects URL USER PASSWORD: prints the JSON of scripts/bench_taxii_add.py against the API root URL, or null.
add_objects() {
  if [ "$ADD_ENVELOPES" -gt 0 ]; then
    "$PYTHON" scripts/bench_taxii_add.py "$1" "$2" "$3" --envelopes "$ADD_ENVELOPES" --clients "$ADD_CLIENTS" \
      || true  # failed requests are in its JSON (`failed_requests`, `errors`)
  else
    echo null
  fi
}

run_size() {
  local reports=$1 data pid token taxii summary added
  local dump=()
  data=$(mktemp -d /tmp/bench-taxii.XXXXXX)
  bench_start "$BIN" "$PORT" "$data"
  pid=$BENCH_PID
  STARTED+=("$pid")
  "$BIN" loadgen --url "$URL" --reports "$reports" --lookups 10 --unknown-lookups 10 --pid "$pid" \
    --seed "$reports" >"$data/loadgen.out" 2>"$data/loadgen.err"
  token=$(bench_agency_token "$URL" "$data" BENCH-TAXII)
  if [ -n "${MEDALLION:-}" ] && [ "$reports" -le "${MEDALLION_MAX_REPORTS:-1000}" ]; then
    dump=(--dump "$data/medallion-data.json")
  fi
  taxii=$("$PYTHON" scripts/bench_taxii.py "$URL/taxii2/accord/" bench "$token" --budget "$BUDGET" \
    --lookups "$LOOKUPS" "${dump[@]}")
  added=$(add_objects "$URL/taxii2/accord/" bench "$(bench_partner_token "$URL" "$data")")
  summary=$(grep -E "indicators/s|accepted" "$data/loadgen.out" | head -2 | tr -s ' \n' ' ' | tr -d '"')
  cp "$data/loadgen.out" "/tmp/bench-taxii-loadgen-$reports.out"
  echo "{\"reports\": $reports, \"server\": \"accord\", \"binary\": \"$BIN\", \"loadgen\": \"$summary\", \"taxii\": $taxii, \"add_objects\": $added}"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ ${#dump[@]} -gt 0 ] && [ -s "$data/medallion-data.json" ]; then
    run_medallion "$reports" "$data" "$taxii" "$added"
  fi
  rm -rf "$data"
}

# Serves the dumped objects with medallion (memory backend), measures them the same way and prints the ratios.
run_medallion() {
  local reports=$1 data=$2 accord=$3 accord_added=$4 mport=$((PORT + 1)) mpid taxii added
  printf '%s' "{\"backend\": {\"module\": \"medallion.backends.memory_backend\", \"module_class\": \"MemoryBackend\",
    \"filename\": \"$data/medallion-data.json\"}, \"users\": {\"bench\": \"bench\"},
    \"taxii\": {\"max_page_size\": 1000}}" >"$data/medallion.json"
  "$MEDALLION" --host 127.0.0.1 --port "$mport" "$data/medallion.json" >"$data/medallion.log" 2>&1 &
  mpid=$!
  STARTED+=("$mpid")
  for _ in $(seq 1 120); do
    curl -fs -u bench:bench -H "$TAXII_TYPE" "http://127.0.0.1:$mport/accord/" >/dev/null 2>&1 && break
    sleep 0.5
  done
  taxii=$("$PYTHON" scripts/bench_taxii.py "http://127.0.0.1:$mport/accord/" bench bench --budget "$BUDGET" \
    --lookups "$LOOKUPS")
  added=$(add_objects "http://127.0.0.1:$mport/accord/" bench bench)
  kill "$mpid" 2>/dev/null || true
  wait "$mpid" 2>/dev/null || true
  echo "{\"reports\": $reports, \"server\": \"medallion\", \"taxii\": $taxii, \"add_objects\": $added}"
  "$PYTHON" -c '
import json, sys
reports, accord, medallion = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
accord_added, medallion_added = json.loads(sys.argv[4]) or {}, json.loads(sys.argv[5]) or {}
def ratio(a, b):
    return round(a / b, 1) if a and b else None
def p99(side, key):
    return (side.get(key) or {}).get("p99")
print(json.dumps({"reports": reports, "medallion_over_accord": {
    "match_id_p99": ratio(p99(medallion, "match_id_ms"), p99(accord, "match_id_ms")),
    "first_page_p99": ratio(p99(medallion, "first_page_ms"), p99(accord, "first_page_ms")),
    "added_after_p99": ratio(p99(medallion, "added_after_ms"), p99(accord, "added_after_ms")),
    "full_read_objects_per_s_accord_over_medallion": ratio(accord["full_read"]["objects_per_s"],
                                                           medallion["full_read"]["objects_per_s"]),
    "medallion_full_read_finished": medallion["full_read"]["finished"],
    "add_objects_per_s_accord_over_medallion": ratio(accord_added.get("indicators_per_s"),
                                                     medallion_added.get("indicators_per_s")),
}}))' "$reports" "$accord" "$taxii" "$accord_added" "$added"
}

for reports in "${SIZES[@]}"; do
  run_size "$reports"
done
