#!/usr/bin/env bash
# The test command of README.md: restores, builds (warnings are errors) and runs the default
# NUnit suite on the CPU. Categories Gpu and Slow are excluded here.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "dotnet (the .NET 10 SDK) is required: https://dot.net" >&2; exit 1; }
dotnet build Kernels.sln -c Release -nologo -v q
dotnet test tests/Kernels.Tests.csproj -c Release --no-build -nologo \
  --filter "TestCategory!=Gpu&TestCategory!=Slow" "$@"
