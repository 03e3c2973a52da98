using Kernels.Ops.AsymmetricLoss;
using Kernels.Ops.GroupDecode;

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
