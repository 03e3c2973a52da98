using Kernels.Nets;
using Kernels.Ops.Elementwise;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Ops;

public class ElementwiseTests
{
    [TestCase(DType.F32), TestCase(DType.F64)]
    public void BroadcastingBinariesMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("elementwise");
        var a = v.Tensor("a", dtype);
        var b = v.Tensor("b", dtype);
        double tol = dtype == DType.F32 ? 1e-5 : 1e-12;
        foreach (var (name, op) in new[] { ("add", BinaryOp.Add), ("sub", BinaryOp.Sub), ("mul", BinaryOp.Mul),
                     ("div", BinaryOp.Div), ("max", BinaryOp.Max), ("min", BinaryOp.Min) })
        {
            var y = F.Binary(op, a, b);
            Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(name)), name);
            Approx.Equal(v.Doubles(name), y, tol, tol, name);
        }
        var pos = v.Tensor("pos", dtype);
        var flipped = Tensor.FromHost(Flip(v.Doubles("pos"), 2, 7), pos.Shape, dtype);
        Approx.Equal(v.Doubles("pow"), F.Pow(pos, flipped), tol, tol, "pow");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void UnaryMathMatchesPyTorch(DType dtype)
    {
        var v = new VectorFile("elementwise");
        double tol = dtype == DType.F32 ? 2e-6 : 1e-12;
        var a = v.Tensor("a", dtype);
        var pos = v.Tensor("pos", dtype);
        Approx.Equal(v.Doubles("exp"), F.Exp(a), tol, tol, "exp");
        Approx.Equal(v.Doubles("abs"), F.Abs(a), tol, tol, "abs");
        Approx.Equal(v.Doubles("sin"), F.Sin(a), tol, tol, "sin");
        Approx.Equal(v.Doubles("cos"), F.Cos(a), tol, tol, "cos");
        Approx.Equal(v.Doubles("log"), F.Log(pos), tol, tol, "log");
        Approx.Equal(v.Doubles("sqrt"), F.Sqrt(pos), tol, tol, "sqrt");
        Approx.Equal(v.Doubles("rsqrt"), F.Rsqrt(pos), tol, tol, "rsqrt");
        Approx.Equal(v.Doubles("reciprocal"), F.Reciprocal(pos), tol, tol, "reciprocal");
    }

    [Test]
    public void SumToShapeMatchesPyTorch()
    {
        var v = new VectorFile("elementwise");
        var a = v.Tensor("a", DType.F64);
        var b = v.Tensor("b", DType.F64);
        var sum = F.Add(a, b);
        var y = Tensor.Empty(b.Shape, DType.F64);
        Device.Cpu.Kernels.Get<IElementwise>().SumToShape(sum.Shape, b.Shape, sum.Buffer, y.Buffer);
        Approx.Equal(v.Doubles("sum_to_b"), y, 1e-12, 1e-12, "sum_to_b");
    }

    [Test]
    public void BinaryGradientsWithBroadcastMatchCentralDifferences()
    {
        foreach (var op in Enum.GetValues<BinaryOp>())
        {
            var a = GradCheck.Input([2, 1, 5, 3], 0.5, 2.0, seed: 1);
            var b = GradCheck.Input([4, 1, 3], 0.5, 2.0, seed: 2);
            GradCheck.Check(t => F.Binary(op, t[0], t[1]), [a, b], what: op.ToString());
        }
    }

    [Test]
    public void UnaryAndScalarGradientsMatchCentralDifferences()
    {
        foreach (var op in Enum.GetValues<UnaryOp>().Where(o => o != UnaryOp.Sign))
        {
            var x = GradCheck.Input([3, 11], 0.3, 2.0);
            GradCheck.Check(t => F.Unary(op, t[0]), [x], what: op.ToString());
        }
        foreach (var op in Enum.GetValues<ScalarOp>())
        {
            var x = GradCheck.Input([3, 11], 0.3, 2.0);
            GradCheck.Check(t => F.ScalarOp(op, 1.25, t[0]), [x], what: op + "Scalar");
        }
    }

    [Test]
    public void MismatchedShapesNameTheOpAndBothShapes()
    {
        var a = Tensor.Zeros([2, 3]);
        var b = Tensor.Zeros([4]);
        var ex = Assert.Throws<ArgumentException>(() => F.Add(a, b));
        Assert.That(ex!.Message, Does.Contain("Add").And.Contain("[2, 3]").And.Contain("[4]"));
    }

    [Test]
    public void MixedDtypesAreRefused()
    {
        var a = Tensor.Zeros([3]);
        var b = Tensor.Zeros([3], DType.F64);
        var ex = Assert.Throws<ArgumentException>(() => F.Mul(a, b));
        Assert.That(ex!.Message, Does.Contain("Mul").And.Contain("float64"));
    }

    private static double[] Flip(double[] x, int rows, int cols)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + cols - 1 - c];
        return y;
    }
}
