using Kernels.Ops.AsymmetricLoss;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Losses;

/// <summary>The asymmetric loss (ASL) for multi-label logits [..., N] and float targets 1 / 0 (and
/// −1 un-annotated in the partial-label form). The defaults are the paper's recipe: γ− = 4,
/// γ+ = 0, clip 0.05, the focusing weight a constant in the backward, summed. An optional
/// per-entry weight mask is passed to Forward.</summary>
public class AsymmetricLoss : Loss
{
    public AsymmetricLoss(double gammaNeg = 4, double gammaPos = 0, double clip = 0.05, double eps = 1e-8,
        bool focusingWeightConstant = true, Reduction reduction = Reduction.Sum)
        : this(new AslOptions(gammaPos, gammaNeg, clip, eps, focusingWeightConstant, Mean: reduction == Reduction.Mean))
    {
    }

    public AsymmetricLoss(AslOptions options) : base(options.Mean ? Reduction.Mean : Reduction.Sum) => Options = options;

    public AslOptions Options { get; }

    public override Tensor Forward(Tensor logits, Tensor targets) => F.AsymmetricLoss(logits, targets, Options);

    /// <summary>With a per-entry weight mask (logits' shape; 0 drops an entry, and Mean counts the
    /// non-zero ones).</summary>
    public Tensor Forward(Tensor logits, Tensor targets, Tensor weights) => F.AsymmetricLoss(logits, targets, Options, weights);
}

/// <summary>Sigmoid focal loss as the symmetric case of ASL: γ+ = γ− = γ, no clip, the focusing
/// factor differentiated (as in the focal-loss paper), summed unless Mean is asked for.</summary>
public sealed class FocalLoss(double gamma = 2, Reduction reduction = Reduction.Sum, bool focusingWeightConstant = false)
    : AsymmetricLoss(new AslOptions(gamma, gamma, Clip: 0, FocusingWeightConstant: focusingWeightConstant,
        Mean: reduction == Reduction.Mean, GammaUnannotated: gamma))
{
    public double Gamma => Options.GammaPos;
}

/// <summary>The single-label ASL variant: logits [B, C], int32 class indices [B]; softmax
/// probabilities, (1 − p)^γ+ on the target and p^γ− elsewhere, label smoothing ε, the batch mean
/// (<see cref="Functional.AsymmetricLossSingleLabel"/>).</summary>
public sealed class AsymmetricLossSingleLabel(double gammaPos = 0, double gammaNeg = 4, double labelSmoothing = 0.1)
    : Loss(Reduction.Mean)
{
    public double GammaPos { get; } = gammaPos;
    public double GammaNeg { get; } = gammaNeg;
    public double LabelSmoothing { get; } = labelSmoothing;

    public override Tensor Forward(Tensor logits, Tensor targets) =>
        F.AsymmetricLossSingleLabel(logits, targets, GammaPos, GammaNeg, LabelSmoothing);
}
