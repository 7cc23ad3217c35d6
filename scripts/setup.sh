#!/usr/bin/env bash
# Installs the Debian bookworm packages Pulse needs, if any are missing.
# Idempotent and non-interactive. --build-only installs just what building
# needs (the Docker image uses that); the default adds what the tests,
# fuzzing, the benchmark and the docs use. --compose adds the container
# engine that scripts/compose-test.sh runs the stack in.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlitecpp-dev libsqlite3-dev libabsl-dev libssl-dev
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3 openssl
  clang libclang-rt-14-dev docker-compose graphviz time chromium
)

COMPOSE_PACKAGES=(docker.io docker-compose debootstrap openssl)

packages=("${BUILD_PACKAGES[@]}")
[ "${1:-}" = "--build-only" ] || packages+=("${TEST_PACKAGES[@]}")
[ "${1:-}" = "--compose" ] && packages+=("${COMPOSE_PACKAGES[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
