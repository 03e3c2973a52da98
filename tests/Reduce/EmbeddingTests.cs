using Kernels.Cpu;
using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Reduce;

public class EmbeddingTests
{
    [TestCase(DType.F32), TestCase(DType.F64)]
    public void LookupAndWeightGradientMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("embedding");
        double tol = dtype == DType.F32 ? 1e-6 : 1e-14;
        var w = v.Tensor("weight", dtype);
        w.RequiresGrad = true;
        var y = F.Embedding(v.Tensor("index", DType.I32), w);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape("y")));
        Approx.Equal(v.Doubles("y"), y, tol, tol, "lookup");
        y.Backward(v.Tensor("g", dtype));
        Approx.Equal(v.Doubles("dw"), w.Grad!, tol, tol, "weight gradient (repeated indices)");
    }

    [Test]
    public void GradientMatchesCentralDifferences()
    {
        var idx = Tensor.FromArray(new[] { 4, 0, 4, 4, 2, 0 }, [2, 1, 3]);
        GradCheck.Check(t => F.Embedding(idx, t[0]), [GradCheck.Input([5, 3])], what: "embedding weight");
        var one = Tensor.FromArray(new[] { 1 }, [1]);
        GradCheck.Check(t => F.Embedding(one, t[0]), [GradCheck.Input([2, 7])], what: "embedding batch 1");
    }

    [Test]
    public void WeightGradientIsDeterministicAcrossThreadCounts()
    {
        // Many lookups of few rows: the scatter-add must neither race nor reorder its sums.
        var host = new int[50_000];
        var rng = new Rng(3);
        for (int i = 0; i < host.Length; i++) host[i] = rng.NextInt(17);
        var idx = Tensor.FromArray(host, [host.Length]);
        var g = Tensor.Rand([host.Length, 24], -1, 1);
        int keep = CpuParallel.Threads;
        try
        {
            float[] Grad(int threads)
            {
                CpuParallel.Threads = threads;
                var w = Tensor.Rand([17, 24]);
                w.RequiresGrad = true;
                F.Embedding(idx, w).Backward(g);
                return w.Grad!.ToFloats();
            }
            var a = Grad(1);
            Assert.That(Grad(2), Is.EqualTo(a));
            Assert.That(Grad(5), Is.EqualTo(a));
            // And it is the plain sum (checked in double for one row).
            var gs = g.ToDoubles();
            double expected = 0;
            for (int i = 0; i < host.Length; i++)
                if (host[i] == 3) expected += gs[i * 24 + 5];
            Assert.That(a[3 * 24 + 5], Is.EqualTo(expected).Within(1e-3));
        }
        finally
        {
            CpuParallel.Threads = keep;
        }
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        var w = Tensor.Zeros([4, 3]);
        string Msg(TestDelegate d) => Assert.Throws<ArgumentException>(d)!.Message;
        Assert.That(Msg(() => F.Embedding(Tensor.FromArray(new[] { 0, 4 }, [2]), w)),
            Does.Contain("Embedding").And.Contain("index 4 at position 1").And.Contain("[0, 4)"));
        Assert.That(Msg(() => F.Embedding(Tensor.FromArray(new[] { -2 }, [1]), w)), Does.Contain("index -2"));
        Assert.That(Msg(() => F.Embedding(Tensor.Zeros([2]), w)), Does.Contain("int32"));
        Assert.That(Msg(() => F.Embedding(Tensor.Zeros([2], DType.I32), Tensor.Zeros([4]))), Does.Contain("weight").And.Contain("rank"));
    }
}
