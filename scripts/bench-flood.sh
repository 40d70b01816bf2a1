#!/usr/bin/env bash
# A flooding partner next to the others (issue 15 item 1): `accord loadgen --flood` against a fresh `accord up` per
# run. Each run times SAMPLES of the run's partner's reports from POST until searchable, alone and then next to a
# second partner that floods the heaviest reports the limits admit; it prints both phases' p50/p99 and the p99
# ratio (issue 15 asks for at most 2). With several binaries the runs alternate between them, so a change in the
# machine's load falls on both.
#
# Usage: scripts/bench-flood.sh [BIN…]   (default target/release/accord; build it with `cargo build --release`)
# Environment: RUNS (runs per binary, 2), SAMPLES (per phase, 400), PORT (18510), CONNECTIONS (the flooder's, 4),
#              DATA_ROOT (where the data directories are made, /tmp; /dev/shm shows what is left without disk syncs),
#              KEEP (1 keeps each run's data directory).
# Output: per run, `BIN run N: flood: others' ingest→searchable p50/p99 alone …, next to the flood … (p99 ×…)` (the
#         loadgen's summary line), and the loadgen's whole output in the run's data directory when KEEP=1; then per
#         binary the same figures over every sample of its runs pooled (a p99 of 400 samples is their 4th slowest;
#         pooled runs give it more than one sample's worth of weight).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS="${RUNS:-2}"
SAMPLES="${SAMPLES:-400}"
PORT="${PORT:-18510}"
CONNECTIONS="${CONNECTIONS:-4}"
[ "$#" -gt 0 ] || set -- target/release/accord
for bin in "$@"; do
  [ -x "$bin" ] || { echo "bench-flood: no binary at $bin" >&2; exit 1; }
done

export ACCORD_ADMIN_TOKEN="bench-flood-admin-token-$(date +%s)-0123456789abcdef"
BENCH_PID=""
data=""
cleanup() {
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$data" ] && [ "${KEEP:-0}" != 1 ] && rm -rf "$data"
  return 0
}
trap cleanup EXIT

results=$(mktemp)
for run in $(seq 1 "$RUNS"); do
  for bin in "$@"; do
    data=$(mktemp -d "${DATA_ROOT:-/tmp}/bench-flood.XXXXXX")
    bench_start "$bin" "$PORT" "$data"
    "$bin" loadgen --url "http://127.0.0.1:$PORT" --flood --flood-samples "$SAMPLES" \
      --flood-connections "$CONNECTIONS" --pid "$BENCH_PID" --seed "$run" >"$data/loadgen.out" 2>"$data/loadgen.err" \
      || { echo "bench-flood: the load generator failed; its errors:" >&2; tail -20 "$data/loadgen.err" >&2; exit 1; }
    echo "$bin run $run: $(grep -h '^flood:' "$data/loadgen.out" | head -1)"
    grep -h '^RESULT ' "$data/loadgen.out" | sed "s|^RESULT |$bin\t|" >>"$results"
    kill "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=""
    [ "${KEEP:-0}" = 1 ] && echo "bench-flood: kept $data" >&2 || rm -rf "$data"
    data=""
  done
done

# Every run's samples pooled, per binary.
python3 - "$results" <<'POOL'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    binary, result = line.rstrip("\n").split("\t", 1)
    runs.setdefault(binary, []).append(json.loads(result))
def percentile(values, percent):
    values = sorted(values)
    return values[min(len(values) * percent // 100, len(values) - 1)]
for binary, results in runs.items():
    alone = [ms for result in results for ms in result["baseline_ms"]]
    flood = [ms for result in results for ms in result["flood_ms"]]
    print(f"{binary} pooled over {len(results)} runs ({len(alone)} + {len(flood)} samples): "
          f"alone p50/p99 {percentile(alone, 50):.0f}/{percentile(alone, 99):.0f} ms, next to the flood "
          f"{percentile(flood, 50):.0f}/{percentile(flood, 99):.0f} ms (p99 ×{percentile(flood, 99) / percentile(alone, 99):.2f})")
POOL
rm -f "$results"
