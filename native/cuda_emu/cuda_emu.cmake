# Emulated CUDA build (-DMTRL_CUDA_EMU=ON): native/cuda/*.cu rewritten into plain C++ in the build folder
# (scripts/cuda-emu-rewrite.cjs), compiled with the host compiler against the HIP-CPU runtime through
# the shim in this folder, and linked with the CPU code and the native test runner, so the CUDA-vs-CPU
# tests run with the emulated device as cuda:0. Two runners: mtrl_cuda_emu_tests and
# mtrl_cuda_emu_tests_asan (AddressSanitizer on the kernels, the core and the tests).
# HIP-CPU comes from -DMTRL_HIP_CPU_DIR, else $MTRL_HIP_CPU_DIR, else ../shared/third_party/hip-cpu.
if(NOT MTRL_HIP_CPU_DIR)
  if(DEFINED ENV{MTRL_HIP_CPU_DIR})
    set(MTRL_HIP_CPU_DIR "$ENV{MTRL_HIP_CPU_DIR}")
  else()
    set(MTRL_HIP_CPU_DIR "${CMAKE_SOURCE_DIR}/../shared/third_party/hip-cpu")
  endif()
endif()
get_filename_component(MTRL_HIP_CPU_DIR "${MTRL_HIP_CPU_DIR}" ABSOLUTE)
if(NOT EXISTS "${MTRL_HIP_CPU_DIR}/include/hip/hip_runtime.h")
  message(FATAL_ERROR "MTRL_CUDA_EMU: HIP-CPU not found at ${MTRL_HIP_CPU_DIR} (set MTRL_HIP_CPU_DIR)")
endif()
find_library(MTRL_TBB_LIBRARY tbb)
if(NOT MTRL_TBB_LIBRARY)
  message(FATAL_ERROR "MTRL_CUDA_EMU: libtbb not found (Debian: apt-get install libtbb-dev); HIP-CPU runs blocks through the C++17 parallel algorithms")
endif()
find_program(MTRL_NODE node REQUIRED)
find_package(Threads REQUIRED)
message(STATUS "mtrl: emulated CUDA build against HIP-CPU at ${MTRL_HIP_CPU_DIR}")

set(_emu_gen "${CMAKE_BINARY_DIR}/cuda_emu_generated")
set(_emu_script "${CMAKE_SOURCE_DIR}/scripts/cuda-emu-rewrite.cjs")
file(GLOB _emu_cu CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/native/cuda/*.cu")
set(_emu_sources)
foreach(cu ${_emu_cu})
  get_filename_component(name ${cu} NAME_WE)
  set(out "${_emu_gen}/${name}.cc")
  add_custom_command(OUTPUT ${out}
                     COMMAND ${MTRL_NODE} ${_emu_script} ${cu} ${out}
                     DEPENDS ${cu} ${_emu_script}
                     COMMENT "cuda-emu: rewriting native/cuda/${name}.cu"
                     VERBATIM)
  list(APPEND _emu_sources ${out})
endforeach()

file(GLOB _emu_cpu CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/native/cpu/*.cc")
file(GLOB _emu_core CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/native/core/*.cc")
file(GLOB _emu_tests CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/native/tests/*.cc")
file(GLOB _emu_shim CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/native/cuda_emu/*.h")
set_source_files_properties(${_emu_sources} ${CMAKE_SOURCE_DIR}/native/cuda_emu/emu_selftest.cc PROPERTIES OBJECT_DEPENDS "${_emu_shim}")

# -ffp-contract=off: no FMA contraction the CUDA code did not write (nvcc's __f*_rn intrinsics are exact).
set(_emu_flags -O2 -ffp-contract=off -Wall -Wextra -Wno-unused-parameter)

# CPU kernels: shared by both runners, not instrumented (the CPU code has its own tests).
add_library(mtrl_emu_cpu OBJECT ${_emu_cpu})
target_include_directories(mtrl_emu_cpu PUBLIC ${CMAKE_SOURCE_DIR}/native/include)
target_compile_definitions(mtrl_emu_cpu PUBLIC MTRL_WITH_CUDA MTRL_CUDA_EMULATED)
target_compile_options(mtrl_emu_cpu PRIVATE ${_emu_flags})
if(OpenMP_CXX_FOUND)
  target_link_libraries(mtrl_emu_cpu PUBLIC OpenMP::OpenMP_CXX)
endif()

function(mtrl_emu_runner target)
  add_executable(${target} ${_emu_sources} ${_emu_core} ${_emu_tests} ${CMAKE_SOURCE_DIR}/native/cuda_emu/emu_selftest.cc
                 $<TARGET_OBJECTS:mtrl_emu_cpu>)
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/native/cuda_emu ${CMAKE_SOURCE_DIR}/native/cuda
                             ${CMAKE_SOURCE_DIR}/native/tests)
  target_include_directories(${target} SYSTEM PRIVATE ${MTRL_HIP_CPU_DIR}/include ${MTRL_HIP_CPU_DIR}/external)
  target_compile_options(${target} PRIVATE ${_emu_flags} ${ARGN})
  target_link_options(${target} PRIVATE ${ARGN})
  target_link_libraries(${target} PRIVATE mtrl_emu_cpu ${MTRL_TBB_LIBRARY} Threads::Threads)
endfunction()
mtrl_emu_runner(mtrl_cuda_emu_tests)
# -O1: the usual optimisation level for ASan (clearer reports), and a shorter compile.
mtrl_emu_runner(mtrl_cuda_emu_tests_asan -O1 -fsanitize=address -fno-omit-frame-pointer)
