using Kernels.Nets;
using Kernels.Ops.Elementwise;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Audit;

/// <summary>What tests/Ops/ElementwiseTests.cs leaves out: every unary and scalar op against PyTorch in
/// float32 and float64 on inputs with negatives, clamp with values exactly on its bounds, broadcasts
/// against rank-0, batch-1 and [1, n, 1] operands (forward and gradient), pow with a negative base,
/// max / min ties, and the gradient edge cases of pow and of NaN inputs.</summary>
public class ElementwiseAuditTests
{
    private static double Tol(DType dtype) => dtype == DType.F32 ? 2e-6 : 1e-12;

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void UnaryScalarAndClampMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("elementwise");
        double tol = Tol(dtype);
        var u = v.Tensor("u", dtype);
        var pos = v.Tensor("pos", dtype);
        var cases = new (string Name, Tensor Y)[]
        {
            ("neg", F.Neg(u)), ("square", F.Square(u)), ("sign", F.Unary(UnaryOp.Sign, u)), ("abs_u", F.Abs(u)),
            ("exp_u", F.Exp(u)), ("sin_u", F.Sin(u)), ("cos_u", F.Cos(u)),
            ("clamp", F.Clamp(u, -0.7, 1.1)), ("clamp_min", F.ClampMin(u, -0.7)), ("clamp_max", F.ClampMax(u, 1.1)),
            ("add_s", F.AddScalar(u, 1.25)), ("mul_s", F.MulScalar(u, -0.75)), ("rsub_s", F.RSubScalar(1.25, u)),
            ("rdiv_s", F.RDivScalar(1.25, u)), ("pow_s", F.PowScalar(pos, 1.5)), ("pow_s2", F.PowScalar(u, 2.0)),
            ("pow_s3", F.PowScalar(u, 3.0)), ("pow_sneg", F.PowScalar(pos, -0.5)),
            ("add_s", u + 1.25), ("mul_s", u * -0.75), ("rsub_s", 1.25 - u), ("rdiv_s", 1.25 / u),
        };
        foreach (var (name, y) in cases)
        {
            Assert.That(y.DType, Is.EqualTo(dtype), name);
            Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(name)), name + " shape");
            Approx.Equal(v.Doubles(name), y, tol, tol, name);
        }
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void RankZeroBatchOneAndColumnBroadcastsMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("elementwise");
        double tol = Tol(dtype);
        var u = v.Tensor("u", dtype);
        var s0 = v.Tensor("s0", dtype);
        var one = v.Tensor("one", dtype);
        var col = v.Tensor("col", dtype);
        Assert.That(s0.Rank, Is.EqualTo(0), "the reference scalar is rank 0");
        var cases = new (string Name, Tensor Y)[]
        {
            ("u_add_s0", F.Add(u, s0)), ("s0_sub_u", F.Sub(s0, u)), ("u_mul_s0", F.Mul(u, s0)), ("s0_div_u", F.Div(s0, u)),
            ("u_max_s0", F.Maximum(u, s0)), ("u_min_s0", F.Minimum(u, s0)), ("u_mul_one", F.Mul(u, one)),
            ("one_sub_u", F.Sub(one, u)), ("u_div_col", F.Div(u, col)), ("col_add_one", F.Add(col, one)),
            ("s0_add_s0", F.Add(s0, s0)), ("u_pow_2", F.Pow(u, Tensor.Full([1], 2.0, dtype))),
        };
        foreach (var (name, y) in cases)
        {
            Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(name)), name + " shape");
            Approx.Equal(v.Doubles(name), y, tol, tol, name);
        }
    }

    [Test]
    public void BroadcastGradientsWithRankZeroAndBatchOneOperands()
    {
        foreach (var op in Enum.GetValues<BinaryOp>())
        {
            GradCheck.Check(t => F.Binary(op, t[0], t[1]),
                [GradCheck.Input([3, 1, 5], 0.5, 2.0, seed: 1), GradCheck.Input([], 0.5, 2.0, seed: 2)], what: op + " x rank-0");
            GradCheck.Check(t => F.Binary(op, t[0], t[1]),
                [GradCheck.Input([], 0.5, 2.0, seed: 3), GradCheck.Input([1, 4, 1], 0.5, 2.0, seed: 4)], what: op + " rank-0 x");
            GradCheck.Check(t => F.Binary(op, t[0], t[1]),
                [GradCheck.Input([1, 4, 1], 0.5, 2.0, seed: 5), GradCheck.Input([1, 5], 0.5, 2.0, seed: 6)], what: op + " both broadcast");
            GradCheck.Check(t => F.Binary(op, t[0], t[1]),
                [GradCheck.Input([], 0.5, 2.0, seed: 7), GradCheck.Input([], 0.5, 2.0, seed: 8)], what: op + " rank-0 x rank-0");
        }
    }

    [Test]
    public void UnaryAndScalarGradientsOnNegativeInputsAndBatchOne()
    {
        // Inputs in [-2, -0.3] ∪ [0.3, 2] (away from the kinks of abs, clamp and sign) for the ops defined there.
        var x = GradCheck.Input([1, 13], 0.3, 2.0);
        var host = x.ToDoubles().Select((d, i) => i % 2 == 0 ? -d : d).ToArray();
        x.Device.Upload<double>(host, x.Buffer);
        foreach (var op in new[] { UnaryOp.Neg, UnaryOp.Exp, UnaryOp.Abs, UnaryOp.Square, UnaryOp.Reciprocal, UnaryOp.Sin, UnaryOp.Cos })
            GradCheck.Check(t => F.Unary(op, t[0]), [x], what: op + " with negatives");
        GradCheck.Check(t => F.Clamp(t[0], -1.0, 1.0), [x], what: "clamp");
        GradCheck.Check(t => F.PowScalar(t[0], 3.0), [x], what: "cube of negatives");
        GradCheck.Check(t => F.PowScalar(t[0], 2.0), [x], what: "square via pow");
        GradCheck.Check(t => F.RDivScalar(-0.5, t[0]), [x], what: "rdiv");
        GradCheck.Check(t => F.RSubScalar(2.0, t[0]), [x], what: "rsub");
        GradCheck.Check(t => F.Exp(t[0].Reshape(13)), [x], what: "reshape to rank 1");
        GradCheck.Check(t => F.Mul(t[0].Reshape(13, 1), t[0].Reshape(1, 13)), [x], what: "outer product via reshapes");
        GradCheck.Check(t => F.Sum(t[0].Reshape()), [GradCheck.Input([1])], what: "reshape to rank 0");
    }

    [Test]
    public void MaxMinTiesSendTheWholeGradientToTheFirstOperand()
    {
        // A documented choice of the engine (PyTorch 1.13 splits it half and half); either way the
        // two gradients must sum to the upstream one.
        var a = Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }, [3]);
        var b = Tensor.FromArray(new[] { 1.0, 5.0, 3.0 }, [3]);
        a.RequiresGrad = b.RequiresGrad = true;
        foreach (var op in new[] { BinaryOp.Max, BinaryOp.Min })
        {
            a.Grad = null;
            b.Grad = null;
            F.Binary(op, a, b).Backward(Tensor.FromArray(new[] { 1.0, 1.0, 1.0 }, [3]));
            var da = a.Grad!.ToDoubles();
            var db = b.Grad!.ToDoubles();
            Assert.That(da[0], Is.EqualTo(1.0), $"{op}: tie goes to a");
            Assert.That(db[0], Is.EqualTo(0.0), $"{op}: tie gives b nothing");
            Assert.That(da[2] + db[2], Is.EqualTo(1.0), $"{op}: tie gradients sum to g");
            Assert.That(op == BinaryOp.Max ? db[1] : da[1], Is.EqualTo(1.0), $"{op}: the chosen operand gets g");
        }
        // Clamp passes the gradient at its bounds, as PyTorch does.
        var x = Tensor.FromArray(new[] { -1.0, 0.5, 2.0, 3.0 }, [4]);
        x.RequiresGrad = true;
        F.Clamp(x, -1, 2).Backward(Tensor.FromArray(new[] { 1.0, 1.0, 1.0, 1.0 }, [4]));
        Assert.That(x.Grad!.ToDoubles(), Is.EqualTo(new[] { 1.0, 1.0, 1.0, 0.0 }));
    }

    [Test]
    public void PowGradientsAtZeroBaseMatchPyTorch()
    {
        // PyTorch: d(a^b)/db is 0 where a = 0 and b ≥ 0 (the limit of y·log a), d/da is 0 where b = 0.
        var a = Tensor.FromArray(new[] { -2.0, 0.0, 3.0, 0.0 }, [4]);
        var b = Tensor.FromArray(new[] { 2.0, 2.0, 0.0, 0.0 }, [4]);
        a.RequiresGrad = b.RequiresGrad = true;
        var y = F.Pow(a, b);
        Assert.That(y.ToDoubles(), Is.EqualTo(new[] { 4.0, 0.0, 1.0, 1.0 }), "negative base with integer exponent");
        y.Backward(Tensor.FromArray(new[] { 1.0, 1.0, 1.0, 1.0 }, [4]));
        Assert.That(a.Grad!.ToDoubles(), Is.EqualTo(new[] { -4.0, 0.0, 0.0, 0.0 }), "d/da");
        var db = b.Grad!.ToDoubles();
        Assert.That(double.IsNaN(db[0]), "log of a negative base is NaN, as in PyTorch");
        Approx.Equal(new[] { 0.0, Math.Log(3.0), 0.0 }, db[1..], 1e-14, 0, "d/db");
    }

    [Test]
    public void NaNInputsPropagateThroughForwardAndBackward()
    {
        var a = Tensor.FromArray(new[] { 1.0, double.NaN, -2.0 }, [3]);
        var b = Tensor.FromArray(new[] { 0.5, 0.5, double.NaN }, [3]);
        Assert.That(F.Unary(UnaryOp.Sign, a).ToDoubles()[1], Is.EqualTo(0.0).Or.NaN, "sign(NaN)");
        a.RequiresGrad = b.RequiresGrad = true;
        var g = Tensor.FromArray(new[] { 1.0, 1.0, 1.0 }, [3]);
        F.Abs(a).Backward(g);
        Assert.That(a.Grad!.ToDoubles()[0], Is.EqualTo(1.0));
        a.Grad = null;
        var y = F.Maximum(a, b);
        Assert.That(double.IsNaN(y.ToDoubles()[1]) && double.IsNaN(y.ToDoubles()[2]), "max propagates NaN");
        y.Backward(g);
        Assert.That(a.Grad!.ToDoubles()[0], Is.EqualTo(1.0));
        F.Clamp(a, -1, 1).Backward(g);
    }

    [Test]
    public void DtypeAndDeviceErrorsNameTheOp()
    {
        var f32 = Tensor.Zeros([2, 3]);
        var f64 = Tensor.Zeros([1, 3], DType.F64);
        var i32 = Tensor.FromArray(new[] { 1, 2, 3 }, [3]);
        foreach (var op in Enum.GetValues<BinaryOp>())
        {
            var ex = Assert.Throws<ArgumentException>(() => F.Binary(op, f32, f64), op.ToString());
            Assert.That(ex!.Message, Does.Contain(op.ToString()).And.Contain("float64"), op.ToString());
        }
        Assert.Throws<ArgumentException>(() => F.Add(i32, i32), "integer tensors have no arithmetic");
        Assert.Throws<ArgumentException>(() => F.Exp(i32), "integer tensors have no unary math");
        Assert.Throws<ArgumentException>(() => F.MulScalar(i32, 2), "integer tensors have no scalar math");
        var ex2 = Assert.Throws<ArgumentException>(() => F.Mul(Tensor.Zeros([2, 3]), Tensor.Zeros([3, 2])));
        Assert.That(ex2!.Message, Does.Contain("Mul").And.Contain("[2, 3]").And.Contain("[3, 2]"));
    }
}
