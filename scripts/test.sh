#!/usr/bin/env bash
# The test command of README.md: builds the hand-written kernels for the `emu` device (and PTX /
# cubin where nvcc exists), builds the solution (warnings are errors) and runs the default NUnit
# suite on the CPU. Categories Gpu and Slow are excluded here.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "dotnet (the .NET 10 SDK) is required" >&2; exit 1; }
bash scripts/build-native.sh
dotnet build Kernels.sln -c Release -nologo -v q
# The emulated kernels are part of the default suite: a missing library fails instead of skipping.
export KERNELS_REQUIRE_EMU=1
dotnet test tests/Kernels.Tests.csproj -c Release --no-build -nologo \
  --blame-hang-timeout 5m \
  --filter "TestCategory!=Gpu&TestCategory!=Slow" "$@"
