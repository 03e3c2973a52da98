using Kernels.Bindings.Nvrtc;
using Kernels.Ops.Activation;
using Kernels.Ops.Conv;
using Kernels.Registry;
using Kernels.Tests.Support;

namespace Kernels.Tests.Native;

/// <summary>native/conv3d.cu through ConvNative on the emu device: the fused forward epilogue
/// (bias, scale / shift, ReLU / LeakyReLU) against the cpu convolution followed by the same
/// arithmetic on the host; refusals; the registry's choices. The plain passes are covered by the
/// Conv self-test on emu (SelfTestTests.PassesOnEmu).</summary>
public class Conv3dNativeTests
{
    // Odd channels, stride 2 along w, dilation 2 along h, padding above k/2 along d.
    private static readonly ConvShape Shape =
        ConvShape.Create(2, 3, 5, [4, 6, 7], [2, 3, 3], [1, 1, 2], [2, 2, 1], [1, 2, 1], 1);

    [TestCase(null, 0.0, false)]
    [TestCase(ActivationKind.Relu, 0.0, false)]
    [TestCase(ActivationKind.LeakyRelu, 0.13, true)]
    [TestCase(ActivationKind.Relu, 0.0, true)]
    public void FusedForwardMatchesConvThenEpilogue(ActivationKind? act, double alpha, bool scaled)
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var s = Shape;
        var x = EmuSupport.Uniform(r, (int)s.InputElements, -2, 2);
        var w = EmuSupport.Uniform(r, (int)s.WeightElements, -1, 1);
        var bias = EmuSupport.Uniform(r, s.OutChannels, -1, 1);
        var scale = EmuSupport.Uniform(r, s.OutChannels, 0.5f, 2);
        var shift = EmuSupport.Uniform(r, s.OutChannels, -1, 1);
        int n = (int)s.OutputElements;

        var cpu = Device.Cpu;
        using var cx = Upload(cpu, x);
        using var cw = Upload(cpu, w);
        using var cb = Upload(cpu, bias);
        using var cy = cpu.Allocate(DType.F32, n);
        new ConvCpu().Forward(s, cx, cw, cb, cy);
        var expected = new double[n];
        var plain = Download(cpu, cy, n);
        long plane = s.OutSpatial;
        for (int i = 0; i < n; i++)
        {
            int c = (int)(i / plane % s.OutChannels);
            double v = plain[i];
            if (scaled) v = v * scale[c] + shift[c];
            if (act == ActivationKind.Relu) v = Math.Max(v, 0);
            else if (act == ActivationKind.LeakyRelu && v < 0) v *= alpha;
            expected[i] = v;
        }

        var emu = Devices.Get("emu");
        var native = (ConvNativeBase)emu.Kernels.Get<IConv>();
        using var ex = Upload(emu, x);
        using var ew = Upload(emu, w);
        using var eb = Upload(emu, bias);
        using var es = Upload(emu, scale);
        using var eh = Upload(emu, shift);
        using var ey = Upload(emu, Enumerable.Repeat(float.NaN, n).ToArray());
        native.ForwardFused(s, ex, ew, eb, ey, act, alpha, scaled ? es : null, scaled ? eh : null);
        Approx.Equal(expected, EmuSupport.ToDoubles(Download(emu, ey, n)), 1e-4, 1e-5,
            $"act={act} alpha={alpha} scaled={scaled} seed={seed}");
    }

    /// <summary>The tensor-core kernels (conv3d_tc_forward_f16, conv3d_tc_backward_data_f16) with
    /// the emulator's software mma: their tiling, gathers, fp16 hi / lo splits, group offsets and
    /// epilogues against the cpu; split mode to fp32 tolerance, one fp16 product to fp16's. (The
    /// fragment layout they assume is checked only by a GPU run.)</summary>
    [TestCase(false)]
    [TestCase(true)]
    [Category("Slow")]
    public void TensorCorePassesMatchTheCpuOnEmu(bool plainFp16) =>
        // 16 channels per group both ways (two groups), stride 2, dilation 2, padding.
        TensorCorePasses(ConvShape.Create(1, 32, 32, [3, 4, 5], [2, 3, 2], [1, 2, 1], [1, 1, 0], [1, 1, 2], 2), plainFp16);

    /// <summary>The fast version: one group, two taps along a stride-2 axis, hi + lo splits.</summary>
    [Test]
    public void TensorCorePassesMatchTheCpuOnEmuSmall() =>
        TensorCorePasses(ConvShape.Create(1, 16, 16, [2, 3, 5], [1, 1, 2], [1, 1, 2], [0, 1, 1], [1, 1, 1], 1), false);

    private static void TensorCorePasses(ConvShape s, bool plainFp16)
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var x = EmuSupport.Uniform(r, (int)s.InputElements, -2, 2);
        var w = EmuSupport.Uniform(r, (int)s.WeightElements, -1, 1);
        var bias = EmuSupport.Uniform(r, s.OutChannels, -1, 1);
        var inBias = EmuSupport.Uniform(r, s.InChannels, -1, 1);
        var dy = EmuSupport.Uniform(r, (int)s.OutputElements, -2, 2);
        int ny = (int)s.OutputElements, nx = (int)s.InputElements;

        var cpu = Device.Cpu;
        var conv = new ConvCpu();
        using var cx = Upload(cpu, x);
        using var cw = Upload(cpu, w);
        using var cb = Upload(cpu, bias);
        using var cib = Upload(cpu, inBias);
        using var cdy = Upload(cpu, dy);
        using var cy = cpu.Allocate(DType.F32, ny);
        using var cdx = cpu.Allocate(DType.F32, nx);
        conv.Forward(s, cx, cw, cb, cy);
        conv.BackwardData(s, cdy, cw, cdx, cib);
        var yRef = EmuSupport.ToDoubles(Download(cpu, cy, ny)).Select(v => Math.Max(v, 0)).ToArray();
        var dxRef = EmuSupport.ToDoubles(Download(cpu, cdx, nx));

        var emu = Devices.Get("emu");
        var tc = ConvNativeBase.EmuTensorCoresForTests(emu);
        using var ex = Upload(emu, x);
        using var ew = Upload(emu, w);
        using var eb = Upload(emu, bias);
        using var eib = Upload(emu, inBias);
        using var edy = Upload(emu, dy);
        using var ey = Upload(emu, Enumerable.Repeat(float.NaN, ny).ToArray());
        using var edx = Upload(emu, Enumerable.Repeat(float.NaN, nx).ToArray());
        var old = Environment.GetEnvironmentVariable(ConvNativeBase.TensorCorePrecisionVariable);
        try
        {
            Environment.SetEnvironmentVariable(ConvNativeBase.TensorCorePrecisionVariable, plainFp16 ? "fp16" : null);
            tc.ForwardFused(s, ex, ew, eb, ey, ActivationKind.Relu);
            tc.BackwardData(s, edy, ew, edx, eib);
        }
        finally
        {
            Environment.SetEnvironmentVariable(ConvNativeBase.TensorCorePrecisionVariable, old);
        }
        var (rtol, atol) = plainFp16 ? (1e-2, 2e-2) : (1e-4, 1e-4);
        string what = $"{(plainFp16 ? "fp16" : "fp16 hi+lo")} seed={seed}";
        Approx.Equal(yRef, EmuSupport.ToDoubles(Download(emu, ey, ny)), rtol, atol, what + " forward");
        Approx.Equal(dxRef, EmuSupport.ToDoubles(Download(emu, edx, nx)), rtol, atol, what + " backward-data");
    }

    [Test]
    public void UnfusableActivationsAndFloat64AreRefusedClearly()
    {
        EmuSupport.RequireLibrary();
        var emu = Devices.Get("emu");
        var native = (ConvNativeBase)emu.Kernels.Get<IConv>();
        var s = ConvShape.Create(1, 2, 2, [3, 3, 3], [1, 1, 1], [1, 1, 1], [0, 0, 0], [1, 1, 1], 1);
        using var x = emu.Allocate(DType.F32, s.InputElements, zero: true);
        using var w = emu.Allocate(DType.F32, s.WeightElements, zero: true);
        using var y = emu.Allocate(DType.F32, s.OutputElements);
        var e = Assert.Throws<NotSupportedException>(() => native.ForwardFused(s, x, w, null, y, ActivationKind.Gelu))!;
        Assert.That(e.Message, Does.Contain("Gelu").And.Contain("ReLU"));

        using var x64 = emu.Allocate(DType.F64, s.InputElements, zero: true);
        using var w64 = emu.Allocate(DType.F64, s.WeightElements, zero: true);
        using var y64 = emu.Allocate(DType.F64, s.OutputElements);
        var f = Assert.Throws<NotSupportedException>(() => native.Forward(s, x64, w64, null, y64))!;
        Assert.That(f.Message, Does.Contain("float32 only").And.Contain("float64"));
    }

    [Test]
    public void RegistryRunsNativeOnEmuAndRanksTheGpuVerifiedConvolutionsOnCuda()
    {
        Assert.That(KernelRegistry.For("Conv", DeviceKind.Emu).First().Name, Is.EqualTo("native"));
        // Decision 0011: promoted after the H100 device check passed their self-tests (docs/gpu-results.md):
        // the tensor-core variant first, then fp32 native, im2col + cuBLAS, the direct ilgpu kernels.
        var cuda = KernelRegistry.For("Conv", DeviceKind.Cuda).Select(i => i.Name).ToList();
        Assert.That(cuda, Is.EqualTo(new[] { "native-tc", "native", "im2col", "ilgpu" }));
        Assert.That(KernelRegistry.For("Conv", DeviceKind.Emu).Select(i => i.Name), Does.Not.Contain("native-tc"));
    }

    private static DeviceBuffer Upload(Device d, float[] data)
    {
        var b = d.Allocate(DType.F32, data.Length);
        d.Upload<float>(data, b);
        return b;
    }

    private static float[] Download(Device d, DeviceBuffer b, int n)
    {
        var a = new float[n];
        d.Download<float>(b, a);
        return a;
    }
}

/// <summary>ConvNative's cuda path against the .param lists of native/conv3d.cu and conv3d_tc.cu (see
/// NativeCudaParameterTests; this table mirrors the Add calls of NativeConv.Launch.cs).</summary>
public partial class NativeCudaParameterTests
{
    private static readonly Dictionary<string, int[]> Conv3dPassed = new()
    {
        // Conv3dParams p; x, wt, bias, scale, shift; int act; float alpha; y
        ["conv3d_forward_f32"] = [ConvNativeBase.ParamsBytes, 8, 8, 8, 8, 8, 4, 4, 8],
        // p; dy, wd, bias, dx
        ["conv3d_backward_data_f32"] = [ConvNativeBase.ParamsBytes, 8, 8, 8, 8],
        // p; int chunk; x, dy, part
        ["conv3d_backward_weights_f32"] = [ConvNativeBase.ParamsBytes, 4, 8, 8, 8],
        // p; int splits; part, dw
        ["conv3d_weights_reduce_f32"] = [ConvNativeBase.ParamsBytes, 4, 8, 8],
        // src, dst; int batch; long long rows, cols
        ["conv3d_transpose_f32"] = [8, 8, 4, 8, 8],
        ["conv3d_transpose_narrow_f32"] = [8, 8, 4, 8, 8],
        // int batch, channels; long long spatial; t, part
        ["conv3d_channel_sum_f32"] = [4, 4, 8, 8, 8],
        // int channels, chunks; part, sum
        ["conv3d_channel_sum_finish_f32"] = [4, 4, 8, 8],
    };

    private static readonly Dictionary<string, int[]> Conv3dTcPassed = new()
    {
        // p; x, wd, bias, scale, shift; act; alpha; int split; y
        ["conv3d_tc_forward_f16"] = [ConvNativeBase.ParamsBytes, 8, 8, 8, 8, 8, 4, 4, 4, 8],
        // p; dy, wt, bias; int split; dx
        ["conv3d_tc_backward_data_f16"] = [ConvNativeBase.ParamsBytes, 8, 8, 8, 4, 8],
    };

    [Test]
    public void Conv3dParamsHaveTheCLayoutSize() => Assert.That(ConvNativeBase.ParamsBytes, Is.EqualTo(22 * 4));

    [Test]
    public void Conv3dFunctionListNamesEveryKernelOnce()
    {
        Assert.That(ConvNativeBase.CudaKernels, Is.Unique);
        Assert.That(ConvNativeBase.CudaKernels, Is.EquivalentTo(Conv3dPassed.Keys));
        Assert.That(ConvNativeBase.TensorCoreKernels, Is.EquivalentTo(Conv3dTcPassed.Keys));
        // FnBackwardData must index "conv3d_backward_data_f32", TcForward "conv3d_tc_forward_f16", and so on.
        foreach (var (prefix, names, module) in new[] { ("Fn", ConvNativeBase.CudaKernels, "conv3d_"), ("Tc", ConvNativeBase.TensorCoreKernels, "conv3d_tc_") })
        {
            var consts = typeof(ConvNativeBase).GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
                .Where(f => f.IsLiteral && f.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            Assert.That(consts, Has.Count.EqualTo(names.Length), prefix);
            foreach (var f in consts)
            {
                var snake = System.Text.RegularExpressions.Regex.Replace(f.Name[2..], "(?<=[a-z0-9])([A-Z])", "_$1").ToLowerInvariant();
                var kernel = names[(int)f.GetRawConstantValue()!];
                Assert.That(kernel, Is.EqualTo($"{module}{snake}_f32").Or.EqualTo($"{module}{snake}_f16"), f.Name);
            }
        }
    }

    [TestCase("conv3d")]
    [TestCase("conv3d_tc")]
    public void Conv3dKernelsGetArgumentsOfTheirParameterSizes(string name)
    {
        if (!Nvrtc.IsAvailable) Assert.Ignore($"NVRTC is not installed: {Nvrtc.Reason}");
        var passed = name == "conv3d" ? Conv3dPassed : Conv3dTcPassed;
        var ptx = Nvrtc.Compile(NativeModules.Source(name), name + ".cu", NativeModules.Options("compute_80") with
        {
            IncludePaths = [Path.Combine(Kernels.Tests.Bindings.BindingsSupport.RepoRoot(), "native", "include")],
        }).Ptx!;
        var entries = EntryRegex().Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => ParamSizes(m.Groups[2].Value));
        Assert.That(entries.Keys, Is.EquivalentTo(passed.Keys));
        foreach (var (kernel, sizes) in entries)
            Assert.That(passed[kernel], Is.EqualTo(sizes), $"{kernel}: argument sizes vs .param sizes");
    }
}
