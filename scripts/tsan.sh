#!/usr/bin/env bash
# ThreadSanitizer over Pulse's threads: the connection pool and its memo,
# the log writer, the gate monitor, the writer and its checkpointer, and the
# in-process service tests (streams under load, stalled streams, writes
# beside reads, the schema watch). Debian's abseil and gRPC are not built
# with TSan, and every absl::Mutex (Pulse's and gRPC's) would be invisible
# to it, so this first builds abseil from Debian's own source package (same
# version, namespace and library names, so Debian's gRPC loads it) with its
# locks instrumented (scripts/tsan-absl.cmake; about a minute, kept in
# build-tsan/ for the next run). What includes gRPC's headers is built
# uninstrumented (PULSE_TSAN in CMakeLists.txt), and TSan ignores what
# uninstrumented libraries do. Ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=build-tsan
ABSL_PREFIX="$PWD/$BUILD_DIR/absl"
# abseil waits on futexes by default, which TSan cannot see; its condition
# variable mode waits through pthreads, which TSan follows. The same for
# Pulse, which includes its headers.
TSAN_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -DABSL_FORCE_WAITER_MODE=2"
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
  # Unpacked with Debian's patches: they set the inline namespace and the
  # shared libraries' names that Debian's gRPC was linked against.
  (cd "$work" && apt-get source -qq "${apt_options[@]}" abseil 2>/dev/null)
  cmake -S "$(ls -d "$work"/abseil-*/)" -B "$work/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DBUILD_SHARED_LIBS=ON -DCMAKE_CXX_FLAGS="$TSAN_FLAGS" \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread \
    -DCMAKE_PROJECT_absl_INCLUDE="$PWD/scripts/tsan-absl.cmake" \
    -DCMAKE_INSTALL_PREFIX="$ABSL_PREFIX" >/dev/null
  cmake --build "$work/build" -j "${JOBS:-2}" >/dev/null
  cmake --install "$work/build" >/dev/null
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPULSE_BUILD_TESTS=ON -DPULSE_TSAN=ON -DCMAKE_PREFIX_PATH="$ABSL_PREFIX" \
  -DCMAKE_CXX_FLAGS="$TSAN_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  >/dev/null
TESTS=(common_test store_test orgdata_test)
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target "${TESTS[@]}"
# Debian's gRPC finds the instrumented abseil by its library names.
export LD_LIBRARY_PATH="$ABSL_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$PWD/scripts/tsan.supp"
cd "$BUILD_DIR/tests"
# Only TESTS were built: the other executables' tests are listed as NOT_BUILT.
ctest --output-on-failure -j 2 --timeout 600 -E "_NOT_BUILT$|^ComposeFileIsValid$"
