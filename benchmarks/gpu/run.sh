#!/usr/bin/env bash
# The one prepared GPU check (run on a lent H100/H200 machine, which has no Node): builds the CUDA
# kernels and the native test runner, checks every CUDA kernel against the CPU one on random inputs,
# times the kernels (native benchmarks, CPU and CUDA in the same run), and prints a short table last.
# Usage: bash benchmarks/gpu/run.sh [--quick]     (results also go to $OUT when it is set)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$(mktemp -d)}
quick=${1:-}
export PATH="$PATH:/usr/local/cuda/bin"
arch=${MTRL_GPU_ARCH:-90-real}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt"
t0=$(date +%s)
cmake -S . -B build-gpu -DMTRL_CUDA=ON "-DMTRL_CUDA_ARCHITECTURES=$arch" -DCMAKE_BUILD_TYPE=Release >"$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" --target mtrl_native_tests mtrl_native_bench >"$out/build.log" 2>&1 ||
  { grep -E "error" "$out/build.log" | head -40; exit 1; }
echo "build: $(( $(date +%s) - t0 ))s"

echo "== correctness: CUDA vs CPU (native test runner)"
./build-gpu/mtrl_native_tests | tee "$out/tests.txt" | grep -Ev ": ok \[" 
tests_rc=${PIPESTATUS[0]}

echo "== timings"
./build-gpu/mtrl_native_bench $quick --csv "$out/bench.csv" > "$out/bench.txt" 2>&1
bench_rc=$?

echo
echo "== summary ($(cat "$out/gpu.txt" 2>/dev/null))"
tail -n 1 "$out/tests.txt"
column -s, -t < <(cut -d, -f1-5,8-10 "$out/bench.csv") | head -n 80
exit $(( tests_rc | bench_rc ))
