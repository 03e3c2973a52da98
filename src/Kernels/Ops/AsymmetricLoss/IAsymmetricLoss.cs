using Kernels.Registry;

namespace Kernels.Ops.AsymmetricLoss;

/// <summary>Options of the asymmetric loss (ASL, PAPERS.md section 2) and of its partial-label
/// form. p = sigmoid(x), p_m = max(p − Clip, 0);
/// positive (target 1): −α+ · (1 − p)^γ+ · log(max(p, Eps));
/// negative (target 0): −α− · p_m^γ− · log(max(1 − p_m, Eps));
/// un-annotated (target −1, partial labels only): −AlphaUnannotated · p_m^GammaUnannotated · log(max(1 − p_m, Eps))
/// (treated as a negative with its own γ and α; AlphaUnannotated = 0 ignores them).
/// FocusingWeightConstant: the factor (1 − p)^γ+ / p_m^γ− is a constant in the backward (the recipe's
/// choice). A per-entry weight mask, when given, multiplies each entry's loss (and gradient). Mean
/// divides by the number of entries whose weight (1 without a mask) is non-zero (1 if there are none).
/// The per-entry math is <see cref="AslMath.Entry"/>, shared by every implementation.</summary>
public readonly record struct AslOptions(
    double GammaPos = 0, double GammaNeg = 4, double Clip = 0.05, double Eps = 1e-8,
    bool FocusingWeightConstant = true, bool Mean = false,
    double AlphaPos = 1, double AlphaNeg = 1, double GammaUnannotated = 4, double AlphaUnannotated = 1)
{
    /// <summary>The paper's recipe (γ− = 4, γ+ = 0, clip 0.05, the focusing weight constant, a sum).
    /// Spelled out: `new()` / `default` of a record struct is all zeros (eps 0, α 0), not these defaults.</summary>
    public static AslOptions Recipe => new(GammaPos: 0, GammaNeg: 4, Clip: 0.05, Eps: 1e-8, FocusingWeightConstant: true,
        Mean: false, AlphaPos: 1, AlphaNeg: 1, GammaUnannotated: 4, AlphaUnannotated: 1);
}

/// <summary>The asymmetric loss over [Rows, Cols] logits, forward and backward fused in one pass:
/// numerically safe in float32 for logits of any magnitude (no NaN, no −inf).</summary>
public interface IAsymmetricLoss : IKernelFamily
{
    /// <summary>loss[0] = Σ (or mean) of the per-entry losses; dLogits = d loss / d logits (scale 1:
    /// the caller multiplies by the upstream gradient). targets are float 1 / 0 / −1; weights (may be
    /// null) multiply each entry. dLogits may be null (evaluation).</summary>
    void ForwardBackward(long rows, long cols, in AslOptions options, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dLogits);
}
