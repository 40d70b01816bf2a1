#!/usr/bin/env bash
# Throughput of one replica of the normalizer and the enforcer against three (issue 18 item 5): every service its own
# process (release build) on a private tansu broker with six partitions per topic. Installs tansu when missing.
#
# Usage: scripts/bench-scaling.sh [--reports N] [--replicas 1,3] [--runs 3]
#        (TMPDIR=/dev/shm puts the broker's sqlite file and the data directories in memory)
# Output: a table (reports/s accepted and processed, the largest consumer lag of each stage), the ratio of the
#         processed throughput, and target/bench-scaling.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tansu.sh install
# The bench starts brokers of its own; this only says the Kafka tests' machinery is on.
export ACCORD_KAFKA_BOOTSTRAP=unused ACCORD_REQUIRE_KAFKA=1
exec cargo bench --locked --bench scaling -- "$@"
