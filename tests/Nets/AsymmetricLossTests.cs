using Kernels.Nets;
using Kernels.Nets.Losses;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

public class AsymmetricLossTests
{
    /// <summary>The cases of scripts/vectors/asl.py, as options.</summary>
    private static readonly (string Name, string Targets, AslOptions Options, bool Weighted)[] s_cases =
    [
        ("recipe", "y_full", AslOptions.Recipe, false),
        ("focusgrad", "y_full", new AslOptions(GammaPos: 1, GammaNeg: 3, Clip: 0.05, FocusingWeightConstant: false), false),
        ("focal", "y_full", new AslOptions(GammaPos: 2, GammaNeg: 2, Clip: 0, FocusingWeightConstant: false), false),
        ("bce", "y_full", new AslOptions(GammaPos: 0, GammaNeg: 0, Clip: 0), false),
        ("partial", "y_partial", new AslOptions(GammaPos: 0, GammaNeg: 1, Clip: 0, AlphaPos: 1.5, AlphaNeg: 0.7,
            GammaUnannotated: 2, AlphaUnannotated: 0.5), false),
        ("partialgrad", "y_partial", new AslOptions(GammaPos: 1, GammaNeg: 2, Clip: 0.1, FocusingWeightConstant: false,
            GammaUnannotated: 4, AlphaUnannotated: 0.3), false),
        ("weightedmean", "y_partial", AslOptions.Recipe with { Mean = true }, true),
    ];

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void MatchesTheTorchRestatement(DType dtype)
    {
        var v = new VectorFile("asl");
        double tol = dtype == DType.F32 ? 2e-5 : 1e-10;
        using var scope = TensorScope.Begin();
        foreach (var (name, targets, o, weighted) in s_cases)
        {
            var x = v.Tensor("x", dtype);
            x.RequiresGrad = true;
            var loss = F.AsymmetricLoss(x, v.Tensor(targets, dtype), o, weighted ? v.Tensor("w", dtype) : null);
            Assert.That(loss.Shape, Is.EqualTo(Shape.Scalar));
            Approx.Equal(v.Doubles(name + ".loss"), loss, tol, tol, name + " loss");
            loss.Backward();
            Approx.Equal(v.Doubles(name + ".grad"), x.Grad!, tol, tol, name + " grad");
        }
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void SingleLabelMatchesTheTorchRestatement(DType dtype)
    {
        var v = new VectorFile("asl");
        double tol = dtype == DType.F32 ? 2e-5 : 1e-10;
        using var scope = TensorScope.Begin();
        foreach (var (name, gp, gn, eps) in new[] { ("sl1", 0.0, 4.0, 0.1), ("sl2", 1.0, 2.0, 0.2), ("sl0", 0.0, 0.0, 0.0) })
        {
            var x = v.Tensor("sl.x", dtype);
            x.RequiresGrad = true;
            var loss = new AsymmetricLossSingleLabel(gp, gn, eps).Forward(x, v.Tensor("sl.t", DType.I32));
            Approx.Equal(v.Doubles(name + ".loss"), loss, tol, tol, name + " loss");
            loss.Backward();
            Approx.Equal(v.Doubles(name + ".grad"), x.Grad!, tol, tol, name + " grad");
        }
    }

    [Test]
    public void WithoutFocusingOrClipItIsSummedBceWithLogits()
    {
        using var scope = TensorScope.Begin();
        var x = GradCheck.Input([3, 11], -8, 8, seed: 5);
        var y = Tensor.FromHost([.. Enumerable.Range(0, 33).Select(i => (double)((i * 7) % 3 == 0 ? 1 : 0))], [3, 11], DType.F64);
        var asl = F.AsymmetricLoss(x, y, new AslOptions(GammaPos: 0, GammaNeg: 0, Clip: 0));
        asl.Backward();
        var gAsl = x.Grad!.ToDoubles();
        x.Grad = null;
        var bce = F.BinaryCrossEntropyWithLogits(x, y, Reduction.Sum);
        bce.Backward();
        Approx.Equal(bce.ToDoubles(), asl.ToDoubles(), 1e-12, 1e-12, "loss");
        Approx.Equal(x.Grad!.ToDoubles(), gAsl, 1e-12, 1e-12, "grad");
    }

    [Test]
    public void GradientIsTheDerivativeWhenTheFocusingWeightIsDifferentiated()
    {
        var targets = Tensor.FromHost([1, 0, -1, 0, 1, 0, 0, -1, 1, 0, 0, 1, -1, 0, 0, 1, 0, 0, 0, 1, 0], [3, 7], DType.F64);
        var weights = Tensor.FromHost([.. Enumerable.Range(0, 21).Select(i => i % 5 == 2 ? 0.0 : 0.5 + 0.1 * (i % 4))], [3, 7], DType.F64);
        var options = new[]
        {
            AslOptions.Recipe with { FocusingWeightConstant = false },
            new AslOptions(GammaPos: 1, GammaNeg: 3, Clip: 0.05, FocusingWeightConstant: false, AlphaPos: 1.2, AlphaNeg: 0.8,
                GammaUnannotated: 0.5, AlphaUnannotated: 0.4, Mean: true),
            new AslOptions(GammaPos: 0.5, GammaNeg: 2.5, Clip: 0, FocusingWeightConstant: false),
        };
        foreach (var o in options)
        {
            GradCheck.Check(t => F.AsymmetricLoss(t[0], targets, o), [GradCheck.Input([3, 7], -3, 3, seed: 9)], what: $"asl {o}");
            GradCheck.Check(t => F.AsymmetricLoss(t[0], targets, o, weights), [GradCheck.Input([3, 7], -3, 3, seed: 4)],
                what: $"weighted asl {o}");
        }
        var row = Tensor.FromHost([1, 0, -1, 0, 0], [1, 5], DType.F64);
        GradCheck.Check(t => F.AsymmetricLoss(t[0], row, options[1]), [GradCheck.Input([1, 5], -2, 2, seed: 2)], what: "batch 1");
    }

    /// <summary>With the focusing weight constant the gradient is −α·w·d log(·)/dx per entry:
    /// positives −α+·(1 − p)^γ+·(1 − p), negatives α−·p_m^γ−·p(1 − p)/(1 − p_m) (0 when p ≤ clip),
    /// written out here independently of AslMath, times the upstream gradient.</summary>
    [Test]
    public void ConstantFocusingWeightGradientFollowsTheFormula()
    {
        using var scope = TensorScope.Begin();
        var o = new AslOptions(GammaPos: 1, GammaNeg: 4, Clip: 0.05, GammaUnannotated: 2, AlphaPos: 1.3, AlphaNeg: 0.9,
            AlphaUnannotated: 0.6);
        var x = GradCheck.Input([4, 9], -5, 5, seed: 8);
        double[] yv = [.. Enumerable.Range(0, 36).Select(i => (double)(i % 3 - 1))];
        var loss = F.AsymmetricLoss(x, Tensor.FromHost(yv, [4, 9], DType.F64), o);
        loss.Backward(Tensor.Scalar(2.5, DType.F64));
        var xv = x.ToDoubles();
        var expected = new double[36];
        for (int i = 0; i < 36; i++)
        {
            double p = 1 / (1 + Math.Exp(-xv[i]));
            double g;
            if (yv[i] == 1) g = -o.AlphaPos * Math.Pow(1 - p, o.GammaPos) * (1 - p);
            else
            {
                double gamma = yv[i] == 0 ? o.GammaNeg : o.GammaUnannotated, alpha = yv[i] == 0 ? o.AlphaNeg : o.AlphaUnannotated;
                double pm = Math.Max(p - o.Clip, 0);
                g = pm > 0 ? alpha * Math.Pow(pm, gamma) * p * (1 - p) / (1 - pm) : 0;
            }
            expected[i] = 2.5 * g;
        }
        Approx.Equal(expected, x.Grad!, 1e-12, 1e-12, "constant-weight gradient");
    }

    [Test]
    public void Float32StaysFiniteAtExtremeLogits()
    {
        using var scope = TensorScope.Begin();
        double[] logits = [1e4, -1e4, 88, -88, 0, 1e4, -1e4, 88, -88, 0, 1e4, -1e4, 88, -88, 0];
        double[] targets = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1];
        var options = new[]
        {
            AslOptions.Recipe,
            AslOptions.Recipe with { FocusingWeightConstant = false },
            new AslOptions(GammaPos: 2, GammaNeg: 2, Clip: 0, FocusingWeightConstant: false),
            new AslOptions(GammaPos: 0.5, GammaNeg: 0.5, Clip: 0, FocusingWeightConstant: false, GammaUnannotated: 0.3),
            new AslOptions(GammaPos: 0, GammaNeg: 0, Clip: 0, Mean: true),
        };
        foreach (var o in options)
        {
            var x = Tensor.FromHost(logits, [3, 5], DType.F32);
            x.RequiresGrad = true;
            var loss = F.AsymmetricLoss(x, Tensor.FromHost(targets, [3, 5], DType.F32), o);
            loss.Backward();
            var x64 = Tensor.FromHost(logits, [3, 5], DType.F64);
            x64.RequiresGrad = true;
            var ref64 = F.AsymmetricLoss(x64, Tensor.FromHost(targets, [3, 5], DType.F64), o);
            ref64.Backward();
            double l = loss.ToDoubles()[0];
            Assert.That(double.IsFinite(l), Is.True, $"{o}: loss {l}");
            // Each clamped log is at most −log(eps) ≈ 18.4: a wrong branch at ±1e4 would give ~1e4.
            Assert.That(l, Is.LessThanOrEqualTo(15 * 18.5));
            Assert.That(x.Grad!.ToDoubles().All(double.IsFinite), Is.True, $"{o}: gradient {string.Join(", ", x.Grad!.ToDoubles())}");
            Approx.Equal(ref64.ToDoubles(), loss, 1e-5, 1e-5, $"{o} loss vs float64");
            Approx.Equal(x64.Grad!.ToDoubles(), x.Grad!, 1e-5, 1e-5, $"{o} grad vs float64");
        }
    }

    /// <summary>The float32 entry the ILGPU kernels run (the cpu float32 path widens to float64):
    /// finite, and equal to the float64 entry, at saturating logits for every target kind.</summary>
    [Test]
    public void Float32EntryMatchesFloat64AtExtremeLogits()
    {
        double[] xs = [1e4, -1e4, 100, -100, 88, -88, 30, -30, 17, -17, 1e-3, 0];
        var options = new[]
        {
            AslOptions.Recipe,
            AslOptions.Recipe with { FocusingWeightConstant = false },
            new AslOptions(GammaPos: 2, GammaNeg: 2, Clip: 0, FocusingWeightConstant: false),
            new AslOptions(GammaPos: 0.5, GammaNeg: 0.5, Clip: 0, FocusingWeightConstant: false, GammaUnannotated: 0.3),
            new AslOptions(GammaPos: 1, GammaNeg: 3, Clip: 0.2, FocusingWeightConstant: false, AlphaUnannotated: 0.5),
        };
        foreach (var o in options)
            foreach (double x in xs)
                foreach (double y in new[] { 1.0, 0.0, -1.0 })
                {
                    float l = AslMath.Entry((float)x, (float)y, (float)o.GammaPos, (float)o.GammaNeg, (float)o.Clip, (float)o.Eps,
                        (float)o.AlphaPos, (float)o.AlphaNeg, (float)o.GammaUnannotated, (float)o.AlphaUnannotated,
                        o.FocusingWeightConstant ? 1 : 0, out float g);
                    double l64 = AslMath.EntryF64(x, y, o, out double g64);
                    string what = $"x={x} y={y} {o}";
                    Assert.That(float.IsFinite(l) && float.IsFinite(g), Is.True, $"{what}: loss {l}, grad {g}");
                    Assert.That(Math.Abs(l - l64), Is.LessThanOrEqualTo(1e-5 * Math.Max(1, Math.Abs(l64))), what + " loss");
                    Assert.That(Math.Abs(g - g64), Is.LessThanOrEqualTo(1e-5 * Math.Max(1, Math.Abs(g64))), what + " grad");
                }
    }

    [Test]
    public void ModulesUseTheirDefaults()
    {
        using var scope = TensorScope.Begin();
        var v = new VectorFile("asl");
        var m = new AsymmetricLoss();
        Assert.That(m.Options, Is.EqualTo(AslOptions.Recipe));
        Assert.That(m.Reduction, Is.EqualTo(Reduction.Sum));
        Approx.Equal(v.Doubles("recipe.loss"), m.Forward(v.Tensor("x", DType.F64), v.Tensor("y_full", DType.F64)), 1e-10, 1e-10, "recipe");
        var x = v.Tensor("x", DType.F64);
        x.RequiresGrad = true;
        var focal = new FocalLoss(2).Forward(x, v.Tensor("y_full", DType.F64));
        focal.Backward();
        Approx.Equal(v.Doubles("focal.loss"), focal, 1e-10, 1e-10, "focal");
        Approx.Equal(v.Doubles("focal.grad"), x.Grad!, 1e-10, 1e-10, "focal grad");
        Approx.Equal(v.Doubles("weightedmean.loss"),
            new AsymmetricLoss(reduction: Reduction.Mean).Forward(v.Tensor("x", DType.F64), v.Tensor("y_partial", DType.F64),
                v.Tensor("w", DType.F64)), 1e-10, 1e-10, "masked mean");
    }

    [Test]
    public void BadInputIsAClearArgumentException()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Zeros([4, 3]);
        var ex = Assert.Throws<ArgumentException>(() => F.AsymmetricLoss(x, Tensor.Zeros([4, 2]), AslOptions.Recipe));
        Assert.That(ex!.Message, Does.Contain("AsymmetricLoss").And.Contain("targets").And.Contain("[4, 2]").And.Contain("[4, 3]"));
        ex = Assert.Throws<ArgumentException>(() => F.AsymmetricLoss(x, Tensor.Zeros([4, 3]), AslOptions.Recipe, Tensor.Zeros([3])));
        Assert.That(ex!.Message, Does.Contain("AsymmetricLoss").And.Contain("weights").And.Contain("[3]"));
        ex = Assert.Throws<ArgumentException>(() => F.AsymmetricLoss(x, Tensor.Zeros([4, 3]), AslOptions.Recipe with { Clip = 1.5 }));
        Assert.That(ex!.Message, Does.Contain("AsymmetricLoss").And.Contain("clip"));
        ex = Assert.Throws<ArgumentException>(() => F.AsymmetricLoss(x, Tensor.Zeros([4, 3], DType.F64), AslOptions.Recipe));
        Assert.That(ex!.Message, Does.Contain("AsymmetricLoss").And.Contain("targets"));
        ex = Assert.Throws<ArgumentException>(() => F.AsymmetricLossSingleLabel(x, Tensor.FromArray(new[] { 0, 1, 2 }, [3])));
        Assert.That(ex!.Message, Does.Contain("AsymmetricLossSingleLabel").And.Contain("targets").And.Contain("[3]").And.Contain("[4, 3]"));
        ex = Assert.Throws<ArgumentException>(() => F.AsymmetricLossSingleLabel(x, Tensor.FromArray(new[] { 0, 1, 2, 3 }, [4])));
        Assert.That(ex!.Message, Does.Contain("AsymmetricLossSingleLabel").And.Contain("3"));
    }
}
