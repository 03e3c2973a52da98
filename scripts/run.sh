#!/usr/bin/env bash
# The main job of README.md: builds the engine and trains the small CNN of `kernels train cnn` on
# the seeded synthetic-shapes task, on the GPU when one is usable (--device auto), else the CPU;
# it prints loss, throughput and held-out accuracy and writes runs/cnn/{checkpoint.safetensors,
# metrics.json}. Until the ML-Decoder system lands this is the end-to-end run. Extra arguments
# replace the default ones and go to the `kernels` command (e.g. `bash scripts/run.sh info`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "dotnet (the .NET 10 SDK) is required" >&2; exit 1; }
bash scripts/build-native.sh >/dev/null
dotnet build src/Cli/Kernels.Cli.csproj -c Release -nologo -v q
K="dotnet src/Cli/bin/Release/net10.0/kernels.dll"
if [ $# -gt 0 ]; then exec $K "$@"; fi
$K info
exec $K train cnn --device auto --seed 1
