using Kernels.Cpu;
using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Reduce;

public class ReduceTests
{
    private static readonly (string Name, Func<Tensor, Tensor> Op)[] Cases =
    [
        ("sum_all", t => F.Sum(t)), ("sum_1", t => F.Sum(t, [1])), ("sum_02_keep", t => F.Sum(t, [0, 2], true)),
        ("sum_m1", t => F.Sum(t, [-1])), ("sum_01", t => F.Sum(t, [1, 0])),
        ("mean_all", t => F.Mean(t)), ("mean_02", t => F.Mean(t, [0, 2])), ("mean_1_keep", t => F.Mean(t, [1], true)),
        ("max_1", t => F.Max(t, 1)), ("max_m1", t => F.Max(t, -1)), ("max_0_keep", t => F.Max(t, 0, true)),
    ];

    private static double Tol(DType d) => d == DType.F32 ? 1e-5 : 1e-12;

    private static void Run(VectorFile v, string input, string name, Func<Tensor, Tensor> op, DType dtype)
    {
        var x = v.Tensor(input, dtype);
        x.RequiresGrad = true;
        var y = op(x);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(name)), name + " shape");
        Assert.That(y.DType, Is.EqualTo(dtype));
        Approx.Equal(v.Doubles(name), y, Tol(dtype), Tol(dtype), name);
        y.Backward(v.Tensor(name + ".g", dtype));
        Approx.Equal(v.Doubles(name + ".dx"), x.Grad!, Tol(dtype), Tol(dtype), name + " backward");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ForwardAndBackwardMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("reduce");
        foreach (var (name, op) in Cases) Run(v, "x", name, op, dtype);
        // Repeated maxima: the value is the same, the gradient goes to the first of them.
        Run(v, "ties", "ties_max_1", t => F.Max(t, 1), dtype);
        Run(v, "ties", "ties_max_m1", t => F.Max(t, 2), dtype);
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ArgMaxMatchesPyTorch(DType dtype)
    {
        var v = new VectorFile("reduce");
        foreach (var (input, name, axis) in new[]
                 {
                     ("x", "argmax_1", 1), ("x", "argmax_m1", -1), ("ties", "ties_argmax_1", 1),
                     ("ties", "ties_argmax_m1", -1), ("wide", "wide_argmax_1", 1),
                 })
        {
            var i = F.ArgMax(v.Tensor(input, dtype), axis);
            Assert.That(i.DType, Is.EqualTo(DType.I32), name);
            Assert.That(i.Shape.ToArray(), Is.EqualTo(v.Shape(name)), name);
            Assert.That(i.ToArray<int>(), Is.EqualTo(v.Ints(name)), name);
        }
        var keep = F.ArgMax(v.Tensor("x", dtype), 1, keepDim: true);
        Assert.That(keep.Shape, Is.EqualTo(new Shape(3, 1, 7)));
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void LongAndWideLanesMatchPyTorch(DType dtype)
    {
        // Longer than one summation block (8192) and wider than one inner work chunk (1024).
        var v = new VectorFile("reduce");
        double rtol = dtype == DType.F32 ? 1e-5 : 1e-12;
        Approx.Equal(v.Doubles("long_sum_1"), F.Sum(v.Tensor("long", dtype), [1]), rtol, rtol, "long sum");
        Approx.Equal(v.Doubles("long_mean_all"), F.Mean(v.Tensor("long", dtype)), rtol, rtol, "long mean");
        Approx.Equal(v.Doubles("wide_sum_1"), F.Sum(v.Tensor("wide", dtype), [1]), 1e-6, 1e-6, "wide sum");
        Approx.Equal(v.Doubles("wide_max_1"), F.Max(v.Tensor("wide", dtype), 1), 0, 0, "wide max");
    }

    [Test]
    public void GradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.Sum(t[0]), [GradCheck.Input([3, 1, 4, 5])], what: "sum all");
        GradCheck.Check(t => F.Sum(t[0], [0, 2]), [GradCheck.Input([3, 1, 4, 5])], what: "sum 0,2");
        GradCheck.Check(t => F.Sum(t[0], [1, 3], keepDim: true), [GradCheck.Input([3, 2, 4, 5])], what: "sum 1,3 keep");
        GradCheck.Check(t => F.Sum(t[0], [-1]), [GradCheck.Input([1, 7])], what: "sum batch 1");
        GradCheck.Check(t => F.Mean(t[0]), [GradCheck.Input([5, 3])], what: "mean all");
        GradCheck.Check(t => F.Mean(t[0], [0, 3]), [GradCheck.Input([2, 3, 1, 5])], what: "mean 0,3");
        GradCheck.Check(t => F.Mean(t[0], [1], keepDim: true), [GradCheck.Input([4, 3, 2])], what: "mean 1 keep");
        // Distinct random values: the maximum is unique and differentiable there.
        GradCheck.Check(t => F.Max(t[0], 1), [GradCheck.Input([2, 5, 3])], what: "max axis 1");
        GradCheck.Check(t => F.Max(t[0], -1, true), [GradCheck.Input([3, 1, 7])], what: "max last axis");
        GradCheck.Check(t => F.Max(t[0], 0), [GradCheck.Input([1, 6])], what: "max size-1 axis");
        GradCheck.Check(t => F.Max(t[0], 1), [GradCheck.Input([1, 2, 1030])], what: "max wide lanes");
    }

    [Test]
    public void MaxGradientGoesToTheFirstMaximum()
    {
        var x = Tensor.FromArray(new double[] { 1, 3, 3, 2, 5, 5, 5, 0 }, [2, 4]);
        x.RequiresGrad = true;
        F.Max(x, 1).Backward(Tensor.FromArray(new double[] { 10, 20 }, [2]));
        Assert.That(x.Grad!.ToDoubles(), Is.EqualTo(new double[] { 0, 10, 0, 0, 20, 0, 0, 0 }));

        var xt = Tensor.FromArray(new double[] { 1, 7, 4, 7, 2, 7 }, [3, 2]); // lanes along axis 0
        xt.RequiresGrad = true;
        F.Max(xt, 0).Backward(Tensor.FromArray(new double[] { 1, 2 }, [2]));
        Assert.That(xt.Grad!.ToDoubles(), Is.EqualTo(new double[] { 0, 2, 1, 0, 0, 0 }));
    }

    [Test]
    public void NaNIsTheMaximum()
    {
        var x = Tensor.FromArray(new float[] { 1, float.NaN, 3, float.NaN, 0, -1 }, [2, 3]);
        Assert.That(F.ArgMax(x, 1).ToArray<int>(), Is.EqualTo(new[] { 1, 0 }));
        Assert.That(F.Max(x, 1).ToFloats().All(float.IsNaN), Is.True);
        // Along axis 0 (lanes strided in memory): [1, NaN, 3] vs [NaN, 0, -1].
        var t = Tensor.FromArray(new float[] { 1, float.NaN, 3, float.NaN, 0, -1 }, [2, 3]);
        Assert.That(F.ArgMax(t, 0).ToArray<int>(), Is.EqualTo(new[] { 1, 0, 0 }));
        var m = F.Max(t, 0).ToFloats();
        Assert.That(float.IsNaN(m[0]) && float.IsNaN(m[1]) && m[2] == 3, Is.True, string.Join(", ", m));
    }

    [Test]
    public void EmptyAndSizeOneAxes()
    {
        var empty = Tensor.Zeros([3, 0]);
        Assert.That(F.Sum(empty, [1]).ToDoubles(), Is.EqualTo(new double[] { 0, 0, 0 }));
        Assert.That(F.Mean(empty, [1]).ToDoubles().All(double.IsNaN), Is.True, "mean over nothing");
        Assert.That(F.Sum(empty, [0]).Shape, Is.EqualTo(new Shape(0)));
        var x = Tensor.FromArray(new double[] { 1, 2, 3 }, [1, 3, 1]);
        Assert.That(F.Mean(x, [0, 2]).ToDoubles(), Is.EqualTo(new double[] { 1, 2, 3 }));
        Assert.That(F.Sum(Tensor.Scalar(4, DType.F64)).Item(), Is.EqualTo(4));
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void LongColumnSumsAreExact(DType dtype)
    {
        // [20000, 5] over axis 0 takes the split path; small integers sum exactly in any order.
        var host = new double[20_000 * 5];
        for (int i = 0; i < host.Length; i++) host[i] = (i * 7 % 11) - 5;
        var expected = new double[5];
        for (int i = 0; i < host.Length; i++) expected[i % 5] += host[i];
        var x = Tensor.FromHost(host, [20_000, 5], dtype);
        Assert.That(F.Sum(x, [0]).ToDoubles(), Is.EqualTo(expected));
        Assert.That(F.Mean(x, [0]).ToDoubles(), Is.EqualTo(expected.Select(e => e / 20_000)).Within(1e-6));
    }

    [Test]
    public void SumDoesNotDependOnTheThreadCount()
    {
        var x = Tensor.Rand([3, 70_001], -1, 1);
        var w = Tensor.Rand([40, 3, 900], -1, 1);
        var col = Tensor.Rand([20_000, 5], -1, 1); // few long columns: the reduced axis is split
        int keep = CpuParallel.Threads;
        try
        {
            CpuParallel.Threads = 1;
            var a = F.Sum(x, [1]).ToFloats();
            var aw = F.Sum(w, [0]).ToFloats();
            var am = F.Mean(x).Item();
            var ac = F.Sum(col, [0]).ToFloats();
            CpuParallel.Threads = 4;
            Assert.That(F.Sum(col, [0]).ToFloats(), Is.EqualTo(ac));
            Assert.That(F.Sum(x, [1]).ToFloats(), Is.EqualTo(a));
            Assert.That(F.Sum(w, [0]).ToFloats(), Is.EqualTo(aw));
            Assert.That(F.Mean(x).Item(), Is.EqualTo(am));
        }
        finally
        {
            CpuParallel.Threads = keep;
        }
    }

    [Test]
    public void MultiPassReductionsAndBackwardLeaveNoTensorsBehind()
    {
        long before = TensorStats.LiveTensors, bytes = TensorStats.LiveBytes;
        var x = GradCheck.Input([3, 4, 5, 6]);
        using (TensorScope.Begin())
        {
            // Axes 0 and 2 are not adjacent: two passes with a temporary in between.
            var loss = F.Sum(F.Mul(F.Mean(x, [0, 2]), F.Max(F.Sum(x, [1, 3], keepDim: true), 2)));
            loss.Backward();
            var i = Tensor.FromArray(new[] { 0, 2 }, [2]);
            F.Sum(F.Softmax(F.Concat([F.Slice(F.Permute(x, 0, 1, 3, 2), 0, 1, 2), F.Pad(F.Transpose(F.IndexSelect(x, 0, i), 2, 3), [0, 0, 0, 0, 0, 0, 0, 0])], 0))).Backward();
        }
        x.Dispose();
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(before), "live tensors");
        Assert.That(TensorStats.LiveBytes, Is.EqualTo(bytes), "live bytes");
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        var x = Tensor.Zeros([2, 3]);
        var e = Assert.Throws<ArgumentException>(() => F.Sum(x, [2]))!;
        Assert.That(e.Message, Does.Contain("Sum").And.Contain("axis 2").And.Contain("[2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => F.Mean(x, [1, -1]))!.Message, Does.Contain("Mean").And.Contain("twice"));
        Assert.That(Assert.Throws<ArgumentException>(() => F.Sum(x, []))!.Message, Does.Contain("empty"));
        Assert.That(Assert.Throws<ArgumentException>(() => F.Max(x, -3))!.Message, Does.Contain("Max").And.Contain("axis -3"));
        Assert.That(Assert.Throws<ArgumentException>(() => F.Max(Tensor.Zeros([2, 0]), 1))!.Message, Does.Contain("size 0"));
        Assert.That(Assert.Throws<ArgumentException>(() => F.ArgMax(Tensor.FromArray(new[] { 1, 2 }, [2]), 0))!.Message,
            Does.Contain("ArgMax").And.Contain("int32"));
    }
}
