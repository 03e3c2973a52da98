#!/usr/bin/env bash
# The main job of README.md: builds the engine and trains the ML-Decoder system on the seeded
# synthetic multi-label task (`kernels train ml-decoder`: a small TResNet-like backbone, the
# ML-Decoder head, the asymmetric loss, Adam + OneCycle + EMA), on the GPU when one is usable
# (--device auto), else the CPU; about 5 minutes on a 2-core CPU. It prints progress and the mAP
# of the model and its EMA per epoch, ends with `final mAP: <value>`, and writes
# runs/ml-decoder/{checkpoint.safetensors,metrics.json}. Extra arguments replace the default ones
# and go to the `kernels` command (e.g. `bash scripts/run.sh train cnn`, `bash scripts/run.sh info`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "dotnet (the .NET 10 SDK) is required" >&2; exit 1; }
bash scripts/build-native.sh >/dev/null
dotnet build src/Cli/Kernels.Cli.csproj -c Release -nologo -v q
K="dotnet src/Cli/bin/Release/net10.0/kernels.dll"
if [ $# -gt 0 ]; then exec $K "$@"; fi
$K info
exec $K train ml-decoder --device auto --seed 1
