namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Multi-head cross-attention of queries against tokens (the ML-Decoder's decoder):
    /// q [B, K, D], k and v [B, T, D], D = heads·headDim → [B, K, D]; softmax(q·kᵀ/√headDim) over
    /// tokens, dropout on the weights when training. Composed of MatMul / Softmax / Dropout for
    /// now; the fused IAttentionDecode kernels take its place (same results).</summary>
    public static Tensor AttentionDecode(Tensor q, Tensor k, Tensor v, int heads, double dropoutP = 0, bool training = false,
        Rng? rng = null)
    {
        const string op = "AttentionDecode";
        SameDevice(op, q, ("k", k), ("v", v));
        Check.That(q.Rank == 3 && k.Rank == 3 && v.Rank == 3, op,
            $"q {q.Shape}, k {k.Shape}, v {v.Shape}: expected q [B, K, D], k and v [B, T, D]");
        int b = q.Shape[0], nq = q.Shape[1], d = q.Shape[2], t = k.Shape[1];
        Check.That(k.Shape[0] == b && v.Shape[0] == b && k.Shape[2] == d && v.Shape == k.Shape, op,
            $"q {q.Shape}, k {k.Shape}, v {v.Shape}: batch and model dims must agree, k and v alike");
        Check.That(heads > 0 && d % heads == 0, op, $"q {q.Shape}: model dim {d} is not a multiple of heads = {heads}");
        int hd = d / heads;
        var qh = Permute(q.Reshape(b, nq, heads, hd), 0, 2, 1, 3).Reshape(b * heads, nq, hd);
        var kh = Permute(k.Reshape(b, t, heads, hd), 0, 2, 3, 1).Reshape(b * heads, hd, t);
        var vh = Permute(v.Reshape(b, t, heads, hd), 0, 2, 1, 3).Reshape(b * heads, t, hd);
        var w = Softmax(MulScalar(MatMul(qh, kh), 1.0 / Math.Sqrt(hd)), -1);
        if (training && dropoutP > 0) w = Dropout(w, dropoutP, true, rng);
        var o = MatMul(w, vh).Reshape(b, heads, nq, hd);
        return Permute(o, 0, 2, 1, 3).Reshape(b, nq, d);
    }

    /// <summary>Group decoding ("group fully connected"): x [B, K, D], w [K, D, g], bias [N] or null
    /// → logits [B, N], N ≤ K·g: logit j of image b is x[b, j / g]·w[j / g, :, j % g] + bias[j].
    /// Composed of batched MatMul for now; the IGroupDecode kernel takes its place.</summary>
    public static Tensor GroupDecode(Tensor x, Tensor w, Tensor? bias, int classes)
    {
        const string op = "GroupDecode";
        SameDevice(op, x, ("w", w));
        Check.That(x.Rank == 3 && w.Rank == 3, op, $"x {x.Shape}, w {w.Shape}: expected x [B, K, D], w [K, D, g]");
        int b = x.Shape[0], groups = x.Shape[1], d = x.Shape[2], g = w.Shape[2];
        Check.That(w.Shape[0] == groups && w.Shape[1] == d, op, $"x {x.Shape}, w {w.Shape}: w must be [{groups}, {d}, g]");
        Check.That(classes > 0 && classes <= groups * g, op, $"w {w.Shape}: {classes} classes do not fit in {groups}·{g} columns");
        if (bias is not null)
        {
            SameDevice(op, x, ("bias", bias));
            Check.That(bias.Rank == 1 && bias.Shape[0] == classes, op, $"bias {bias.Shape}: expected [{classes}]");
        }
        var y = Permute(MatMul(Permute(x, 1, 0, 2), w), 1, 0, 2).Reshape(b, groups * g);
        if (classes < groups * g) y = Slice(y, 1, 0, classes);
        return bias is null ? y : Add(y, bias);
    }
}
