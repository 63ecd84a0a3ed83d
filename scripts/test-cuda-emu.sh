#!/usr/bin/env bash
# Runs the native CUDA-vs-CPU tests with the CUDA kernels emulated on the CPU (HIP-CPU; see
# docs/cuda-emulation.md): builds build-cuda-emu (native/cuda/*.cu rewritten into the build folder,
# compiled with the host compiler), runs the runner's cuda* tests with the emulated device as cuda:0,
# and prints one line per kernel family and a closing "N passed, N failed".
# Usage: scripts/test-cuda-emu.sh [--asan]   (--asan: the same tests under AddressSanitizer)
# Environment: MTRL_HIP_CPU_DIR (default ../shared/third_party/hip-cpu), MTRL_CUDA_EMU_BUILD (build
# folder), MTRL_CUDA_EMU_JOBS (parallel compile jobs), MTRL_TEST_SEED (as for the native tests).
set -uo pipefail
cd "$(dirname "$0")/.."
asan=0
[ "${1:-}" = "--asan" ] && asan=1
label="cuda-emu"
target=mtrl_cuda_emu_tests
if [ "$asan" = 1 ]; then label="cuda-emu (ASan)"; target=mtrl_cuda_emu_tests_asan; fi

skip() {
  echo "$label: skipped: $1"
  echo "0 passed, 0 failed"
  exit 0
}
hip=${MTRL_HIP_CPU_DIR:-../shared/third_party/hip-cpu}
[ -f "$hip/include/hip/hip_runtime.h" ] || skip "HIP-CPU not found at $hip (set MTRL_HIP_CPU_DIR to a copy of github.com/ROCm/HIP-CPU)"
hip=$(cd "$hip" && pwd)
{ [ -f /usr/include/tbb/tbb.h ] || [ -f /usr/include/oneapi/tbb.h ] || [ -n "${MTRL_TBB_OK:-}" ]; } ||
  skip "libtbb-dev is not installed (apt-get install libtbb-dev); HIP-CPU needs it"
command -v cmake >/dev/null 2>&1 || skip "cmake not found"

build=${MTRL_CUDA_EMU_BUILD:-build-cuda-emu}
jobs=${MTRL_CUDA_EMU_JOBS:-$(nproc)}
t0=$(date +%s)
if ! cmake -S . -B "$build" -DMTRL_CUDA=OFF -DMTRL_BUILD_TESTS=OFF -DMTRL_CUDA_EMU=ON -DMTRL_HIP_CPU_DIR="$hip" \
     -DCMAKE_BUILD_TYPE=Release >"$build.configure.log" 2>&1; then
  cat "$build.configure.log"; echo "$label: configure failed"; echo "0 passed, 1 failed"; exit 1
fi
rm -f "$build.configure.log"
if ! cmake --build "$build" --target "$target" -j "$jobs" >"$build/$target.build.log" 2>&1; then
  grep -E "error|Error" "$build/$target.build.log" | head -40; echo "$label: build failed"; echo "0 passed, 1 failed"; exit 1
fi
t1=$(date +%s)
echo "$label: built $target in $((t1 - t0))s (HIP-CPU at $hip)"

log="$build/$target.log"
if [ "$asan" = 1 ]; then
  # Leak checking is off: HIP-CPU keeps its fibers and per-thread state until exit.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0}"
fi
"$build/$target" --name cuda >"$log" 2>&1
rc=$?
t2=$(date +%s)
# One line per kernel family (one runner test each), with the runner's notes (max differences) under it.
awk -v label="$label" '
  function family(n) {
    if (n == "test_attention.cuda_forward_backward_match_cpu") return "attention forward + backward (f32, bf16)";
    if (n == "test_attention.cuda_decode_matches_cpu") return "attention decode (split-KV + combine)";
    if (n == "test_sampling.cuda_matches_cpu") return "sampling, logSoftmax, penalties (f32, bf16)";
    if (n == "test_policy_loss.cuda_vs_cpu") return "policy loss + fused linear (logits and chunked paths)";
    if (n == "test_model_ops.cuda_matches_cpu") return "model ops (norms, RoPE, SwiGLU, GELU, embedding, AdamW, sumSquares)";
    if (n == "test_gemm.cuda_matches_cpu") return "GEMM: SIMT f32 + bf16 (tensor-core wmma kernel not emulated)";
    if (n == "test_ops.cuda_matches_cpu") return "elementwise ops, fill, cast, randn, reference matmul";
    if (n == "cuda_emu.cuda_emu_runtime") return "emulator self-check: operations on stream 0 run in order";
    return n;
  }
  /^  [a-z_]+\.[a-z_0-9]+: / {
    name = $1; sub(/:$/, "", name);
    if (name == "cuda_emu.asan_canary") next;  # run on its own below (--asan)
    status = $0; sub(/^[^:]*: /, "", status);
    printf "  %-75s %s\n", family(name) ":", status;
    if (status ~ /^ok/) pass++; else if (status ~ /^SKIP/) skipped++; else fail++;
    next
  }
  /^    / { print "  " $0; next }
  /passed, [0-9]+ failed/ { next }
  /^seed: / { print "  " $0; next }
  { other = other "\n  " $0 }
  END {
    if (other != "") printf "%s: runner output:%s\n", label, other;
    if (pass + fail + skipped == 0) fail = 1;
    printf "__COUNTS__ %d %d %d\n", pass, fail, skipped
  }' "$log" >"$log.summary"
grep -v "^__COUNTS__" "$log.summary"
read -r _ np nf ns < <(grep "^__COUNTS__" "$log.summary")
if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
  echo "$label: the runner exited with status $rc (crash or sanitizer report; full log: $log)"
  tail -30 "$log"
  nf=$((nf + 1))
fi
if [ "$asan" = 1 ]; then
  # The canary proves this run can fail: a kernel writing one float past a cudaMalloc'd buffer must
  # be reported by ASan (native/cuda_emu/emu_selftest.cc).
  MTRL_EMU_CANARY=1 "$build/$target" --name asan_canary >"$build/canary.log" 2>&1
  if grep -q "heap-buffer-overflow" "$build/canary.log"; then
    printf "  %-75s %s\n" "ASan canary: an out-of-bounds kernel write is reported:" "ok (heap-buffer-overflow)"
    np=$((np + 1))
  else
    printf "  %-75s %s\n" "ASan canary: an out-of-bounds kernel write is reported:" "FAILED (no report; log: $build/canary.log)"
    nf=$((nf + 1))
  fi
fi
[ "$ns" -gt 0 ] && echo "$label: $ns skipped"
echo "$label: tests ran in $((t2 - t1))s"
echo "$np passed, $nf failed"
[ "$nf" -eq 0 ]
