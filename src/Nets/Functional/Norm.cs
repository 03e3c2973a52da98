using Kernels.Ops.Norm;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Batch norm of [N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W] with per-channel
    /// statistics over N and the spatial axes. Training: batch statistics (biased variance), and
    /// the running statistics, when given, are updated in place with <paramref name="momentum"/>
    /// (unbiased variance, as PyTorch). Inference: the running statistics, which are then required.</summary>
    public static Tensor BatchNorm(Tensor x, Tensor? weight, Tensor? bias, Tensor? runningMean, Tensor? runningVar,
        bool training, double momentum = 0.1, double eps = 1e-5)
    {
        const string op = "BatchNorm";
        SameDevice(op, x, ("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar));
        FloatInput(op, "x", x);
        Check.That(x.Rank is >= 2 and <= 5, op,
            $"x has shape {x.Shape} (rank {x.Rank}), expected [N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W]");
        int c = x.Shape[1];
        CheckChannelVector(op, "weight", weight, c, x.Shape);
        CheckChannelVector(op, "bias", bias, c, x.Shape);
        CheckChannelVector(op, "runningMean", runningMean, c, x.Shape);
        CheckChannelVector(op, "runningVar", runningVar, c, x.Shape);
        var s = new BatchNormShape(x.Shape[0], c, (int)x.Shape.Prod(2, x.Rank));
        if (training)
            Check.That(s.PerChannel > 1, op, $"x has shape {x.Shape}: expected more than 1 value per channel when training");
        else
            Check.That(runningMean is not null && runningVar is not null, op,
                "inference (training = false) needs runningMean and runningVar");

        var y = NewLike(x, x.Shape);
        var saveMean = NewLike(x, [c]);
        var saveInv = NewLike(x, [c]);
        K<INorm>(x).BatchForward(s, training, momentum, eps, x.Buffer, weight?.Buffer, bias?.Buffer,
            runningMean?.Buffer, runningVar?.Buffer, y.Buffer, saveMean.Buffer, saveInv.Buffer);
        var inputs = Present(x, weight, bias);
        if (Autograd.Needs(inputs))
            Autograd.Record(op, y, inputs, g =>
            {
                var dx = x.RequiresGrad ? NewLike(g, x.Shape) : null;
                var dw = weight is { RequiresGrad: true } ? NewLike(g, weight.Shape) : null;
                var db = bias is { RequiresGrad: true } ? NewLike(g, bias.Shape) : null;
                K<INorm>(g).BatchBackward(s, training, x.Buffer, weight?.Buffer, saveMean.Buffer, saveInv.Buffer,
                    g.Buffer, dx?.Buffer, dw?.Buffer, db?.Buffer);
                // A graph runs backward once, so the saved statistics can go now.
                saveMean.Dispose();
                saveInv.Dispose();
                return Gradients(weight, bias, dx, dw, db);
            });
        else
        {
            saveMean.Dispose();
            saveInv.Dispose();
        }
        return y;
    }

    /// <summary>Layer norm over the trailing axes given by <paramref name="normalizedShape"/>, with an
    /// optional elementwise affine of that shape.</summary>
    public static Tensor LayerNorm(Tensor x, int[] normalizedShape, Tensor? weight, Tensor? bias, double eps = 1e-5)
    {
        const string op = "LayerNorm";
        SameDevice(op, x, ("weight", weight), ("bias", bias));
        FloatInput(op, "x", x);
        var ns = new Shape(normalizedShape);
        bool fits = ns.Rank >= 1 && ns.Rank <= x.Rank;
        for (int i = 0; fits && i < ns.Rank; i++) fits = x.Shape[x.Rank - ns.Rank + i] == ns[i];
        Check.That(fits, op, $"normalizedShape {ns} must be non-empty and match the trailing axes of x, which has shape {x.Shape}");
        Check.That(ns.Numel > 0, op, $"normalizedShape {ns} has no elements");
        if (weight is not null) Check.Shape(op, "weight", ns, weight.Shape);
        if (bias is not null) Check.Shape(op, "bias", ns, bias.Shape);
        int len = (int)ns.Numel;
        var s = new GroupNormShape((int)(x.Numel / len), 1, len, 1);
        return RowNorm(op, x, s, weight, bias, eps);
    }

    /// <summary>Group norm of [N, C, ...]: the channels split into <paramref name="groups"/> groups,
    /// each normalised over its channels and positions, per sample; affine per channel.</summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, double eps = 1e-5)
    {
        const string op = "GroupNorm";
        SameDevice(op, x, ("weight", weight), ("bias", bias));
        FloatInput(op, "x", x);
        Check.That(x.Rank >= 2, op, $"x has shape {x.Shape} (rank {x.Rank}), expected [N, C, ...] of rank 2 or more");
        int c = x.Shape[1];
        Check.That(groups > 0 && c % groups == 0, op, $"x has shape {x.Shape}: its {c} channels are not divisible into {groups} groups");
        CheckChannelVector(op, "weight", weight, c, x.Shape);
        CheckChannelVector(op, "bias", bias, c, x.Shape);
        var s = new GroupNormShape(x.Shape[0] * groups, groups, c / groups, (int)x.Shape.Prod(2, x.Rank));
        return RowNorm(op, x, s, weight, bias, eps);
    }

    /// <summary>Instance norm of [N, C, spatial...]: each (sample, channel) plane normalised on its
    /// own; affine per channel. Needs more than one spatial element, as in PyTorch.</summary>
    public static Tensor InstanceNorm(Tensor x, Tensor? weight, Tensor? bias, double eps = 1e-5)
    {
        const string op = "InstanceNorm";
        SameDevice(op, x, ("weight", weight), ("bias", bias));
        FloatInput(op, "x", x);
        Check.That(x.Rank is >= 3 and <= 5, op,
            $"x has shape {x.Shape} (rank {x.Rank}), expected [N, C, L], [N, C, H, W] or [N, C, D, H, W]");
        int c = x.Shape[1];
        long spatial = x.Shape.Prod(2, x.Rank);
        Check.That(spatial > 1, op, $"x has shape {x.Shape}: expected more than 1 spatial element per channel");
        CheckChannelVector(op, "weight", weight, c, x.Shape);
        CheckChannelVector(op, "bias", bias, c, x.Shape);
        var s = new GroupNormShape(x.Shape[0] * c, c, 1, (int)spatial);
        return RowNorm(op, x, s, weight, bias, eps);
    }

    private static Tensor RowNorm(string op, Tensor x, GroupNormShape s, Tensor? weight, Tensor? bias, double eps)
    {
        var y = NewLike(x, x.Shape);
        var mean = NewLike(x, [s.Rows]);
        var rstd = NewLike(x, [s.Rows]);
        K<INorm>(x).GroupForward(s, eps, x.Buffer, weight?.Buffer, bias?.Buffer, y.Buffer, mean.Buffer, rstd.Buffer);
        var inputs = Present(x, weight, bias);
        if (Autograd.Needs(inputs))
            Autograd.Record(op, y, inputs, g =>
            {
                var dx = x.RequiresGrad ? NewLike(g, x.Shape) : null;
                var dw = weight is { RequiresGrad: true } ? NewLike(g, weight.Shape) : null;
                var db = bias is { RequiresGrad: true } ? NewLike(g, bias.Shape) : null;
                K<INorm>(g).GroupBackward(s, x.Buffer, weight?.Buffer, mean.Buffer, rstd.Buffer, g.Buffer,
                    dx?.Buffer, dw?.Buffer, db?.Buffer);
                mean.Dispose();
                rstd.Dispose();
                return Gradients(weight, bias, dx, dw, db);
            });
        else
        {
            mean.Dispose();
            rstd.Dispose();
        }
        return y;
    }

    private static void CheckChannelVector(string op, string arg, Tensor? t, int channels, Shape x)
    {
        if (t is not null && (t.Rank != 1 || t.Shape[0] != channels))
            throw new ArgumentException($"{op}: {arg} has shape {t.Shape}, expected [{channels}] (one per channel of x, which has shape {x})");
    }

    /// <summary>The inputs that exist, in order x, weight, bias (autograd nodes hold no nulls).</summary>
    private static Tensor[] Present(Tensor x, Tensor? weight, Tensor? bias)
    {
        var list = new List<Tensor>(3) { x };
        if (weight is not null) list.Add(weight);
        if (bias is not null) list.Add(bias);
        return list.ToArray();
    }

    /// <summary>Gradients in the order of <see cref="Present"/>.</summary>
    private static Tensor?[] Gradients(Tensor? weight, Tensor? bias, Tensor? dx, Tensor? dw, Tensor? db)
    {
        var list = new List<Tensor?>(3) { dx };
        if (weight is not null) list.Add(dw);
        if (bias is not null) list.Add(db);
        return list.ToArray();
    }
}
