#!/usr/bin/env bash
# The project's test command: installs what the tests need (Python interop packages), then runs every test.
# Usage: scripts/test.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."

# Interop tests compare Accord's STIX ids with the OASIS python stix2 library, validate every bundle Accord emits
# with the OASIS stix2-validator, and drive the TAXII server with the OASIS taxii2-client: install them into a
# project venv.
VENV=".venv"
if [ ! -x "$VENV/bin/python3" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python3" -c "import stix2" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "stix2==3.0.*"
fi
if ! "$VENV/bin/python3" -c "import taxii2client, stix2validator" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "taxii2-client==2.3.0" "stix2-validator==3.3.2"
fi
# Browser tests of the web console (tests/console, tests/browser/*.py): Debian's chromium, driven by Playwright for
# Python launched with chromium's executable path (no browser download: never `playwright install`).
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get install -y chromium || { $SUDO apt-get update && $SUDO apt-get install -y chromium; }
fi
if ! "$VENV/bin/python3" -c "import playwright.sync_api" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "playwright==1.65.3"
fi
# The front door's live tests (tests/front_door) run Debian's caddy against deploy/Caddyfile.
if ! command -v caddy >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get install -y caddy || { $SUDO apt-get update && $SUDO apt-get install -y caddy; }
fi
export PATH="$PWD/$VENV/bin:$PATH"
export ACCORD_REQUIRE_INTEROP=1 ACCORD_REQUIRE_BROWSER=1 ACCORD_REQUIRE_CADDY=1
# The full-disk test mounts a small tmpfs (tests/e2e/full_disk.rs): as root, where mounting works, it must run.
# Where root may not mount (a container without CAP_SYS_ADMIN) the script says so loudly and the test reports itself
# skipped, naming why.
if [ "$(id -u)" = 0 ]; then
  probe=$(mktemp -d)
  if mount -t tmpfs -o size=1m tmpfs "$probe" 2>/dev/null; then
    umount "$probe"
    export ACCORD_REQUIRE_TMPFS=1
  else
    echo "WARNING: running as root but cannot mount a tmpfs here: the full-disk test (tests/e2e/full_disk.rs) will be skipped" >&2
  fi
  rmdir "$probe"
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The API docs build without a broken or private intra-doc link.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

# --- Kafka: a real broker for the Kafka tests ------------------------------------------------------------------------
# tansu, a Kafka-compatible broker, is installed when missing (cargo install: about 20 min on 2 cores the first time,
# then reused from ~/.cargo/bin) and started on a free loopback port with its own sqlite storage, stopped on exit.
# The bus tests (crates/accord-bus/tests/kafka) use it; the multi-process fault tests (tests/kafka_pipeline) start
# brokers of their own with the same script. ACCORD_REQUIRE_KAFKA=1: none of them may skip.
scripts/tansu.sh install
TANSU_DIR=$(mktemp -d)
trap 'scripts/tansu.sh stop "$TANSU_DIR"; rm -rf "$TANSU_DIR"' EXIT
ACCORD_KAFKA_BOOTSTRAP=$(scripts/tansu.sh start "$TANSU_DIR" | sed -n 's/^KAFKA_BOOTSTRAP=//p')
export ACCORD_KAFKA_BOOTSTRAP ACCORD_REQUIRE_KAFKA=1
# --- end of the Kafka block -------------------------------------------------------------------------------------------

cargo test --workspace --locked

# --- docker-compose.yml validation (issue 4) -------------------------------------------------------------------------
# Debian's docker-compose validates the file without a Docker engine. Installed on first use.
if ! command -v docker-compose >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get install -y docker-compose || { $SUDO apt-get update && $SUDO apt-get install -y docker-compose; }
fi
docker-compose -f docker-compose.yml config -q
# --- end of docker-compose.yml validation ----------------------------------------------------------------------------
