#!/usr/bin/env bash
# tansu, an Apache Kafka compatible broker, for the tests of the Kafka bus (crates/accord-bus/tests/kafka).
#
# Usage:
#   scripts/tansu.sh install      installs tansu with cargo when it is not on PATH or in ~/.cargo/bin (reused after)
#   scripts/tansu.sh start DIR    starts a broker on a free loopback port (or the port it had in DIR), storing in
#                                 DIR/tansu.db (sqlite), logging to DIR/tansu.log, its pid in DIR/tansu.pid; waits
#                                 until it accepts connections and prints KAFKA_BOOTSTRAP=127.0.0.1:PORT
#   scripts/tansu.sh stop DIR     stops it (SIGTERM, then SIGKILL after 10 s)
#   scripts/tansu.sh kill DIR     kills it at once (SIGKILL), as a crash
#   scripts/tansu.sh which        prints the tansu binary's path; fails when tansu is not installed
#
# sqlite, not memory://: tansu's memory engine returns nothing when a consumer resumes from a committed offset inside
# a batch.
set -euo pipefail

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

start() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  if running "$dir"; then
    echo "tansu: already running in $dir (pid $(cat "$dir/tansu.pid"))" >&2
    return 1
  fi
  local bin port
  bin=$(tansu_bin) || { echo "tansu: not installed; run scripts/tansu.sh install" >&2; return 1; }
  if [ -f "$dir/tansu.port" ]; then
    port=$(cat "$dir/tansu.port")
  else
    port=$(free_port)
    echo "$port" >"$dir/tansu.port"
  fi
  # setsid: the broker outlives this script and is not hit by signals sent to the caller's process group. It runs in
  # DIR, because tansu reads a `.env` file from its working directory.
  (cd "$dir" && exec setsid "$bin" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "sqlite://tansu.db" \
    >>"$dir/tansu.log" 2>&1 </dev/null) &
  echo $! >"$dir/tansu.pid"
  for _ in $(seq 1 300); do
    if accepts "$port"; then
      echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
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

stop() {
  local dir="$1" signal="${2:-TERM}"
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
  stop) stop "${2:?usage: scripts/tansu.sh stop DIR}" ;;
  kill) stop "${2:?usage: scripts/tansu.sh kill DIR}" KILL ;;
  which) tansu_bin ;;
  *)
    echo "usage: scripts/tansu.sh install | start DIR | stop DIR | kill DIR | which" >&2
    exit 2
    ;;
esac
