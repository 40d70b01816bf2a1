#!/usr/bin/env bash
# The project's test command: installs what the tests need (Python interop packages), then runs every test.
# Usage: scripts/test.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."

# Interop tests compare Accord's STIX ids with the OASIS python stix2 library: install it into a project venv.
VENV=".venv"
if [ ! -x "$VENV/bin/python3" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python3" -c "import stix2" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "stix2==3.0.*"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export ACCORD_REQUIRE_INTEROP=1

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
