#!/usr/bin/env bash
# Builds the hand-written kernels into build/native/: always libkernels_emu.so (the .cu sources as
# host C++ for the `emu` device); PTX and cubin for sm_80/sm_90 too when nvcc is on the PATH.
# Extra arguments go to the configure step, e.g. -DKERNELS_BUILD_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cmake >/dev/null || { echo "cmake (3.20 or later) is required to build native/" >&2; exit 1; }
cmake -S . -B build/native/cmake -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build/native/cmake --parallel "${KERNELS_BUILD_JOBS:-2}"
echo "built: $(ls build/native/libkernels_emu.so)"
# Say whether the cuda device gets prebuilt modules (else it compiles with NVRTC at run time).
shopt -s nullglob
cuda=(build/native/cuda/*.ptx build/native/cuda/*.cubin)
if [ ${#cuda[@]} -gt 0 ]; then
    echo "built: ${#cuda[@]} PTX/cubin files in build/native/cuda"
else
    echo "no PTX/cubin: nvcc was not found (scripts/install-cuda.sh installs it)"
fi
