using System.Numerics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Loss;

[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class LossCpu : ILoss
{
    public void CrossEntropyForward(in CrossEntropyShape shape, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? classWeight, DeviceBuffer loss, DeviceBuffer logSumExp, DeviceBuffer? targetWeight)
    {
        var t = CpuBuffer.Array<int>(targets);
        switch (logits.DType)
        {
            case DType.F32:
                CeForward(shape, CpuBuffer.Array<float>(logits), t, Opt<float>(classWeight), CpuBuffer.Array<float>(loss),
                    CpuBuffer.Array<float>(logSumExp), Opt<float>(targetWeight));
                break;
            case DType.F64:
                CeForward(shape, CpuBuffer.Array<double>(logits), t, Opt<double>(classWeight), CpuBuffer.Array<double>(loss),
                    CpuBuffer.Array<double>(logSumExp), Opt<double>(targetWeight));
                break;
            default: throw Unsupported("CrossEntropyForward", logits.DType);
        }
    }

    public void CrossEntropyBackward(in CrossEntropyShape shape, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? classWeight, DeviceBuffer logSumExp, DeviceBuffer dLoss, DeviceBuffer dLogits)
    {
        var t = CpuBuffer.Array<int>(targets);
        switch (logits.DType)
        {
            case DType.F32:
                CeBackward(shape, CpuBuffer.Array<float>(logits), t, Opt<float>(classWeight), CpuBuffer.Array<float>(logSumExp),
                    CpuBuffer.Array<float>(dLoss), CpuBuffer.Array<float>(dLogits));
                break;
            case DType.F64:
                CeBackward(shape, CpuBuffer.Array<double>(logits), t, Opt<double>(classWeight), CpuBuffer.Array<double>(logSumExp),
                    CpuBuffer.Array<double>(dLoss), CpuBuffer.Array<double>(dLogits));
                break;
            default: throw Unsupported("CrossEntropyBackward", logits.DType);
        }
    }

    private static T[]? Opt<T>(DeviceBuffer? b) where T : unmanaged => b is null ? null : CpuBuffer.Array<T>(b);

    public void BceWithLogitsForward(long n, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? posWeight,
        int posWeightLength, DeviceBuffer loss)
    {
        switch (logits.DType)
        {
            case DType.F32:
                BceForward(n, CpuBuffer.Array<float>(logits), CpuBuffer.Array<float>(targets),
                    posWeight is null ? null : CpuBuffer.Array<float>(posWeight), posWeightLength, CpuBuffer.Array<float>(loss));
                break;
            case DType.F64:
                BceForward(n, CpuBuffer.Array<double>(logits), CpuBuffer.Array<double>(targets),
                    posWeight is null ? null : CpuBuffer.Array<double>(posWeight), posWeightLength, CpuBuffer.Array<double>(loss));
                break;
            default: throw Unsupported("BceWithLogitsForward", logits.DType);
        }
    }

    public void BceWithLogitsBackward(long n, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? posWeight,
        int posWeightLength, DeviceBuffer dLoss, DeviceBuffer? dLogits, DeviceBuffer? dTargets)
    {
        switch (logits.DType)
        {
            case DType.F32:
                BceBackward(n, CpuBuffer.Array<float>(logits), CpuBuffer.Array<float>(targets),
                    posWeight is null ? null : CpuBuffer.Array<float>(posWeight), posWeightLength, CpuBuffer.Array<float>(dLoss),
                    dLogits is null ? null : CpuBuffer.Array<float>(dLogits), dTargets is null ? null : CpuBuffer.Array<float>(dTargets));
                break;
            case DType.F64:
                BceBackward(n, CpuBuffer.Array<double>(logits), CpuBuffer.Array<double>(targets),
                    posWeight is null ? null : CpuBuffer.Array<double>(posWeight), posWeightLength, CpuBuffer.Array<double>(dLoss),
                    dLogits is null ? null : CpuBuffer.Array<double>(dLogits), dTargets is null ? null : CpuBuffer.Array<double>(dTargets));
                break;
            default: throw Unsupported("BceWithLogitsBackward", logits.DType);
        }
    }

    public void SumAll(long n, double scale, DeviceBuffer x, DeviceBuffer y)
    {
        switch (x.DType)
        {
            case DType.F32: CpuBuffer.Span<float>(y)[0] = (float)(scale * Sum<float>(CpuBuffer.Span<float>(x)[..(int)n])); break;
            case DType.F64: CpuBuffer.Span<double>(y)[0] = scale * Sum<double>(CpuBuffer.Span<double>(x)[..(int)n]); break;
            default: throw Unsupported("SumAll", x.DType);
        }
    }

    public void ExpandScalar(double scale, DeviceBuffer x, long n, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: CpuBuffer.Span<float>(y)[..(int)n].Fill((float)(scale * CpuBuffer.Span<float>(x)[0])); break;
            case DType.F64: CpuBuffer.Span<double>(y)[..(int)n].Fill(scale * CpuBuffer.Span<double>(x)[0]); break;
            default: throw Unsupported("ExpandScalar", y.DType);
        }
    }

    private static NotSupportedException Unsupported(string op, DType t) =>
        new($"Loss.{op}: dtype {t.Name()} is not supported on the cpu");

    private static double Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Four float64 accumulators: accurate for float32 inputs and not latency-bound.
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= x.Length; i += 4)
        {
            s0 += double.CreateTruncating(x[i]);
            s1 += double.CreateTruncating(x[i + 1]);
            s2 += double.CreateTruncating(x[i + 2]);
            s3 += double.CreateTruncating(x[i + 3]);
        }
        for (; i < x.Length; i++) s0 += double.CreateTruncating(x[i]);
        return (s0 + s1) + (s2 + s3);
    }

    // ---- cross-entropy ----------------------------------------------------------------------

    /// <summary>Σ of the class weights (the class count when unweighted), for label smoothing.</summary>
    private static double ClassWeightSum<T>(T[]? w, int classes) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (w is null) return classes;
        double sum = 0;
        for (int k = 0; k < classes; k++) sum += double.CreateTruncating(w[k]);
        return sum;
    }

    private static void CeForward<T>(CrossEntropyShape s, T[] x, int[] targets, T[]? w, T[] loss, T[] lse, T[]? tw)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = s.Classes, inner = s.Inner;
        double eps = s.LabelSmoothing;
        double wSum = ClassWeightSum(w, c);
        CpuParallel.For(s.Rows, c * 4L, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long o = r / inner, i = r % inner, b = o * c * inner + i;
                int t = targets[r];
                if (t == s.IgnoreIndex)
                {
                    loss[r] = T.Zero;
                    lse[r] = T.Zero;
                    if (tw is not null) tw[r] = T.Zero;
                    continue;
                }
                // Row statistics in float64: the max for stability, then Σexp and Σ w_c·x_c.
                double max = double.NegativeInfinity, sumWx = 0;
                for (int k = 0; k < c; k++)
                {
                    double v = double.CreateTruncating(x[b + k * inner]);
                    if (v > max) max = v;
                    sumWx += w is null ? v : double.CreateTruncating(w[k]) * v;
                }
                double sumExp = 0;
                for (int k = 0; k < c; k++) sumExp += Math.Exp(double.CreateTruncating(x[b + k * inner]) - max);
                double l = max + Math.Log(sumExp);
                double wt = w is null ? 1 : double.CreateTruncating(w[t]);
                double xt = double.CreateTruncating(x[b + t * inner]);
                double value = (1 - eps) * wt * (l - xt);
                if (eps != 0) value += eps / c * (wSum * l - sumWx);
                loss[r] = T.CreateTruncating(value);
                lse[r] = T.CreateTruncating(l);
                if (tw is not null) tw[r] = T.CreateTruncating(wt);
            }
        });
    }

    private static void CeBackward<T>(CrossEntropyShape s, T[] x, int[] targets, T[]? w, T[] lse, T[] dLoss, T[] dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = s.Classes, inner = s.Inner;
        double eps = s.LabelSmoothing;
        double wSum = ClassWeightSum(w, c);
        CpuParallel.For(s.Rows, c * 4L, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long o = r / inner, i = r % inner, b = o * c * inner + i;
                int t = targets[r];
                if (t == s.IgnoreIndex)
                {
                    for (int k = 0; k < c; k++) dx[b + k * inner] = T.Zero;
                    continue;
                }
                double l = double.CreateTruncating(lse[r]), g = double.CreateTruncating(dLoss[r]);
                double wt = w is null ? 1 : double.CreateTruncating(w[t]);
                double hard = (1 - eps) * wt, soft = eps / c;
                for (int k = 0; k < c; k++)
                {
                    long at = b + k * inner;
                    double p = Math.Exp(double.CreateTruncating(x[at]) - l);
                    double wk = w is null ? 1 : double.CreateTruncating(w[k]);
                    double d = hard * (p - (k == t ? 1 : 0)) + soft * (wSum * p - wk);
                    dx[at] = T.CreateTruncating(g * d);
                }
            }
        });
    }

    // ---- binary cross-entropy with logits ----------------------------------------------------

    /// <summary>log(1 + u) accurate for small u (Goldberg's trick; Math has no log1p).</summary>
    private static double Log1P(double u)
    {
        double w = 1 + u;
        return w == 1 ? u : Math.Log(w) * u / (w - 1);
    }

    /// <summary>softplus(−x) = log(1 + e^{−x}) = max(−x, 0) + log1p(e^{−|x|}), finite for any finite x.</summary>
    private static double SoftplusNeg(double x) => Math.Max(-x, 0) + Log1P(Math.Exp(-Math.Abs(x)));

    /// <summary>σ(−x) without overflow.</summary>
    private static double SigmoidNeg(double x)
    {
        if (x >= 0)
        {
            double e = Math.Exp(-x);
            return e / (1 + e);
        }
        return 1 / (1 + Math.Exp(x));
    }

    private static void BceForward<T>(long n, T[] x, T[] y, T[]? pw, int pwLen, T[] loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 16, (i0, i1) =>
        {
            for (long i = i0; i < i1; i++)
            {
                double xv = double.CreateTruncating(x[i]), yv = double.CreateTruncating(y[i]);
                double lw = pw is null ? 1 : 1 + (double.CreateTruncating(pw[i % pwLen]) - 1) * yv;
                loss[i] = T.CreateTruncating((1 - yv) * xv + lw * SoftplusNeg(xv));
            }
        });
    }

    private static void BceBackward<T>(long n, T[] x, T[] y, T[]? pw, int pwLen, T[] dLoss, T[]? dx, T[]? dy)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 16, (i0, i1) =>
        {
            for (long i = i0; i < i1; i++)
            {
                double xv = double.CreateTruncating(x[i]), yv = double.CreateTruncating(y[i]);
                double g = double.CreateTruncating(dLoss[i]);
                double p = pw is null ? 1 : double.CreateTruncating(pw[i % pwLen]);
                double lw = 1 + (p - 1) * yv;
                if (dx is not null) dx[i] = T.CreateTruncating(g * ((1 - yv) - lw * SigmoidNeg(xv)));
                if (dy is not null) dy[i] = T.CreateTruncating(g * (-xv + (p - 1) * SoftplusNeg(xv)));
            }
        });
    }
}
