using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Reduce;

public class SoftmaxTests
{
    private static readonly (string Name, int Axis)[] Inputs =
        [("rows", -1), ("mid", 1), ("first", 0), ("wide", 1), ("batch1", 1), ("big", 1)];

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ForwardAndBackwardMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("softmax");
        foreach (var (name, axis) in Inputs)
            foreach (var (fn, op) in new (string, Func<Tensor, int, Tensor>)[] { ("softmax", F.Softmax), ("log_softmax", F.LogSoftmax) })
            {
                var x = v.Tensor(name, dtype);
                x.RequiresGrad = true;
                var y = op(x, axis);
                string what = $"{name}.{fn}";
                // In float32 the inputs near ±1000 of "big" are themselves rounded by up to 3e-5.
                double tol = dtype == DType.F64 ? 1e-12 : name == "big" ? 1e-4 : 2e-5;
                EqualWithInfinities(v.Doubles(what), y.ToDoubles(), tol, what);
                y.Backward(v.Tensor(name + ".g", dtype));
                Approx.Equal(v.Doubles(what + ".dx"), x.Grad!, tol, tol, what + " backward");
            }
    }

    /// <summary>Approx.Equal after checking that infinite expectations (masked entries of
    /// log-softmax) are matched exactly.</summary>
    private static void EqualWithInfinities(double[] expected, double[] actual, double tol, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        expected = (double[])expected.Clone();
        for (int i = 0; i < expected.Length; i++)
        {
            if (!double.IsInfinity(expected[i])) continue;
            Assert.That(actual[i], Is.EqualTo(expected[i]), $"{what}: element {i}");
            expected[i] = actual[i] = 0;
        }
        Approx.Equal(expected, actual, tol, tol, what);
    }

    [Test]
    public void GradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.Softmax(t[0]), [GradCheck.Input([3, 7], -3, 3)], what: "softmax last");
        GradCheck.Check(t => F.Softmax(t[0], 1), [GradCheck.Input([2, 5, 3], -3, 3)], what: "softmax middle");
        GradCheck.Check(t => F.Softmax(t[0], 0), [GradCheck.Input([1, 4], -3, 3)], what: "softmax size-1 axis");
        GradCheck.Check(t => F.Softmax(t[0], 1), [GradCheck.Input([1, 3, 515], -3, 3)], what: "softmax wide lanes");
        GradCheck.Check(t => F.LogSoftmax(t[0]), [GradCheck.Input([3, 7], -3, 3)], what: "log-softmax last");
        GradCheck.Check(t => F.LogSoftmax(t[0], -2), [GradCheck.Input([2, 5, 3], -3, 3)], what: "log-softmax middle");
        GradCheck.Check(t => F.LogSoftmax(t[0], 1), [GradCheck.Input([1, 3, 515], -3, 3)], what: "log-softmax wide lanes");
    }

    [Test]
    public void RowsSumToOneAndLargeInputsStayFinite()
    {
        var x = Tensor.FromArray(new float[] { 1000, 1001, 999, -1000, -1001, -999 }, [2, 3]);
        var y = F.Softmax(x).ToFloats();
        Assert.That(y.All(float.IsFinite), Is.True);
        Assert.That(y[0] + y[1] + y[2], Is.EqualTo(1).Within(1e-6));
        Assert.That(y[1], Is.EqualTo(y[5]).Within(1e-7)); // shift invariance
        Assert.That(F.LogSoftmax(x).ToFloats().All(float.IsFinite), Is.True);
    }

    [TestCase(-1), TestCase(0)]
    public void AllMinusInfinityLanesGiveNaN(int axis)
    {
        // PyTorch's behaviour: exp(−∞ − (−∞)) is NaN. Other lanes are unaffected.
        float ninf = float.NegativeInfinity;
        var x = Tensor.FromArray(new[] { ninf, ninf, 0f, 1f }, axis == -1 ? [2, 2] : [2, 2]);
        var lanes = axis == -1 ? new[] { (0, 1), (2, 3) } : new[] { (0, 2), (1, 3) };
        foreach (var op in new Func<Tensor, int, Tensor>[] { F.Softmax, F.LogSoftmax })
        {
            var y = op(x, axis).ToFloats();
            var (a, b) = lanes[0];
            Assert.That(float.IsNaN(y[a]) && float.IsNaN(y[b]), Is.EqualTo(axis == -1), "lane of −∞ only");
        }
        var s = F.Softmax(x, -1).ToFloats();
        Assert.That(s[2] + s[3], Is.EqualTo(1).Within(1e-6));
        var sm = F.Softmax(x, 0).ToFloats();
        Assert.That(sm[0], Is.EqualTo(0)); // −∞ next to a finite value: probability 0, no NaN
        Assert.That(sm[2], Is.EqualTo(1));
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => F.Softmax(Tensor.Zeros([2, 3]), 2))!;
        Assert.That(e.Message, Does.Contain("Softmax").And.Contain("axis 2").And.Contain("[2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => F.LogSoftmax(Tensor.Scalar(1)))!.Message, Does.Contain("LogSoftmax"));
        Assert.That(Assert.Throws<ArgumentException>(() => F.Softmax(Tensor.FromArray(new[] { 1 }, [1])))!.Message, Does.Contain("int32"));
    }
}
