// The asymmetric loss of one entry and its derivative in the logit (float32), for the .cu kernels:
// the same math as src/Kernels/Ops/AsymmetricLoss/AslMath.cs (see there). Target y: 1 positive,
// 0 negative, -1 un-annotated (partial labels).
#pragma once
#include "kernels/emu.h"

struct KernelsAslParams
{
    float gamma_pos, gamma_neg, clip, eps, alpha_pos, alpha_neg, gamma_unannotated, alpha_unannotated;
    int focus_constant, mean;
};

// The kernels take the options as scalar parameters (plain PTX .params); this packs them.
__device__ __host__ __forceinline__ KernelsAslParams kernels_asl_params(float gamma_pos, float gamma_neg, float clip,
                                                                         float eps, float alpha_pos, float alpha_neg,
                                                                         float gamma_unannotated, float alpha_unannotated,
                                                                         int focus_constant)
{
    KernelsAslParams a;
    a.gamma_pos = gamma_pos;
    a.gamma_neg = gamma_neg;
    a.clip = clip;
    a.eps = eps;
    a.alpha_pos = alpha_pos;
    a.alpha_neg = alpha_neg;
    a.gamma_unannotated = gamma_unannotated;
    a.alpha_unannotated = alpha_unannotated;
    a.focus_constant = focus_constant;
    a.mean = 0; // callers apply the mean's scale themselves
    return a;
}

// b^g for the focusing weights. The recipe's exponents are small integers (γ− 4, γ+ 0 or 1), and
// precise powf costs dozens of instructions: on an H100 it made the loss kernel compute-bound at a
// third of the copy bandwidth. Integer exponents up to 8 are repeated products (a few ulp from powf).
__device__ __host__ __forceinline__ float kernels_asl_pow(float b, float g)
{
    int k = static_cast<int>(g);
    if (static_cast<float>(k) != g || k < 1 || k > 8) return powf(b, g);
    float b2 = b * b, r = (k & 1) ? b : 1.0f;
    if (k & 2) r *= b2;
    if (k & 4) r *= b2 * b2;
    if (k & 8) r *= (b2 * b2) * (b2 * b2);
    return r;
}

__device__ __host__ __forceinline__ float kernels_asl_entry(float x, float y, const KernelsAslParams& a, float* grad)
{
    float e = expf(-fabsf(x));
    float inv = 1.0f / (1.0f + e);
    float p = x >= 0.0f ? inv : e * inv;
    float q = x >= 0.0f ? e * inv : inv;
    float dp = p * q;
    if (y > 0.5f)
    {
        float logp = p > a.eps ? logf(p) : logf(a.eps);
        float dlogp = p > a.eps ? q : 0.0f;
        float w = a.gamma_pos == 0.0f ? 1.0f : kernels_asl_pow(q, a.gamma_pos);
        float dw = (a.gamma_pos == 0.0f || a.focus_constant) ? 0.0f : -a.gamma_pos * p * w;
        *grad = -a.alpha_pos * (dw * logp + w * dlogp);
        return -a.alpha_pos * w * logp;
    }
    float gamma = y < -0.5f ? a.gamma_unannotated : a.gamma_neg;
    float alpha = y < -0.5f ? a.alpha_unannotated : a.alpha_neg;
    bool shifted = p > a.clip;
    float pm = shifted ? p - a.clip : 0.0f;
    float one_minus_pm = shifted ? q + a.clip : 1.0f;
    float dpm = shifted ? dp : 0.0f;
    float logq = one_minus_pm > a.eps ? logf(one_minus_pm) : logf(a.eps);
    float dlogq = one_minus_pm > a.eps ? -dpm / one_minus_pm : 0.0f;
    float wn = gamma == 0.0f ? 1.0f : (pm > 0.0f ? kernels_asl_pow(pm, gamma) : 0.0f);
    // gamma * pm^gamma * (dp/dx) / pm, with (dp/dx) / pm = q when clip = 0: pm^(gamma-1) would overflow
    // for gamma < 1 and a tiny pm (see AslMath.cs).
    float dwn = (gamma == 0.0f || a.focus_constant || pm <= 0.0f) ? 0.0f
                                                                    : gamma * wn * (a.clip == 0.0f ? q : dpm / pm);
    *grad = -alpha * (dwn * logq + wn * dlogq);
    return -alpha * wn * logq;
}
