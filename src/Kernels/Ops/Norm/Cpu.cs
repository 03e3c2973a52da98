using System.Numerics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Norm;

/// <summary>Reference implementation. Rows (group norms) or channels (batch norm) run in
/// parallel; every sum is a double accumulated in a fixed order, so results are deterministic.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class NormCpu : INorm
{
    public void GroupForward(in GroupNormShape s, double eps, DeviceBuffer x, DeviceBuffer? weight, DeviceBuffer? bias,
        DeviceBuffer y, DeviceBuffer mean, DeviceBuffer rstd)
    {
        switch (y.DType)
        {
            case DType.F32: GroupNormCpu.Forward<float>(s, eps, x, weight, bias, y, mean, rstd); break;
            case DType.F64: GroupNormCpu.Forward<double>(s, eps, x, weight, bias, y, mean, rstd); break;
            default: throw Unsupported(nameof(GroupForward), y.DType);
        }
    }

    public void GroupBackward(in GroupNormShape s, DeviceBuffer x, DeviceBuffer? weight, DeviceBuffer mean,
        DeviceBuffer rstd, DeviceBuffer dy, DeviceBuffer? dx, DeviceBuffer? dweight, DeviceBuffer? dbias)
    {
        switch (dy.DType)
        {
            case DType.F32: GroupNormCpu.Backward<float>(s, x, weight, mean, rstd, dy, dx, dweight, dbias); break;
            case DType.F64: GroupNormCpu.Backward<double>(s, x, weight, mean, rstd, dy, dx, dweight, dbias); break;
            default: throw Unsupported(nameof(GroupBackward), dy.DType);
        }
    }

    public void BatchForward(in BatchNormShape s, bool training, double momentum, double eps, DeviceBuffer x,
        DeviceBuffer? weight, DeviceBuffer? bias, DeviceBuffer? runningMean, DeviceBuffer? runningVar,
        DeviceBuffer y, DeviceBuffer saveMean, DeviceBuffer saveInvStd)
    {
        switch (y.DType)
        {
            case DType.F32:
                BatchNormF32.Forward(s, training, momentum, eps, CpuBuffer.Array<float>(x), Opt<float>(weight), Opt<float>(bias),
                    Opt<float>(runningMean), Opt<float>(runningVar), CpuBuffer.Array<float>(y), CpuBuffer.Array<float>(saveMean),
                    CpuBuffer.Array<float>(saveInvStd));
                break;
            case DType.F64:
                BatchNormCpu.Forward<double>(s, training, momentum, eps, x, weight, bias, runningMean, runningVar, y, saveMean, saveInvStd);
                break;
            default: throw Unsupported(nameof(BatchForward), y.DType);
        }
    }

    public void BatchBackward(in BatchNormShape s, bool training, DeviceBuffer x, DeviceBuffer? weight,
        DeviceBuffer saveMean, DeviceBuffer saveInvStd, DeviceBuffer dy, DeviceBuffer? dx, DeviceBuffer? dweight,
        DeviceBuffer? dbias)
    {
        switch (dy.DType)
        {
            case DType.F32:
                BatchNormF32.Backward(s, training, CpuBuffer.Array<float>(x), Opt<float>(weight), CpuBuffer.Array<float>(saveMean),
                    CpuBuffer.Array<float>(saveInvStd), CpuBuffer.Array<float>(dy), Opt<float>(dx), Opt<float>(dweight), Opt<float>(dbias));
                break;
            case DType.F64: BatchNormCpu.Backward<double>(s, training, x, weight, saveMean, saveInvStd, dy, dx, dweight, dbias); break;
            default: throw Unsupported(nameof(BatchBackward), dy.DType);
        }
    }

    private static NotSupportedException Unsupported(string pass, DType t) =>
        new($"Norm.{pass}: dtype {t.Name()} is not supported on the cpu");

    internal static T[]? Opt<T>(DeviceBuffer? b) where T : unmanaged => b is null ? null : CpuBuffer.Array<T>(b);
}

/// <summary>Layer / group / instance norm over contiguous rows.</summary>
internal static class GroupNormCpu
{
    public static void Forward<T>(GroupNormShape s, double eps, DeviceBuffer xb, DeviceBuffer? wb, DeviceBuffer? bb,
        DeviceBuffer yb, DeviceBuffer meanb, DeviceBuffer rstdb)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] x = CpuBuffer.Array<T>(xb), y = CpuBuffer.Array<T>(yb), mean = CpuBuffer.Array<T>(meanb), rstd = CpuBuffer.Array<T>(rstdb);
        T[]? w = NormCpu.Opt<T>(wb), b = NormCpu.Opt<T>(bb);
        long len = s.RowLength;
        int spatial = s.Spatial;
        CpuParallel.For(s.Rows, Math.Max(1, 3 * len), (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long o = r * len;
                // Two passes (mean, then squared deviations) in double: stable for large means.
                double sum = 0;
                for (long i = 0; i < len; i++) sum += double.CreateTruncating(x[o + i]);
                double m = sum / len, sq = 0;
                for (long i = 0; i < len; i++)
                {
                    double d = double.CreateTruncating(x[o + i]) - m;
                    sq += d * d;
                }
                double rs = 1.0 / Math.Sqrt(sq / len + eps);
                mean[r] = T.CreateTruncating(m);
                rstd[r] = T.CreateTruncating(rs);
                int p0 = (int)(r % s.GroupsPerSample) * s.ChannelsPerGroup;
                for (int c = 0; c < s.ChannelsPerGroup; c++)
                {
                    double scale = rs * (w is null ? 1.0 : double.CreateTruncating(w[p0 + c]));
                    double shift = b is null ? 0.0 : double.CreateTruncating(b[p0 + c]);
                    long co = o + (long)c * spatial;
                    // (x − mean) in double: folding the mean into a float32 shift loses the spread
                    // when the mean is large next to the standard deviation.
                    for (int i = 0; i < spatial; i++)
                        y[co + i] = T.CreateTruncating((double.CreateTruncating(x[co + i]) - m) * scale + shift);
                }
            }
        });
    }

    public static void Backward<T>(GroupNormShape s, DeviceBuffer xb, DeviceBuffer? wb, DeviceBuffer meanb,
        DeviceBuffer rstdb, DeviceBuffer dyb, DeviceBuffer? dxb, DeviceBuffer? dwb, DeviceBuffer? dbb)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] x = CpuBuffer.Array<T>(xb), mean = CpuBuffer.Array<T>(meanb), rstd = CpuBuffer.Array<T>(rstdb), dy = CpuBuffer.Array<T>(dyb);
        T[]? w = NormCpu.Opt<T>(wb), dx = NormCpu.Opt<T>(dxb), dw = NormCpu.Opt<T>(dwb), db = NormCpu.Opt<T>(dbb);
        long len = s.RowLength;
        int spatial = s.Spatial;
        if (dx is not null)
        {
            // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·w, the gradient with respect to x̂.
            CpuParallel.For(s.Rows, Math.Max(1, 4 * len), (r0, r1) =>
            {
                for (long r = r0; r < r1; r++)
                {
                    long o = r * len;
                    double m = double.CreateTruncating(mean[r]), rs = double.CreateTruncating(rstd[r]);
                    int p0 = (int)(r % s.GroupsPerSample) * s.ChannelsPerGroup;
                    double sg = 0, sgx = 0;
                    for (int c = 0; c < s.ChannelsPerGroup; c++)
                    {
                        double wc = w is null ? 1.0 : double.CreateTruncating(w[p0 + c]);
                        long co = o + (long)c * spatial;
                        double a = 0, ax = 0;
                        for (int i = 0; i < spatial; i++)
                        {
                            double g = double.CreateTruncating(dy[co + i]);
                            a += g;
                            ax += g * (double.CreateTruncating(x[co + i]) - m);
                        }
                        sg += wc * a;
                        sgx += wc * ax * rs;
                    }
                    double mg = sg / len, mgx = sgx / len;
                    for (int c = 0; c < s.ChannelsPerGroup; c++)
                    {
                        double wc = w is null ? 1.0 : double.CreateTruncating(w[p0 + c]);
                        long co = o + (long)c * spatial;
                        for (int i = 0; i < spatial; i++)
                        {
                            double xh = (double.CreateTruncating(x[co + i]) - m) * rs;
                            dx[co + i] = T.CreateTruncating(rs * (double.CreateTruncating(dy[co + i]) * wc - mg - xh * mgx));
                        }
                    }
                }
            });
        }
        if (dw is null && db is null) return;
        // dw[p] = Σ dy·x̂ and db[p] = Σ dy over the rows and positions that use p. Threads own
        // disjoint parameter ranges and walk the samples in order, reading rows contiguously.
        int cg = s.ChannelsPerGroup, samples = s.Samples;
        CpuParallel.For(s.Params, Math.Max(1, (long)samples * spatial * 2), (q0, q1) =>
        {
            int count = (int)(q1 - q0);
            var accW = new double[count];
            var accB = new double[count];
            for (int n = 0; n < samples; n++)
                for (long p = q0; p < q1; p++)
                {
                    int g = (int)(p / cg), c = (int)(p % cg);
                    long r = (long)n * s.GroupsPerSample + g;
                    long co = r * len + (long)c * spatial;
                    double m = double.CreateTruncating(mean[r]), rs = double.CreateTruncating(rstd[r]);
                    double a = 0, ax = 0;
                    for (int i = 0; i < spatial; i++)
                    {
                        double gv = double.CreateTruncating(dy[co + i]);
                        a += gv;
                        ax += gv * (double.CreateTruncating(x[co + i]) - m);
                    }
                    accW[p - q0] += ax * rs;
                    accB[p - q0] += a;
                }
            for (int i = 0; i < count; i++)
            {
                if (dw is not null) dw[q0 + i] = T.CreateTruncating(accW[i]);
                if (db is not null) db[q0 + i] = T.CreateTruncating(accB[i]);
            }
        });
    }
}

/// <summary>Batch norm: per-channel statistics over N and the spatial positions.</summary>
internal static class BatchNormCpu
{
    public static void Forward<T>(BatchNormShape s, bool training, double momentum, double eps, DeviceBuffer xb,
        DeviceBuffer? wb, DeviceBuffer? bb, DeviceBuffer? rmb, DeviceBuffer? rvb, DeviceBuffer yb,
        DeviceBuffer smb, DeviceBuffer sib)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] x = CpuBuffer.Array<T>(xb), y = CpuBuffer.Array<T>(yb), saveMean = CpuBuffer.Array<T>(smb), saveInv = CpuBuffer.Array<T>(sib);
        T[]? w = NormCpu.Opt<T>(wb), b = NormCpu.Opt<T>(bb), rm = NormCpu.Opt<T>(rmb), rv = NormCpu.Opt<T>(rvb);
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
                    for (int i = 0; i < n; i++)
                    {
                        long o = i * cs + c * spatial;
                        for (int j = 0; j < spatial; j++) sum += double.CreateTruncating(x[o + j]);
                    }
                    m = sum / count;
                    double sq = 0;
                    for (int i = 0; i < n; i++)
                    {
                        long o = i * cs + c * spatial;
                        for (int j = 0; j < spatial; j++)
                        {
                            double d = double.CreateTruncating(x[o + j]) - m;
                            sq += d * d;
                        }
                    }
                    inv = 1.0 / Math.Sqrt(sq / count + eps);
                    if (rm is not null)
                        rm[c] = T.CreateTruncating((1 - momentum) * double.CreateTruncating(rm[c]) + momentum * m);
                    if (rv is not null)
                        rv[c] = T.CreateTruncating((1 - momentum) * double.CreateTruncating(rv[c]) + momentum * (sq / (count - 1)));
                }
                else
                {
                    m = double.CreateTruncating(rm![c]);
                    inv = 1.0 / Math.Sqrt(double.CreateTruncating(rv![c]) + eps);
                }
                saveMean[c] = T.CreateTruncating(m);
                saveInv[c] = T.CreateTruncating(inv);
                double scale = inv * (w is null ? 1.0 : double.CreateTruncating(w[c]));
                double shift = b is null ? 0.0 : double.CreateTruncating(b[c]);
                for (int i = 0; i < n; i++)
                {
                    long o = i * cs + c * spatial;
                    for (int j = 0; j < spatial; j++)
                        y[o + j] = T.CreateTruncating((double.CreateTruncating(x[o + j]) - m) * scale + shift);
                }
            }
        });
    }

    public static void Backward<T>(BatchNormShape s, bool training, DeviceBuffer xb, DeviceBuffer? wb,
        DeviceBuffer smb, DeviceBuffer sib, DeviceBuffer dyb, DeviceBuffer? dxb, DeviceBuffer? dwb, DeviceBuffer? dbb)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] x = CpuBuffer.Array<T>(xb), saveMean = CpuBuffer.Array<T>(smb), saveInv = CpuBuffer.Array<T>(sib), dy = CpuBuffer.Array<T>(dyb);
        T[]? w = NormCpu.Opt<T>(wb), dx = NormCpu.Opt<T>(dxb), dw = NormCpu.Opt<T>(dwb), db = NormCpu.Opt<T>(dbb);
        int n = s.N, spatial = s.Spatial;
        long cs = (long)s.C * spatial, count = s.PerChannel;
        CpuParallel.For(s.C, Math.Max(1, 4 * count), (c0, c1) =>
        {
            for (long c = c0; c < c1; c++)
            {
                double m = double.CreateTruncating(saveMean[c]), inv = double.CreateTruncating(saveInv[c]);
                double sg = 0, sgx = 0;
                for (int i = 0; i < n; i++)
                {
                    long o = i * cs + c * spatial;
                    for (int j = 0; j < spatial; j++)
                    {
                        double g = double.CreateTruncating(dy[o + j]);
                        sg += g;
                        sgx += g * (double.CreateTruncating(x[o + j]) - m);
                    }
                }
                sgx *= inv; // Σ dy·x̂
                if (dw is not null) dw[c] = T.CreateTruncating(sgx);
                if (db is not null) db[c] = T.CreateTruncating(sg);
                if (dx is null) continue;
                double wc = w is null ? 1.0 : double.CreateTruncating(w[c]);
                double k = wc * inv;
                // Training: dx = w·inv·(dy − mean(dy) − x̂·mean(dy·x̂)); inference: dx = w·inv·dy.
                double mg = training ? sg / count : 0, mgx = training ? sgx / count : 0;
                for (int i = 0; i < n; i++)
                {
                    long o = i * cs + c * spatial;
                    for (int j = 0; j < spatial; j++)
                    {
                        double xh = (double.CreateTruncating(x[o + j]) - m) * inv;
                        dx[o + j] = T.CreateTruncating(k * (double.CreateTruncating(dy[o + j]) - mg - xh * mgx));
                    }
                }
            }
        });
    }
}
