#!/usr/bin/env bash
# Makes nvcc available for scripts/build-native.sh (PTX and cubin of native/*.cu), when it can:
#  * nvcc already on the PATH (or in /usr/local/cuda/bin): nothing to do;
#  * else, as root with apt-get on Debian: enables the contrib and non-free components in
#    /etc/apt/sources.list.d/debian.sources and installs nvidia-cuda-toolkit (CUDA 11.8, about
#    3 minutes; no GPU needed);
#  * else it says why not and stops.
# It never fails the build: whatever happens it exits 0, and the build goes on without PTX/cubin
# (the cuda device then compiles the embedded sources with NVRTC at run time). Idempotent.
# KERNELS_SKIP_CUDA_INSTALL=1 skips the install.
set -uo pipefail

say() { echo "install-cuda: $*"; }
done_without() { say "$1; the build goes on without PTX/cubin (NVRTC compiles at run time where a GPU is)"; exit 0; }

report_nvcc() {
    local v
    v="$("$1" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1)"
    say "nvcc ${v:-(unknown version)} at $1"
}

if command -v nvcc >/dev/null 2>&1; then
    report_nvcc "$(command -v nvcc)"
    exit 0
fi
if [ -x /usr/local/cuda/bin/nvcc ]; then
    report_nvcc /usr/local/cuda/bin/nvcc
    say "(not on the PATH; CMake finds it there)"
    exit 0
fi
[ "${KERNELS_SKIP_CUDA_INSTALL:-0}" = "1" ] && done_without "nvcc is missing and KERNELS_SKIP_CUDA_INSTALL=1"
command -v apt-get >/dev/null 2>&1 || done_without "nvcc is missing and there is no apt-get to install it"
[ "$(id -u)" = "0" ] || done_without "nvcc is missing and installing it needs root (run: sudo bash scripts/install-cuda.sh)"

sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ]; then
    # Add contrib and non-free to every Components line that lacks them (the toolkit is in non-free).
    if grep -Eq '^Components:' "$sources" && grep -E '^Components:' "$sources" | grep -Evq 'non-free([^-]|$)'; then
        cp "$sources" "$sources.kernels-backup" 2>/dev/null || true
        sed -i -E '/^Components:/{/\bcontrib\b/!s/$/ contrib/;/\bnon-free([^-]|$)/!s/$/ non-free/}' "$sources"
        say "enabled contrib non-free in $sources (backup: $sources.kernels-backup)"
    else
        say "contrib non-free already enabled in $sources"
    fi
else
    say "no $sources; using the apt sources as they are"
fi

export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
if ! timeout 600 apt-get update -qq; then
    done_without "apt-get update failed"
fi
say "apt-get install nvidia-cuda-toolkit (a few minutes)"
if ! timeout 1200 apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/tmp/kernels-install-cuda.log 2>&1; then
    tail -5 /tmp/kernels-install-cuda.log | sed 's/^/install-cuda:   /'
    done_without "apt-get install nvidia-cuda-toolkit failed (log: /tmp/kernels-install-cuda.log)"
fi
if command -v nvcc >/dev/null 2>&1; then
    report_nvcc "$(command -v nvcc)"
    say "installed; scripts/build-native.sh will build PTX and cubin"
else
    done_without "nvidia-cuda-toolkit installed but nvcc is still not on the PATH"
fi
exit 0
