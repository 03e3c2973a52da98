using Kernels.Nets.Modules;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Losses;

/// <summary>Base of the loss modules: a two-input Forward (prediction, target). Constant tensors
/// (class weights, pos_weight) are copied into buffers, as PyTorch registers them.</summary>
public abstract class Loss(Reduction reduction) : Module
{
    public Reduction Reduction { get; } = reduction;

    public abstract Tensor Forward(Tensor input, Tensor target);

    public override Tensor Forward(Tensor x) =>
        throw new NotSupportedException($"{GetType().Name} takes (input, target); call Forward(input, target)");

    /// <summary>A scope-free copy of a caller's constant, registered as a buffer.</summary>
    private protected Tensor? Constant(string name, Tensor? value)
    {
        if (value is null) return null;
        Tensor copy;
        using (TensorScope.Suspend()) copy = value.Clone();
        return RegisterBuffer(name, copy);
    }
}

/// <summary>nn.CrossEntropyLoss: logits [N, C, d…], int32 targets [N, d…].</summary>
public sealed class CrossEntropyLoss : Loss
{
    public CrossEntropyLoss(double labelSmoothing = 0, Reduction reduction = Reduction.Mean, Tensor? weight = null,
        int ignoreIndex = -100) : base(reduction)
    {
        LabelSmoothing = labelSmoothing;
        IgnoreIndex = ignoreIndex;
        Weight = Constant("weight", weight);
    }

    public double LabelSmoothing { get; }
    public int IgnoreIndex { get; }
    public Tensor? Weight { get; }

    public override Tensor Forward(Tensor logits, Tensor targets) =>
        F.CrossEntropy(logits, targets, LabelSmoothing, Reduction, Weight, IgnoreIndex);
}

/// <summary>nn.BCEWithLogitsLoss with an optional pos_weight over the last axis.</summary>
public sealed class BCEWithLogitsLoss : Loss
{
    public BCEWithLogitsLoss(Reduction reduction = Reduction.Mean, Tensor? posWeight = null) : base(reduction) =>
        PosWeight = Constant("pos_weight", posWeight);

    public Tensor? PosWeight { get; }

    public override Tensor Forward(Tensor logits, Tensor targets) =>
        F.BinaryCrossEntropyWithLogits(logits, targets, Reduction, PosWeight);
}

/// <summary>nn.MSELoss.</summary>
public sealed class MSELoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    public override Tensor Forward(Tensor input, Tensor target) => F.MseLoss(input, target, Reduction);
}

/// <summary>nn.L1Loss.</summary>
public sealed class L1Loss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    public override Tensor Forward(Tensor input, Tensor target) => F.L1Loss(input, target, Reduction);
}
