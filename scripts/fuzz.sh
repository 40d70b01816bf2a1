#!/usr/bin/env bash
# Long runs of the fuzz targets (docs/fuzzing.md). `cargo test` runs each target for a few thousand cases; this runs
# them for as many as you ask, one target or all, and the input-size scaling measurement.
#
# Usage: scripts/fuzz.sh [--cases N] [--seed S] [--release] [TARGET...]
#   TARGET: observables patterns ingest misp decoder search extract pii normalize scaling (default: all but scaling)
#   --cases N   cases per property (default 200000; PROPTEST_CASES in the environment also works)
#   --seed S    replay a run: the seed it printed (default: a fresh random seed, printed first)
#   --release   build optimized (faster cases; the first build compiles every dependency again, librdkafka included)
# Examples: scripts/fuzz.sh patterns ingest          scripts/fuzz.sh --cases 20000 all scaling
#
# A failure prints the minimal failing input: fix the bug where it lives and add that input as a unit test next to the
# code (see "Found so far" in docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${PROPTEST_CASES:-200000}"
seed="${PROPTEST_RNG_SEED:-}"
profile=(--profile dev)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) cases="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --release) profile=(--release); shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
ALL=(observables patterns ingest misp decoder search extract pii normalize)
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${ALL[@]}")
fi
expanded=()
for target in "${targets[@]}"; do
  if [ "$target" = "all" ]; then expanded+=("${ALL[@]}"); else expanded+=("$target"); fi
done
targets=("${expanded[@]}")
if [ -z "$seed" ]; then
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fi

# target → cargo test arguments (package, test binary, name filter).
declare -A ARGS=(
  [observables]="-p accord-domain --test fuzz"
  [patterns]="-p accord-stix --test fuzz pattern::"
  [ingest]="-p accord-stix --test fuzz ingest::"
  [misp]="-p accord-stix --test fuzz misp::"
  [decoder]="-p accord-gateway --lib fuzz::"
  [search]="-p accord-search --lib fuzz::"
  [extract]="-p accord-normalizer --test fuzz extract::"
  [pii]="-p accord-normalizer --test fuzz pii::"
  [normalize]="-p accord-normalizer --test fuzz normalize::"
)

echo "fuzz: ${cases} cases per property, seed ${seed} (replay with --seed ${seed})"
failed=()
for target in "${targets[@]}"; do
  if [ "$target" = "scaling" ]; then
    echo "== scaling"
    # `cargo bench` with the chosen profile; the benchmark exits non-zero when a case grows super-linearly.
    cargo bench --locked "${profile[@]}" -p accord-normalizer --bench scaling || failed+=("$target")
    continue
  fi
  if [ -z "${ARGS[$target]:-}" ]; then
    echo "unknown target \`$target\` (try --help)" >&2
    exit 2
  fi
  echo "== $target"
  # shellcheck disable=SC2086 # the arguments are words on purpose
  PROPTEST_CASES="$cases" PROPTEST_RNG_SEED="$seed" cargo test --locked "${profile[@]}" ${ARGS[$target]} \
    || failed+=("$target")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (seed ${seed})" >&2
  exit 1
fi
echo "fuzz: all passed (seed ${seed})"
