using Kernels.Ops.Loss;

namespace Kernels.Nets;

/// <summary>How a loss turns per-element values into its result (PyTorch's reduction argument).</summary>
public enum Reduction { None, Mean, Sum }

public static partial class Functional
{
    /// <summary>Cross-entropy of logits [N, C] (or [N, C, d…]) against int32 class indices [N]
    /// (or [N, d…]), as PyTorch's F.cross_entropy: with label smoothing ε the loss is
    /// (1−ε)·nll + (ε/C)·Σ_c w_c·(−log p_c). Optional class weights w [C]; targets equal to
    /// <paramref name="ignoreIndex"/> contribute nothing. Mean divides by Σ w_t over the targets
    /// that are not ignored (their count without weights), PyTorch's rule. Weights are constants
    /// (no gradient).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, double labelSmoothing = 0,
        Reduction reduction = Reduction.Mean, Tensor? weight = null, int ignoreIndex = -100)
    {
        const string op = "CrossEntropy";
        logits.ThrowIfDisposed();
        targets.ThrowIfDisposed();
        Check.That(logits.DType.IsFloat(), op, $"logits must be floating point, got {logits.DType.Name()}");
        Check.That(logits.Rank >= 2, op, $"logits have shape {logits.Shape}, expected [N, C] or [N, C, d…]");
        Check.SameDType(op, "targets", DType.I32, targets.DType);
        Check.SameDevice(op, "targets", logits.Device, targets.Device);
        SameDevice(op, logits, ("weight", weight));
        var dims = logits.Shape.ToArray();
        var targetShape = new Shape(dims.Where((_, i) => i != 1).ToArray());
        Check.That(targets.Shape == targetShape, op,
            $"targets have shape {targets.Shape}, expected {targetShape} for logits {logits.Shape}");
        Check.That(labelSmoothing is >= 0 and <= 1, op, $"labelSmoothing {labelSmoothing} is outside [0, 1]");
        int classes = dims[1];
        Check.That(classes > 0, op, $"logits {logits.Shape} have no classes");
        if (weight is not null)
            Check.That(weight.Shape == new Shape(classes), op, $"weight has shape {weight.Shape}, expected [{classes}] for logits {logits.Shape}");
        bool anyIgnored = CheckTargets(op, targets, classes, ignoreIndex);

        var shape = new CrossEntropyShape(dims[0], classes, (int)logits.Shape.Prod(2, dims.Length), labelSmoothing, ignoreIndex);
        // Without weights or ignored targets the mean divides by a count known on the host;
        // otherwise the kernel also reports each row's weight and the mean divides by their sum.
        bool weighted = weight is not null || anyIgnored;
        var loss = NewLike(logits, targetShape);
        var lse = NewLike(logits, targetShape);
        var rowWeight = weighted && reduction == Reduction.Mean ? NewLike(logits, targetShape) : null;
        K<ILoss>(logits).CrossEntropyForward(shape, logits.Buffer, targets.Buffer, weight?.Buffer, loss.Buffer, lse.Buffer,
            rowWeight?.Buffer);
        if (Autograd.Needs(logits))
        {
            Autograd.Record(op, loss, [logits], g =>
            {
                var dx = NewLike(logits, logits.Shape);
                K<ILoss>(logits).CrossEntropyBackward(shape, logits.Buffer, targets.Buffer, weight?.Buffer, lse.Buffer, g.Buffer, dx.Buffer);
                lse.Dispose(); // a graph runs backward once; a graph never run leaves lse to its scope
                return [dx];
            });
        }
        else lse.Dispose();
        if (rowWeight is null) return Reduce(loss, reduction);
        var total = Reduce(loss, Reduction.Sum);
        var denominator = Reduce(rowWeight, Reduction.Sum);
        var mean = Div(total, denominator);
        if (!Autograd.Needs(total))
        {
            total.Dispose();
            denominator.Dispose();
        }
        return mean;
    }

    /// <summary>Class indices must lie in [0, C) or equal the ignore index. Checked on the host
    /// for CPU tensors only, so a GPU step does not synchronise for it. Returns whether any target
    /// may be ignored (always true off the CPU, where it is not looked at).</summary>
    private static bool CheckTargets(string op, Tensor targets, int classes, int ignoreIndex)
    {
        if (targets.Device.Kind != DeviceKind.Cpu) return true;
        var t = Kernels.CpuBuffer.Span<int>(targets.Buffer)[..(int)targets.Numel];
        bool any = false;
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] == ignoreIndex) any = true;
            else if ((uint)t[i] >= (uint)classes)
                throw new ArgumentException($"{op}: target {t[i]} at index {i} is outside [0, {classes}) and is not the ignore index {ignoreIndex}");
        }
        return any;
    }

    /// <summary>Binary cross-entropy on logits, computed stably as
    /// max(x,0) − x·y + log(1 + exp(−|x|)) (finite for any finite logit). Optional
    /// <paramref name="posWeight"/> (1-D, length of the last axis) weighs the positive term, as
    /// PyTorch's pos_weight. Differentiable in logits and (soft) targets; posWeight is a constant.</summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor targets, Reduction reduction = Reduction.Mean,
        Tensor? posWeight = null)
    {
        const string op = "BinaryCrossEntropyWithLogits";
        Check.That(logits.DType.IsFloat(), op, $"logits must be floating point, got {logits.DType.Name()}");
        SameDevice(op, logits, ("targets", targets), ("posWeight", posWeight));
        Check.Shape(op, "targets", logits.Shape, targets.Shape);
        int pwLen = 1;
        if (posWeight is not null)
        {
            Check.That(logits.Rank >= 1 && posWeight.Rank == 1 && posWeight.Shape[0] == logits.Shape[-1], op,
                $"posWeight has shape {posWeight.Shape}, expected [{(logits.Rank >= 1 ? logits.Shape[-1] : 1)}] (the last axis of logits {logits.Shape})");
            pwLen = posWeight.Shape[0];
        }
        var loss = NewLike(logits, logits.Shape);
        K<ILoss>(logits).BceWithLogitsForward(logits.Numel, logits.Buffer, targets.Buffer, posWeight?.Buffer, pwLen, loss.Buffer);
        if (Autograd.Needs(logits, targets))
            Autograd.Record(op, loss, [logits, targets], g =>
            {
                var dx = logits.RequiresGrad ? NewLike(logits, logits.Shape) : null;
                var dy = targets.RequiresGrad ? NewLike(targets, targets.Shape) : null;
                K<ILoss>(logits).BceWithLogitsBackward(logits.Numel, logits.Buffer, targets.Buffer, posWeight?.Buffer, pwLen,
                    g.Buffer, dx?.Buffer, dy?.Buffer);
                return [dx, dy];
            });
        return Reduce(loss, reduction);
    }

    /// <summary>Mean (or summed) squared error; shapes must match.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        SameDevice("MseLoss", input, ("target", target));
        FloatInput("MseLoss", "input", input);
        Check.Shape("MseLoss", "target", input.Shape, target.Shape);
        var diff = Sub(input, target);
        var sq = Square(diff);
        if (!Autograd.Needs(input, target)) diff.Dispose();
        return Reduce(sq, reduction);
    }

    /// <summary>Mean (or summed) absolute error; shapes must match. The gradient at a tie is 0, as PyTorch.</summary>
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        SameDevice("L1Loss", input, ("target", target));
        FloatInput("L1Loss", "input", input);
        Check.Shape("L1Loss", "target", input.Shape, target.Shape);
        var diff = Sub(input, target);
        var abs = Abs(diff);
        if (!Autograd.Needs(input, target)) diff.Dispose();
        return Reduce(abs, reduction);
    }

    /// <summary>Applies a loss reduction to per-element values (which it consumes when it reduces
    /// outside autograd).</summary>
    internal static Tensor Reduce(Tensor perElement, Reduction reduction)
    {
        if (reduction == Reduction.None) return perElement;
        long n = perElement.Numel;
        // PyTorch's mean over no elements is NaN; keep that rather than invent a value.
        double scale = reduction == Reduction.Mean ? 1.0 / n : 1.0;
        var y = NewLike(perElement, Shape.Scalar);
        K<ILoss>(perElement).SumAll(n, scale, perElement.Buffer, y.Buffer);
        if (Autograd.Needs(perElement))
            Autograd.Record(reduction == Reduction.Mean ? "MeanAll" : "SumAll", y, [perElement], g =>
            {
                var dx = NewLike(perElement, perElement.Shape);
                K<ILoss>(g).ExpandScalar(scale, g.Buffer, n, dx.Buffer);
                return [dx];
            });
        else perElement.Dispose();
        return y;
    }
}
