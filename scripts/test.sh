#!/usr/bin/env bash
# The whole test suite: installs missing apt packages, fuzzes the parser and
# request handling for a bounded time, runs every test under AddressSanitizer
# and UndefinedBehaviorSanitizer, the concurrency tests under
# ThreadSanitizer (scripts/tsan.sh), then builds normally, runs every
# test again and lints migrations/, then runs the docker-compose stack in
# a real engine (scripts/compose-test.sh). Ends with that script's "N passed, N failed".
# About 25 minutes on 2 cores (3 more the first time, for the base images).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== fuzzing (scripts/fuzz.sh)"
FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh
echo "== sanitizers (scripts/sanitize.sh)"
scripts/sanitize.sh
echo "== thread sanitizer (scripts/tsan.sh)"
scripts/tsan.sh
echo "== tests"
scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j 2 --timeout 300)
echo "== migration lint (pulse-schema lint)"
"${BUILD_DIR:-build}/services/schema/pulse-schema" lint --migrations=migrations
echo "== the compose stack (scripts/compose-test.sh)"
scripts/compose-test.sh
