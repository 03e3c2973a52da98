using System.Numerics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Upsample;

/// <summary>Reference implementation. Source indices and weights are computed once per axis
/// (as PyTorch does), then every (n, c) plane is resized independently: planes run in parallel
/// and the backward scatter stays inside one plane, so it is deterministic.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class UpsampleCpu : IUpsample
{
    public void Forward(in UpsampleShape s, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Run(s, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y), backward: false); break;
            case DType.F64: Run(s, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y), backward: false); break;
            default: throw new NotSupportedException($"Upsample.Forward: dtype {y.DType.Name()} is not supported on the cpu");
        }
    }

    public void Backward(in UpsampleShape s, DeviceBuffer dy, DeviceBuffer dx)
    {
        switch (dx.DType)
        {
            case DType.F32: Run(s, CpuBuffer.Array<float>(dx), CpuBuffer.Array<float>(dy), backward: true); break;
            case DType.F64: Run(s, CpuBuffer.Array<double>(dx), CpuBuffer.Array<double>(dy), backward: true); break;
            default: throw new NotSupportedException($"Upsample.Backward: dtype {dx.DType.Name()} is not supported on the cpu");
        }
    }

    /// <summary>Per-axis source indices and weights: output o reads in[I0[o]]·L0[o] + in[I1[o]]·L1[o].</summary>
    private readonly struct Axis<T>(int[] i0, int[] i1, T[] l0, T[] l1)
    {
        public readonly int[] I0 = i0, I1 = i1;
        public readonly T[] L0 = l0, L1 = l1;
    }

    private static Axis<T> MakeAxis<T>(int input, int output, UpsampleMode mode, bool alignCorners)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i0 = new int[output];
        var i1 = new int[output];
        var l0 = new T[output];
        var l1 = new T[output];
        if (mode == UpsampleMode.Nearest)
        {
            // PyTorch computes the nearest scale in float32 whatever the dtype; same here so the
            // floor lands on the same index.
            float scale = (float)input / output;
            for (int o = 0; o < output; o++)
            {
                int src = input == output ? o : output == 2 * input ? o >> 1 : Math.Min((int)MathF.Floor(o * scale), input - 1);
                i0[o] = i1[o] = src;
                l0[o] = T.One;
                l1[o] = T.Zero;
            }
            return new Axis<T>(i0, i1, l0, l1);
        }
        T sc = alignCorners
            ? (output > 1 ? T.CreateTruncating(input - 1) / T.CreateTruncating(output - 1) : T.Zero)
            : T.CreateTruncating(input) / T.CreateTruncating(output);
        for (int o = 0; o < output; o++)
        {
            T real;
            if (alignCorners) real = sc * T.CreateTruncating(o);
            else
            {
                // As PyTorch: the half-pixel shift is evaluated in double, then rounded to T.
                real = T.CreateTruncating(double.CreateTruncating(sc) * (o + 0.5) - 0.5);
                if (real < T.Zero) real = T.Zero;
            }
            int idx = int.CreateTruncating(real);
            i0[o] = idx;
            i1[o] = idx + (idx < input - 1 ? 1 : 0);
            T lambda = T.Clamp(real - T.CreateTruncating(idx), T.Zero, T.One);
            l1[o] = lambda;
            l0[o] = T.One - lambda;
        }
        return new Axis<T>(i0, i1, l0, l1);
    }

    /// <summary>Forward reads xs (input-sized) into ys (output-sized). Backward (ys holds dy, xs receives
    /// dx): the same loop with the reads turned into scatters.</summary>
    private static void Run<T>(UpsampleShape s, T[] xs, T[] ys, bool backward)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ad = MakeAxis<T>(s.InD, s.OutD, s.Mode, s.AlignCorners);
        var ah = MakeAxis<T>(s.InH, s.OutH, s.Mode, s.AlignCorners);
        var aw = MakeAxis<T>(s.InW, s.OutW, s.Mode, s.AlignCorners);
        bool nearest = s.Mode == UpsampleMode.Nearest, planar = s.InD == 1;
        int inHW = s.InH * s.InW;
        CpuParallel.For(s.Planes, Math.Max(1, s.OutPlane * (nearest ? 1 : planar ? 4 : 8)), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
            {
                long xo = p * s.InPlane, yo = p * s.OutPlane;
                if (backward) xs.AsSpan((int)xo, (int)s.InPlane).Clear();
                long o = yo;
                for (int od = 0; od < s.OutD; od++)
                {
                    long d0 = xo + (long)ad.I0[od] * inHW, d1 = xo + (long)ad.I1[od] * inHW;
                    T wd0 = ad.L0[od], wd1 = ad.L1[od];
                    for (int oh = 0; oh < s.OutH; oh++)
                    {
                        int h0 = ah.I0[oh] * s.InW, h1 = ah.I1[oh] * s.InW;
                        T wh0 = ah.L0[oh], wh1 = ah.L1[oh];
                        if (nearest)
                        {
                            long row = d0 + h0;
                            if (backward)
                                for (int ow = 0; ow < s.OutW; ow++, o++) xs[row + aw.I0[ow]] += ys[o];
                            else
                                for (int ow = 0; ow < s.OutW; ow++, o++) ys[o] = xs[row + aw.I0[ow]];
                            continue;
                        }
                        long r00 = d0 + h0, r01 = d0 + h1, r10 = d1 + h0, r11 = d1 + h1;
                        T c00 = wd0 * wh0, c01 = wd0 * wh1, c10 = wd1 * wh0, c11 = wd1 * wh1;
                        if (planar)
                        {
                            // Bilinear / linear input: no depth term at all (as PyTorch's 2-D kernel).
                            LinearRow(xs, ys, o, s.OutW, aw, r00, r01, wh0, wh1, backward);
                            o += s.OutW;
                            continue;
                        }
                        for (int ow = 0; ow < s.OutW; ow++, o++)
                        {
                            int w0 = aw.I0[ow], w1 = aw.I1[ow];
                            T ww0 = aw.L0[ow], ww1 = aw.L1[ow];
                            if (backward)
                            {
                                T g = ys[o];
                                xs[r00 + w0] += g * c00 * ww0;
                                xs[r00 + w1] += g * c00 * ww1;
                                xs[r01 + w0] += g * c01 * ww0;
                                xs[r01 + w1] += g * c01 * ww1;
                                xs[r10 + w0] += g * c10 * ww0;
                                xs[r10 + w1] += g * c10 * ww1;
                                xs[r11 + w0] += g * c11 * ww0;
                                xs[r11 + w1] += g * c11 * ww1;
                            }
                            else
                            {
                                ys[o] = c00 * (ww0 * xs[r00 + w0] + ww1 * xs[r00 + w1])
                                       + c01 * (ww0 * xs[r01 + w0] + ww1 * xs[r01 + w1])
                                       + c10 * (ww0 * xs[r10 + w0] + ww1 * xs[r10 + w1])
                                       + c11 * (ww0 * xs[r11 + w0] + ww1 * xs[r11 + w1]);
                            }
                        }
                    }
                }
            }
        });
    }

    /// <summary>One output row of a bilinear resize from input rows r0 (weight wh0) and r1 (wh1).</summary>
    private static void LinearRow<T>(T[] xs, T[] ys, long o, int outW, Axis<T> aw, long r0, long r1, T wh0, T wh1,
        bool backward)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int ow = 0; ow < outW; ow++, o++)
        {
            int w0 = aw.I0[ow], w1 = aw.I1[ow];
            T ww0 = aw.L0[ow], ww1 = aw.L1[ow];
            if (backward)
            {
                T g0 = ys[o] * wh0, g1 = ys[o] * wh1;
                xs[r0 + w0] += g0 * ww0;
                xs[r0 + w1] += g0 * ww1;
                xs[r1 + w0] += g1 * ww0;
                xs[r1 + w1] += g1 * ww1;
            }
            else
                ys[o] = wh0 * (ww0 * xs[r0 + w0] + ww1 * xs[r0 + w1]) + wh1 * (ww0 * xs[r1 + w0] + ww1 * xs[r1 + w1]);
        }
    }
}
