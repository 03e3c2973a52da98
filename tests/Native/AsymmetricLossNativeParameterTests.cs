using System.Text.RegularExpressions;
using Kernels.Bindings.Nvrtc;
using Kernels.Ops.AsymmetricLoss;

namespace Kernels.Tests.Native;

/// <summary>The cuda path of AsymmetricLossNative passes each kernel's arguments as C# values
/// whose sizes must equal the kernel's .param sizes (NVRTC PTX of the embedded source); the table
/// mirrors the Add calls in src/Kernels/Ops/AsymmetricLoss/Native.cs.</summary>
public partial class AsymmetricLossNativeParameterTests
{
    private static readonly Dictionary<string, int[]> Passed = new()
    {
        ["asymmetric_loss_count_f32"] = [8, 8, 8],
        ["asymmetric_loss_count_total"] = [8, 4],
        // x, y, w, dx, partials, counts, long n, 8 floats, focus, count slot, host scale
        ["asymmetric_loss_entries_f32"] = [8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4],
        ["asymmetric_loss_final_f32"] = [8, 8, 8, 4, 4, 4],
    };

    [GeneratedRegex(@"\.entry\s+(\w+)\s*\(([^)]*)\)")]
    private static partial Regex EntryRegex();

    [GeneratedRegex(@"\.param\s+(?:\.align\s+\d+\s+)?\.([a-z]\d+)\s+\w+(?:\[(\d+)\])?")]
    private static partial Regex ParamRegex();

    private static int[] ParamSizes(string list) =>
        [.. ParamRegex().Matches(list).Select(m => m.Groups[2].Success
            ? int.Parse(m.Groups[2].Value) * (int.Parse(m.Groups[1].Value[1..]) / 8)
            : int.Parse(m.Groups[1].Value[1..]) / 8)];

    [Test]
    public void FunctionIndicesAndTableNameTheSameKernels()
    {
        Assert.That(AsymmetricLossNative.CudaKernels, Is.Unique);
        Assert.That(AsymmetricLossNative.CudaKernels, Is.EquivalentTo(Passed.Keys));
    }

    [Test]
    public void EveryKernelGetsArgumentsOfItsParameterSizes()
    {
        if (!Nvrtc.IsAvailable) Assert.Ignore($"NVRTC is not installed: {Nvrtc.Reason}");
        var ptx = Nvrtc.Compile(NativeModules.Source("asymmetric_loss"), "asymmetric_loss.cu", NativeModules.Options("compute_80") with
        {
            IncludePaths = [Path.Combine(Kernels.Tests.Bindings.BindingsSupport.RepoRoot(), "native", "include")],
        }).Ptx!;
        var entries = EntryRegex().Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => ParamSizes(m.Groups[2].Value));
        Assert.That(entries.Keys, Is.EquivalentTo(Passed.Keys));
        foreach (var (kernel, sizes) in entries)
            Assert.That(Passed[kernel], Is.EqualTo(sizes), $"{kernel}: argument sizes vs .param sizes");
    }
}
