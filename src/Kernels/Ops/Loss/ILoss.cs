using Kernels.Registry;

namespace Kernels.Ops.Loss;

/// <summary>Logits laid out [Outer, Classes, Inner] (Inner = product of the spatial axes, 1 for
/// plain [N, C] logits); targets and per-element losses are [Outer, Inner]. Rows whose
/// targets equal to <paramref name="IgnoreIndex"/> give loss 0, weight 0 and gradient 0.</summary>
public readonly record struct CrossEntropyShape(int Outer, int Classes, int Inner, double LabelSmoothing, int IgnoreIndex = -100)
{
    public long Rows => (long)Outer * Inner;
}

/// <summary>Fused loss kernels: each computes a per-element loss (and its gradient) in one pass
/// so that no softmax or log-probability tensor is materialised. Reductions to a scalar are
/// separate (<see cref="SumAll"/>, <see cref="ExpandScalar"/>).</summary>
public interface ILoss : IKernelFamily
{
    /// <summary>loss = (1−ε)·w_t·(lse − x_t) + (ε/C)·Σ_c w_c·(lse − x_c) with class weights w (all 1
    /// when <paramref name="classWeight"/> is null); writes lse per row for the backward and, when
    /// <paramref name="targetWeight"/> is given, w_t per row (0 for ignored rows): the mean's denominator.</summary>
    void CrossEntropyForward(in CrossEntropyShape shape, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? classWeight,
        DeviceBuffer loss, DeviceBuffer logSumExp, DeviceBuffer? targetWeight);

    /// <summary>dLogits_k = dLoss · ((1−ε)·w_t·(p_k − [k = t]) + (ε/C)·(W·p_k − w_k)), W = Σ_c w_c.</summary>
    void CrossEntropyBackward(in CrossEntropyShape shape, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? classWeight,
        DeviceBuffer logSumExp, DeviceBuffer dLoss, DeviceBuffer dLogits);

    /// <summary>loss = (1−y)·x + (1 + (pw−1)·y)·softplus(−x), element i using pw[i mod posWeightLength]
    /// (pw = 1 when <paramref name="posWeight"/> is null).</summary>
    void BceWithLogitsForward(long n, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? posWeight,
        int posWeightLength, DeviceBuffer loss);

    /// <summary>Writes dLogits and/or dTargets (either may be null).</summary>
    void BceWithLogitsBackward(long n, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? posWeight,
        int posWeightLength, DeviceBuffer dLoss, DeviceBuffer? dLogits, DeviceBuffer? dTargets);

    /// <summary>y[0] = scale · Σ x (accumulated in float64).</summary>
    void SumAll(long n, double scale, DeviceBuffer x, DeviceBuffer y);

    /// <summary>y[i] = scale · x[0] for i &lt; n: the backward of <see cref="SumAll"/>.</summary>
    void ExpandScalar(double scale, DeviceBuffer x, long n, DeviceBuffer y);
}
