// Emulated build: see mtrl_cuda_emu.h.
#pragma once
#include "mtrl_cuda_emu.h"
