using Kernels.Nets;
using Kernels.Ops.Activation;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Audit;

/// <summary>What tests/Ops/ActivationTests.cs and tests/Nets/LossTests.cs leave out: activations on a
/// batch-1 input with saturating values (±40, ±1000) and leaky relu at other slopes, against PyTorch;
/// gradient checks on batch-1 and single-element shapes; losses with reduction None and batch 1.</summary>
public class ActivationLossAuditTests
{
    private static readonly (string Name, ActivationKind Kind, double Alpha)[] Cases =
    [
        ("relu", ActivationKind.Relu, 0), ("leaky_relu_default", ActivationKind.LeakyRelu, 0.01),
        ("leaky_relu_steep", ActivationKind.LeakyRelu, 1.5), ("gelu", ActivationKind.Gelu, 0),
        ("sigmoid", ActivationKind.Sigmoid, 0), ("tanh", ActivationKind.Tanh, 0),
    ];

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void SaturatingBatchOneInputsMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("activation");
        double tol = dtype == DType.F32 ? 1e-5 : 1e-12;
        foreach (var (name, kind, alpha) in Cases)
        {
            using var scope = TensorScope.Begin();
            var x = v.Tensor("xe", dtype);
            x.RequiresGrad = true;
            var y = F.Activation(kind, x, alpha);
            Approx.Equal(v.Doubles("xe." + name), y, tol, tol, name);
            y.Backward(v.Tensor("ge", dtype));
            Approx.Equal(v.Doubles("xe." + name + ".dx"), x.Grad!, tol, tol, name + " backward");
        }
        Assert.That(F.LeakyRelu(Tensor.FromArray(new[] { -2.0 }, [1])).ToDoubles()[0], Is.EqualTo(-0.02).Within(1e-15),
            "F.LeakyRelu's default slope is PyTorch's 0.01");
    }

    [Test]
    public void ActivationGradientsOnBatchOneAndSingleElements()
    {
        foreach (var (name, kind, alpha) in Cases)
        {
            var x = GradCheck.Input([1, 1, 7], 0.05, 3);
            var host = x.ToDoubles().Select((d, i) => i % 3 == 0 ? -d : d).ToArray();
            x.Device.Upload<double>(host, x.Buffer);
            GradCheck.Check(t => F.Activation(kind, t[0], alpha), [x], what: name + " [1, 1, 7]");
            GradCheck.Check(t => F.Activation(kind, t[0], alpha), [GradCheck.Input([1], 0.2, 1)], what: name + " [1]");
            GradCheck.Check(t => F.Activation(kind, t[0], alpha), [GradCheck.Input([], -1, -0.2)], what: name + " rank 0");
        }
    }

    [Test]
    public void LossGradientsWithReductionNoneAndBatchOne()
    {
        foreach (var red in Enum.GetValues<Reduction>())
        {
            var one = Tensor.FromArray(new[] { 2 }, [1]);
            GradCheck.Check(t => F.CrossEntropy(t[0], one, 0.2, red), [GradCheck.Input([1, 5], -2, 2)], what: $"ce batch 1 {red}");
            var odd = Tensor.FromArray(new[] { 0, 2, 2 }, [3]);
            GradCheck.Check(t => F.CrossEntropy(t[0], odd, 0.0, red), [GradCheck.Input([3, 3], -2, 2)], what: $"ce 3x3 {red}");
            GradCheck.Check(t => F.BinaryCrossEntropyWithLogits(t[0], t[1], red),
                [GradCheck.Input([1, 1, 3], -4, 4), GradCheck.Input([1, 1, 3], 0, 1, seed: 9)], what: $"bce batch 1 {red}");
            GradCheck.Check(t => F.MseLoss(t[0], t[1], red), [GradCheck.Input([1, 7]), GradCheck.Input([1, 7], seed: 3)], what: $"mse {red}");
            GradCheck.Check(t => F.L1Loss(t[0], t[1], red), [GradCheck.Input([1, 7]), GradCheck.Input([1, 7], seed: 3)], what: $"l1 {red}");
            GradCheck.Check(t => F.MseLoss(t[0], t[1], red), [GradCheck.Input([]), GradCheck.Input([], seed: 3)], what: $"mse rank 0 {red}");
        }
    }

    [Test]
    public void LossesOfMismatchedShapesOrIntegerLogitsAreRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.MseLoss(Tensor.Zeros([2, 3]), Tensor.Zeros([3, 2])));
        Assert.That(ex!.Message, Does.Contain("[2, 3]").And.Contain("[3, 2]"));
        Assert.Throws<ArgumentException>(() => F.L1Loss(Tensor.Zeros([2, 3]), Tensor.Zeros([2, 3], DType.F64)));
        Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.FromArray(new[] { 1, 2 }, [1, 2]), Tensor.FromArray(new[] { 0 }, [1])));
        Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Zeros([2, 3]), Tensor.FromArray(new[] { 0, 3 }, [2])),
            "a target outside [0, C) is refused");
    }
}

/// <summary>MSE and L1 against PyTorch in both dtypes with reduction None, batch 1 and an exact
/// input = target tie (L1's gradient there is PyTorch's sign(0) = 0), gradients of both arguments.</summary>
public class RegressionLossAuditTests
{
    [TestCase(DType.F32), TestCase(DType.F64)]
    public void MseAndL1WithReductionNoneAndATieMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("loss");
        double tol = dtype == DType.F32 ? 1e-6 : 1e-12;
        foreach (var tag in new[] { "mse", "l1" })
        {
            using var scope = TensorScope.Begin();
            var a = v.Tensor("tie.a", dtype);
            var b = v.Tensor("tie.b", dtype);
            a.RequiresGrad = b.RequiresGrad = true;
            var loss = tag == "mse" ? F.MseLoss(a, b, Reduction.None) : F.L1Loss(a, b, Reduction.None);
            Assert.That(loss.Shape.ToArray(), Is.EqualTo(v.Shape($"tie.{tag}.none")), tag + " shape");
            Approx.Equal(v.Doubles($"tie.{tag}.none"), loss, tol, tol, tag + " none");
            loss.Backward(v.Tensor($"tie.{tag}.g", dtype));
            Approx.Equal(v.Doubles($"tie.{tag}.da"), a.Grad!, tol, tol, tag + " d input");
            Approx.Equal(v.Doubles($"tie.{tag}.db"), b.Grad!, tol, tol, tag + " d target");
        }
    }

    [Test]
    public void MseAndL1MeanAndSumInFloat32()
    {
        var v = new VectorFile("loss");
        using var scope = TensorScope.Begin();
        var a = v.Tensor("reg.a");
        var b = v.Tensor("reg.b");
        Approx.Equal(v.Doubles("mse.mean"), F.MseLoss(a, b), 1e-6, 1e-6, "mse mean");
        Approx.Equal(v.Doubles("mse.sum"), F.MseLoss(a, b, Reduction.Sum), 1e-6, 1e-6, "mse sum");
        Approx.Equal(v.Doubles("l1.mean"), F.L1Loss(a, b), 1e-6, 1e-6, "l1 mean");
        Approx.Equal(v.Doubles("l1.sum"), F.L1Loss(a, b, Reduction.Sum), 1e-6, 1e-6, "l1 sum");
    }
}
