using System.Numerics;
using System.Runtime.CompilerServices;
using Kernels.Cpu;

namespace Kernels.Ops.Norm;

/// <summary>Float32 batch norm over NCHW with SIMD loops. The numerics are those of the generic
/// kernel: every sum and every (x − mean) is taken in double (floats are widened lane by lane), the
/// variance is the two-pass sum of squared deviations, and y = (x − mean)·scale + shift is formed
/// in double before rounding once. Only the summation order differs (vector lanes, per plane).</summary>
internal static class BatchNormF32
{
    public static void Forward(BatchNormShape s, bool training, double momentum, double eps, float[] x,
        float[]? w, float[]? b, float[]? rm, float[]? rv, float[] y, float[] saveMean, float[] saveInv)
    {
        int n = s.N, spatial = s.Spatial;
        long cs = (long)s.C * spatial, count = s.PerChannel;
        CpuParallel.For(s.C, Math.Max(1, 3 * count), (c0, c1) =>
        {
            for (long c = c0; c < c1; c++)
            {
                double m, inv;
                if (training)
                {
                    double sum = 0;
                    for (int i = 0; i < n; i++) sum += Sum(Plane(x, i * cs + c * spatial, spatial));
                    m = sum / count;
                    double sq = 0;
                    for (int i = 0; i < n; i++) sq += SumSquaredDeviations(Plane(x, i * cs + c * spatial, spatial), m);
                    inv = 1.0 / Math.Sqrt(sq / count + eps);
                    if (rm is not null) rm[c] = (float)((1 - momentum) * rm[c] + momentum * m);
                    if (rv is not null) rv[c] = (float)((1 - momentum) * rv[c] + momentum * (sq / (count - 1)));
                }
                else
                {
                    m = rm![c];
                    inv = 1.0 / Math.Sqrt(rv![c] + eps);
                }
                saveMean[c] = (float)m;
                saveInv[c] = (float)inv;
                double scale = inv * (w is null ? 1.0 : w[c]);
                double shift = b is null ? 0.0 : b[c];
                for (int i = 0; i < n; i++)
                {
                    long o = i * cs + c * spatial;
                    Normalise(Plane(x, o, spatial), y.AsSpan((int)o, spatial), m, scale, shift);
                }
            }
        });
    }

    public static void Backward(BatchNormShape s, bool training, float[] x, float[]? w, float[] saveMean,
        float[] saveInv, float[] dy, float[]? dx, float[]? dw, float[]? db)
    {
        int n = s.N, spatial = s.Spatial;
        long cs = (long)s.C * spatial, count = s.PerChannel;
        CpuParallel.For(s.C, Math.Max(1, 4 * count), (c0, c1) =>
        {
            for (long c = c0; c < c1; c++)
            {
                double m = saveMean[c], inv = saveInv[c];
                double sg = 0, sgx = 0;
                for (int i = 0; i < n; i++)
                {
                    long o = i * cs + c * spatial;
                    var (a, ax) = SumAndDot(Plane(dy, o, spatial), Plane(x, o, spatial), m);
                    sg += a;
                    sgx += ax;
                }
                sgx *= inv; // Σ dy·x̂
                if (dw is not null) dw[c] = (float)sgx;
                if (db is not null) db[c] = (float)sg;
                if (dx is null) continue;
                double k = (w is null ? 1.0 : w[c]) * inv;
                // Training: dx = w·inv·(dy − mean(dy) − x̂·mean(dy·x̂)); inference: dx = w·inv·dy.
                double mg = training ? sg / count : 0, mgx = training ? sgx / count : 0;
                for (int i = 0; i < n; i++)
                {
                    long o = i * cs + c * spatial;
                    InputGradient(Plane(dy, o, spatial), Plane(x, o, spatial), dx.AsSpan((int)o, spatial), m, inv, k, mg, mgx);
                }
            }
        });
    }

    private static ReadOnlySpan<float> Plane(float[] a, long offset, int length) => new(a, (int)offset, length);

    // The per-plane loops are optimised from the first call: tiered JIT left them at tier 0
    // through the first steps of a training run (several times slower).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Sum(ReadOnlySpan<float> x)
    {
        var acc0 = Vector<double>.Zero;
        var acc1 = Vector<double>.Zero;
        int i = 0, vc = Vector<float>.Count;
        for (; i <= x.Length - vc; i += vc)
        {
            Vector.Widen(new Vector<float>(x.Slice(i)), out var lo, out var hi);
            acc0 += lo;
            acc1 += hi;
        }
        double sum = Vector.Sum(acc0 + acc1);
        for (; i < x.Length; i++) sum += x[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumSquaredDeviations(ReadOnlySpan<float> x, double m)
    {
        var mv = new Vector<double>(m);
        var acc0 = Vector<double>.Zero;
        var acc1 = Vector<double>.Zero;
        int i = 0, vc = Vector<float>.Count;
        for (; i <= x.Length - vc; i += vc)
        {
            Vector.Widen(new Vector<float>(x.Slice(i)), out var lo, out var hi);
            lo -= mv;
            hi -= mv;
            acc0 += lo * lo;
            acc1 += hi * hi;
        }
        double sq = Vector.Sum(acc0 + acc1);
        for (; i < x.Length; i++)
        {
            double d = x[i] - m;
            sq += d * d;
        }
        return sq;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Normalise(ReadOnlySpan<float> x, Span<float> y, double m, double scale, double shift)
    {
        Vector<double> mv = new(m), sv = new(scale), bv = new(shift);
        int i = 0, vc = Vector<float>.Count;
        for (; i <= x.Length - vc; i += vc)
        {
            Vector.Widen(new Vector<float>(x.Slice(i)), out var lo, out var hi);
            Vector.Narrow((lo - mv) * sv + bv, (hi - mv) * sv + bv).CopyTo(y.Slice(i));
        }
        for (; i < x.Length; i++) y[i] = (float)((x[i] - m) * scale + shift);
    }

    /// <summary>(Σ dy, Σ dy·(x − m)) over one plane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double Sum, double Dot) SumAndDot(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, double m)
    {
        var mv = new Vector<double>(m);
        Vector<double> s0 = Vector<double>.Zero, s1 = Vector<double>.Zero, d0 = Vector<double>.Zero, d1 = Vector<double>.Zero;
        int i = 0, vc = Vector<float>.Count;
        for (; i <= x.Length - vc; i += vc)
        {
            Vector.Widen(new Vector<float>(dy.Slice(i)), out var glo, out var ghi);
            Vector.Widen(new Vector<float>(x.Slice(i)), out var xlo, out var xhi);
            s0 += glo;
            s1 += ghi;
            d0 += glo * (xlo - mv);
            d1 += ghi * (xhi - mv);
        }
        double sum = Vector.Sum(s0 + s1), dot = Vector.Sum(d0 + d1);
        for (; i < x.Length; i++)
        {
            sum += dy[i];
            dot += dy[i] * (x[i] - m);
        }
        return (sum, dot);
    }

    /// <summary>dx = k·(dy − mg − (x − m)·inv·mgx), in double, rounded once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InputGradient(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx,
        double m, double inv, double k, double mg, double mgx)
    {
        Vector<double> mv = new(m), iv = new(inv), kv = new(k), gv = new(mg), gxv = new(mgx);
        int i = 0, vc = Vector<float>.Count;
        for (; i <= x.Length - vc; i += vc)
        {
            Vector.Widen(new Vector<float>(dy.Slice(i)), out var glo, out var ghi);
            Vector.Widen(new Vector<float>(x.Slice(i)), out var xlo, out var xhi);
            var lo = kv * (glo - gv - (xlo - mv) * iv * gxv);
            var hi = kv * (ghi - gv - (xhi - mv) * iv * gxv);
            Vector.Narrow(lo, hi).CopyTo(dx.Slice(i));
        }
        for (; i < x.Length; i++)
        {
            double xh = (x[i] - m) * inv;
            dx[i] = (float)(k * (dy[i] - mg - xh * mgx));
        }
    }
}
