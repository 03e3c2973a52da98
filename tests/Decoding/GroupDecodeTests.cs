using Kernels.Nets;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Decoding;

public class GroupDecodeTests
{
    [TestCase(DType.F32), TestCase(DType.F64)]
    public void DecodeAndGradientsMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("group_decode");
        double tol = dtype == DType.F32 ? 1e-5 : 1e-12;
        var x = v.Tensor("x", dtype);
        var w = v.Tensor("w", dtype);
        var bias = v.Tensor("bias", dtype);
        foreach (var t in new[] { x, w, bias }) t.RequiresGrad = true;
        var y = F.GroupDecode(x, w, bias, int.Parse(v.Meta("classes")));
        Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape("y")));
        Approx.Equal(v.Doubles("y"), y, tol, tol, "logits");
        y.Backward(v.Tensor("g", dtype));
        Approx.Equal(v.Doubles("dx"), x.Grad!, tol, tol, "dx");
        Approx.Equal(v.Doubles("dw"), w.Grad!, tol, tol, "dw (padding columns 0)");
        Approx.Equal(v.Doubles("dbias"), bias.Grad!, tol, tol, "dbias");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void FusedAslMatchesPyTorch(DType dtype)
    {
        var v = new VectorFile("group_decode");
        double tol = dtype == DType.F32 ? 2e-5 : 1e-11;
        var x = v.Tensor("x", dtype);
        var w = v.Tensor("w", dtype);
        var bias = v.Tensor("bias", dtype);
        foreach (var t in new[] { x, w, bias }) t.RequiresGrad = true;
        var loss = F.GroupDecodeAsl(x, w, bias, v.Tensor("targets", dtype), AslOptions.Recipe);
        Assert.That(loss.Numel, Is.EqualTo(1));
        Approx.Equal(v.Doubles("asl_loss"), loss, tol, tol, "loss");
        loss.Backward();
        Approx.Equal(v.Doubles("asl_dx"), x.Grad!, tol, tol, "dx");
        Approx.Equal(v.Doubles("asl_dw"), w.Grad!, tol, tol, "dw");
        Approx.Equal(v.Doubles("asl_dbias"), bias.Grad!, tol, tol, "dbias");
    }

    [Test]
    public void RecipeOptionsAreThePapersDefaults()
    {
        // `new()` on the record struct would be all zeros (Eps 0: log 0).
        var o = AslOptions.Recipe;
        Assert.That((o.GammaPos, o.GammaNeg, o.Clip, o.Eps, o.FocusingWeightConstant), Is.EqualTo((0.0, 4.0, 0.05, 1e-8, true)));
    }

    [Test]
    public void GradientMatchesCentralDifferences()
    {
        // Padding columns (N = 10 < K·g = 12), batch 1 and batch 3, with and without bias.
        GradCheck.Check(t => F.GroupDecode(t[0], t[1], t[2], 10),
            [GradCheck.Input([3, 4, 5], seed: 1), GradCheck.Input([4, 5, 3], seed: 2), GradCheck.Input([10], seed: 3)],
            what: "group decode");
        GradCheck.Check(t => F.GroupDecode(t[0], t[1], null, 7),
            [GradCheck.Input([1, 3, 2], seed: 4), GradCheck.Input([3, 2, 3], seed: 5)], what: "group decode, batch 1, no bias");
    }

    [TestCase(false, false)]
    [TestCase(true, true)]
    public void FusedAslGradientMatchesCentralDifferences(bool mean, bool weighted)
    {
        // The focusing weight must be differentiated here (FocusingWeightConstant: false): with it
        // constant the kernel's gradient is by design not the loss's derivative.
        var o = new AslOptions(GammaPos: 1, GammaNeg: 2, Clip: 0.05, FocusingWeightConstant: false, Mean: mean,
            AlphaPos: 0.8, AlphaNeg: 1.2, GammaUnannotated: 3, AlphaUnannotated: 0.5);
        var targets = Tensor.FromArray(new double[] { 1, 0, 0, -1, 0, 1, 0, 0, 0, -1, 1, 0, 0, 0, 1, 0, 0, 0 }, [2, 9]);
        var weights = weighted
            ? Tensor.FromArray(new double[] { 1, 0, 2, 1, 0.5, 1, 1, 0, 1, 1, 1, 3, 1, 1, 0, 1, 1, 1 }, [2, 9])
            : null;
        GradCheck.Check(t => F.GroupDecodeAsl(t[0], t[1], t[2], targets, o, weights),
            [GradCheck.Input([2, 4, 5], -1.5, 1.5, seed: 8), GradCheck.Input([4, 5, 3], -1.5, 1.5, seed: 9),
                GradCheck.Input([9], seed: 10)],
            what: $"group decode + asl (mean {mean}, weights {weighted})");
    }

    [TestCase(false, false, DType.F64)]
    [TestCase(true, true, DType.F64)]
    [TestCase(true, true, DType.F32)]
    public void FusedAslEqualsTheLossOfTheDecodedLogits(bool mean, bool weighted, DType dtype)
    {
        const int b = 3, k = 5, d = 7, n = 23; // g = 5: two padding columns
        var rng = new Rng(77);
        var hx = new double[b * k * d];
        var hw = new double[k * d * 5];
        var hb = new double[n];
        rng.FillUniform(hx, -1, 1);
        rng.FillUniform(hw, -1, 1);
        rng.FillUniform(hb, -1, 1);
        var ht = new double[b * n];
        var hm = new double[b * n];
        for (int i = 0; i < ht.Length; i++)
        {
            ht[i] = i % 7 == 0 ? 1 : i % 11 == 3 ? -1 : 0;
            hm[i] = i % 5 == 2 ? 0 : 0.5 + i % 3;
        }
        var o = new AslOptions(GammaPos: 1, GammaNeg: 4, Clip: 0.05, Mean: mean, GammaUnannotated: 2, AlphaUnannotated: 0.7);
        Tensor T(double[] a, Shape s) => Tensor.FromArray(a, s).To(dtype);
        var x = T(hx, [b, k, d]);
        var w = T(hw, [k, d, 5]);
        var bias = T(hb, [n]);
        foreach (var t in new[] { x, w, bias }) t.RequiresGrad = true;

        // The expected values: GroupDecode's logits through AslMath.EntryF64, then GroupDecode's backward.
        double[] logits;
        using (Nets.Autograd.NoGrad()) logits = F.GroupDecode(x, w, bias, n).ToDoubles();
        double sum = 0;
        int count = 0;
        var dl = new double[b * n];
        for (int i = 0; i < dl.Length; i++)
        {
            double m = weighted ? hm[i] : 1;
            sum += m * AslMath.EntryF64(logits[i], ht[i], o, out double gr);
            dl[i] = m * gr;
            if (m != 0) count++;
        }
        double scale = mean ? 1.0 / count : 1;
        for (int i = 0; i < dl.Length; i++) dl[i] *= scale;
        F.GroupDecode(x, w, bias, n).Backward(T(dl, [b, n]));
        var (ex, ew, eb) = (x.Grad!.ToDoubles(), w.Grad!.ToDoubles(), bias.Grad!.ToDoubles());
        foreach (var t in new[] { x, w, bias }) t.Grad = null;

        double tol = dtype == DType.F32 ? 1e-5 : 1e-12;
        var loss = F.GroupDecodeAsl(x, w, bias, T(ht, [b, n]), o, weighted ? T(hm, [b, n]) : null);
        Assert.That(loss.ToDoubles()[0], Is.EqualTo(sum * scale).Within(tol * Math.Max(1, Math.Abs(sum * scale))), "loss");
        // An upstream gradient of 3 scales every input gradient by 3.
        F.MulScalar(loss, 3).Backward();
        Approx.Equal(ex.Select(e => 3 * e).ToArray(), x.Grad!, tol, tol, "dx");
        Approx.Equal(ew.Select(e => 3 * e).ToArray(), w.Grad!, tol, tol, "dw");
        Approx.Equal(eb.Select(e => 3 * e).ToArray(), bias.Grad!, tol, tol, "dbias");
    }

    [Test]
    public void OnlyTheInputsThatNeedItGetAGradient()
    {
        var x = Tensor.Rand([2, 3, 4], -1, 1);
        var w = Tensor.Rand([3, 4, 2], -1, 1);
        w.RequiresGrad = true;
        var targets = Tensor.Zeros([2, 5]);
        F.GroupDecodeAsl(x, w, null, targets, AslOptions.Recipe).Backward();
        Assert.That(x.Grad, Is.Null);
        Assert.That(w.Grad, Is.Not.Null);
        // Without any input needing a gradient the loss is a plain value.
        var loss = F.GroupDecodeAsl(x, Tensor.Rand([3, 4, 2]), null, targets, AslOptions.Recipe);
        Assert.That(loss.RequiresGrad, Is.False);
        Assert.That(double.IsFinite(loss.ToDoubles()[0]) && loss.ToDoubles()[0] > 0, Is.True);
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        var x = Tensor.Zeros([2, 3, 4]);
        var w = Tensor.Zeros([3, 4, 2]);
        var t = Tensor.Zeros([2, 6]);
        string Msg(TestDelegate d) => Assert.Throws<ArgumentException>(d)!.Message;
        Assert.That(Msg(() => F.GroupDecode(x, Tensor.Zeros([3, 5, 2]), null, 6)),
            Does.Contain("GroupDecode").And.Contain("[3, 5, 2]").And.Contain("[2, 3, 4]"));
        Assert.That(Msg(() => F.GroupDecode(x, w, null, 7)), Does.Contain("GroupDecode").And.Contain("7 classes"));
        Assert.That(Msg(() => F.GroupDecode(x, w, Tensor.Zeros([5]), 6)), Does.Contain("bias").And.Contain("[5]"));
        Assert.That(Msg(() => F.GroupDecode(Tensor.Zeros([2, 12]), w, null, 6)), Does.Contain("x").And.Contain("[2, 12]"));
        Assert.That(Msg(() => F.GroupDecodeAsl(x, w, null, Tensor.Zeros([3, 6]), AslOptions.Recipe)),
            Does.Contain("GroupDecodeAsl").And.Contain("targets").And.Contain("[3, 6]"));
        Assert.That(Msg(() => F.GroupDecodeAsl(x, w, null, t, AslOptions.Recipe, Tensor.Zeros([2, 5]))),
            Does.Contain("GroupDecodeAsl").And.Contain("weights").And.Contain("[2, 5]"));
        Assert.That(Msg(() => F.GroupDecodeAsl(x, w, null, t, default)), Does.Contain("GroupDecodeAsl").And.Contain("Eps"));
        Assert.That(Msg(() => F.GroupDecodeAsl(x, w, null, t.To(DType.F64), AslOptions.Recipe)),
            Does.Contain("GroupDecodeAsl").And.Contain("targets"));
    }
}
