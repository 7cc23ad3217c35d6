#!/usr/bin/env bash
# Configures and builds Pulse into build/ (Release, with tests; gRPC,
# Protobuf and abseil linked statically, for a faster start).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DPULSE_BUILD_TESTS=ON \
  -DPULSE_STATIC_GRPC=ON >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-2}"
