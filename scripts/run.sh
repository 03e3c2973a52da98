#!/usr/bin/env bash
# The main job of README.md. Until the ML-Decoder system lands it builds the engine and runs
# `kernels info` (the CPU, CUDA devices or why there are none, every kernel family and where
# each implementation runs). Extra arguments go to the `kernels` command.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "dotnet (the .NET 10 SDK) is required" >&2; exit 1; }
dotnet build src/Cli/Kernels.Cli.csproj -c Release -nologo -v q
if [ $# -eq 0 ]; then set -- info; fi
exec dotnet src/Cli/bin/Release/net10.0/kernels.dll "$@"
