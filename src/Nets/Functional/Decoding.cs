using Kernels.Ops.AsymmetricLoss;
using Kernels.Ops.AttentionDecode;
using Kernels.Ops.GroupDecode;

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
    /// One <see cref="IGroupDecode"/> launch per pass; gradients for x, w and bias.</summary>
    public static Tensor GroupDecode(Tensor x, Tensor w, Tensor? bias, int classes)
    {
        const string op = "GroupDecode";
        var s = CheckGroupDecode(op, x, w, bias, classes);
        var y = NewLike(x, new Shape(s.Batch, s.Classes));
        K<IGroupDecode>(x).Forward(s, x.Buffer, w.Buffer, bias?.Buffer, y.Buffer);
        Tensor?[] inputs = bias is null ? [x, w] : [x, w, bias];
        if (Autograd.Needs(inputs))
            Autograd.Record(op, y, inputs, g =>
            {
                var dx = x.RequiresGrad ? NewLike(g, x.Shape) : null;
                var dw = w.RequiresGrad ? NewLike(g, w.Shape) : null;
                var db = bias is { RequiresGrad: true } ? NewLike(g, bias.Shape) : null;
                K<IGroupDecode>(g).Backward(s, x.Buffer, w.Buffer, g.Buffer, dx?.Buffer, dw?.Buffer, db?.Buffer);
                return bias is null ? [dx, dw] : [dx, dw, db];
            });
        return y;
    }

    /// <summary>The asymmetric loss (<see cref="AslOptions"/>) of <see cref="GroupDecode"/>'s logits,
    /// fused: the logits are never materialised. targets [B, N] (1 / 0 / −1), weights [B, N] or
    /// null (a per-entry mask); N = targets.Shape[1]. Returns the scalar loss (sum, or the mean over
    /// the entries with a non-zero weight); gradients for x, w and bias (the kernel computes them
    /// with the loss; the backward scales them by the upstream gradient). Targets and weights are
    /// constants.</summary>
    public static Tensor GroupDecodeAsl(Tensor x, Tensor w, Tensor? bias, Tensor targets, AslOptions options,
        Tensor? weights = null)
    {
        const string op = "GroupDecodeAsl";
        SameDevice(op, x, ("targets", targets), ("weights", weights));
        Check.That(targets.Rank == 2 && targets.Shape[0] == (x.Rank > 0 ? x.Shape[0] : -1), op,
            $"targets {targets.Shape}, x {x.Shape}: expected targets [B, N] with B = x's batch");
        var s = CheckGroupDecode(op, x, w, bias, targets.Shape[1]);
        if (weights is not null)
            Check.That(weights.Shape == targets.Shape, op, $"weights {weights.Shape}: expected the targets' shape {targets.Shape}");
        Check.That(options.Eps > 0 && options.Clip >= 0 && options.GammaPos >= 0 && options.GammaNeg >= 0
                   && options.GammaUnannotated >= 0, op,
            $"options {options}: need Eps > 0 and non-negative Clip and γ (AslOptions.Recipe holds the defaults)");
        Tensor?[] inputs = bias is null ? [x, w] : [x, w, bias];
        bool grad = Autograd.Needs(inputs);
        var loss = NewLike(x, Shape.Scalar);
        var dx = grad && x.RequiresGrad ? NewLike(x, x.Shape) : null;
        var dw = grad && w.RequiresGrad ? NewLike(x, w.Shape) : null;
        var db = grad && bias is { RequiresGrad: true } ? NewLike(x, bias.Shape) : null;
        K<IGroupDecode>(x).ForwardAsl(s, options, x.Buffer, w.Buffer, bias?.Buffer, targets.Buffer, weights?.Buffer,
            loss.Buffer, dx?.Buffer, dw?.Buffer, db?.Buffer);
        if (grad)
            Autograd.Record(op, loss, inputs, g =>
            {
                // The saved gradients are d loss / d input at scale 1; multiply by the upstream scalar.
                var gx = dx is null ? null : Mul(dx, g);
                var gw = dw is null ? null : Mul(dw, g);
                var gb = db is null ? null : Mul(db, g);
                dx?.Dispose();
                dw?.Dispose();
                db?.Dispose();
                return bias is null ? [gx, gw] : [gx, gw, gb];
            });
        return loss;
    }

    private static GroupDecodeShape CheckGroupDecode(string op, Tensor x, Tensor w, Tensor? bias, int classes)
    {
        SameDevice(op, x, ("w", w), ("bias", bias));
        FloatInput(op, "x", x);
        Check.That(x.Rank == 3 && w.Rank == 3, op, $"x {x.Shape}, w {w.Shape}: expected x [B, K, D], w [K, D, g]");
        int b = x.Shape[0], groups = x.Shape[1], d = x.Shape[2], g = w.Shape[2];
        Check.That(w.Shape[0] == groups && w.Shape[1] == d, op, $"x {x.Shape}, w {w.Shape}: w must be [{groups}, {d}, g]");
        Check.That(classes > 0 && classes <= (long)groups * g, op,
            $"x {x.Shape}, w {w.Shape}: {classes} classes do not fit in {groups}·{g} columns");
        if (bias is not null)
            Check.That(bias.Rank == 1 && bias.Shape[0] == classes, op, $"bias {bias.Shape}: expected [{classes}]");
        return new GroupDecodeShape(b, groups, d, g, classes);
    }
}
