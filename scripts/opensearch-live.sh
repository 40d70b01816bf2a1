#!/usr/bin/env bash
# Runs the OpenSearch conformance suite (crates/accord-index/tests/opensearch/live.rs) against a real cluster: every
# conformance case on fresh, randomly prefixed indices (deleted afterwards), with a result window of 10 and small
# lookup requests, so that deep paging, point in time and request splitting all run for real.
#
# Usage: OPENSEARCH_URL=URL scripts/opensearch-live.sh [TEST FILTER...]
#   URL: http://HOST:9200, https://USER:PASSWORD@HOST:9200, opensearch://HOST:9200 or
#        opensearch+https://USER:PASSWORD@HOST:9200 (credentials only over TLS)
# Examples: OPENSEARCH_URL=http://localhost:9200 scripts/opensearch-live.sh
#           OPENSEARCH_URL=http://localhost:9200 scripts/opensearch-live.sh paging
#
# ACCORD_REQUIRE_OPENSEARCH=1 is set, so a case that cannot reach the cluster fails instead of skipping. After a run,
# record the version this prints in docs/deployment.md ("OpenSearch versions the live suite last passed on").
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${OPENSEARCH_URL:-}" ]; then
  sed -n '2,12p' "$0" >&2
  echo "OPENSEARCH_URL is not set" >&2
  exit 2
fi
case "$OPENSEARCH_URL" in
  opensearch+https://*) http_url="https://${OPENSEARCH_URL#opensearch+https://}" ;;
  opensearch+http://*) http_url="http://${OPENSEARCH_URL#opensearch+http://}" ;;
  opensearch://*) http_url="http://${OPENSEARCH_URL#opensearch://}" ;;
  *) http_url="$OPENSEARCH_URL" ;;
esac
http_url="${http_url%%\?*}"
# The cluster's version, for the record (the password stays out of the output).
version=$(curl -fsS --max-time 10 "$http_url" 2>/dev/null \
  | sed -n 's/.*"number"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -1 || true)
echo "OpenSearch at ${http_url#*@}: version ${version:-unknown (the root endpoint did not answer)}"

export OPENSEARCH_URL ACCORD_REQUIRE_OPENSEARCH=1
filters=("$@")
[ ${#filters[@]} -gt 0 ] || filters=(live::)
for filter in "${filters[@]}"; do
  nice -n 19 cargo test -p accord-index --test opensearch -- --test-threads 2 "$filter"
done
echo "OpenSearch ${version:-unknown}: the live suite passed"
