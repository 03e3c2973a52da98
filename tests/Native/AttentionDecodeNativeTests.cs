using System.Text.RegularExpressions;
using Kernels.Bindings.Nvrtc;
using Kernels.Ops.AttentionDecode;
using Kernels.Tests.Support;

namespace Kernels.Tests.Native;

/// <summary>native/attention_decode.cu on the emu device against the Cpu reference run in float64:
/// sizes that cross every tile edge of the kernels (query tiles of 16, query chunks of 32 in dk/dv,
/// token chunks of 32, token tiles of 16, head dims 1 .. 128), outputs poisoned with NaN first so an
/// element a kernel skips shows. Also the cuda path's argument sizes against the PTX .param lists.</summary>
public partial class AttentionDecodeNativeTests
{
    [Test]
    public void EmuDeviceRunsTheNativeImplementation()
    {
        EmuSupport.RequireLibrary();
        Assert.That(Devices.Get("emu").Kernels.NameOf<IAttentionDecode>(), Is.EqualTo("native"));
    }

    // (batch, queries, tokens, heads, head dim, dropout p)
    [TestCase(1, 1, 1, 1, 1, 0.0)]
    [TestCase(1, 37, 70, 3, 17, 0.0)]   // 3 query tiles, 2 query chunks, 3 token chunks
    [TestCase(2, 17, 33, 2, 128, 0.0)]  // full head dim, one token past a chunk
    [TestCase(2, 33, 16, 1, 100, 0.3)]  // tokens exactly one dk/dv tile
    [TestCase(1, 5, 2100, 1, 3, 0.5)]   // many chunks: the online softmax and the long dk/dv grid
    [TestCase(3, 2, 31, 4, 32, 0.1)]
    public void ForwardAndBackwardMatchTheReference(int b, int nq, int nt, int h, int hd, double p)
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var s = AttentionDecodeShape.Create(b, nq, nt, h, hd, p, (ulong)r.NextInt64());
        int qn = b * nq * s.Dim, kn = b * nt * s.Dim, pn = (int)s.ProbsLength;
        // Spread scores (|q·k·scale| up to a few units) so the softmax is far from uniform.
        var q = EmuSupport.Uniform(r, qn, -3, 3);
        var k = EmuSupport.Uniform(r, kn, -3, 3);
        var v = EmuSupport.Uniform(r, kn, -1, 1);
        var g = EmuSupport.Uniform(r, qn, -1, 1);
        string what = $"{s} seed={seed}";

        var cpu = Device.Cpu;
        var refImpl = cpu.Kernels.Get<IAttentionDecode>();
        using var cq = UploadF64(cpu, q);
        using var ck = UploadF64(cpu, k);
        using var cv = UploadF64(cpu, v);
        using var cg = UploadF64(cpu, g);
        using var co = cpu.Allocate(DType.F64, qn);
        using var cp = cpu.Allocate(DType.F64, pn);
        using var cdq = cpu.Allocate(DType.F64, qn);
        using var cdk = cpu.Allocate(DType.F64, kn);
        using var cdv = cpu.Allocate(DType.F64, kn);
        refImpl.Forward(s, cq, ck, cv, co, cp);
        refImpl.Backward(s, cq, ck, cv, cp, cg, cdq, cdk, cdv);

        var emu = Devices.Get("emu");
        var impl = emu.Kernels.Get<IAttentionDecode>();
        using var eq = Upload(emu, q);
        using var ek = Upload(emu, k);
        using var ev = Upload(emu, v);
        using var eg = Upload(emu, g);
        using var eo = Upload(emu, Poison(qn));
        using var ep = Upload(emu, Poison(pn));
        impl.Forward(s, eq, ek, ev, eo, ep);
        Approx.Equal(DownloadF64(cpu, co, qn), Download(emu, eo, qn), 1e-4, 1e-5, what + " o");
        Approx.Equal(DownloadF64(cpu, cp, pn), Download(emu, ep, pn), 1e-4, 1e-6, what + " probs");

        // The backward gets the reference probs (rounded to float32), so only the backward is compared.
        using var epRef = Upload(emu, Array.ConvertAll(DownloadF64(cpu, cp, pn), x => (float)x));
        using var edq = Upload(emu, Poison(qn));
        using var edk = Upload(emu, Poison(kn));
        using var edv = Upload(emu, Poison(kn));
        impl.Backward(s, eq, ek, ev, epRef, eg, edq, edk, edv);
        Approx.Equal(DownloadF64(cpu, cdq, qn), Download(emu, edq, qn), 1e-4, 1e-5, what + " dq");
        Approx.Equal(DownloadF64(cpu, cdk, kn), Download(emu, edk, kn), 1e-4, 1e-5, what + " dk");
        Approx.Equal(DownloadF64(cpu, cdv, kn), Download(emu, edv, kn), 1e-4, 1e-5, what + " dv");
    }

    [Test]
    public void DropoutZeroesWeightsByTheMaskAndTheBackwardIsRepeatable()
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var emu = Devices.Get("emu");
        var impl = emu.Kernels.Get<IAttentionDecode>();
        // One token: the softmax weight is 1, so o = v when kept and 0 when dropped (scaled by 2).
        var s = AttentionDecodeShape.Create(1, 40, 1, 2, 3, 0.5, 0x1234_5678_9abc_def0UL);
        int qn = 40 * s.Dim, kn = s.Dim;
        var v = EmuSupport.Uniform(r, kn, 1, 2);
        using var eq = Upload(emu, EmuSupport.Uniform(r, qn, -1, 1));
        using var ek = Upload(emu, EmuSupport.Uniform(r, kn, -1, 1));
        using var ev = Upload(emu, v);
        using var eo = Upload(emu, Poison(qn));
        impl.Forward(s, eq, ek, ev, eo, null);
        var o = Download(emu, eo, qn);
        var (a, bk) = Kernels.Ops.Dropout.DropoutMask.Keys(s.Seed);
        uint threshold = Kernels.Ops.Dropout.DropoutMask.Threshold(0.5);
        int dropped = 0;
        for (int qi = 0; qi < 40; qi++)
            for (int h = 0; h < 2; h++)
            {
                bool keep = Kernels.Ops.Dropout.DropoutMask.Keep(a, bk, (uint)(h * 40 + qi), threshold);
                dropped += keep ? 0 : 1;
                for (int d = 0; d < 3; d++)
                    Assert.That(o[qi * s.Dim + h * 3 + d], Is.EqualTo(keep ? 2 * v[h * 3 + d] : 0).Within(1e-5),
                        $"query {qi} head {h} seed={seed}");
            }
        Assert.That(dropped, Is.InRange(10, 70), "a p = 0.5 mask over 80 weights");

        // Deterministic backward (no atomics): two runs agree bit for bit.
        using var ep = Upload(emu, Poison(40 * 2));
        impl.Forward(s, eq, ek, ev, eo, ep);
        using var eg = Upload(emu, EmuSupport.Uniform(r, qn, -1, 1));
        float[][] runs = new float[2][];
        for (int run = 0; run < 2; run++)
        {
            using var dq = Upload(emu, Poison(qn));
            using var dk = Upload(emu, Poison(kn));
            using var dv = Upload(emu, Poison(kn));
            impl.Backward(s, eq, ek, ev, ep, eg, dq, dk, dv);
            runs[run] = [.. Download(emu, dq, qn).Select(x => (float)x), .. Download(emu, dk, kn).Select(x => (float)x),
                .. Download(emu, dv, kn).Select(x => (float)x)];
        }
        Assert.That(runs[1], Is.EqualTo(runs[0]));
        Assert.That(runs[0].Any(float.IsNaN), Is.False);
    }

    [Test]
    public void ForwardWithoutProbsGivesTheSameOutput()
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out _);
        var emu = Devices.Get("emu");
        var impl = emu.Kernels.Get<IAttentionDecode>();
        var s = AttentionDecodeShape.Create(2, 19, 45, 2, 9, 0.2, 77);
        int qn = 2 * 19 * s.Dim, kn = 2 * 45 * s.Dim;
        using var eq = Upload(emu, EmuSupport.Uniform(r, qn, -2, 2));
        using var ek = Upload(emu, EmuSupport.Uniform(r, kn, -2, 2));
        using var ev = Upload(emu, EmuSupport.Uniform(r, kn, -1, 1));
        using var o1 = Upload(emu, Poison(qn));
        using var o2 = Upload(emu, Poison(qn));
        using var probs = Upload(emu, Poison((int)s.ProbsLength));
        impl.Forward(s, eq, ek, ev, o1, probs);
        impl.Forward(s, eq, ek, ev, o2, null);
        Assert.That(Download(emu, o2, qn), Is.EqualTo(Download(emu, o1, qn)));
    }

    [Test]
    public void HeadDimAbove128AndFloat64AreRefusedClearly()
    {
        EmuSupport.RequireLibrary();
        var emu = Devices.Get("emu");
        var impl = emu.Kernels.Get<IAttentionDecode>();
        var wide = AttentionDecodeShape.Create(1, 1, 1, 1, 129);
        using var x = emu.Allocate(DType.F32, 129, zero: true);
        using var p = emu.Allocate(DType.F32, 1, zero: true);
        var e = Assert.Throws<NotSupportedException>(() => impl.Forward(wide, x, x, x, x, p))!;
        Assert.That(e.Message, Does.Contain("AttentionDecode").And.Contain("128").And.Contain("129"));

        var s = AttentionDecodeShape.Create(1, 1, 1, 1, 4);
        using var d = emu.Allocate(DType.F64, 4, zero: true);
        var f = Assert.Throws<NotSupportedException>(() => impl.Forward(s, d, d, d, d, null))!;
        Assert.That(f.Message, Does.Contain("float32 only").And.Contain("float64"));
    }

    // ---- the cuda path's arguments vs the kernels' parameters (no GPU needed) -------------------

    // The Add calls of AttentionDecodeNative's cuda path: 4 ints, [float scale], 3 unsigned, float
    // keep_scale, then pointers.
    private static readonly Dictionary<string, int[]> Passed = new()
    {
        ["attention_decode_forward_f32"] = [4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8, 8, 8, 8],
        ["attention_decode_rowsum_f32"] = [4, 4, 4, 4, 4, 4, 4, 4, 8, 8, 8, 8],
        ["attention_decode_dkdv_f32"] = [4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8],
        ["attention_decode_dq_f32"] = [4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8, 8, 8, 8],
    };

    [GeneratedRegex(@"\.entry\s+(\w+)\s*\(([^)]*)\)")]
    private static partial Regex EntryRegex();

    [GeneratedRegex(@"\.param\s+(?:\.align\s+\d+\s+)?\.([a-z]\d+)\s+\w+(?:\[(\d+)\])?")]
    private static partial Regex ParamRegex();

    [Test]
    public void EveryKernelGetsArgumentsOfItsParameterSizes()
    {
        Assert.That(AttentionDecodeNative.CudaKernels, Is.EquivalentTo(Passed.Keys));
        if (!Nvrtc.IsAvailable) Assert.Ignore($"NVRTC is not installed: {Nvrtc.Reason}");
        var ptx = Nvrtc.Compile(NativeModules.Source("attention_decode"), "attention_decode.cu",
            NativeModules.Options("compute_80") with
            {
                IncludePaths = [Path.Combine(Kernels.Tests.Bindings.BindingsSupport.RepoRoot(), "native", "include")],
            }).Ptx!;
        var entries = EntryRegex().Matches(ptx).ToDictionary(m => m.Groups[1].Value,
            m => ParamRegex().Matches(m.Groups[2].Value).Select(p => p.Groups[2].Success
                ? int.Parse(p.Groups[2].Value) * (int.Parse(p.Groups[1].Value[1..]) / 8)
                : int.Parse(p.Groups[1].Value[1..]) / 8).ToArray());
        Assert.That(entries.Keys, Is.EquivalentTo(Passed.Keys), "kernels in the PTX vs kernels the cuda path launches");
        foreach (var (kernel, sizes) in entries)
            Assert.That(Passed[kernel], Is.EqualTo(sizes), $"{kernel}: argument sizes vs .param sizes");
    }

    private static float[] Poison(int n) => Enumerable.Repeat(float.NaN, n).ToArray();

    private static DeviceBuffer Upload(Device d, float[] data)
    {
        var b = d.Allocate(DType.F32, data.Length);
        d.Upload<float>(data, b);
        return b;
    }

    private static DeviceBuffer UploadF64(Device d, float[] data)
    {
        var b = d.Allocate(DType.F64, data.Length);
        d.Upload<double>(EmuSupport.ToDoubles(data), b);
        return b;
    }

    private static double[] Download(Device d, DeviceBuffer b, int n)
    {
        var a = new float[n];
        d.Download<float>(b, a);
        return EmuSupport.ToDoubles(a);
    }

    private static double[] DownloadF64(Device d, DeviceBuffer b, int n)
    {
        var a = new double[n];
        d.Download<double>(b, a);
        return a;
    }
}
