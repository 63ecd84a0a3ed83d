#!/usr/bin/env bash
# Builds and runs the native C++ test runner through ctest (no Node needed). CPU-only by default;
# MTRL_CUDA=ON|AUTO builds the CUDA kernels too (their tests skip without a device).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MTRL_NATIVE_TEST_BUILD:-build-native-tests}
cmake -S . -B "$build" -DMTRL_CUDA="${MTRL_CUDA:-OFF}" -DCMAKE_BUILD_TYPE=Release ${MTRL_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" --target mtrl_native_tests -j "$(nproc)"
cd "$build" && ctest --output-on-failure "$@"
