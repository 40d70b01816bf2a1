#!/usr/bin/env bash
# Re-fetches the web console's third-party assets from the npm registry and checks them, so that what
# services/console/assets/ holds (and the `accord` binary embeds with include_bytes!) is exactly the pinned releases.
#
# For each pinned package: `npm pack NAME@VERSION` (the tarball the registry serves, no install, no scripts run),
# check the tarball's sha256 against the pin (a mismatch stops everything), then copy the one file the console serves
# and the package's licence into services/console/assets/. Running Accord needs none of this: no Node, no CDN.
#
# Usage: scripts/vendor-console-assets.sh          (re-fetch, verify, copy; then `git diff` shows any change)
#        scripts/vendor-console-assets.sh --check  (re-fetch, verify, and fail if the copies differ)
# To upgrade: change a VERSION and its SHA256 below (the sha256 of the new tarball, from `npm pack` + `sha256sum`,
# compared with `npm view NAME@VERSION dist.integrity`), run the script, update ASSETS in services/console/src/assets.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=services/console/assets
CHECK=0
if [ "${1:-}" = "--check" ]; then CHECK=1; fi

# name | version | sha256 of the npm tarball | file served | served as | licence file | licence saved as
PINS=(
  "htmx.org|2.0.11|165a2655073e9e6e55e307a7c74e8ebcdb76afb7701f9c16cfd106a13add408e|package/dist/htmx.min.js|htmx-2.0.11.min.js|package/LICENSE|LICENSE-htmx.txt"
  "@picocss/pico|2.1.1|4affbb56f49df6d5325610b06762156f1dcdbc6ef57cea5c136d7e8a00a8cd24|package/css/pico.min.css|pico-2.1.1.min.css|package/LICENSE.md|LICENSE-pico.txt"
)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
for pin in "${PINS[@]}"; do
  IFS='|' read -r name version sha256 file served licence licence_as <<<"$pin"
  dir="$WORK/$(echo "$name" | tr '/@' '__')"
  mkdir -p "$dir"
  tarball=$(cd "$dir" && npm pack "$name@$version" --silent)
  actual=$(sha256sum "$dir/$tarball" | cut -d' ' -f1)
  if [ "$actual" != "$sha256" ]; then
    echo "error: $name@$version: tarball sha256 $actual, pinned $sha256" >&2
    exit 1
  fi
  tar xzf "$dir/$tarball" -C "$dir"
  for pair in "$file:$served" "$licence:$licence_as"; do
    from="$dir/${pair%%:*}"
    to="$DEST/${pair##*:}"
    if [ "$CHECK" = 1 ]; then
      if ! cmp -s "$from" "$to"; then
        echo "error: $to differs from $name@$version's ${pair%%:*}" >&2
        status=1
      fi
    else
      mkdir -p "$DEST"
      cp "$from" "$to"
    fi
  done
  echo "$name@$version: sha256 ok"
done
exit $status
