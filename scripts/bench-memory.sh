#!/usr/bin/env bash
# Memory under steady load (issue 22 item 4): `accord up` on a fresh data directory takes reports from the load
# generator at a steady rate for MINUTES minutes while the server's resident memory (VmRSS) is sampled every
# SAMPLE_SECONDS. Prints one line per minute and a summary: after the warm-up, the lowest, highest and mean RSS and
# how far the farthest sample is from the mean (issue 22 asks for ±10 %), for the whole RSS and its anonymous part.
#
# Usage: scripts/bench-memory.sh
# Environment: ACCORD_BIN (default target/release/accord; build it with `cargo build --release --bin accord`),
#              PORT (18490), RATE (reports/s, 300), MINUTES (15), WARMUP_MINUTES (3), SAMPLE_SECONDS (10),
#              INDICATORS (per report, 10), CONFIG (extra TOML appended to the server's configuration),
#              KEEP (1 keeps the data directory and the samples).
# Output: `minute N: rss MiB` lines (with the allocator's allocated and resident MiB), then
#         `memory: RATE reports/s for MINUTES min, N samples after WARMUP_MINUTES min of warm-up: RSS LOW–HIGH MiB, mean M,
#         farthest sample P % from it; anonymous …`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

BIN="${ACCORD_BIN:-target/release/accord}"
PORT="${PORT:-18490}"
RATE="${RATE:-300}"
MINUTES="${MINUTES:-15}"
WARMUP_MINUTES="${WARMUP_MINUTES:-3}"
SAMPLE_SECONDS="${SAMPLE_SECONDS:-10}"
INDICATORS="${INDICATORS:-10}"
[ -x "$BIN" ] || { echo "bench-memory: no binary at $BIN" >&2; exit 1; }

export ACCORD_ADMIN_TOKEN="bench-memory-admin-token-$(date +%s)-0123456789abcdef"
URL="http://127.0.0.1:$PORT"
data=$(mktemp -d /tmp/bench-memory.XXXXXX)
pid=""
loadgen=""
cleanup() {
  [ -n "$loadgen" ] && kill "$loadgen" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "bench-memory: kept $data" >&2 || rm -rf "$data"
}
trap cleanup EXIT

bench_start "$BIN" "$PORT" "$data" "${CONFIG:-}"
pid=$BENCH_PID

reports=$((RATE * MINUTES * 60))
"$BIN" loadgen --url "$URL" --reports "$reports" --rate "$RATE" --indicators-per-report "$INDICATORS" \
  --lookups 10 --unknown-lookups 10 --pid "$pid" --seed "$RATE$MINUTES" >"$data/loadgen.out" 2>"$data/loadgen.err" &
loadgen=$!

# The allocator's own figures (src/memory.rs), when the server publishes them.
allocator() {
  curl -fs "$URL/metrics" 2>/dev/null | awk '
    /^accord_memory_allocated_bytes / { allocated = $2 }
    /^accord_memory_resident_bytes / { resident = $2 }
    END { if (allocated != "") printf " (allocator: %d MiB allocated, %d MiB resident)", allocated / 1048576, resident / 1048576 }'
}
rss_mib() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$pid/status"; }
# Resident anonymous memory (the heap, stacks) and resident file pages (the index's memory-mapped files, which the
# kernel reclaims under pressure like any page cache), in MiB.
anon_file_mib() { awk '/^RssAnon/ { anon = $2 } /^RssFile/ { file = $2 } END { printf "%d %d", anon / 1024, file / 1024 }' "/proc/$pid/status"; }
samples="$data/rss.samples"
start=$(date +%s)
end=$((start + MINUTES * 60))
minute=0
while [ "$(date +%s)" -lt "$end" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "bench-memory: the server exited; its log:" >&2; tail -20 "$data/up.log" >&2; exit 1; }
  now=$(date +%s)
  echo "$((now - start)) $(rss_mib) $(anon_file_mib)" >>"$samples"
  if [ $(((now - start) / 60)) -gt "$minute" ]; then
    minute=$(((now - start) / 60))
    read -r anon file <<<"$(anon_file_mib)"
    echo "minute $minute: rss $(rss_mib) MiB (anonymous $anon, file $file)$(allocator)"
  fi
  sleep "$SAMPLE_SECONDS"
done
kill "$loadgen" 2>/dev/null || true
# After the warm-up: the lowest and highest RSS, and how far the farthest sample is from the mean; the same for the
# anonymous part.
awk -v warm=$((WARMUP_MINUTES * 60)) -v rate="$RATE" -v minutes="$MINUTES" -v warmup="$WARMUP_MINUTES" '
  function spread(sum, n, low, high,    mean, far) {
    mean = sum / n
    far = (high - mean > mean - low) ? high - mean : mean - low
    return sprintf("%d–%d MiB, mean %d, farthest sample %.1f %% from it", low, high, mean, far * 100 / mean)
  }
  $1 >= warm {
    n++; sum += $2; anon += $3
    if (low == "" || $2 < low) low = $2; if ($2 > high) high = $2
    if (alow == "" || $3 < alow) alow = $3; if ($3 > ahigh) ahigh = $3
  }
  END {
    if (n == 0) { print "bench-memory: no sample after the warm-up" > "/dev/stderr"; exit 1 }
    printf "memory: %d reports/s for %d min, %d samples after %d min of warm-up: RSS %s; anonymous %s\n",
      rate, minutes, n, warmup, spread(sum, n, low, high), spread(anon, n, alow, ahigh)
  }' "$samples"
