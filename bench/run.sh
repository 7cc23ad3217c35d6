#!/usr/bin/env bash
# Runs the whole benchmark on a fresh 1,000,000-employee organisation and
# prints a table, the targets and one JSON line. Extra flags go to
# pulse_bench (e.g. --employees=100000 --load_seconds=5). Then the write
# path's figures (bench/writes.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
"${BUILD_DIR:-build}/bench/pulse_bench" --bin_dir="${BUILD_DIR:-build}/services" \
  --migrations=migrations "$@"
bench/writes.sh
