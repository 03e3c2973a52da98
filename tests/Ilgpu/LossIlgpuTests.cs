using Kernels.Ops.Loss;
using Kernels.Tests.Support;
using static Kernels.Tests.Support.DeviceArrays;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ILGPU losses on ilgpu-cpu against the cpu device, on shapes the self-test's small
/// cases do not reach: more classes than a warp (several class strides per lane), rows that leave
/// a warp part empty, spatial cross-entropy, BCE at logits where naive formulas overflow, and a sum
/// over many strides.</summary>
public class LossIlgpuTests
{
    private static readonly Device Cpu = Device.Cpu;
    private static readonly Device Gpu = Devices.Get("ilgpu-cpu");

    [TestCase(5, 70, 1, 0.1, true), TestCase(3, 70, 1, 0.0, false), TestCase(2, 40, 3, 0.2, true), TestCase(9, 2, 1, 0.05, true)]
    public void CrossEntropyMatchesTheCpuDevice(int outer, int classes, int inner, double eps, bool weighted)
    {
        var s = new CrossEntropyShape(outer, classes, inner, eps);
        int rows = (int)s.Rows;
        var r = new Random(outer * 1000 + classes);
        var logits = Uniform(r, rows * classes, -8, 8);
        var targets = new int[rows];
        for (int i = 0; i < rows; i++) targets[i] = r.Next(classes);
        targets[rows / 2] = s.IgnoreIndex;
        var cw = Uniform(r, classes, 0.5f, 2f);
        var dLoss = Uniform(r, rows, -1, 1);

        float[][] Run(Device d, ILoss k)
        {
            using var l = F32(d, logits);
            using var t = I32(d, targets);
            using var w = weighted ? F32(d, cw) : null;
            using var loss = F32(d, Nan(rows));
            using var lse = F32(d, Nan(rows));
            using var tw = F32(d, Nan(rows));
            using var g = F32(d, dLoss);
            using var dl = F32(d, Nan(rows * classes));
            k.CrossEntropyForward(s, l, t, w, loss, lse, tw);
            k.CrossEntropyBackward(s, l, t, w, lse, g, dl);
            return [Get(loss), Get(lse), Get(tw), Get(dl)];
        }

        var expected = Run(Cpu, Cpu.Kernels.Get<ILoss>());
        var got = Run(Gpu, new LossIlgpu(Gpu));
        string[] names = ["loss", "logsumexp", "target-weight", "dlogits"];
        for (int i = 0; i < names.Length; i++)
            Approx.Equal(D(expected[i]), D(got[i]), 1e-5, 1e-6, $"{names[i]} [{outer},{classes},{inner}] ε={eps}");
    }

    [Test]
    public void BceWithLogitsIsFiniteAndMatchesAtExtremeLogits()
    {
        float[] x = [-90f, -30f, -1e-3f, 0f, 1e-3f, 30f, 90f, 17f, -17f];
        float[] y = [0f, 1f, 0.5f, 1f, 0f, 0f, 1f, 0.25f, 0.75f];
        float[] pw = [2.5f, 0.5f];
        float[] g = [1f, -1f, 0.5f, 2f, 1f, -0.5f, 1f, 1f, 1f];
        int n = x.Length;

        float[][] Run(Device d, ILoss k)
        {
            using var xb = F32(d, x);
            using var yb = F32(d, y);
            using var pb = F32(d, pw);
            using var gb = F32(d, g);
            using var loss = F32(d, Nan(n));
            using var dx = F32(d, Nan(n));
            using var dt = F32(d, Nan(n));
            k.BceWithLogitsForward(n, xb, yb, pb, pw.Length, loss);
            k.BceWithLogitsBackward(n, xb, yb, pb, pw.Length, gb, dx, dt);
            return [Get(loss), Get(dx), Get(dt)];
        }

        var expected = Run(Cpu, Cpu.Kernels.Get<ILoss>());
        var got = Run(Gpu, new LossIlgpu(Gpu));
        foreach (var a in got) Assert.That(a.All(float.IsFinite), $"non-finite value in [{string.Join(", ", a)}]");
        Approx.Equal(D(expected[0]), D(got[0]), 1e-5, 1e-6, "loss");
        Approx.Equal(D(expected[1]), D(got[1]), 1e-5, 1e-6, "dlogits");
        Approx.Equal(D(expected[2]), D(got[2]), 1e-5, 1e-6, "dtargets");
    }

    [Test]
    public void SumAllOverManyStridesAndExpandScalar()
    {
        const int n = 5003;
        var x = Uniform(new Random(7), n, -1, 1);
        double expected = 0;
        foreach (var v in x) expected += v;
        var k = new LossIlgpu(Gpu);
        using var xb = F32(Gpu, x);
        using var y = F32(Gpu, Nan(1));
        k.SumAll(n, 0.5, xb, y);
        Assert.That(Get(y)[0], Is.EqualTo(0.5 * expected).Within(1e-4));

        using var e = F32(Gpu, Nan(n + 2));
        k.ExpandScalar(-2, y, n, e);
        var got = Get(e);
        Assert.That(got[..n].All(v => v == -2f * Get(y)[0]), "expanded values");
        Assert.That(float.IsNaN(got[n]) && float.IsNaN(got[n + 1]), "elements past n were written");
    }
}
