#!/usr/bin/env bash
# tansu, an Apache Kafka compatible broker, for the tests of the Kafka bus (crates/accord-bus/tests/kafka).
#
# Usage:
#   scripts/tansu.sh install      installs tansu with cargo when it is not on PATH or in ~/.cargo/bin (reused after)
#   scripts/tansu.sh start DIR    starts a broker on a free loopback port (or the port it had in DIR), storing in
#                                 DIR/tansu.db (sqlite), logging to DIR/tansu.log, its pid in DIR/tansu.pid; waits
#                                 until it accepts connections and prints KAFKA_BOOTSTRAP=127.0.0.1:PORT
#   scripts/tansu.sh start-secure DIR
#                                 starts a broker that requires SASL (SCRAM-SHA-512 and SCRAM-SHA-256) behind TLS with
#                                 client certificates: generates a test CA, a server certificate (localhost,
#                                 127.0.0.1), a client certificate whose key is encrypted, and a second, untrusted CA in
#                                 DIR/tls with the openssl CLI; creates a user with a random password; starts tansu
#                                 with --authentication and scripts/tls-proxy.py in front of it (tansu 0.6 cannot
#                                 serve TLS itself: see that script). Writes and prints DIR/secure.env
#                                 (KAFKA_SECURE_BOOTSTRAP, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_TLS_DIR,
#                                 KAFKA_CLIENT_KEY_PASSWORD)
#   scripts/tansu.sh stop DIR     stops it (SIGTERM, then SIGKILL after 10 s), and its TLS proxy
#   scripts/tansu.sh kill DIR     kills it at once (SIGKILL), as a crash
#   scripts/tansu.sh which        prints the tansu binary's path; fails when tansu is not installed
#
# TANSU_LOG sets the broker's log filter (default `warn`; e.g. `warn,tansu_broker::coordinator=debug` to follow its
# consumer groups). The caller's RUST_LOG does not reach it.
#
# sqlite, not memory://: tansu's memory engine returns nothing when a consumer resumes from a committed offset inside
# a batch.
set -euo pipefail

SCRIPTS=$(cd "$(dirname "$0")" && pwd)
TANSU_VERSION="0.6.0"
TANSU_FEATURES="libsql"

tansu_bin() {
  if command -v tansu >/dev/null 2>&1; then
    command -v tansu
  elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
    echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
  else
    return 1
  fi
}

install() {
  if bin=$(tansu_bin) && "$bin" --version 2>/dev/null | grep -qF "tansu $TANSU_VERSION"; then
    echo "tansu: using $bin" >&2
    return 0
  fi
  echo "tansu: installing tansu $TANSU_VERSION (features $TANSU_FEATURES); this compiles for a while" >&2
  local started=$SECONDS
  cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features --features "$TANSU_FEATURES" >&2
  echo "tansu: installed in $((SECONDS - started)) s" >&2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running() {
  [ -f "$1/tansu.pid" ] && kill -0 "$(cat "$1/tansu.pid")" 2>/dev/null
}

# port_of DIR NAME: the port stored in DIR/NAME.port, or a free one stored there.
port_of() {
  if [ ! -f "$1/$2.port" ]; then
    free_port >"$1/$2.port"
  fi
  cat "$1/$2.port"
}

# launch DIR PORT ADVERTISED_PORT [tansu broker options…]: starts tansu listening on PORT, telling clients to connect
# to ADVERTISED_PORT, and waits until it accepts connections.
launch() {
  local dir="$1" port="$2" advertised="$3"
  shift 3
  local bin
  bin=$(tansu_bin) || { echo "tansu: not installed; run scripts/tansu.sh install" >&2; return 1; }
  # setsid: the broker outlives this script and is not hit by signals sent to the caller's process group. It runs in
  # DIR, because tansu reads a `.env` file from its working directory. Its log level is TANSU_LOG (default `warn`),
  # never the caller's RUST_LOG: at `info` tansu logs every request, gigabytes a minute under the pipeline tests.
  (cd "$dir" && RUST_LOG="${TANSU_LOG:-warn}" exec setsid "$bin" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$advertised" \
    --storage-engine "sqlite://tansu.db" \
    "$@" \
    >>"$dir/tansu.log" 2>&1 </dev/null) &
  echo $! >"$dir/tansu.pid"
  for _ in $(seq 1 300); do
    if accepts "$port"; then
      return 0
    fi
    if ! running "$dir"; then
      echo "tansu: exited at start; last lines of $dir/tansu.log:" >&2
      tail -n 20 "$dir/tansu.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "tansu: not accepting connections on port $port after 30 s" >&2
  stop "$dir"
  return 1
}

start() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  if running "$dir"; then
    echo "tansu: already running in $dir (pid $(cat "$dir/tansu.pid"))" >&2
    return 1
  fi
  local port
  port=$(port_of "$dir" tansu)
  launch "$dir" "$port" "$port"
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
}

# certificates DIR: a test CA, a server certificate it signs (localhost, 127.0.0.1), a client certificate it signs
# with its key encrypted by DIR/client-key.password, and another CA that signs nothing the broker shows. Kept when
# present.
certificates() {
  local tls="$1"
  [ -f "$tls/client.pem" ] && return 0
  command -v openssl >/dev/null 2>&1 || { echo "tansu: the openssl CLI is needed (apt-get install openssl)" >&2; return 1; }
  mkdir -p "$tls"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
  for ca in ca other-ca; do
    openssl req -x509 "${ec[@]}" -nodes -keyout "$tls/$ca.key" -out "$tls/$ca.pem" -days 7 \
      -subj "/CN=Accord test $ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  done
  openssl req -new "${ec[@]}" -nodes -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
    >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 7 \
    -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
  openssl rand -hex 16 >"$tls/client-key.password"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -aes-256-cbc \
    -pass "file:$tls/client-key.password" -out "$tls/client.key" 2>/dev/null
  openssl req -new -key "$tls/client.key" -passin "file:$tls/client-key.password" -out "$tls/client.csr" \
    -subj "/CN=accord-test-client" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >"$tls/client.ext"
  openssl x509 -req -in "$tls/client.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 7 \
    -extfile "$tls/client.ext" -out "$tls/client.pem" 2>/dev/null
  chmod 600 "$tls"/*.key "$tls/client-key.password"
}

start_secure() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  if running "$dir"; then
    echo "tansu: already running in $dir (pid $(cat "$dir/tansu.pid"))" >&2
    return 1
  fi
  local port tls_port bin
  port=$(port_of "$dir" tansu)
  tls_port=$(port_of "$dir" tls)
  bin=$(tansu_bin) || { echo "tansu: not installed; run scripts/tansu.sh install" >&2; return 1; }
  certificates "$dir/tls"
  if [ ! -f "$dir/sasl.password" ]; then
    # Users can only be created while the broker does not require authentication (tansu answers nothing else to an
    # unauthenticated client), so: start open, create the user, restart closed.
    openssl rand -hex 16 >"$dir/sasl.password"
    launch "$dir" "$port" "$port"
    for mechanism in scram512 scram256; do
      "$bin" user create --broker "tcp://127.0.0.1:$port" accord "$(cat "$dir/sasl.password")" \
        --mechanism "$mechanism" >>"$dir/tansu.log" 2>&1
    done
    stop "$dir"
  fi
  launch "$dir" "$port" "$tls_port" --authentication
  (cd "$dir" && exec setsid python3 "$SCRIPTS/tls-proxy.py" "$tls_port" "$port" \
    tls/server.pem tls/server.key tls/ca.pem >>"$dir/proxy.log" 2>&1 </dev/null) &
  echo $! >"$dir/proxy.pid"
  for _ in $(seq 1 100); do
    accepts "$tls_port" && break
    sleep 0.1
  done
  accepts "$tls_port" || { echo "tansu: the TLS proxy did not start; see $dir/proxy.log" >&2; stop "$dir"; return 1; }
  {
    echo "KAFKA_SECURE_BOOTSTRAP=127.0.0.1:$tls_port"
    echo "KAFKA_SASL_USERNAME=accord"
    echo "KAFKA_SASL_PASSWORD=$(cat "$dir/sasl.password")"
    echo "KAFKA_TLS_DIR=$dir/tls"
    echo "KAFKA_CLIENT_KEY_PASSWORD=$(cat "$dir/tls/client-key.password")"
  } >"$dir/secure.env"
  cat "$dir/secure.env"
}

stop() {
  local dir="$1" signal="${2:-TERM}"
  if [ -f "$dir/proxy.pid" ]; then
    kill "$(cat "$dir/proxy.pid")" 2>/dev/null || true
    rm -f "$dir/proxy.pid"
  fi
  if ! running "$dir"; then
    rm -f "$dir/tansu.pid"
    return 0
  fi
  local pid
  pid=$(cat "$dir/tansu.pid")
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "tansu: pid $pid still running after 10 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$dir/tansu.pid"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: scripts/tansu.sh start DIR}" ;;
  start-secure) start_secure "${2:?usage: scripts/tansu.sh start-secure DIR}" ;;
  stop) stop "${2:?usage: scripts/tansu.sh stop DIR}" ;;
  kill) stop "${2:?usage: scripts/tansu.sh kill DIR}" KILL ;;
  which) tansu_bin ;;
  *)
    echo "usage: scripts/tansu.sh install | start DIR | start-secure DIR | stop DIR | kill DIR | which" >&2
    exit 2
    ;;
esac
