// Emulated build: no tensor cores (nvcuda::wmma); the wmma GEMM kernel is compiled out (it is
// guarded by __CUDA_ARCH__ >= 800) and never launched, since the emulated device reports sm_75.
#pragma once
#include "mtrl_cuda_emu.h"
