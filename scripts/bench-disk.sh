#!/usr/bin/env bash
# Bytes on disk per indicator (issue 14 item 2): `accord up` on a fresh data directory takes REPORTS reports of
# INDICATORS indicators from the load generator (as fast as it accepts them; loadgen waits until they are
# searchable), then the server is stopped cleanly and each store's files are measured: the bus log, the enforcer's
# report store, the index, the gateway's status store and the rest.
#
# Usage: scripts/bench-disk.sh
# Environment: ACCORD_BIN (default target/release/accord; build it with `cargo build --release --bin accord`),
#              PORT (18491), REPORTS (100000), INDICATORS (per report, 10), CONFIG (extra TOML for the server),
#              KEEP (1 keeps the data directory).
# Output: one `disk:` line per store (bytes, bytes per indicator) and a total line:
#         `disk: total N bytes for M indicators: B bytes per indicator (bus X, enforcer Y, index Z)`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

BIN="${ACCORD_BIN:-target/release/accord}"
PORT="${PORT:-18491}"
REPORTS="${REPORTS:-100000}"
INDICATORS="${INDICATORS:-10}"
[ -x "$BIN" ] || { echo "bench-disk: no binary at $BIN" >&2; exit 1; }

export ACCORD_ADMIN_TOKEN="bench-disk-admin-token-$(date +%s)-0123456789abcdef"
URL="http://127.0.0.1:$PORT"
data=$(mktemp -d /tmp/bench-disk.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "bench-disk: kept $data" >&2 || rm -rf "$data"
}
trap cleanup EXIT

bench_start "$BIN" "$PORT" "$data" "${CONFIG:-}"
pid=$BENCH_PID
"$BIN" loadgen --url "$URL" --reports "$REPORTS" --indicators-per-report "$INDICATORS" --lookups 10 \
  --unknown-lookups 10 --pid "$pid" --seed "$REPORTS" >"$data/loadgen.out" 2>"$data/loadgen.err"
grep RESULT "$data/loadgen.out" | cut -c1-300 || true
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""

indicators=$((REPORTS * INDICATORS))
bytes() { { du -sb "$@" 2>/dev/null || true; } | awk '{ sum += $1 } END { print sum + 0 }'; }
bus=$(bytes "$data"/bus)
enforcer=$(bytes "$data"/enforcer)
index=$(bytes "$data"/index)
total=$(bytes "$data")
total=$((total - $(bytes "$data"/up.log "$data"/loadgen.out "$data"/loadgen.err "$data"/bench.toml)))
for store in "$data"/*; do
  name=$(basename "$store")
  case "$name" in up.log | loadgen.out | loadgen.err | bench.toml) continue ;; esac
  size=$(bytes "$store")
  echo "disk: $name $size bytes, $((size / indicators)) per indicator"
done
echo "disk: total $total bytes for $indicators indicators: $((total / indicators)) bytes per indicator" \
  "(bus $((bus / indicators)), enforcer $((enforcer / indicators)), index $((index / indicators)))"
