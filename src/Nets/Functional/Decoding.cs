using Kernels.Ops.AttentionDecode;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Multi-head cross-attention of queries against tokens (the ML-Decoder's decoder):
    /// q [B, K, D], k and v [B, T, D], D = heads·headDim → [B, K, D]; softmax(q·kᵀ/√headDim) over
    /// tokens, dropout on the weights when training (one seed drawn from <paramref name="rng"/>,
    /// null: <see cref="Rng.Global"/>; weight element i of [B, heads, K, T] follows F.Dropout's mask
    /// rule for that seed). One call of the fused IAttentionDecode kernels each way; the weights are
    /// saved for the backward only when a gradient is needed.</summary>
    public static Tensor AttentionDecode(Tensor q, Tensor k, Tensor v, int heads, double dropoutP = 0, bool training = false,
        Rng? rng = null)
    {
        const string op = "AttentionDecode";
        SameDevice(op, q, ("k", k), ("v", v));
        FloatInput(op, "q", q);
        Check.That(q.Rank == 3 && k.Rank == 3 && v.Rank == 3, op,
            $"q {q.Shape}, k {k.Shape}, v {v.Shape}: expected q [B, K, D], k and v [B, T, D]");
        int b = q.Shape[0], nq = q.Shape[1], d = q.Shape[2], t = k.Shape[1];
        Check.That(k.Shape[0] == b && v.Shape[0] == b && k.Shape[2] == d && v.Shape == k.Shape, op,
            $"q {q.Shape}, k {k.Shape}, v {v.Shape}: batch and model dims must agree, k and v alike");
        Check.That(t > 0, op, $"k {k.Shape}: no tokens to attend to");
        Check.That(heads > 0 && d % heads == 0, op, $"q {q.Shape}: model dim {d} is not a multiple of heads = {heads}");
        Check.That(dropoutP is >= 0 and < 1, op, $"dropoutP = {dropoutP} must be in [0, 1) (q {q.Shape})");
        bool drop = training && dropoutP > 0;
        ulong seed = drop ? (rng ?? Rng.Global).NextUInt64() : 0;
        var s = AttentionDecodeShape.Create(b, nq, t, heads, d / heads, drop ? dropoutP : 0, seed);
        var o = NewLike(q, q.Shape);
        bool grad = Autograd.Needs(q, k, v);
        var probs = grad ? NewLike(q, [b, heads, nq, t]) : null;
        K<IAttentionDecode>(q).Forward(s, q.Buffer, k.Buffer, v.Buffer, o.Buffer, probs?.Buffer);
        if (probs is not null)
            Autograd.Record(op, o, [q, k, v], g =>
            {
                var dq = NewLike(g, q.Shape);
                var dk = NewLike(g, k.Shape);
                var dv = NewLike(g, v.Shape);
                K<IAttentionDecode>(g).Backward(s, q.Buffer, k.Buffer, v.Buffer, probs.Buffer, g.Buffer, dq.Buffer,
                    dk.Buffer, dv.Buffer);
                // A graph runs backward once, so the saved weights can go now.
                probs.Dispose();
                return [IfNeeded(q, dq), IfNeeded(k, dk), IfNeeded(v, dv)];
            });
        return o;
    }

    /// <summary>The gradient of an input that needs one; otherwise freed (the kernel writes all three).</summary>
    private static Tensor? IfNeeded(Tensor input, Tensor gradient)
    {
        if (input.RequiresGrad) return gradient;
        gradient.Dispose();
        return null;
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
