# Shared by the scripts/bench-*.sh benchmarks (sourced, not run): starting a fresh `accord up` to measure.

# bench_start BIN PORT DATA [CONFIG]: writes DATA/bench.toml — the per-token rate limit and the partner's daily quota
# off (a load generator posts from one partner token, gigabytes in a run; a flood measured must be a flood, not a
# quota's refusals), then the extra TOML CONFIG — and starts `BIN up` on the data directory DATA, listening on
# 127.0.0.1:PORT, its output in DATA/up.log. Sets BENCH_PID to the server's pid and waits until /readyz answers
# (at most 60 s; returns 1 if it never does).
bench_start() {
  local bin=$1 port=$2 data=$3 config=${4:-}
  printf '[http]\nrate_limit_per_second = 0\n[gateway]\nmax_partner_bytes_per_day = 0\n%s\n' "$config" >"$data/bench.toml"
  "$bin" up --config "$data/bench.toml" --data-dir "$data" --listen "127.0.0.1:$port" >"$data/up.log" 2>&1 &
  BENCH_PID=$!
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "bench: accord up did not become ready on port $port; its log:" >&2
  tail -20 "$data/up.log" >&2
  return 1
}

# bench_token URL BODY ABILITY: prints a token created with the admin token ($ACCORD_ADMIN_TOKEN) from the JSON BODY
# of `POST /v1/tokens`; waits until it, which travels through the directory topic, authenticates on TAXII and sees a
# collection with ABILITY (`can_read` or `can_write`).
bench_token() {
  local url=$1 body=$2 ability=$3 token
  token=$(curl -fs -X POST "$url/v1/tokens" -H "Authorization: Bearer $ACCORD_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d "$body" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  for _ in $(seq 1 100); do
    curl -fs -u "bench:$token" -H 'Accept: application/taxii+json;version=2.1' "$url/taxii2/accord/collections/" \
      | grep -q "\"$ability\":true" && break
    sleep 0.2
  done
  echo "$token"
}

# bench_agency_token URL DATA CASE: prints a TAXII-ready investigator token of the agency the load generator set up
# (named in DATA/loadgen.err) for the case CASE.
bench_agency_token() {
  local url=$1 data=$2 case=$3 agency
  agency=$(sed -n 's/.*agency \([^,]*\),.*/\1/p' "$data/loadgen.err" | head -1)
  bench_token "$url" \
    "{\"organization\":\"$agency\",\"role\":\"investigator\",\"purpose\":\"investigation\",\"case\":\"$case\",\"label\":\"bench\"}" \
    can_read
}

# bench_partner_token URL DATA: prints a TAXII-ready partner token of the partner the load generator set up (named
# in DATA/loadgen.err).
bench_partner_token() {
  local url=$1 data=$2 partner
  partner=$(sed -n 's/.*partner \([^,]*\),.*/\1/p' "$data/loadgen.err" | head -1)
  bench_token "$url" "{\"organization\":\"$partner\",\"role\":\"partner\",\"label\":\"bench\"}" can_write
}

# bench_python NAME: sets PYTHON (unless set) to the project venv's python3 when .venv exists (scripts/test.sh
# installs it there), else python3, and exits with a message naming the script NAME when it lacks taxii2-client.
bench_python() {
  if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python3 ]; then PYTHON=.venv/bin/python3; else PYTHON=python3; fi
  fi
  if ! "$PYTHON" -c "import taxii2client" 2>/dev/null; then
    echo "$1: $PYTHON lacks taxii2-client (scripts/test.sh installs it into .venv)" >&2
    exit 1
  fi
}
