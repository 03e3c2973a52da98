using Kernels.Bindings.Nvrtc;

namespace Kernels.Tests.Native;

/// <summary>GroupDecodeNative's cuda path against the .param lists of native/group_decode.cu (see
/// NativeCudaParameterTests; this table mirrors the Add calls of GroupDecode/Native.cs).</summary>
public partial class NativeCudaParameterTests
{
    private static readonly Dictionary<string, int[]> GroupDecodePassed = new()
    {
        // x, w, bias, y; batch, groups, dim, g, n
        ["group_decode_forward_f32"] = [8, 8, 8, 8, 4, 4, 4, 4, 4],
        // x, w, dy, dx, dw, dbias, scale; batch, groups, dim, g, n; long long nx, nw, nb
        ["group_decode_backward_f32"] = [8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 8, 8, 8],
        // x, w, bias, targets, weights, grads, part; batch, groups, dim, g, n; 8 float options; int focus
        ["group_decode_asl_rows_f32"] = [8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4],
        // part, loss; long long tiles; mean
        ["group_decode_asl_finish_f32"] = [8, 8, 8, 4],
        // x, w, dy, bias, scale, out; mode, batch, groups, dim, g, n
        ["group_decode_gemm_f32"] = [8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 4],
    };

    [Test]
    public void GroupDecodeKernelsGetArgumentsOfTheirParameterSizes()
    {
        if (!Nvrtc.IsAvailable) Assert.Ignore($"NVRTC is not installed: {Nvrtc.Reason}");
        const string name = "group_decode";
        var ptx = Nvrtc.Compile(NativeModules.Source(name), name + ".cu", NativeModules.Options("compute_80") with
        {
            IncludePaths = [Path.Combine(Kernels.Tests.Bindings.BindingsSupport.RepoRoot(), "native", "include")],
        }).Ptx!;
        var entries = EntryRegex().Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => ParamSizes(m.Groups[2].Value));
        Assert.That(entries.Keys, Is.EquivalentTo(GroupDecodePassed.Keys));
        foreach (var (kernel, sizes) in entries)
            Assert.That(GroupDecodePassed[kernel], Is.EqualTo(sizes), $"{kernel}: argument sizes vs .param sizes");
    }
}
