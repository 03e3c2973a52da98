using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

public class LossTests
{
    [TestCase(DType.F32), TestCase(DType.F64)]
    public void CrossEntropyMatchesPyTorch(DType dtype)
    {
        var v = new VectorFile("loss");
        double tol = dtype == DType.F32 ? 2e-5 : 1e-12;
        using var scope = TensorScope.Begin();
        var targets = v.Tensor("ce.targets", DType.I32);
        foreach (var (tag, eps) in new[] { ("ce.eps0", 0.0), ("ce.eps10", 0.1) })
        {
            var x = v.Tensor("ce.logits", dtype);
            x.RequiresGrad = true;
            Approx.Equal(v.Doubles(tag + ".none"), F.CrossEntropy(x, targets, eps, Reduction.None), tol, tol, tag + " none");
            Approx.Equal(v.Doubles(tag + ".sum"), F.CrossEntropy(x, targets, eps, Reduction.Sum), tol, tol, tag + " sum");
            var loss = F.CrossEntropy(x, targets, eps);
            Assert.That(loss.Shape, Is.EqualTo(Shape.Scalar));
            Approx.Equal(v.Doubles(tag + ".mean"), loss, tol, tol, tag + " mean");
            loss.Backward();
            Approx.Equal(v.Doubles(tag + ".grad"), x.Grad!, tol, tol, tag + " grad");
        }
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void WeightedAndIgnoringCrossEntropyMatchesPyTorch(DType dtype)
    {
        var v = new VectorFile("loss");
        double tol = dtype == DType.F32 ? 2e-5 : 1e-12;
        using var scope = TensorScope.Begin();
        var w = v.Tensor("ce.weight", dtype);
        var plain = v.Tensor("ce.targets", DType.I32);
        var ign = v.Tensor("ce.targets_ign", DType.I32);
        var cases = new (string Tag, Tensor Targets, Tensor? Weight, double Eps, Reduction Red, int Ignore)[]
        {
            ("cew_mean", plain, w, 0.1, Reduction.Mean, -100),
            ("cew_sum", plain, w, 0, Reduction.Sum, -100),
            ("ceign_mean", ign, null, 0.1, Reduction.Mean, -100),
            ("cewign_mean", ign, w, 0.2, Reduction.Mean, -100),
            ("cew_ign2_none", plain, w, 0.2, Reduction.None, 2),
        };
        foreach (var (tag, targets, weight, eps, red, ignore) in cases)
        {
            var x = v.Tensor("ce.logits", dtype);
            x.RequiresGrad = true;
            var loss = F.CrossEntropy(x, targets, eps, red, weight, ignore);
            Approx.Equal(v.Doubles(tag), loss, tol, tol, tag);
            loss.Backward(Tensor.Ones(loss.Shape, dtype));
            Approx.Equal(v.Doubles(tag + ".grad"), x.Grad!, tol, tol, tag + " grad");
        }
        var wg = GradCheck.Input([5], 0.5, 1.5, seed: 3);
        wg.RequiresGrad = false;
        GradCheck.Check(t => F.CrossEntropy(t[0], Tensor.FromArray(new[] { 0, -100, 2, 4 }, [4]), 0.3, Reduction.Mean, wg),
            [GradCheck.Input([4, 5], -2, 2)], what: "weighted, ignoring ce");
    }

    [Test]
    public void SpatialCrossEntropyMatchesPyTorch()
    {
        var v = new VectorFile("loss");
        using var scope = TensorScope.Begin();
        var x = v.Tensor("ce2d.logits", DType.F64);
        x.RequiresGrad = true;
        var loss = F.CrossEntropy(x, v.Tensor("ce2d.targets", DType.I32), 0.05);
        Approx.Equal(v.Doubles("ce2d.mean"), loss, 1e-12, 1e-12, "ce2d mean");
        loss.Backward();
        Approx.Equal(v.Doubles("ce2d.grad"), x.Grad!, 1e-12, 1e-12, "ce2d grad");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void BceWithLogitsMatchesPyTorchAndStaysFiniteOnHugeLogits(DType dtype)
    {
        var v = new VectorFile("loss");
        double tol = dtype == DType.F32 ? 2e-5 : 1e-12;
        using var scope = TensorScope.Begin();
        foreach (var tag in new[] { "bce", "bce_pw" })
        {
            var pw = tag == "bce_pw" ? v.Tensor("bce.pos_weight", dtype) : null;
            var x = v.Tensor("bce.logits", dtype);
            var y = v.Tensor("bce.targets", dtype);
            x.RequiresGrad = true;
            y.RequiresGrad = true;
            var none = F.BinaryCrossEntropyWithLogits(x, y, Reduction.None, pw);
            Assert.That(none.ToDoubles().All(double.IsFinite), Is.True, $"{tag}: non-finite loss element");
            Approx.Equal(v.Doubles(tag + ".none"), none, tol, tol, tag + " none");
            var loss = F.BinaryCrossEntropyWithLogits(x, y, Reduction.Mean, pw);
            Approx.Equal(v.Doubles(tag + ".mean"), loss, tol, tol, tag + " mean");
            loss.Backward();
            Assert.That(x.Grad!.ToDoubles().All(double.IsFinite), Is.True, $"{tag}: non-finite gradient");
            Approx.Equal(v.Doubles(tag + ".grad"), x.Grad!, tol, tol, tag + " grad");
            Approx.Equal(v.Doubles(tag + ".grad_targets"), y.Grad!, tol, tol, tag + " target grad");
        }
    }

    [Test]
    public void MseAndL1MatchPyTorch()
    {
        var v = new VectorFile("loss");
        using var scope = TensorScope.Begin();
        var b = v.Tensor("reg.b", DType.F64);
        foreach (var tag in new[] { "mse", "l1" })
        {
            var a = v.Tensor("reg.a", DType.F64);
            a.RequiresGrad = true;
            Tensor Loss(Reduction r) => tag == "mse" ? F.MseLoss(a, b, r) : F.L1Loss(a, b, r);
            Approx.Equal(v.Doubles(tag + ".sum"), Loss(Reduction.Sum), 1e-12, 1e-12, tag + " sum");
            var loss = Loss(Reduction.Mean);
            Approx.Equal(v.Doubles(tag + ".mean"), loss, 1e-12, 1e-12, tag + " mean");
            loss.Backward();
            Approx.Equal(v.Doubles(tag + ".grad"), a.Grad!, 1e-12, 1e-12, tag + " grad");
        }
    }

    [Test]
    public void CrossEntropyGradCheck()
    {
        var targets = Tensor.FromArray(new[] { 2, 0, 6, 3, 3 }, [5]);
        foreach (var eps in new[] { 0.0, 0.2 })
            foreach (var red in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
                GradCheck.Check(t => F.CrossEntropy(t[0], targets, eps, red), [GradCheck.Input([5, 7], -3, 3)],
                    what: $"ce eps {eps} {red}");
        var t3 = Tensor.FromArray(new[] { 0, 2, 1, 1, 2, 0 }, [1, 2, 3]);
        GradCheck.Check(t => F.CrossEntropy(t[0], t3, 0.1), [GradCheck.Input([1, 3, 2, 3], -2, 2)], what: "ce 3-D");
    }

    [Test]
    public void BceMseL1GradCheck()
    {
        var pw = Tensor.FromArray(new[] { 0.5, 2.0, 1.0 }, [3]);
        GradCheck.Check(t => F.BinaryCrossEntropyWithLogits(t[0], t[1]), [GradCheck.Input([5, 3], -6, 6), GradCheck.Input([5, 3], 0, 1, seed: 9)], what: "bce");
        GradCheck.Check(t => F.BinaryCrossEntropyWithLogits(t[0], t[1], Reduction.Sum, pw),
            [GradCheck.Input([5, 3], -6, 6), GradCheck.Input([5, 3], 0, 1, seed: 9)], what: "bce pos_weight");
        GradCheck.Check(t => F.MseLoss(t[0], t[1]), [GradCheck.Input([3, 5]), GradCheck.Input([3, 5], seed: 3)], what: "mse");
        GradCheck.Check(t => F.L1Loss(t[0], t[1], Reduction.Sum), [GradCheck.Input([3, 5]), GradCheck.Input([3, 5], seed: 3)], what: "l1");
    }

    [Test]
    public void LossModulesMatchTheFunctionsAndOwnTheirConstants()
    {
        var v = new VectorFile("loss");
        long live = TensorStats.LiveTensors;
        using (var scope = TensorScope.Begin())
        {
            var x = v.Tensor("ce.logits", DType.F64);
            var w = v.Tensor("ce.weight", DType.F64);
            using var ce = new Kernels.Nets.Losses.CrossEntropyLoss(0.1, weight: w);
            Approx.Equal(v.Doubles("cew_mean"), ce.Forward(x, v.Tensor("ce.targets", DType.I32)), 1e-12, 1e-12, "module ce");
            Assert.That(ce.StateDict().Keys, Is.EqualTo(new[] { "weight" }), "weight is a buffer, as PyTorch");
            Assert.That(ce.Parameters(), Is.Empty);

            using var bce = new Kernels.Nets.Losses.BCEWithLogitsLoss(posWeight: v.Tensor("bce.pos_weight", DType.F64));
            Approx.Equal(v.Doubles("bce_pw.mean"), bce.Forward(v.Tensor("bce.logits", DType.F64), v.Tensor("bce.targets", DType.F64)),
                1e-12, 1e-12, "module bce");
            using var mse = new Kernels.Nets.Losses.MSELoss(Reduction.Sum);
            using var l1 = new Kernels.Nets.Losses.L1Loss();
            Approx.Equal(v.Doubles("mse.sum"), mse.Forward(v.Tensor("reg.a", DType.F64), v.Tensor("reg.b", DType.F64)), 1e-12, 1e-12, "module mse");
            Approx.Equal(v.Doubles("l1.mean"), l1.Forward(v.Tensor("reg.a", DType.F64), v.Tensor("reg.b", DType.F64)), 1e-12, 1e-12, "module l1");
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live), "loss modules release their buffers");
    }

    [Test]
    public void BadArgumentsNameTheOp()
    {
        using var scope = TensorScope.Begin();
        var logits = Tensor.Zeros([4, 3]);
        var ex = Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 3, 0 }, [4])));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("outside [0, 3)"));
        ex = Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 2 }, [3])));
        Assert.That(ex!.Message, Does.Contain("[3]").And.Contain("[4]"));
        ex = Assert.Throws<ArgumentException>(() => F.BinaryCrossEntropyWithLogits(logits, Tensor.Zeros([4, 2])));
        Assert.That(ex!.Message, Does.Contain("BinaryCrossEntropyWithLogits").And.Contain("[4, 2]"));
        ex = Assert.Throws<ArgumentException>(() => F.MseLoss(logits, Tensor.Zeros([3, 4])));
        Assert.That(ex!.Message, Does.Contain("MseLoss"));
    }
}
