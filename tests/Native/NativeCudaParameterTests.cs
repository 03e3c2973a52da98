using System.Text.RegularExpressions;
using Kernels.Bindings.Nvrtc;
using Kernels.Ops.Elementwise;

namespace Kernels.Tests.Native;

/// <summary>The cuda paths of ActivationNative / ElementwiseNative pass each kernel's arguments
/// as C# values whose sizes must equal the kernel's parameters (the driver copies by the kernel's
/// sizes). Checked here without a GPU against the .param lists of the PTX NVRTC makes from the
/// embedded sources. The table mirrors the Add calls of the cuda paths (Native.cs, Native.Cuda.cs).</summary>
public partial class NativeCudaParameterTests
{
    private static readonly Dictionary<string, int[]> Passed = new()
    {
        // int kind, float alpha, x, y, long n
        ["activation_forward_f32"] = [4, 4, 8, 8, 8],
        ["activation_backward_f32"] = [4, 4, 8, 8, 8, 8, 8],
        ["elementwise_binary_f32"] = [4, ElementwiseNative.BroadcastParamsBytes, 8, 8, 8, 8],
        ["elementwise_unary_f32"] = [4, 8, 8, 8],
        ["elementwise_scalar_f32"] = [4, 4, 8, 8, 8],
        ["elementwise_sum_to_shape_f32"] = [ElementwiseNative.SumToShapeParamsBytes, 8, 8, 8],
        ["elementwise_fill_u32"] = [4, 8, 8],
        ["elementwise_fill_u64"] = [8, 8, 8],
        ["elementwise_copy_u32"] = [8, 8, 8],
        ["elementwise_copy_u64"] = [8, 8, 8],
        ["elementwise_cast"] = [4, 8, 8, 8],
        ["elementwise_axpby_f32"] = [4, 8, 4, 8, 8],
        ["elementwise_add_f32"] = [8, 8, 8, 8],
        ["elementwise_mul_f32"] = [8, 8, 8, 8],
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
    public void ParameterStructsHaveTheCLayoutSizes()
    {
        // int rank + pad + 3 × long long[8]; 2 ints + 4 × long long[8] + long long.
        Assert.That(ElementwiseNative.BroadcastParamsBytes, Is.EqualTo(8 + 3 * 64));
        Assert.That(ElementwiseNative.SumToShapeParamsBytes, Is.EqualTo(8 + 4 * 64 + 8));
    }

    [Test]
    public void ElementwiseFunctionIndicesNameTheirKernels()
    {
        // FnSumToShape must index "elementwise_sum_to_shape_f32", and so on: a wrong index would
        // launch another kernel with these arguments.
        var consts = typeof(ElementwiseNative).GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
            .Where(f => f.IsLiteral && f.Name.StartsWith("Fn", StringComparison.Ordinal)).ToList();
        Assert.That(consts, Has.Count.EqualTo(ElementwiseNative.CudaKernels.Length));
        foreach (var f in consts)
        {
            var snake = Regex.Replace(f.Name[2..], "(?<=[a-z0-9])([A-Z])", "_$1").ToLowerInvariant();
            var kernel = ElementwiseNative.CudaKernels[(int)f.GetRawConstantValue()!];
            Assert.That(kernel, Is.EqualTo($"elementwise_{snake}").Or.EqualTo($"elementwise_{snake}_f32"), f.Name);
        }
        Assert.That(ElementwiseNative.CudaKernels, Is.Unique);
        Assert.That(ElementwiseNative.CudaKernels, Is.EquivalentTo(Passed.Keys.Where(k => k.StartsWith("elementwise_", StringComparison.Ordinal))));
    }

    [TestCase("activation")]
    [TestCase("elementwise")]
    public void EveryKernelGetsArgumentsOfItsParameterSizes(string name)
    {
        if (!Nvrtc.IsAvailable) Assert.Ignore($"NVRTC is not installed: {Nvrtc.Reason}");
        var ptx = Nvrtc.Compile(NativeModules.Source(name), name + ".cu", NativeModules.Options("compute_80") with
        {
            IncludePaths = [Path.Combine(Kernels.Tests.Bindings.BindingsSupport.RepoRoot(), "native", "include")],
        }).Ptx!;
        var entries = EntryRegex().Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => ParamSizes(m.Groups[2].Value));
        Assert.That(entries, Is.Not.Empty);
        foreach (var (kernel, sizes) in entries)
        {
            Assert.That(Passed.ContainsKey(kernel), $"{kernel}: the cuda path launches no such kernel (add it to Native.cs and here)");
            Assert.That(Passed[kernel], Is.EqualTo(sizes), $"{kernel}: argument sizes vs .param sizes");
        }
        foreach (var kernel in Passed.Keys.Where(k => k.StartsWith(name + "_", StringComparison.Ordinal)))
            Assert.That(entries.ContainsKey(kernel), $"{kernel} is launched but not in native/{name}.cu");
    }
}
