#!/usr/bin/env bash
# The whole test suite: installs missing apt packages, fuzzes the parser and
# request handling for a bounded time, runs every test under AddressSanitizer
# and UndefinedBehaviorSanitizer, then builds normally and runs every test
# again. Ends with ctest's summary. About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== fuzzing (scripts/fuzz.sh)"
FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh
echo "== sanitizers (scripts/sanitize.sh)"
scripts/sanitize.sh
echo "== tests"
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 300
