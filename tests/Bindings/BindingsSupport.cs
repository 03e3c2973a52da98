using System.Text.RegularExpressions;
using Kernels.Bindings.Cuda;

namespace Kernels.Tests.Bindings;

/// <summary>Shared helpers of the binding tests: the repository root (for native/*.cu) and the
/// guards that end a test Inconclusive, with the reason, where a library or a GPU is absent.</summary>
internal static partial class BindingsSupport
{
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "native", "include", "kernels", "emu.h")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"no ancestor of {AppContext.BaseDirectory} holds native/include/kernels/emu.h");
    }

    public static string[] NativeSources() =>
        [.. Directory.GetFiles(Path.Combine(RepoRoot(), "native"), "*.cu").OrderBy(p => p, StringComparer.Ordinal)];

    /// <summary>The extern "C" __global__ kernel names a source declares.</summary>
    public static string[] KernelNames(string source) =>
        [.. KernelRegex().Matches(source).Select(m => m.Groups[1].Value)];

    // A launch-bounds qualifier may stand between void and the name: `void __launch_bounds__(256, 1) name(`.
    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(")]
    private static partial Regex KernelRegex();

    /// <summary>Ends the test Inconclusive unless a GPU is usable; returns its primary context.</summary>
    public static CudaContext RequireGpu()
    {
        if (!CudaDriver.TryInitialize(out var reason)) Assert.Inconclusive($"needs a CUDA GPU: {reason}");
        if (CudaDriver.DeviceCount == 0) Assert.Inconclusive("needs a CUDA GPU: the driver reports none");
        return CudaDriver.RetainPrimaryContext(CudaDriver.GetDevice(0));
    }
}
