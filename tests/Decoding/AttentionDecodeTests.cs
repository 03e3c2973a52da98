using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Decoding;

public class AttentionDecodeTests
{
    private static readonly string[] Cases = ["tiny", "heads3", "wide", "odd"];

    /// <summary>[B, K, T, heads, headDim] of a vector case, from the file's metadata.</summary>
    private static int[] Dims(VectorFile v, string name) =>
        v.Meta(name).Trim('[', ']').Split(',').Select(s => int.Parse(s.Trim())).ToArray();

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ForwardAndBackwardMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("attention_decode");
        double tol = dtype == DType.F64 ? 1e-11 : 2e-5;
        foreach (var name in Cases)
        {
            using var scope = TensorScope.Begin();
            int heads = Dims(v, name)[3];
            var q = v.Tensor(name + ".q", dtype);
            var k = v.Tensor(name + ".k", dtype);
            var vv = v.Tensor(name + ".v", dtype);
            foreach (var t in new[] { q, k, vv }) t.RequiresGrad = true;
            var o = F.AttentionDecode(q, k, vv, heads);
            Approx.Equal(v.Doubles(name + ".o"), o, tol, tol, name + " o");
            o.Backward(v.Tensor(name + ".g", dtype));
            Approx.Equal(v.Doubles(name + ".dq"), q.Grad!, tol, tol, name + " dq");
            Approx.Equal(v.Doubles(name + ".dk"), k.Grad!, tol, tol, name + " dk");
            Approx.Equal(v.Doubles(name + ".dv"), vv.Grad!, tol, tol, name + " dv");
        }
        // The composition the vectors use is PyTorch's multi_head_attention_forward (identity projections).
        using var s2 = TensorScope.Begin();
        var mha = F.AttentionDecode(v.Tensor("heads3.q", dtype), v.Tensor("heads3.k", dtype), v.Tensor("heads3.v", dtype), 3);
        Approx.Equal(v.Doubles("heads3.o_mha"), mha, tol, tol, "heads3 against torch MHA");
    }

    [Test]
    public void GradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.AttentionDecode(t[0], t[1], t[2], 2),
            [GradCheck.Input([2, 3, 6], -2, 2, 1), GradCheck.Input([2, 5, 6], -2, 2, 2), GradCheck.Input([2, 5, 6], -2, 2, 3)],
            what: "attention 2 heads");
        GradCheck.Check(t => F.AttentionDecode(t[0], t[1], t[2], 1),
            [GradCheck.Input([1, 1, 7], -2, 2, 4), GradCheck.Input([1, 9, 7], -2, 2, 5), GradCheck.Input([1, 9, 7], -2, 2, 6)],
            what: "attention 1 query 1 head");
        // Dropout in training: a fresh Rng with the same seed per call gives the same mask every evaluation.
        GradCheck.Check(t => F.AttentionDecode(t[0], t[1], t[2], 3, 0.3, true, new Rng(21)),
            [GradCheck.Input([2, 4, 6], -2, 2, 7), GradCheck.Input([2, 7, 6], -2, 2, 8), GradCheck.Input([2, 7, 6], -2, 2, 9)],
            what: "attention with dropout");
    }

    /// <summary>The composition the fused op replaced: MatMul / Softmax / F.Dropout over [B·heads, K, T].</summary>
    private static Tensor Composed(Tensor q, Tensor k, Tensor v, int heads, double p, bool training, Rng rng)
    {
        int b = q.Shape[0], nq = q.Shape[1], d = q.Shape[2], t = k.Shape[1], hd = d / heads;
        var qh = F.Permute(q.Reshape(b, nq, heads, hd), 0, 2, 1, 3).Reshape(b * heads, nq, hd);
        var kh = F.Permute(k.Reshape(b, t, heads, hd), 0, 2, 3, 1).Reshape(b * heads, hd, t);
        var vh = F.Permute(v.Reshape(b, t, heads, hd), 0, 2, 1, 3).Reshape(b * heads, t, hd);
        var w = F.Dropout(F.Softmax(F.MulScalar(F.MatMul(qh, kh), 1.0 / Math.Sqrt(hd)), -1), p, training, rng);
        return F.Permute(F.MatMul(w, vh).Reshape(b, heads, nq, hd), 0, 2, 1, 3).Reshape(b, nq, d);
    }

    private static Tensor Rand(Shape shape, ulong seed, DType dtype)
    {
        var host = new double[shape.Numel];
        new Rng(seed).FillUniform(host, -2, 2);
        return Tensor.FromArray(host, shape).To(dtype);
    }

    [TestCase(DType.F64), TestCase(DType.F32)]
    public void DropoutFollowsTheDropoutRuleAndEvalIgnoresIt(DType dtype)
    {
        using var scope = TensorScope.Begin();
        var q = Rand([2, 5, 12], 31, dtype);
        var k = Rand([2, 40, 12], 32, dtype);
        var v = Rand([2, 40, 12], 33, dtype);
        foreach (var t in new[] { q, k, v }) t.RequiresGrad = true;
        double tol = dtype == DType.F64 ? 1e-12 : 2e-5;

        // Training: same seed stream → same mask as F.Dropout on the weights, forward and backward.
        var fused = F.AttentionDecode(q, k, v, 3, 0.4, true, new Rng(77));
        var g = Rand([2, 5, 12], 34, dtype);
        fused.Backward(g);
        var grads = new[] { q.Grad!.ToDoubles(), k.Grad!.ToDoubles(), v.Grad!.ToDoubles() };
        foreach (var t in new[] { q, k, v }) t.Grad = null;
        var composed = Composed(q, k, v, 3, 0.4, true, new Rng(77));
        Approx.Equal(composed.ToDoubles(), fused, tol, tol, "dropout forward");
        composed.Backward(g);
        Approx.Equal(q.Grad!.ToDoubles(), grads[0], tol, tol, "dropout dq");
        Approx.Equal(k.Grad!.ToDoubles(), grads[1], tol, tol, "dropout dk");
        Approx.Equal(v.Grad!.ToDoubles(), grads[2], tol, tol, "dropout dv");
        // ... and the mask really drops something: without dropout the result differs.
        using (Nets.Autograd.NoGrad())
        {
            var plain = F.AttentionDecode(q, k, v, 3).ToDoubles();
            Assert.That(plain.Zip(fused.ToDoubles()).Max(z => Math.Abs(z.First - z.Second)), Is.GreaterThan(1e-3));

            // Eval: dropout ignored, and no seed drawn from the Rng.
            var rng = new Rng(5);
            Approx.Equal(plain, F.AttentionDecode(q, k, v, 3, 0.4, false, rng), tol, tol, "eval ignores dropout");
            Assert.That(rng.NextUInt64(), Is.EqualTo(new Rng(5).NextUInt64()), "eval mode drew from the Rng");
            // Training draws one seed per call: two calls differ.
            var r2 = new Rng(6);
            var a = F.AttentionDecode(q, k, v, 3, 0.4, true, r2).ToDoubles();
            var b = F.AttentionDecode(q, k, v, 3, 0.4, true, r2).ToDoubles();
            Assert.That(a.Zip(b).Max(z => Math.Abs(z.First - z.Second)), Is.GreaterThan(1e-3));
        }
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        using var scope = TensorScope.Begin();
        var q = Tensor.Zeros([2, 3, 8]);
        var k = Tensor.Zeros([2, 5, 8]);
        void Refused(Func<Tensor> f, params string[] parts)
        {
            var e = Assert.Throws<ArgumentException>(() => f())!;
            Assert.That(e.Message, Does.Contain("AttentionDecode"));
            foreach (var p in parts) Assert.That(e.Message, Does.Contain(p));
        }
        Refused(() => F.AttentionDecode(q, Tensor.Zeros([3, 5, 8]), Tensor.Zeros([3, 5, 8]), 2), "q [2, 3, 8]", "k [3, 5, 8]");
        Refused(() => F.AttentionDecode(q, k, Tensor.Zeros([2, 6, 8]), 2), "v [2, 6, 8]");
        Refused(() => F.AttentionDecode(q, k, k, 3), "[2, 3, 8]", "heads = 3");
        Refused(() => F.AttentionDecode(Tensor.Zeros([3, 8]), k, k, 2), "q [3, 8]");
        Refused(() => F.AttentionDecode(q, k, k, 2, 1.0, true), "dropoutP = 1");
        Refused(() => F.AttentionDecode(q, Tensor.Zeros([2, 0, 8]), Tensor.Zeros([2, 0, 8]), 2), "k [2, 0, 8]");
    }
}
