using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Gemm;

public class MatMulTests
{
    /// <summary>Cases in scripts/vectors/matmul.py: name and number of inputs.</summary>
    private static readonly (string Name, int Inputs)[] Cases =
        [("mm", 2), ("bmm", 2), ("bcast", 2), ("linear", 3), ("linear_nobias", 2)];

    private static Tensor Apply(string name, Tensor[] x) => name switch
    {
        "linear" => F.Linear(x[0], x[1], x[2]),
        "linear_nobias" => F.Linear(x[0], x[1], null),
        _ => F.MatMul(x[0], x[1]),
    };

    /// <summary>Runs body with the GEMM family forced to one implementation, then restores the
    /// registry to what KERNELS_IMPL asked for.</summary>
    private static void WithGemm(string impl, Action body)
    {
        if (impl == "openblas")
            Assume.That(Kernels.Ops.Gemm.GemmOpenBlas.Available, "libopenblas.so.0 is not installed here");
        Kernels.Registry.KernelRegistry.Force("Gemm", impl);
        try { body(); }
        finally
        {
            Kernels.Registry.KernelRegistry.ClearForced();
            var env = Environment.GetEnvironmentVariable(Kernels.Registry.KernelRegistry.EnvironmentVariable);
            if (!string.IsNullOrWhiteSpace(env)) Kernels.Registry.KernelRegistry.ForceFromSpec(env);
        }
    }

    [TestCase(DType.F32, "cpu"), TestCase(DType.F64, "cpu"), TestCase(DType.F32, "openblas"), TestCase(DType.F64, "openblas")]
    public void ForwardAndBackwardMatchPyTorch(DType dtype, string impl) => WithGemm(impl, () => MatchPyTorch(dtype));

    private static void MatchPyTorch(DType dtype)
    {
        var v = new VectorFile("matmul");
        double tol = dtype == DType.F32 ? 2e-5 : 1e-12;
        foreach (var (name, n) in Cases)
        {
            using var scope = TensorScope.Begin();
            var xs = Enumerable.Range(0, n).Select(i =>
            {
                var t = v.Tensor($"{name}.in{i}", dtype);
                t.RequiresGrad = true;
                return t;
            }).ToArray();
            var y = Apply(name, xs);
            Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape($"{name}.y")), name);
            Approx.Equal(v.Doubles($"{name}.y"), y, tol, tol, name);
            y.Backward(v.Tensor($"{name}.g", dtype));
            for (int i = 0; i < n; i++)
                Approx.Equal(v.Doubles($"{name}.d{i}"), xs[i].Grad!, tol, tol, $"{name} d/d input {i}");
        }
    }

    [TestCase("cpu"), TestCase("openblas")]
    public void MatMulGradients(string impl) => WithGemm(impl, MatMulGradientsBody);

    private static void MatMulGradientsBody()
    {
        GradCheck.Check(t => F.MatMul(t[0], t[1]), [GradCheck.Input([5, 3]), GradCheck.Input([3, 7], seed: 8)], what: "2-D");
        GradCheck.Check(t => F.MatMul(t[0], t[1]), [GradCheck.Input([1, 1]), GradCheck.Input([1, 4], seed: 8)], what: "1x1");
        GradCheck.Check(t => F.MatMul(t[0], t[1]), [GradCheck.Input([2, 3, 4]), GradCheck.Input([2, 4, 5], seed: 8)], what: "batched");
        GradCheck.Check(t => F.MatMul(t[0], t[1]), [GradCheck.Input([1, 5, 2]), GradCheck.Input([1, 2, 3], seed: 8)], what: "batch 1");
        GradCheck.Check(t => F.MatMul(t[0], t[1]), [GradCheck.Input([2, 2, 3, 4]), GradCheck.Input([4, 3], seed: 8)], what: "broadcast b");
    }

    [Test]
    public void GradientOfOneInputOnly()
    {
        var a = GradCheck.Input([4, 3]);
        var b = GradCheck.Input([3, 5], seed: 9);
        b.RequiresGrad = false;
        GradCheck.Check(t => F.MatMul(t[0], t[1]), [a, b], what: "a only");
        a.RequiresGrad = false;
        b.RequiresGrad = true;
        GradCheck.Check(t => F.MatMul(t[0], t[1]), [a, b], what: "b only");
    }

    [TestCase("cpu"), TestCase("openblas")]
    public void LinearGradients(string impl) => WithGemm(impl, LinearGradientsBody);

    private static void LinearGradientsBody()
    {
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2]),
            [GradCheck.Input([4, 7]), GradCheck.Input([3, 7], seed: 8), GradCheck.Input([3], seed: 9)], what: "bias");
        GradCheck.Check(t => F.Linear(t[0], t[1], null),
            [GradCheck.Input([2, 3, 5]), GradCheck.Input([6, 5], seed: 8)], what: "no bias, 3-D x");
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2]),
            [GradCheck.Input([1, 1]), GradCheck.Input([1, 1], seed: 8), GradCheck.Input([1], seed: 9)], what: "1x1");
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2]),
            [GradCheck.Input([5]), GradCheck.Input([2, 5], seed: 8), GradCheck.Input([2], seed: 9)], what: "1-D x");
    }

    [TestCase("cpu"), TestCase("openblas")]
    public void LargeMatMulMatchesFloat64(string impl) => WithGemm(impl, LargeMatMul);

    private static void LargeMatMul()
    {
        // Big enough for the packed multi-threaded kernel; float64 runs the reference loops.
        using var scope = TensorScope.Begin();
        var a = Tensor.Randn([3, 70, 300], dtype: DType.F64);
        var b = Tensor.Randn([300, 530], dtype: DType.F64);
        var expected = F.MatMul(a, b);
        var actual = F.MatMul(a.To(DType.F32), b.To(DType.F32));
        Approx.Equal(expected, actual, 1e-4, 1e-3, "3x70x300 · 300x530");
    }

    [Test]
    public void ShapeErrorsNameOpArgumentAndShapes()
    {
        using var scope = TensorScope.Begin();
        var ex = Assert.Throws<ArgumentException>(() => F.MatMul(Tensor.Zeros([2, 3]), Tensor.Zeros([4, 5])))!;
        Assert.That(ex.Message, Does.Contain("MatMul").And.Contain("[2, 3]").And.Contain("[4, 5]"));
        ex = Assert.Throws<ArgumentException>(() => F.MatMul(Tensor.Zeros([2, 2, 3]), Tensor.Zeros([3, 3, 5])))!;
        Assert.That(ex.Message, Does.Contain("MatMul").And.Contain("[2, 2, 3]").And.Contain("[3, 3, 5]"));
        ex = Assert.Throws<ArgumentException>(() => F.MatMul(Tensor.Zeros([3]), Tensor.Zeros([3, 5])))!;
        Assert.That(ex.Message, Does.Contain("MatMul").And.Contain("a ").And.Contain("[3]"));
        ex = Assert.Throws<ArgumentException>(() => F.Linear(Tensor.Zeros([2, 3]), Tensor.Zeros([4, 5]), null))!;
        Assert.That(ex.Message, Does.Contain("Linear").And.Contain("x ").And.Contain("[2, 3]").And.Contain("[4, 5]"));
        ex = Assert.Throws<ArgumentException>(() => F.Linear(Tensor.Zeros([2, 5]), Tensor.Zeros([4, 5]), Tensor.Zeros([3])))!;
        Assert.That(ex.Message, Does.Contain("Linear").And.Contain("bias").And.Contain("[3]").And.Contain("[4, 5]"));
        ex = Assert.Throws<ArgumentException>(() => F.Linear(Tensor.Zeros([2, 5]), Tensor.Zeros([4, 5], DType.F64), null))!;
        Assert.That(ex.Message, Does.Contain("Linear").And.Contain("weight"));
    }
}
