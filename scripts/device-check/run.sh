#!/usr/bin/env bash
# The prepared GPU device check. Runs THERE (the device machine), from the repo root, with the pack
# from scripts/device-check/pack.sh in .device/. One call of the device tool:
#     command: bash scripts/device-check/run.sh        carry: [".device"]        timeout_s: 560
# Writes at most 8 files under $OUT (the tool brings back 8 at most):
#   env.txt       nvidia-smi, nvcc, glibc, python3/torch/cuDNN, .NET runtime, CPU
#   kernels.txt   (a) kernels info; (b) selftest --device cuda / cpu / emu
#   tests.txt     (c) the NUnit tests through the test assembly's own runner (runtime only)
#   bench.txt     (d) `kernels bench` and the PyTorch peers on the GPU, and the ratio table
#   train.txt     (e) `kernels train cnn`, `train ml-decoder`, `train unet3d`, `train cascade` + `segment`, short, on the GPU (+ metrics JSON)
#   summary.txt   one line per step: name, exit code, seconds
# No step aborts the script; each has its own timeout. Budget: about 7 minutes in all.
# Here (no GPU) it can be dry-run: OUT=/tmp/devcheck-out bash scripts/device-check/run.sh
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT=${OUT:-/tmp/devcheck-out}
mkdir -p "$OUT"
PACK=$ROOT/.device
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
T_START=$(date +%s)
BUDGET=${DEVCHECK_BUDGET:-450}   # seconds for all steps (the device call allows 600)

# step NAME LOGFILE TIMEOUT_S CMD...: runs one command with a timeout, appends its output to LOGFILE
# (and stdout), records exit code and seconds in summary.txt. 124 = timed out.
step() {
    local name=$1 log=$2 t=$3; shift 3
    local t0=$(date +%s) rc
    # A global budget keeps the whole run inside the device call: each step gets at most what is left.
    local left=$(( BUDGET - (t0 - T_START) ))
    if [ "$left" -lt 5 ]; then
        echo "===== $name: SKIPPED, the ${BUDGET}s budget is spent" | tee -a "$log"
        printf '%-28s skipped (budget spent)\n' "$name" >> "$SUMMARY"; return
    fi
    [ "$t" -gt "$left" ] && t=$left
    { echo; echo "===== $name  (timeout ${t}s): $*"; } | tee -a "$log"
    timeout -k 10 "$t" "$@" < /dev/null 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    local dt=$(( $(date +%s) - t0 ))
    echo "----- $name: exit $rc after ${dt}s" | tee -a "$log"
    printf '%-28s exit %-4s %5ss\n' "$name" "$rc" "$dt" >> "$SUMMARY"
}
note() { echo "$*" | tee -a "$SUMMARY"; }

note "device check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), commit $(cat "$PACK/commit.txt" 2>/dev/null || echo '?')"

# ---- cli/, tests/ and native/ travel compressed (pack.sh); unpack them next to the runtime
if [ -f "$PACK/apps.tar.xz" ]; then
    tar -C "$PACK" -xJf "$PACK/apps.tar.xz" || note "apps unpack FAILED"
fi

# ---- .NET runtime from the pack (no SDK there)
DN=/tmp/devcheck-dotnet
if [ -f "$PACK/runtime.tar.xz" ]; then
    rm -rf "$DN"; mkdir -p "$DN" && tar -C "$DN" -xJf "$PACK/runtime.tar.xz" || note "runtime unpack FAILED"
else
    note "no $PACK/runtime.tar.xz: run scripts/device-check/pack.sh here and carry .device"
fi
export DOTNET_ROOT=$DN PATH=$DN:$PATH
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export KERNELS_EMU_LIB=$PACK/native/libkernels_emu.so KERNELS_NATIVE_DIR=$PACK/native
# The engine also searches upwards for build/native/; build/ is ignored, so give it the packed copy.
if [ ! -e build/native ] && [ -d "$PACK/native" ]; then mkdir -p build && cp -a "$PACK/native" build/native; fi
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
# The first Python that imports torch (there: python3 or /usr/bin/python3, PyTorch 2.11 + cuDNN).
PY=python3
for c in python3 /usr/bin/python3; do
    if "$c" -c 'import torch' 2>/dev/null; then PY=$c; break; fi
done

# ---- environment first, so a failed run still teaches something
ENV=$OUT/env.txt
step nvidia-smi      "$ENV" 30 nvidia-smi
step nvcc            "$ENV" 20 nvcc --version
step glibc           "$ENV" 10 ldd --version
step uname-cpu       "$ENV" 10 sh -c 'uname -a; nproc; grep -m1 "model name" /proc/cpuinfo; free -g'
step python-torch    "$ENV" 90 "$PY" -c '
import sys, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "threads", torch.get_num_threads())
print("cuda available", torch.cuda.is_available(), "torch cuda", torch.version.cuda)
print("cudnn", torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else "none")
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))'
step dotnet-runtime  "$ENV" 20 dotnet --list-runtimes
note "python: $PY"
note "packed runtime: $(cat "$PACK/runtime-version.txt" 2>/dev/null || echo none)"

# ---- (a) info, (b) selftest
K=$OUT/kernels.txt
CLI=$PACK/cli/kernels.dll
step "kernels info"              "$K" 60  dotnet "$CLI" info
step "selftest --device cuda"    "$K" 120 dotnet "$CLI" selftest --device cuda --seed 1
step "selftest --device cpu"     "$K" 120 dotnet "$CLI" selftest --device cpu --seed 1
step "selftest --device emu"     "$K" 120 dotnet "$CLI" selftest --device emu --seed 1

# ---- (c) tests: Kernels.Tests.dll is its own runner (EnableNUnitRunner at publish), needs only the
# runtime (`dotnet test`/`vstest` need the SDK). First the GPU-facing tests (Bindings: CUDA driver,
# NVRTC, cuBLAS; Native: the .cu kernels), which end Inconclusive where no GPU is usable; then the
# whole suite in what time is left. DEVCHECK_TEST_FILTER replaces the second run's filter
# (VSTest syntax, e.g. FullyQualifiedName~Gemm); DEVCHECK_FULL_TESTS=0 skips it.
TESTS=$OUT/tests.txt
TDLL=$PACK/tests/Kernels.Tests.dll
TARGS=(--results-directory /tmp/devcheck-testresults --ansi off --progress off)
step "tests gpu (Gpu+Bindings+Native)" "$TESTS" 150 dotnet "$TDLL" "${TARGS[@]}" \
    --filter "FullyQualifiedName~Kernels.Tests.Gpu|FullyQualifiedName~Kernels.Tests.Bindings|FullyQualifiedName~Kernels.Tests.Native"
if [ "${DEVCHECK_FULL_TESTS:-1}" != 0 ]; then
    [ -n "${DEVCHECK_TEST_FILTER:-}" ] && TARGS+=(--filter "$DEVCHECK_TEST_FILTER")
    step "tests all" "$TESTS" "${DEVCHECK_TEST_TIMEOUT:-150}" dotnet "$TDLL" "${TARGS[@]}"
fi

# ---- (d) benchmarks side by side: `kernels bench` (the shared cases: cuBLAS GEMM, conv, training
# steps) and the PyTorch peers with --device cuda (cuBLAS / cuDNN), same case names, same machine.
P=$OUT/bench.txt
BDEV=${DEVCHECK_BENCH_DEVICE:-cuda}
if [ "${DEVCHECK_PEERS:-1}" = 0 ]; then
    note "benchmarks: SKIPPED (DEVCHECK_PEERS=0)"
else
    step "kernels bench $BDEV" "$P" 150 dotnet "$CLI" bench --device "$BDEV" --warmup 2 --repeat 5 --json /tmp/devcheck-ours.jsonl
    # Every cuda convolution, not only the default (native-tc): im2col + cuBLAS, fp32 native, direct ilgpu.
    step "kernels bench $BDEV conv=im2col" "$P" 60 dotnet "$CLI" bench --device "$BDEV" --filter conv --impl conv=im2col --warmup 2 --repeat 5
    step "kernels bench $BDEV conv=native" "$P" 60 dotnet "$CLI" bench --device "$BDEV" --filter conv --impl conv=native --warmup 2 --repeat 5
    # Where the time of a step goes (KernelProfiler: per kernel / cuBLAS call / copy, CUDA-event times).
    step "kernels bench $BDEV --profile" "$P" 90 dotnet "$CLI" bench --device "$BDEV" --filter "ml-decoder head|train step unet3d|group decode fwd+bwd b64" --profile --warmup 2 --repeat 3
    : > /tmp/devcheck-peer.jsonl
    for f in gemm conv train_step ml_decoder; do
        step "peer $f $BDEV" "$P" 75 sh -c "cd benchmarks/peer && $PY $f.py --device $BDEV --threads $(nproc) --warmup 2 --repeat 5 | tee -a /tmp/devcheck-peer.jsonl"
    done
    step "ratio ours/pytorch" "$P" 20 python3 scripts/device-check/ratio.py /tmp/devcheck-ours.jsonl /tmp/devcheck-peer.jsonl
fi

# ---- (e) a short training run on the GPU: the main job's CNN (`kernels train cnn`).
T=$OUT/train.txt
step "train cnn $BDEV" "$T" 120 dotnet "$CLI" train cnn --device "$BDEV" --seed 1 --steps 300 --out /tmp/devcheck-run
cp /tmp/devcheck-run/metrics.json "$OUT/train-metrics.json" 2>/dev/null || true
# The main job (ML-Decoder on synthetic multi-label images), shortened: 4 epochs.
step "train ml-decoder $BDEV" "$T" 150 dotnet "$CLI" train ml-decoder --device "$BDEV" --seed 1 --epochs 4 --out /tmp/devcheck-mld
cp /tmp/devcheck-mld/metrics.json "$OUT/train-mld-metrics.json" 2>/dev/null || true
# The 3-D U-Net on phantoms (issue 5), shortened: 2 epochs; its metrics go into train.txt.
step "train unet3d $BDEV" "$T" 120 sh -c "dotnet $CLI train unet3d --device $BDEV --seed 1 --epochs 2 --out /tmp/devcheck-unet && cat /tmp/devcheck-unet/metrics.json"
# The cascade (both stages), shortened; then `segment` with its checkpoint on a phantom.
step "train cascade $BDEV" "$T" 120 sh -c "dotnet $CLI train cascade --device $BDEV --seed 1 --liver-epochs 1 --liver-steps 20 --tumour-epochs 1 --tumour-steps 30 --out /tmp/devcheck-cascade && dotnet $CLI phantom --out /tmp/devcheck-ph --cases 1 --seed 77 && dotnet $CLI segment --device $BDEV --checkpoint /tmp/devcheck-cascade/checkpoint.safetensors --volume /tmp/devcheck-ph/volume-0.nii --out /tmp/devcheck-ph/pred-0.nii.gz"
note "total $(( $(date +%s) - T_START ))s; files: $(ls "$OUT" | tr '\n' ' ')"
cat "$SUMMARY"
exit 0
