#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for
# a bounded time (FUZZ_SECONDS, default 20). A crash fails the script and
# leaves the input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPULSE_BUILD_TESTS=OFF -DPULSE_FUZZ=ON -DPULSE_WERROR=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target script_fuzzer request_fuzzer
seconds=${FUZZ_SECONDS:-20}
mkdir -p "$BUILD_DIR/corpus/script" "$BUILD_DIR/corpus/request"
cp migrations/*.sql "$BUILD_DIR/corpus/script/"
cd "$BUILD_DIR"
export ASAN_OPTIONS=detect_leaks=0
./fuzz/script_fuzzer -max_total_time="$seconds" -print_final_stats=1 corpus/script 2>&1 | tail -3
./fuzz/request_fuzzer -max_total_time="$seconds" -print_final_stats=1 corpus/request 2>&1 | tail -3
echo "fuzz: both targets ran ${seconds}s each without a failure"
