using System.Numerics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Pool;

/// <summary>Reference implementation: each (n, c) plane is one unit of work, so planes run in
/// parallel and each backward scatter stays inside one thread (deterministic, no atomics).</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class PoolCpu : IPool
{
    public void MaxForward(in PoolShape s, DeviceBuffer x, DeviceBuffer y, DeviceBuffer argmax)
    {
        var idx = CpuBuffer.Array<int>(argmax);
        switch (y.DType)
        {
            case DType.F32 when MaxPoolF32.Applies(s):
                MaxPoolF32.Forward2x2(s, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y), idx);
                break;
            case DType.F32: MaxForward(s, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y), idx); break;
            case DType.F64: MaxForward(s, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y), idx); break;
            default: throw Unsupported(nameof(MaxForward), y.DType);
        }
    }

    public void MaxBackward(in PoolShape s, DeviceBuffer dy, DeviceBuffer argmax, DeviceBuffer dx)
    {
        var idx = CpuBuffer.Array<int>(argmax);
        switch (dx.DType)
        {
            case DType.F32: MaxBackward(s, CpuBuffer.Array<float>(dy), idx, CpuBuffer.Array<float>(dx)); break;
            case DType.F64: MaxBackward(s, CpuBuffer.Array<double>(dy), idx, CpuBuffer.Array<double>(dx)); break;
            default: throw Unsupported(nameof(MaxBackward), dx.DType);
        }
    }

    public void AvgForward(in PoolShape s, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: AvgForward(s, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: AvgForward(s, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            default: throw Unsupported(nameof(AvgForward), y.DType);
        }
    }

    public void AvgBackward(in PoolShape s, DeviceBuffer dy, DeviceBuffer dx)
    {
        switch (dx.DType)
        {
            case DType.F32: AvgBackward(s, CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx)); break;
            case DType.F64: AvgBackward(s, CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx)); break;
            default: throw Unsupported(nameof(AvgBackward), dx.DType);
        }
    }

    public void GlobalAvgForward(long planes, long planeSize, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: GlobalAvgForward(planes, planeSize, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: GlobalAvgForward(planes, planeSize, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            default: throw Unsupported(nameof(GlobalAvgForward), y.DType);
        }
    }

    public void GlobalAvgBackward(long planes, long planeSize, DeviceBuffer dy, DeviceBuffer dx)
    {
        switch (dx.DType)
        {
            case DType.F32: GlobalAvgBackward(planes, planeSize, CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx)); break;
            case DType.F64: GlobalAvgBackward(planes, planeSize, CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx)); break;
            default: throw Unsupported(nameof(GlobalAvgBackward), dx.DType);
        }
    }

    private static NotSupportedException Unsupported(string pass, DType t) =>
        new($"Pool.{pass}: dtype {t.Name()} is not supported on the cpu");

    /// <summary>Cost estimate per plane, for the inline-or-parallel decision.</summary>
    private static long PlaneCost(in PoolShape s) => Math.Max(1, s.OutPlane * s.KD * s.KH * s.KW);

    private static void MaxForward<T>(PoolShape s, T[] x, T[] y, int[] argmax)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hw = s.InH * s.InW;
        CpuParallel.For(s.Planes, PlaneCost(s), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
            {
                long xo = p * s.InPlane, yo = p * s.OutPlane;
                int o = 0;
                for (int od = 0; od < s.OutD; od++)
                {
                    var (d0, d1, _) = Window(od, s.SD, s.PD, s.KD, s.InD);
                    for (int oh = 0; oh < s.OutH; oh++)
                    {
                        var (h0, h1, _) = Window(oh, s.SH, s.PH, s.KH, s.InH);
                        for (int ow = 0; ow < s.OutW; ow++, o++)
                        {
                            var (w0, w1, _) = Window(ow, s.SW, s.PW, s.KW, s.InW);
                            // First strict maximum wins; a NaN wins over numbers (as in PyTorch).
                            T best = T.NegativeInfinity;
                            int bestIdx = d0 * hw + h0 * s.InW + w0;
                            for (int d = d0; d < d1; d++)
                                for (int h = h0; h < h1; h++)
                                {
                                    int row = d * hw + h * s.InW;
                                    for (int w = w0; w < w1; w++)
                                    {
                                        T v = x[xo + row + w];
                                        if (v > best || T.IsNaN(v))
                                        {
                                            best = v;
                                            bestIdx = row + w;
                                            if (T.IsNaN(v)) goto done;
                                        }
                                    }
                                }
                            done:
                            y[yo + o] = best;
                            argmax[yo + o] = bestIdx;
                        }
                    }
                }
            }
        });
    }

    private static void MaxBackward<T>(PoolShape s, T[] dy, int[] argmax, T[] dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(s.Planes, Math.Max(1, s.OutPlane + s.InPlane), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
            {
                long xo = p * s.InPlane, yo = p * s.OutPlane;
                dx.AsSpan((int)xo, (int)s.InPlane).Clear();
                for (long o = 0; o < s.OutPlane; o++) dx[xo + argmax[yo + o]] += dy[yo + o];
            }
        });
    }

    private static void AvgForward<T>(PoolShape s, T[] x, T[] y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hw = s.InH * s.InW;
        CpuParallel.For(s.Planes, PlaneCost(s), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
            {
                long xo = p * s.InPlane, yo = p * s.OutPlane;
                int o = 0;
                for (int od = 0; od < s.OutD; od++)
                {
                    var (d0, d1, nd) = Window(od, s.SD, s.PD, s.KD, s.InD);
                    for (int oh = 0; oh < s.OutH; oh++)
                    {
                        var (h0, h1, nh) = Window(oh, s.SH, s.PH, s.KH, s.InH);
                        for (int ow = 0; ow < s.OutW; ow++, o++)
                        {
                            var (w0, w1, nw) = Window(ow, s.SW, s.PW, s.KW, s.InW);
                            double sum = 0;
                            for (int d = d0; d < d1; d++)
                                for (int h = h0; h < h1; h++)
                                {
                                    long row = xo + d * hw + h * s.InW;
                                    for (int w = w0; w < w1; w++) sum += double.CreateTruncating(x[row + w]);
                                }
                            y[yo + o] = T.CreateTruncating(sum / ((double)nd * nh * nw));
                        }
                    }
                }
            }
        });
    }

    private static void AvgBackward<T>(PoolShape s, T[] dy, T[] dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hw = s.InH * s.InW;
        CpuParallel.For(s.Planes, PlaneCost(s), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
            {
                long xo = p * s.InPlane, yo = p * s.OutPlane;
                dx.AsSpan((int)xo, (int)s.InPlane).Clear();
                int o = 0;
                for (int od = 0; od < s.OutD; od++)
                {
                    var (d0, d1, nd) = Window(od, s.SD, s.PD, s.KD, s.InD);
                    for (int oh = 0; oh < s.OutH; oh++)
                    {
                        var (h0, h1, nh) = Window(oh, s.SH, s.PH, s.KH, s.InH);
                        for (int ow = 0; ow < s.OutW; ow++, o++)
                        {
                            var (w0, w1, nw) = Window(ow, s.SW, s.PW, s.KW, s.InW);
                            T g = dy[yo + o] / T.CreateTruncating((double)nd * nh * nw);
                            for (int d = d0; d < d1; d++)
                                for (int h = h0; h < h1; h++)
                                {
                                    long row = xo + d * hw + h * s.InW;
                                    for (int w = w0; w < w1; w++) dx[row + w] += g;
                                }
                        }
                    }
                }
            }
        });
    }

    /// <summary>The clipped input range of an output's window and the divisor along that axis:
    /// PyTorch counts the padded cells (the window clipped to [−pad, in + pad)), not the input ones.</summary>
    private static (int Start, int End, int Count) Window(int o, int stride, int pad, int kernel, int input)
    {
        int start = o * stride - pad;
        int end = Math.Min(start + kernel, input + pad);
        int count = end - start;
        return (Math.Max(start, 0), Math.Min(end, input), count);
    }

    private static void GlobalAvgForward<T>(long planes, long size, T[] x, T[] y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(planes, Math.Max(1, size), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
            {
                double sum = 0;
                long o = p * size;
                for (long i = 0; i < size; i++) sum += double.CreateTruncating(x[o + i]);
                y[p] = T.CreateTruncating(sum / size);
            }
        });
    }

    private static void GlobalAvgBackward<T>(long planes, long size, T[] dy, T[] dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(planes, Math.Max(1, size), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
                dx.AsSpan((int)(p * size), (int)size).Fill(dy[p] / T.CreateTruncating((double)size));
        });
    }
}
