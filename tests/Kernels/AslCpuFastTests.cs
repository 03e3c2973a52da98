using Kernels.Cpu;
using Kernels.Ops.AsymmetricLoss;

namespace Kernels.Tests.Numerics;

/// <summary>The vectorised float32 asymmetric loss (<see cref="AslCpuFast"/>) against the float64
/// entry math (<see cref="AslMath.EntryF64"/>) at awkward sizes, with huge logits, weight masks,
/// partial labels and every option the fast path takes.</summary>
public class AslCpuFastTests
{
    private static readonly (string Name, AslOptions O)[] s_options =
    [
        ("recipe", AslOptions.Recipe),
        ("recipe focusing-grad", AslOptions.Recipe with { FocusingWeightConstant = false }),
        ("bce mean", new AslOptions(GammaPos: 0, GammaNeg: 0, Clip: 0, Mean: true)),
        ("focal γ=2 grad", new AslOptions(GammaPos: 2, GammaNeg: 2, Clip: 0, FocusingWeightConstant: false)),
        ("partial γ+=1 γ−=3 γu=2 α", new AslOptions(GammaPos: 1, GammaNeg: 3, Clip: 0.05, FocusingWeightConstant: false,
            AlphaPos: 1.5, AlphaNeg: 0.7, GammaUnannotated: 2, AlphaUnannotated: 0.3)),
        ("partial ignore mean", new AslOptions(GammaPos: 0, GammaNeg: 1, Clip: 0.1, Mean: true, AlphaUnannotated: 0)),
    ];

    private static (float[] X, float[] Y, float[] W) Data(int n, int seed, bool partial)
    {
        var rng = new Random(seed);
        var x = new float[n];
        var y = new float[n];
        var w = new float[n];
        float[] extreme = [1e4f, -1e4f, 88f, -88f, 0f, 30f, -30f, 1e30f, -1e30f, 17f, -17f];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = (float)(3 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            if (i % 5 == 2) x[i] = extreme[i / 5 % extreme.Length];
            y[i] = partial ? rng.Next(-1, 2) : (rng.NextDouble() < 0.3 ? 1 : 0);
            w[i] = i % 4 == 1 ? 0 : (float)(2 * rng.NextDouble());
        }
        return (x, y, w);
    }

    /// <summary>The float64 reference: returns the loss, fills the gradient.</summary>
    private static double Reference(AslOptions o, float[] x, float[] y, float[]? w, double[] grad)
    {
        int n = x.Length;
        long count = w is null ? n : w.Count(v => v != 0);
        double scale = o.Mean ? 1.0 / Math.Max(count, 1) : 1;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double wi = w is null ? 1 : w[i];
            sum += wi * AslMath.EntryF64(x[i], y[i], o, out double g);
            grad[i] = scale * wi * g;
        }
        return scale * sum;
    }

    [TestCase(1, 1), TestCase(1, 7), TestCase(3, 7), TestCase(1, 9605), TestCase(3, 9605), TestCase(3, 1)]
    public void MatchesTheFloat64Reference(int rows, int cols)
    {
        int n = rows * cols;
        foreach (bool weighted in new[] { false, true })
            for (int oi = 0; oi < s_options.Length; oi++)
            {
                var (name, o) = s_options[oi];
                var (x, y, w) = Data(n, 100 * oi + n, partial: name.StartsWith("partial"));
                var wm = weighted ? w : null;
                var want = new double[n];
                double wantLoss = Reference(o, x, y, wm, want);
                var grad = new float[n];
                double loss = AslCpuFast.Run(n, o, x, y, wm, grad);
                string what = $"{name}{(weighted ? " weighted" : "")} [{rows},{cols}]";
                Assert.That(double.IsFinite(loss), Is.True, what + ": loss not finite");
                double lossTol = 1e-6 * n + 1e-5 * Math.Abs(wantLoss);
                Assert.That(loss, Is.EqualTo(wantLoss).Within(lossTol), what + " loss");
                for (int i = 0; i < n; i++)
                {
                    Assert.That(float.IsFinite(grad[i]), Is.True, $"{what}: grad[{i}] = {grad[i]} at x = {x[i]}");
                    Assert.That(grad[i], Is.EqualTo(want[i]).Within(2e-6 + 2e-5 * Math.Abs(want[i])),
                        $"{what}: grad[{i}] at x = {x[i]}, y = {y[i]}");
                }
            }
    }

    [Test]
    public void LossOnlyAndInPlaceGradientsAgree()
    {
        const int n = 9605 * 3;
        var (x, y, w) = Data(n, 7, partial: true);
        var o = s_options[4].O;
        var grad = new float[n];
        double full = AslCpuFast.Run(n, o, x, y, w, grad);
        double lossOnly = AslCpuFast.Run(n, o, x, y, w, null);
        var inPlace = (float[])x.Clone();
        double inPlaceLoss = AslCpuFast.Run(n, o, inPlace, y, w, inPlace);
        Assert.That(lossOnly, Is.EqualTo(full));
        Assert.That(inPlaceLoss, Is.EqualTo(full));
        Assert.That(inPlace, Is.EqualTo(grad));
    }

    [Test]
    public void TheLossDoesNotDependOnTheThreadCount()
    {
        const int n = 64 * 9605;
        var (x, y, _) = Data(n, 11, partial: false);
        int saved = CpuParallel.Threads;
        try
        {
            CpuParallel.Threads = 1;
            double one = AslCpuFast.Run(n, AslOptions.Recipe, x, y, null, new float[n]);
            CpuParallel.Threads = 2;
            double two = AslCpuFast.Run(n, AslOptions.Recipe, x, y, null, new float[n]);
            CpuParallel.Threads = 3;
            double three = AslCpuFast.Run(n, AslOptions.Recipe, x, y, null, new float[n]);
            Assert.That(two, Is.EqualTo(one));
            Assert.That(three, Is.EqualTo(one));
        }
        finally
        {
            CpuParallel.Threads = saved;
        }
    }

    /// <summary>±inf and NaN logits behave as the scalar float32 entry math does: the same finite /
    /// NaN pattern, and the same values where finite.</summary>
    [Test]
    public void NonFiniteLogitsFollowTheScalarEntryMath()
    {
        float[] special = [float.PositiveInfinity, float.NegativeInfinity, float.NaN];
        foreach (var (name, o) in s_options)
        {
            var x = new float[9];
            var y = new float[9];
            for (int i = 0; i < 9; i++)
            {
                x[i] = special[i % 3];
                y[i] = i / 3 - 1; // −1, 0, 1
            }
            for (int i = 0; i < 9; i++)
            {
                var grad = new float[1];
                double loss = AslCpuFast.Run(1, o with { Mean = false }, [x[i]], [y[i]], null, grad);
                float wantLoss = AslMath.Entry(x[i], y[i], (float)o.GammaPos, (float)o.GammaNeg, (float)o.Clip, (float)o.Eps,
                    (float)o.AlphaPos, (float)o.AlphaNeg, (float)o.GammaUnannotated, (float)o.AlphaUnannotated,
                    o.FocusingWeightConstant ? 1 : 0, out float wantGrad);
                string what = $"{name}: x = {x[i]}, y = {y[i]}";
                if (float.IsNaN(wantLoss)) Assert.That(double.IsNaN(loss), Is.True, what + " loss");
                else Assert.That(loss, Is.EqualTo(wantLoss).Within(1e-5 * Math.Abs(wantLoss) + 1e-6), what + " loss");
                if (float.IsNaN(wantGrad)) Assert.That(float.IsNaN(grad[0]), Is.True, what + " grad");
                else Assert.That(grad[0], Is.EqualTo(wantGrad).Within(1e-5 * Math.Abs(wantGrad) + 1e-6), what + " grad");
            }
        }
    }
}
