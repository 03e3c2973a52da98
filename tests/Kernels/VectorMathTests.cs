using System.Runtime.Intrinsics;
using Kernels.Numerics;

namespace Kernels.Tests.Numerics;

/// <summary>VectorMath's exp / log / sigmoid against double math rounded to float32, over random
/// values, random bit patterns (every exponent, subnormals, NaN payloads) and the edges.
/// Measured maxima on this machine: exp 1 ulp, log 1 ulp, sigmoid p and q 2 ulp; the bounds below
/// leave one ulp of slack.</summary>
public class VectorMathTests
{
    private const int ExpUlp = 2, LogUlp = 2, SigmoidUlp = 3;

    private static readonly float[] s_edges =
    [
        0f, -0f, 1f, -1f, 88f, -88f, 88.72283f, 88.72284f, 89f, -87.33654f, -103.9f, -103.98f, -104f, -150f,
        1e30f, -1e30f, 1e4f, -1e4f, float.MaxValue, float.MinValue, float.Epsilon, -float.Epsilon,
        1.17549435e-38f, 1e-40f, -1e-40f, 0.5f, 0.3465736f, -0.3465736f, 0.6931472f, 1.4142135f, 0.70710677f,
        float.PositiveInfinity, float.NegativeInfinity, float.NaN,
    ];

    private static IEnumerable<float> Inputs(int seed, float lo, float hi)
    {
        var rng = new Random(seed);
        foreach (float e in s_edges) yield return e;
        for (int i = 0; i < 200_000; i++) yield return lo + (float)rng.NextDouble() * (hi - lo);
        for (int i = 0; i < 200_000; i++) yield return BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31));
    }

    /// <summary>Distance in units in the last place, counting through zero and the subnormals; NaN
    /// matches only NaN, an infinity only itself.</summary>
    private static long Ulps(float got, float want)
    {
        if (float.IsNaN(want) || float.IsNaN(got)) return float.IsNaN(want) && float.IsNaN(got) ? 0 : long.MaxValue;
        if (float.IsInfinity(want) || float.IsInfinity(got)) return got == want ? 0 : long.MaxValue;
        static long Ordered(float f)
        {
            int b = BitConverter.SingleToInt32Bits(f);
            return b < 0 ? -(long)(b & 0x7FFFFFFF) : b;
        }
        return Math.Abs(Ordered(got) - Ordered(want));
    }

    private static long MaxUlps(IEnumerable<float> xs, Func<Vector256<float>, Vector256<float>> f, Func<double, double> reference,
        out float worst)
    {
        var batch = new float[8];
        long max = 0;
        worst = 0;
        int k = 0;
        var all = xs.ToList();
        while (all.Count % 8 != 0) all.Add(1f);
        foreach (float x in all)
        {
            batch[k++] = x;
            if (k < 8) continue;
            k = 0;
            var got = f(Vector256.Create(batch));
            for (int j = 0; j < 8; j++)
            {
                long u = Ulps(got.GetElement(j), (float)reference(batch[j]));
                if (u > max) { max = u; worst = batch[j]; }
            }
        }
        return max;
    }

    [Test]
    public void ExpIsWithinTwoUlpEverywhere()
    {
        long u = MaxUlps(Inputs(1, -110, 95), VectorMath.Exp, Math.Exp, out float worst);
        TestContext.Out.WriteLine($"exp: max {u} ulp (at {worst:R})");
        Assert.That(u, Is.LessThanOrEqualTo(ExpUlp), $"exp({worst:R})");
    }

    [Test]
    public void LogIsWithinTwoUlpEverywhere()
    {
        var inputs = Inputs(2, 0, 4).Concat(Inputs(3, 0.5f, 2f).Take(100_000));
        long u = MaxUlps(inputs, VectorMath.Log, Math.Log, out float worst);
        TestContext.Out.WriteLine($"log: max {u} ulp (at {worst:R})");
        Assert.That(u, Is.LessThanOrEqualTo(LogUlp), $"log({worst:R})");
    }

    [Test]
    public void LogPositiveNormalAgreesWithLogOnPositiveNormals()
    {
        var inputs = Inputs(5, 1e-8f, 1.1f).Where(v => float.IsNormal(v) && v > 0);
        long u = MaxUlps(inputs, VectorMath.LogPositiveNormal, Math.Log, out float worst);
        TestContext.Out.WriteLine($"log (positive normal): max {u} ulp (at {worst:R})");
        Assert.That(u, Is.LessThanOrEqualTo(LogUlp), $"log({worst:R})");
    }

    [Test]
    public void SigmoidAndItsComplementAreAccurateAndNeverNaNForNumbers()
    {
        static double P(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));
        static double Q(double x) => P(-x);
        var inputs = Inputs(4, -120, 120);
        long up = MaxUlps(inputs, v => VectorMath.Sigmoid(v, out _), P, out float wp);
        long uq = MaxUlps(inputs, v => { VectorMath.Sigmoid(v, out var q); return q; }, Q, out float wq);
        TestContext.Out.WriteLine($"sigmoid: p max {up} ulp (at {wp:R}), q max {uq} ulp (at {wq:R})");
        Assert.That(up, Is.LessThanOrEqualTo(SigmoidUlp), $"p({wp:R})");
        Assert.That(uq, Is.LessThanOrEqualTo(SigmoidUlp), $"q({wq:R})");
    }

    [Test]
    public void SpecialValuesFollowMathF()
    {
        var x = Vector256.Create(float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0f, -0f, -1f, 1e30f, -1e30f);
        var e = VectorMath.Exp(x);
        var l = VectorMath.Log(x);
        var p = VectorMath.Sigmoid(x, out var q);
        for (int j = 0; j < 8; j++)
        {
            float xi = x.GetElement(j);
            Assert.That(e.GetElement(j), Is.EqualTo(MathF.Exp(xi)), $"exp({xi})");
            Assert.That(l.GetElement(j), Is.EqualTo(MathF.Log(xi)), $"log({xi})");
        }
        Assert.That(p.GetElement(0), Is.EqualTo(1f));
        Assert.That(q.GetElement(0), Is.EqualTo(0f));
        Assert.That(p.GetElement(1), Is.EqualTo(0f));
        Assert.That(q.GetElement(1), Is.EqualTo(1f));
        Assert.That(float.IsNaN(p.GetElement(2)) && float.IsNaN(q.GetElement(2)), Is.True, "sigmoid(NaN)");
        Assert.That(p.GetElement(6), Is.EqualTo(1f));
        Assert.That(p.GetElement(7), Is.EqualTo(0f));
    }

    [Test]
    public void PowIntMatchesPowForWholeExponents()
    {
        var b = Vector256.Create(0.5f, 2f, 0f, 1f, 3f, -1.5f, 0.05f, 0.9999f);
        Assert.That(VectorMath.PowInt(b, 0), Is.EqualTo(Vector256<float>.One));
        Assert.That(VectorMath.PowInt(b, 1), Is.EqualTo(b));
        Assert.That(VectorMath.PowInt(b, 2), Is.EqualTo(b * b), "b² is one rounding");
        for (int k = 3; k <= 11; k++)
            for (int j = 0; j < 8; j++)
            {
                float bj = b.GetElement(j);
                double want = Math.Pow(bj, k);
                // Each of at most k − 1 multiplies rounds once (half an ulp, 2^−24 relative).
                Assert.That(VectorMath.PowInt(b, k).GetElement(j), Is.EqualTo(want).Within(Math.Abs(want) * k * 6e-8),
                    $"{bj}^{k}");
            }
    }
}
