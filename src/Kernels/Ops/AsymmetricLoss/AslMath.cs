namespace Kernels.Ops.AsymmetricLoss;

/// <summary>The asymmetric loss of one entry and its derivative in the logit, in float32, written
/// once for every C# implementation (the Cpu reference calls it in float64 through
/// <see cref="EntryF64"/>; ILGPU kernels call <see cref="Entry"/>, which uses only MathF so it
/// compiles to PTX). native/include/kernels/asl.h is the same math for the .cu kernels.
/// Stable for any logit: p and q = 1 − p both come from exp(−|x|), so neither 1 − p nor log
/// underflows to −inf; log is clamped at Eps as in the reference.</summary>
public static class AslMath
{
    /// <summary>Loss of logit x with target y (1 positive, 0 negative, −1 un-annotated); grad =
    /// d loss / dx. Parameters as in <see cref="AslOptions"/> (focusConstant: 1 = the focusing
    /// weight is a constant in the backward).</summary>
    public static float Entry(float x, float y, float gammaPos, float gammaNeg, float clip, float eps,
        float alphaPos, float alphaNeg, float gammaUnannotated, float alphaUnannotated, int focusConstant, out float grad)
    {
        // p = sigmoid(x), q = 1 − p, each from e = exp(−|x|) ∈ (0, 1]: no overflow, no cancellation.
        float e = MathF.Exp(-MathF.Abs(x));
        float inv = 1f / (1f + e);
        float p = x >= 0 ? inv : e * inv;
        float q = x >= 0 ? e * inv : inv;
        float dp = p * q; // dp/dx
        if (y > 0.5f)
        {
            float logP = p > eps ? MathF.Log(p) : MathF.Log(eps);
            float dLogP = p > eps ? q : 0f;
            float w = gammaPos == 0f ? 1f : Pow(q, gammaPos);
            float dw = gammaPos == 0f || focusConstant != 0 ? 0f : -gammaPos * p * w; // d(q^γ)/dx = −γ·p·q^γ
            grad = -alphaPos * (dw * logP + w * dLogP);
            return -alphaPos * w * logP;
        }
        float gamma = y < -0.5f ? gammaUnannotated : gammaNeg;
        float alpha = y < -0.5f ? alphaUnannotated : alphaNeg;
        // Shifted probability p_m = max(p − clip, 0); 1 − p_m = q + clip when p > clip.
        bool shifted = p > clip;
        float pm = shifted ? p - clip : 0f;
        float oneMinusPm = shifted ? q + clip : 1f;
        float dpm = shifted ? dp : 0f;
        float logQ = oneMinusPm > eps ? MathF.Log(oneMinusPm) : MathF.Log(eps);
        float dLogQ = oneMinusPm > eps ? -dpm / oneMinusPm : 0f;
        float wn = gamma == 0f ? 1f : (pm > 0f ? Pow(pm, gamma) : 0f);
        // d(p_m^γ)/dx = γ·p_m^γ·(dp/dx)/p_m, and (dp/dx)/p_m = q exactly when clip = 0: written so
        // because p_m^(γ−1) overflows for γ < 1 and a tiny p_m (x below about −88), giving inf·0.
        float dwn = gamma == 0f || focusConstant != 0 || pm <= 0f ? 0f : gamma * wn * (clip == 0f ? q : dpm / pm);
        grad = -alpha * (dwn * logQ + wn * dLogQ);
        return -alpha * wn * logQ;
    }

    /// <summary>b^e for b ≥ 0: repeated multiplication for the small whole exponents the recipe uses
    /// (γ− = 4), MathF.Pow otherwise (several times slower).</summary>
    private static float Pow(float b, float e)
    {
        if (e >= 1f && e <= 8f && e == MathF.Floor(e))
        {
            float r = b;
            for (int k = 1; k < (int)e; k++) r *= b;
            return r;
        }
        return MathF.Pow(b, e);
    }

    /// <summary>The same math in float64, for the Cpu reference and float64 gradient checks.</summary>
    public static double EntryF64(double x, double y, in AslOptions o, out double grad)
    {
        double e = Math.Exp(-Math.Abs(x));
        double inv = 1 / (1 + e);
        double p = x >= 0 ? inv : e * inv;
        double q = x >= 0 ? e * inv : inv;
        double dp = p * q;
        if (y > 0.5)
        {
            double logP = Math.Log(Math.Max(p, o.Eps));
            double dLogP = p > o.Eps ? q : 0;
            double w = o.GammaPos == 0 ? 1 : Math.Pow(q, o.GammaPos);
            double dw = o.GammaPos == 0 || o.FocusingWeightConstant ? 0 : -o.GammaPos * p * w;
            grad = -o.AlphaPos * (dw * logP + w * dLogP);
            return -o.AlphaPos * w * logP;
        }
        double gamma = y < -0.5 ? o.GammaUnannotated : o.GammaNeg;
        double alpha = y < -0.5 ? o.AlphaUnannotated : o.AlphaNeg;
        bool shifted = p > o.Clip;
        double pm = shifted ? p - o.Clip : 0;
        double oneMinusPm = shifted ? q + o.Clip : 1;
        double dpm = shifted ? dp : 0;
        double logQ = Math.Log(Math.Max(oneMinusPm, o.Eps));
        double dLogQ = oneMinusPm > o.Eps ? -dpm / oneMinusPm : 0;
        double wn = gamma == 0 ? 1 : (pm > 0 ? Math.Pow(pm, gamma) : 0);
        double dwn = gamma == 0 || o.FocusingWeightConstant || pm <= 0 ? 0 : gamma * wn * (o.Clip == 0 ? q : dpm / pm);
        grad = -alpha * (dwn * logQ + wn * dLogQ);
        return -alpha * wn * logQ;
    }
}
