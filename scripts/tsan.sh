#!/usr/bin/env bash
# ThreadSanitizer over the threads that need no gRPC: the connection pool
# and its per-connection memo, the log writer, the gate monitor, the writer
# and its checkpointer. Debian's abseil is not built with TSan, and every
# absl::Mutex would then be invisible to it, so this builds abseil from
# Debian's own source package with -fsanitize=thread first (about a minute;
# kept in build-tsan/ for the next run). gRPC is not rebuilt: the streams
# and the watch are not covered. Ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=build-tsan
ABSL_PREFIX="$PWD/$BUILD_DIR/absl"
TSAN_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
# abseil waits on futexes by default, which TSan cannot see; its condition
# variable mode waits through pthreads, which TSan follows.
# The same for Pulse, which includes its headers.
ABSL_FLAGS="$TSAN_FLAGS -DABSL_FORCE_WAITER_MODE=2"
if [[ ! -f "$ABSL_PREFIX/lib/cmake/absl/abslConfig.cmake" ]]; then
  work="$PWD/$BUILD_DIR/absl-src"
  rm -rf "$work" && mkdir -p "$work/sources" "$work/lists/partial"
  # Debian's source index in a directory of its own: the system's package
  # lists are left as they are.
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      > "$work/sources/debian-src.sources"
  fi
  if [[ -f /etc/apt/sources.list ]]; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$work/sources/debian-src.list"
  fi
  apt_options=(-o Dir::Etc::sourcelist=/dev/null
    -o "Dir::Etc::sourceparts=$work/sources" -o "Dir::State::Lists=$work/lists")
  apt-get update -qq "${apt_options[@]}"
  (cd "$work" && apt-get source -qq --download-only "${apt_options[@]}" abseil)
  tar -C "$work" -xzf "$work"/abseil_*.orig.tar.gz
  cmake -S "$(ls -d "$work"/abseil-*/)" -B "$work/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 \
    -DABSL_PROPAGATE_CXX_STD=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_CXX_FLAGS="$ABSL_FLAGS" -DCMAKE_INSTALL_PREFIX="$ABSL_PREFIX" \
    >/dev/null
  cmake --build "$work/build" -j "${JOBS:-2}" >/dev/null
  cmake --install "$work/build" >/dev/null
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPULSE_BUILD_TESTS=ON -DPULSE_GRPC=OFF -DCMAKE_PREFIX_PATH="$ABSL_PREFIX" \
  -DCMAKE_CXX_FLAGS="$ABSL_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-2}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp"
cd "$BUILD_DIR"
ctest --output-on-failure -j 2 --timeout 600
