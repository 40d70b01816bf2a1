#!/usr/bin/env bash
# The standard benchmark (issue 14 item 6): `accord up` on a fresh data directory (embedded bus, tantivy) takes
# 1 000 000 indicators (100 000 reports of 10) from the load generator as fast as it accepts them, while the
# server's memory and its stages' counters are sampled every second; then exact lookups are timed. The figures are
# written as JSON and drawn as one SVG (throughput over time, latency percentiles, RSS over indicators held).
#
# Usage: scripts/bench.sh [--10m] [--indicators N] [--revoke]
#   --10m            10 000 000 indicators (about an hour at today's rate, and 15 GB of disk)
#   --indicators N   N indicators (rounded down to whole reports of 10)
#   --revoke         then revoke the run's MoU and time its effect (`accord loadgen --revoke`, waiting up to an hour):
#                    until a sample of the reports is no longer found, and until each shows its withdrawal
# Environment: ACCORD_BIN (default target/release/accord, built with `cargo build --release --bin accord` when
#              absent), PORT (18493), OUT (default bench-results/<date>), CONFIG (extra TOML for the server),
#              LOOKUPS (2000), KEEP (1 keeps the data directory).
# Output: OUT/bench.json, OUT/bench.svg, OUT/loadgen.out, OUT/samples.txt, OUT/metrics.txt and OUT/disk.txt (the
#         server's metrics and each store's bytes when the load generator finished) and a summary line:
#         `bench: N indicators, X indicators/s searchable, ingest→searchable p99 Y ms, lookup p99 Z ms, peak RSS R MiB`
#         (and, with --revoke, the revocation's two times).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

INDICATORS_TOTAL=1000000
REVOKE=()
while [ $# -gt 0 ]; do
  case "$1" in
    --10m) INDICATORS_TOTAL=10000000 ;;
    --indicators) INDICATORS_TOTAL="$2"; shift ;;
    --revoke) REVOKE=(--revoke --give-up-secs 3600) ;;
    *) echo "usage: scripts/bench.sh [--10m] [--indicators N] [--revoke]" >&2; exit 2 ;;
  esac
  shift
done
PER_REPORT=10
REPORTS=$((INDICATORS_TOTAL / PER_REPORT))
[ "$REPORTS" -ge 1 ] || { echo "bench: at least $PER_REPORT indicators" >&2; exit 2; }

BIN="${ACCORD_BIN:-target/release/accord}"
if [ ! -x "$BIN" ]; then
  echo "bench: building $BIN" >&2
  cargo build --release --locked --bin accord >&2
fi
PORT="${PORT:-18493}"
OUT="${OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"

export ACCORD_ADMIN_TOKEN="bench-admin-token-$(date +%s)-0123456789abcdef"
URL="http://127.0.0.1:$PORT"
data=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
pid=""
sampler=""
cleanup() {
  touch "$data/stop"
  [ -n "$sampler" ] && wait "$sampler" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "bench: kept $data" >&2 || rm -rf "$data"
}
trap cleanup EXIT

bench_start "$BIN" "$PORT" "$data" "${CONFIG:-}"
pid=$BENCH_PID
"$PYTHON" scripts/bench.py sample "$URL" "$pid" "$OUT/samples.txt" "$data/stop" &
sampler=$!
"$BIN" loadgen --url "$URL" --reports "$REPORTS" --indicators-per-report "$PER_REPORT" \
  --lookups "${LOOKUPS:-2000}" --unknown-lookups 100 --pid "$pid" --seed "$REPORTS" "${REVOKE[@]}" \
  >"$OUT/loadgen.out" 2>"$data/loadgen.err" || { head -20 "$data/loadgen.err" >&2; exit 1; }
touch "$data/stop"
curl -fs "$URL/metrics" >"$OUT/metrics.txt" || true
for store in "$data"/*/; do
  du -sb "$store" | awk -v name="$(basename "$store")" -v n="$INDICATORS_TOTAL" \
    '{ printf "%s %.0f bytes, %.0f per indicator\n", name, $1, $1 / n }'
done >"$OUT/disk.txt"
wait "$sampler"
sampler=""
"$PYTHON" scripts/bench.py report "$OUT/samples.txt" "$OUT/loadgen.out" "$PER_REPORT" "$OUT/bench.json" "$OUT/bench.svg"
"$PYTHON" - "$OUT/bench.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p99 = lambda summary: (summary or {}).get("p99_ms") or 0
print(f"bench: {d['indicators']} indicators, {d['indicators_per_s_searchable'] or 0:.0f} indicators/s searchable, "
      f"ingest→searchable p99 {p99(d['ingest_to_searchable_ms']):.0f} ms, lookup p99 {p99(d['lookup_ms']):.2f} ms, "
      f"peak RSS {d['rss_mib_peak']:.0f} MiB")
if d.get("revocation"):
    r = d["revocation"]
    print(f"bench: revocation of {r['sampled']} sampled reports: not found after {r['invisible_ms']} ms, "
          f"withdrawn after {r['withdrawn_ms']} ms, {r['hits_after_ack']} hits after the acknowledgement")
EOF
sed 's/^/bench: disk: /' "$OUT/disk.txt"
echo "bench: wrote $OUT/bench.json and $OUT/bench.svg" >&2
