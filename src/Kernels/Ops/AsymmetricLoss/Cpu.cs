using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.AsymmetricLoss;

/// <summary>float32 goes through the vectorised one-pass <see cref="AslCpuFast"/> when it applies
/// (AVX2 + FMA, whole-number γ), else through the scalar float32 entry math (no weight mask) or the
/// float64 reference. The reference: every entry through <see cref="AslMath.EntryF64"/> (float32 buffers are
/// widened, so the cpu float32 result is the float64 math rounded once), the sum in float64 over
/// fixed chunks added in order, so the result does not depend on the thread count.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class AsymmetricLossCpu : IAsymmetricLoss
{
    private const int Chunk = 4096;

    public void ForwardBackward(long rows, long cols, in AslOptions options, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dLogits)
    {
        long n = rows * cols;
        switch (logits.DType)
        {
            case DType.F32 when AslCpuFast.IsUsable(options):
                CpuBuffer.Array<float>(loss)[0] = (float)AslCpuFast.Run(n, options, CpuBuffer.Array<float>(logits),
                    CpuBuffer.Array<float>(targets), weights is null ? null : CpuBuffer.Array<float>(weights),
                    dLogits is null ? null : CpuBuffer.Array<float>(dLogits));
                break;
            case DType.F32 when weights is null:
                CpuBuffer.Array<float>(loss)[0] = (float)RunF32(n, options, CpuBuffer.Array<float>(logits),
                    CpuBuffer.Array<float>(targets), dLogits is null ? null : CpuBuffer.Array<float>(dLogits));
                break;
            case DType.F32:
                {
                    var x = CpuBuffer.Array<float>(logits);
                    var y = CpuBuffer.Array<float>(targets);
                    var w = weights is null ? null : CpuBuffer.Array<float>(weights);
                    var dx = dLogits is null ? null : CpuBuffer.Array<float>(dLogits);
                    CpuBuffer.Array<float>(loss)[0] = (float)Run(n, options, i => x[i], i => y[i],
                        w is null ? null : i => w[i], dx is null ? null : (i, v) => dx[i] = (float)v);
                    break;
                }
            case DType.F64:
                {
                    var x = CpuBuffer.Array<double>(logits);
                    var y = CpuBuffer.Array<double>(targets);
                    var w = weights is null ? null : CpuBuffer.Array<double>(weights);
                    var dx = dLogits is null ? null : CpuBuffer.Array<double>(dLogits);
                    CpuBuffer.Array<double>(loss)[0] = Run(n, options, i => x[i], i => y[i],
                        w is null ? null : i => w[i], dx is null ? null : (i, v) => dx[i] = v);
                    break;
                }
            default:
                throw new NotSupportedException($"AsymmetricLoss.ForwardBackward: dtype {logits.DType.Name()} is not supported on the cpu");
        }
    }

    /// <summary>The scalar float32 path (no weight mask; used where <see cref="AslCpuFast"/> is not): the float32 entry math of the kernels
    /// (<see cref="AslMath.Entry"/>) over fixed chunks on all cores, each chunk's loss summed in
    /// float64 and the chunks added in order (thread-count independent).</summary>
    private static double RunF32(long n, AslOptions o, float[] x, float[] y, float[]? dx)
    {
        if (n <= 0) return 0;
        float scale = o.Mean ? (float)(1.0 / n) : 1f;
        float gp = (float)o.GammaPos, gn = (float)o.GammaNeg, clip = (float)o.Clip, eps = (float)o.Eps;
        float ap = (float)o.AlphaPos, an = (float)o.AlphaNeg, gu = (float)o.GammaUnannotated, au = (float)o.AlphaUnannotated;
        int focus = o.FocusingWeightConstant ? 1 : 0;
        int chunks = (int)((n + Chunk - 1) / Chunk);
        var partial = new double[chunks];
        CpuParallel.ForEach(chunks, Chunk * 8L, c =>
        {
            int start = c * Chunk, end = (int)Math.Min(n, start + Chunk);
            double s = 0;
            for (int i = start; i < end; i++)
            {
                s += AslMath.Entry(x[i], y[i], gp, gn, clip, eps, ap, an, gu, au, focus, out float g);
                if (dx is not null) dx[i] = scale * g;
            }
            partial[c] = s;
        });
        double total = 0;
        foreach (double s in partial) total += s;
        return scale * total;
    }

    /// <summary>Sum (or mean) of the weighted entry losses; writes the (scaled) gradients through
    /// <paramref name="setGrad"/>. Delegates keep one body for both dtypes; this is the reference,
    /// not the fast path.</summary>
    private static double Run(long n, AslOptions o, Func<long, double> x, Func<long, double> y, Func<long, double>? w,
        Action<long, double>? setGrad)
    {
        if (n <= 0) return 0;
        // The mean's denominator first (a pass over the weights only), so gradients are scaled as written.
        double scale = 1;
        if (o.Mean)
        {
            long count = n;
            if (w is not null)
            {
                count = 0;
                for (long i = 0; i < n; i++)
                    if (w(i) != 0) count++;
            }
            scale = 1.0 / Math.Max(count, 1);
        }
        int chunks = (int)((n + Chunk - 1) / Chunk);
        var partial = new double[chunks];
        CpuParallel.ForEach(chunks, Chunk * 40L, c =>
        {
            long start = (long)c * Chunk, end = Math.Min(n, start + Chunk);
            double s = 0;
            for (long i = start; i < end; i++)
            {
                double l = AslMath.EntryF64(x(i), y(i), o, out double g);
                double wi = w is null ? 1 : w(i);
                s += wi * l;
                setGrad?.Invoke(i, scale * wi * g);
            }
            partial[c] = s;
        });
        double total = 0;
        foreach (double s in partial) total += s;
        return scale * total;
    }
}
