using ILGPU;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Upsample;

/// <summary>ILGPU version of the resize (float32). The per-axis source indices and weights are
/// computed on the host exactly as the cpu computes them (so a floor never lands elsewhere) and
/// uploaded as two small tables; the forward runs one thread per output, the backward one thread
/// per input that gathers from the outputs that read it (each axis's readers form one range,
/// tabulated too): no atomics, deterministic. Runs on ilgpu-cpu and, compiled to PTX, on cuda.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class UpsampleIlgpu(Device device) : IUpsample
{
    private static readonly IlgpuKernel s_forward = new(ForwardKernel);
    private static readonly IlgpuKernel s_backward = new(BackwardKernel);

    public void Forward(in UpsampleShape s, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Upsample.Forward", x, y);
        long n = s.Planes * s.OutPlane;
        if (n <= 0) return;
        var (idx, wts) = Tables(s);
        using (idx)
        using (wts)
            s_forward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, idx, wts, n,
                s.Mode == UpsampleMode.Nearest ? 1 : 0, s.InD, s.InH, s.InW, s.OutD, s.OutH, s.OutW);
    }

    public void Backward(in UpsampleShape s, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Upsample.Backward", dy, dx);
        long n = s.Planes * s.InPlane;
        if (n <= 0) return;
        var (idx, wts) = Tables(s);
        using (idx)
        using (wts)
            s_backward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, dy, dx, idx, wts, n,
                s.InD, s.InH, s.InW, s.OutD, s.OutH, s.OutW);
    }

    /// <summary>Int table: for each axis D, H, W in turn, I0[out] and I1[out]; then for each axis,
    /// First[in] and End[in], the range of outputs that read that input. Float table: for each
    /// axis, L0[out] and L1[out]. Output o reads in[I0]·L0 + in[I1]·L1 along each axis.</summary>
    private (DeviceBuffer Idx, DeviceBuffer Weights) Tables(in UpsampleShape s)
    {
        int outSum = s.OutD + s.OutH + s.OutW, inSum = s.InD + s.InH + s.InW;
        var idx = new int[2 * outSum + 2 * inSum];
        var wts = new float[2 * outSum];
        int o = 0, r = 2 * outSum;
        foreach (var (input, output) in new[] { (s.InD, s.OutD), (s.InH, s.OutH), (s.InW, s.OutW) })
        {
            var i0 = idx.AsSpan(o, output);
            var i1 = idx.AsSpan(o + output, output);
            Axis(input, output, s.Mode, s.AlignCorners, i0, i1, wts.AsSpan(o, output), wts.AsSpan(o + output, output));
            var first = idx.AsSpan(r, input);
            var end = idx.AsSpan(r + input, input);
            first.Fill(output);
            end.Clear();
            for (int j = 0; j < output; j++)
            {
                first[i0[j]] = Math.Min(first[i0[j]], j);
                first[i1[j]] = Math.Min(first[i1[j]], j);
                end[i0[j]] = Math.Max(end[i0[j]], j + 1);
                end[i1[j]] = Math.Max(end[i1[j]], j + 1);
            }
            o += 2 * output;
            r += 2 * input;
        }
        var di = device.Allocate(DType.I32, idx.Length);
        var dw = device.Allocate(DType.F32, wts.Length);
        device.Upload<int>(idx, di);
        device.Upload<float>(wts, dw);
        return (di, dw);
    }

    /// <summary>The cpu's per-axis rule in float32 (see UpsampleCpu.MakeAxis): PyTorch's nearest
    /// with a float32 scale; linear with or without align_corners, the half-pixel shift in double.</summary>
    private static void Axis(int input, int output, UpsampleMode mode, bool alignCorners,
        Span<int> i0, Span<int> i1, Span<float> l0, Span<float> l1)
    {
        if (mode == UpsampleMode.Nearest)
        {
            float scale = (float)input / output;
            for (int o = 0; o < output; o++)
            {
                int src = input == output ? o : output == 2 * input ? o >> 1 : Math.Min((int)MathF.Floor(o * scale), input - 1);
                i0[o] = i1[o] = src;
                l0[o] = 1f;
                l1[o] = 0f;
            }
            return;
        }
        float sc = alignCorners ? (output > 1 ? (float)(input - 1) / (output - 1) : 0f) : (float)input / output;
        for (int o = 0; o < output; o++)
        {
            float real;
            if (alignCorners) real = sc * o;
            else
            {
                real = (float)((double)sc * (o + 0.5) - 0.5);
                if (real < 0f) real = 0f;
            }
            int i = (int)real;
            i0[o] = i;
            i1[o] = i + (i < input - 1 ? 1 : 0);
            float lambda = Math.Clamp(real - i, 0f, 1f);
            l1[o] = lambda;
            l0[o] = 1f - lambda;
        }
    }

    private static void ForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<int> idx, ArrayView<float> wts,
        long total, int nearest, int inD, int inH, int inW, int outD, int outH, int outW)
    {
        long inPlane = (long)inD * inH * inW;
        int oH = 2 * outD, oW = 2 * (outD + outH); // table offsets of the H and W axes
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            long t = i;
            int ow = (int)(t % outW); t /= outW;
            int oh = (int)(t % outH); t /= outH;
            int od = (int)(t % outD);
            long xo = t / outD * inPlane;
            long d0 = xo + (long)idx[od] * inH * inW, d1 = xo + (long)idx[outD + od] * inH * inW;
            long h0 = (long)idx[oH + oh] * inW, h1 = (long)idx[oH + outH + oh] * inW;
            int w0 = idx[oW + ow], w1 = idx[oW + outW + ow];
            if (nearest != 0)
            {
                y[i] = x[d0 + h0 + w0];
                continue;
            }
            float wd0 = wts[od], wd1 = wts[outD + od];
            float wh0 = wts[oH + oh], wh1 = wts[oH + outH + oh];
            float ww0 = wts[oW + ow], ww1 = wts[oW + outW + ow];
            float v = wh0 * (ww0 * x[d0 + h0 + w0] + ww1 * x[d0 + h0 + w1])
                      + wh1 * (ww0 * x[d0 + h1 + w0] + ww1 * x[d0 + h1 + w1]);
            // A planar resize has wd1 = 0 and no depth term (as the cpu).
            if (wd1 != 0f)
                v = wd0 * v + wd1 * (wh0 * (ww0 * x[d1 + h0 + w0] + ww1 * x[d1 + h0 + w1])
                                     + wh1 * (ww0 * x[d1 + h1 + w0] + ww1 * x[d1 + h1 + w1]));
            y[i] = v;
        }
    }

    /// <summary>Weight with which output o reads input i along one axis (0 when it does not).</summary>
    private static float Weight(ArrayView<int> idx, ArrayView<float> wts, int off, int output, int o, int i) =>
        (idx[off + o] == i ? wts[off + o] : 0f) + (idx[off + output + o] == i ? wts[off + output + o] : 0f);

    private static void BackwardKernel(ArrayView<float> dy, ArrayView<float> dx, ArrayView<int> idx, ArrayView<float> wts,
        long total, int inD, int inH, int inW, int outD, int outH, int outW)
    {
        long outPlane = (long)outD * outH * outW;
        int oH = 2 * outD, oW = 2 * (outD + outH);
        int r = 2 * (outD + outH + outW), rH = r + 2 * inD, rW = rH + 2 * inH; // range tables
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            long t = i;
            int iw = (int)(t % inW); t /= inW;
            int ih = (int)(t % inH); t /= inH;
            int id = (int)(t % inD);
            long yo = t / inD * outPlane;
            float acc = 0f;
            int hFirst = idx[rH + ih], hEnd = idx[rH + inH + ih];
            int wFirst = idx[rW + iw], wEnd = idx[rW + inW + iw];
            for (int od = idx[r + id], dEnd = idx[r + inD + id]; od < dEnd; od++)
            {
                float wd = Weight(idx, wts, 0, outD, od, id);
                for (int oh = hFirst; oh < hEnd; oh++)
                {
                    float wdh = wd * Weight(idx, wts, oH, outH, oh, ih);
                    long row = yo + ((long)od * outH + oh) * outW;
                    for (int ow = wFirst; ow < wEnd; ow++)
                        acc += dy[row + ow] * (wdh * Weight(idx, wts, oW, outW, ow, iw));
                }
            }
            dx[i] = acc;
        }
    }
}
