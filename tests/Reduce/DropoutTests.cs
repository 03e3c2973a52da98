using Kernels.Cpu;
using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Reduce;

public class DropoutTests
{
    [TestCase(0.1), TestCase(0.5), TestCase(0.9)]
    public void KeptShareAndMeanMatchTheRate(double p)
    {
        const int n = 100_000;
        var x = Tensor.Ones([n], DType.F64);
        var y = F.Dropout(x, p, training: true, new Rng(42)).ToDoubles();
        int kept = y.Count(v => v != 0);
        // Binomial standard deviation is at most 158 on 100k elements; 5 sigma.
        double sigma = Math.Sqrt(n * p * (1 - p));
        Assert.That(kept, Is.EqualTo(n * (1 - p)).Within(5 * sigma), "kept share");
        Assert.That(y.Where(v => v != 0).All(v => Math.Abs(v - 1 / (1 - p)) < 1e-12), Is.True, "survivors scaled by 1/(1-p)");
        Assert.That(y.Average(), Is.EqualTo(1).Within(5 * sigma / (n * (1 - p))), "mean preserved");
    }

    [Test]
    public void SameSeedSameMaskWhateverTheThreadCount()
    {
        var x = Tensor.Rand([300, 401], 1, 2);
        int keep = CpuParallel.Threads;
        try
        {
            CpuParallel.Threads = 1;
            var a = F.Dropout(x, 0.3, true, new Rng(7)).ToFloats();
            CpuParallel.Threads = 4;
            var b = F.Dropout(x, 0.3, true, new Rng(7)).ToFloats();
            Assert.That(b, Is.EqualTo(a));
            var c = F.Dropout(x, 0.3, true, new Rng(8)).ToFloats();
            Assert.That(c, Is.Not.EqualTo(a), "another seed, another mask");
            var rng = new Rng(7);
            var first = F.Dropout(x, 0.3, true, rng).ToFloats();
            var second = F.Dropout(x, 0.3, true, rng).ToFloats();
            Assert.That(second, Is.Not.EqualTo(first), "each call draws a new seed");
        }
        finally
        {
            CpuParallel.Threads = keep;
        }
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void VectorAndScalarPathsFollowTheSameRule(DType dtype)
    {
        // 1003 elements: SIMD blocks of 8 plus a scalar tail; every element is checked against
        // the published rule, so a GPU port has a reference to match.
        var x = Tensor.Ones([1003], dtype);
        ulong seed = new Rng(99).NextUInt64();
        var y = F.Dropout(x, 0.25, true, new Rng(99)).ToDoubles();
        var (a, b) = Kernels.Ops.Dropout.DropoutMask.Keys(seed);
        uint thr = Kernels.Ops.Dropout.DropoutMask.Threshold(0.25);
        for (int i = 0; i < y.Length; i++)
        {
            bool keep = Kernels.Ops.Dropout.DropoutMask.Keep(a, b, (uint)i, thr);
            Assert.That(y[i], Is.EqualTo(keep ? 1 / 0.75 : 0).Within(1e-6), $"element {i}");
        }
    }

    [Test]
    public void BackwardUsesTheForwardMask()
    {
        var x = Tensor.Rand([1000], 1, 2, DType.F64);
        x.RequiresGrad = true;
        var y = F.Dropout(x, 0.4, true, new Rng(5));
        y.Backward(Tensor.Ones([1000], DType.F64));
        var yv = y.ToDoubles();
        var gv = x.Grad!.ToDoubles();
        for (int i = 0; i < yv.Length; i++)
            Assert.That(gv[i], Is.EqualTo(yv[i] == 0 ? 0 : 1 / 0.6).Within(1e-12), $"element {i}");
    }

    [Test]
    public void GradientMatchesCentralDifferences()
    {
        // A fresh generator inside the op keeps the mask fixed across the checker's evaluations.
        GradCheck.Check(t => F.Dropout(t[0], 0.3, true, new Rng(11)), [GradCheck.Input([3, 17])], what: "dropout");
        GradCheck.Check(t => F.Dropout(t[0], 0.5, false), [GradCheck.Input([1, 5])], what: "dropout eval");
    }

    [Test]
    public void EvalAndZeroRateAreIdentityViews()
    {
        var x = Tensor.Rand([4, 5]);
        var rng = new Rng(1);
        var state = rng.GetState();
        foreach (var y in new[] { F.Dropout(x, 0.5, false, rng), F.Dropout(x, 0, true, rng) })
        {
            Assert.That(y.ToFloats(), Is.EqualTo(x.ToFloats()));
            Assert.That(y.Buffer, Is.SameAs(x.Buffer), "a view, not a copy");
        }
        Assert.That(rng.GetState(), Is.EqualTo(state), "no seed drawn when nothing is dropped");
    }

    [TestCase(1.0), TestCase(-0.1), TestCase(double.NaN)]
    public void BadRateIsRefused(double p)
    {
        var e = Assert.Throws<ArgumentException>(() => F.Dropout(Tensor.Zeros([3]), p, true))!;
        Assert.That(e.Message, Does.Contain("Dropout").And.Contain("[0, 1)"));
    }
}
