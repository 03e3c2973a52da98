#!/usr/bin/env bash
# Packs into .device/ (git-ignored) everything the GPU machine needs for scripts/device-check/run.sh.
# That machine has CUDA, nvcc and PyTorch but no .NET and no network, so we carry:
#   runtime.tar.xz  this machine's .NET runtime (dotnet muxer + host/fxr + Microsoft.NETCore.App), no SDK
#   apps.tar.xz     cli/, tests/ and native/ below, compressed (run.sh unpacks it there)
#   cli/            framework-dependent publish of src/Cli (`dotnet cli/kernels.dll ...`)
#   tests/          publish of tests/Kernels.Tests.csproj built with EnableNUnitRunner=true, so the test
#                   assembly is its own Microsoft.Testing.Platform runner: `dotnet tests/Kernels.Tests.dll`
#                   needs only the runtime (`dotnet test`/`dotnet vstest` would need the SDK). The csproj is
#                   untouched: the property is passed on the command line. tests/Vectors comes along.
#   native/         build/native (libkernels_emu.so, PTX and cubin for sm_80/sm_90) from scripts/build-native.sh
#   peer/           benchmarks/peer/*.py (they travel with the work tree anyway; copied for a self-contained pack)
# BenchmarkDotNet is left out: its default toolchain builds generated projects and so needs the SDK.
# Launch there (device tool): command `bash scripts/device-check/run.sh`, carry [".device"].
set -euo pipefail
cd "$(dirname "$0")/../.."
LIMIT_MIB=60
D=.device
command -v dotnet >/dev/null || { echo "pack: dotnet (SDK) is required here" >&2; exit 1; }
rm -rf "$D"; mkdir -p "$D"

echo "== native kernels (scripts/build-native.sh)"
if [ "${SKIP_NATIVE_BUILD:-0}" != 1 ]; then bash scripts/build-native.sh; fi
[ -d build/native ] || { echo "pack: build/native missing" >&2; exit 1; }
mkdir -p "$D/native"
cp -a build/native/libkernels_emu.so "$D/native/"
[ -d build/native/cuda ] && cp -a build/native/cuda "$D/native/" || echo "pack: note: no build/native/cuda (nvcc absent here?)"

echo "== publish src/Cli"
dotnet publish src/Cli/Kernels.Cli.csproj -c Release -o "$D/cli" -p:UseAppHost=false -nologo -v q

echo "== publish tests (runtime-only runner)"
# From a copy of the work tree (tracked + untracked, not ignored): publishing in place with
# EnableNUnitRunner reuses this tree's obj/ from ordinary builds, whose deps.json then lacks the
# adapter (NUnit3.TestAdapter could not be loaded there), and would leave runner-built obj/ behind.
SRC=$(mktemp -d /tmp/devcheck-src.XXXXXX)
trap 'rm -rf "$SRC"' EXIT
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -C "$SRC" -xf -
dotnet publish "$SRC/tests/Kernels.Tests.csproj" -c Release -o "$D/tests" \
    -p:EnableNUnitRunner=true -p:UseAppHost=false -nologo -v q
grep -q '"NUnit3.TestAdapter/' "$D/tests/Kernels.Tests.deps.json" \
    || { echo "pack: the test publish's deps.json does not list NUnit3.TestAdapter" >&2; exit 1; }
# Code coverage (30 MB) is not used there; satellite resource folders are not needed either.
rm -rf "$D/tests/Microsoft.CodeCoverage"
for d in "$D"/tests/* "$D"/cli/*; do
    case "$(basename "$d")" in cs|de|es|fr|it|ja|ko|pl|pt-BR|ru|tr|zh-Hans|zh-Hant) rm -rf "$d";; esac
done
# SkiaSharp (curves.png) ships native libraries for every platform (~125 MiB); the GPU machine is linux-x64.
for r in "$D"/cli/runtimes/* "$D"/tests/runtimes/*; do
    [ "$(basename "$r")" = linux-x64 ] || rm -rf "$r"
done
[ -d "$D/tests/Vectors" ] || { echo "pack: tests/Vectors missing from the test publish" >&2; exit 1; }

echo "== .NET runtime"
DOTNET_DIR=$(dirname "$(readlink -f "$(command -v dotnet)")")
RT_LINE=$(dotnet --list-runtimes | grep '^Microsoft.NETCore.App ' | sort -V | tail -1)
RT_VER=$(echo "$RT_LINE" | awk '{print $2}')
[ -d "$DOTNET_DIR/shared/Microsoft.NETCore.App/$RT_VER" ] || { echo "pack: runtime $RT_VER not under $DOTNET_DIR" >&2; exit 1; }
echo "runtime $RT_VER from $DOTNET_DIR"
tar -C "$DOTNET_DIR" -cf - dotnet host/fxr "shared/Microsoft.NETCore.App/$RT_VER" | xz -T2 -6 > "$D/runtime.tar.xz"
echo "$RT_VER" > "$D/runtime-version.txt"

echo "== cli/, tests/, native/ into apps.tar.xz (the DLLs compress about 3x; run.sh unpacks it there)"
tar -C "$D" -cf - cli tests native | xz -T2 -6 > "$D/apps.tar.xz"
rm -rf "$D/cli" "$D/tests" "$D/native"

echo "== peer benchmark scripts"
mkdir -p "$D/peer"; cp -a benchmarks/peer/*.py "$D/peer/"
git rev-parse HEAD > "$D/commit.txt" 2>/dev/null || true

echo "== sizes"
du -sh "$D"/* | sort -h
TOTAL_KIB=$(du -sk "$D" | cut -f1)
echo "total: $((TOTAL_KIB / 1024)) MiB ($TOTAL_KIB KiB); limit $LIMIT_MIB MiB (work tree + carry must stay under 64 MiB)"
if [ "$TOTAL_KIB" -gt $((LIMIT_MIB * 1024)) ]; then echo "pack: FAIL: over $LIMIT_MIB MiB" >&2; exit 1; fi
echo "pack: OK"
