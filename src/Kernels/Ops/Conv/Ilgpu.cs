using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Ops.Activation;
using Kernels.Registry;

using Geo = Kernels.Ops.Conv.ConvGeometry3;

namespace Kernels.Ops.Conv;

/// <summary>ILGPU version of the convolution (float32), direct kernels with no column matrix:
/// forward one thread per output, backward-data one thread per input gathering from the outputs
/// it fed (no atomics, deterministic), backward-weights one warp per weight element reducing over
/// batch × output positions (one thread per element when that reduction is short), channel sums
/// one group per channel. Every rank (1-D, 2-D, 3-D) runs as 3-D with size-1 leading axes.
/// Runs on ilgpu-cpu and, compiled to PTX, on cuda.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class ConvIlgpu(Device device) : IConv
{
    private static readonly IlgpuKernel s_forward = new(ForwardKernel);
    private static readonly IlgpuKernel s_backwardData = new(BackwardDataKernel);
    private static readonly IlgpuKernel s_backwardWeights = new(BackwardWeightsKernel);
    private static readonly IlgpuKernel s_backwardWeightsShort = new(BackwardWeightsShortKernel);
    private static readonly IlgpuKernel s_channelSum = new(ChannelSumKernel);

    /// <summary>Threads of a group-reduction launch (a multiple of the warp, at most 32 warps).</summary>
    private const int SumThreads = 64;

    /// <summary>Threads per group of the weight-gradient launch: four warps, one weight element each.</summary>
    private const int WarpThreads = 128;

    /// <summary>Weight-gradient reductions (batch × output positions) shorter than this run one
    /// thread per weight element: a warp per element would leave most lanes idle.</summary>
    public const long ShortReduction = 1024;

    public void Forward(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y) =>
        Launch(shape, x, w, bias, y, ConvEpilogue.None, 0, null, null);

    /// <summary>The epilogue is fused into the direct forward kernel: each thread applies bias,
    /// scale, shift and the activation to its own output before the single store.</summary>
    public void ForwardFused(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y,
        ActivationKind? activation, double alpha, DeviceBuffer? scale, DeviceBuffer? shift) =>
        Launch(shape, x, w, bias, y, ConvEpilogue.Code(activation), alpha, scale, shift);

    private void Launch(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y,
        int act, double alpha, DeviceBuffer? scale, DeviceBuffer? shift)
    {
        IlgpuLaunch.RequireF32("Conv.Forward", x, w, y);
        foreach (var v in new[] { bias, scale, shift })
            if (v is not null) IlgpuLaunch.RequireF32("Conv.Forward", v);
        long n = shape.OutputElements;
        if (n <= 0) return;
        var g = Geo.Of(shape);
        s_forward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, w, bias ?? w, scale ?? w, shift ?? w,
            IlgpuEpilogue.Parts(bias, scale, shift), act, (float)alpha, y,
            n, shape.InChannels, shape.OutChannels, shape.Groups,
            g.InD, g.InH, g.InW, g.OutD, g.OutH, g.OutW, g.KD, g.KH, g.KW,
            g.SD, g.SH, g.SW, g.PD, g.PH, g.PW, g.DD, g.DH, g.DW);
    }

    public void BackwardData(in ConvShape shape, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx, DeviceBuffer? bias = null)
    {
        IlgpuLaunch.RequireF32("Conv.BackwardData", dy, w, dx);
        if (bias is not null) IlgpuLaunch.RequireF32("Conv.BackwardData", bias);
        long n = shape.InputElements;
        if (n <= 0) return;
        var g = Geo.Of(shape);
        s_backwardData.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, dy, w, bias ?? w, bias is null ? 0 : 1, dx,
            n, shape.InChannels, shape.OutChannels, shape.Groups,
            g.InD, g.InH, g.InW, g.OutD, g.OutH, g.OutW, g.KD, g.KH, g.KW,
            g.SD, g.SH, g.SW, g.PD, g.PH, g.PW, g.DD, g.DH, g.DW);
    }

    public void BackwardWeights(in ConvShape shape, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? db)
    {
        IlgpuLaunch.RequireF32("Conv.BackwardWeights", x, dy, dw);
        if (db is not null)
        {
            IlgpuLaunch.RequireF32("Conv.BackwardWeights", db);
            ChannelSum(shape.Batch, shape.OutChannels, Math.Max(0, shape.OutSpatial), dy, db);
        }
        long n = shape.WeightElements;
        if (n <= 0) return;
        if (shape.OutSpatial > int.MaxValue)
            throw new NotSupportedException($"Conv.BackwardWeights: {shape.OutSpatial} output positions per image; the ilgpu kernel takes at most 2^31 - 1");
        var g = Geo.Of(shape);
        if (shape.Batch * Math.Max(0, shape.OutSpatial) < ShortReduction)
        {
            s_backwardWeightsShort.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, dy, dw,
                n, shape.Batch, shape.InChannels, shape.OutChannels, shape.Groups,
                g.InD, g.InH, g.InW, g.OutD, g.OutH, g.OutW, g.KD, g.KH, g.KW,
                g.SD, g.SH, g.SW, g.PD, g.PH, g.PW, g.DD, g.DH, g.DW);
            return;
        }
        int warpsPerGroup = WarpThreads / 32;
        var grid = new Dim3((uint)Math.Clamp((n + warpsPerGroup - 1) / warpsPerGroup, 1, IlgpuLaunch.MaxGroups));
        s_backwardWeights.Launch(device, grid, new Dim3(WarpThreads), x, dy, dw,
            n, shape.Batch, shape.InChannels, shape.OutChannels, shape.Groups,
            g.InD, g.InH, g.InW, g.OutD, g.OutH, g.OutW, g.KD, g.KH, g.KW,
            g.SD, g.SH, g.SW, g.PD, g.PH, g.PW, g.DD, g.DH, g.DW);
    }

    public void ChannelSum(int batch, int channels, long spatial, DeviceBuffer t, DeviceBuffer sum)
    {
        IlgpuLaunch.RequireF32("Conv.ChannelSum", t, sum);
        if (channels <= 0) return;
        var grid = new Dim3((uint)Math.Min(channels, IlgpuLaunch.MaxGroups));
        s_channelSum.Launch(device, grid, new Dim3(SumThreads), t, sum, batch, channels, spatial);
    }

    private static void ForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> scale, ArrayView<float> shift, int parts, int act, float alpha,
        ArrayView<float> y, long total, int cin, int cout, int groups,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW, int dD, int dH, int dW)
    {
        int cg = cin / groups, og = cout / groups;
        long inPlane = (long)inD * inH * inW;
        int kVol = kD * kH * kW;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            long t = i;
            int ow = (int)(t % outW); t /= outW;
            int oh = (int)(t % outH); t /= outH;
            int od = (int)(t % outD); t /= outD;
            int co = (int)(t % cout);
            long b = t / cout;
            long xBase = (b * cin + (long)(co / og) * cg) * inPlane;
            long wBase = (long)co * cg * kVol;
            int d0 = od * sD - pD, h0 = oh * sH - pH, w0 = ow * sW - pW;
            float acc = 0f;
            for (int kd = 0; kd < kD; kd++)
            {
                int id = d0 + kd * dD;
                if (id < 0 || id >= inD) continue;
                for (int kh = 0; kh < kH; kh++)
                {
                    int ih = h0 + kh * dH;
                    if (ih < 0 || ih >= inH) continue;
                    for (int kw = 0; kw < kW; kw++)
                    {
                        int iw = w0 + kw * dW;
                        if (iw < 0 || iw >= inW) continue;
                        long xo = xBase + ((long)id * inH + ih) * inW + iw;
                        long wo = wBase + (kd * kH + kh) * kW + kw;
                        for (int c = 0; c < cg; c++) acc += x[xo + c * inPlane] * w[wo + (long)c * kVol];
                    }
                }
            }
            y[i] = IlgpuEpilogue.Apply(acc, co, bias, scale, shift, parts, act, alpha);
        }
    }

    /// <summary>dx at one input position: for each kernel tap, the output it fed (if the stride
    /// lands on it), summed over the group's output channels.</summary>
    private static void BackwardDataKernel(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> bias, int hasBias,
        ArrayView<float> dx, long total, int cin, int cout, int groups,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW, int dD, int dH, int dW)
    {
        int cg = cin / groups, og = cout / groups;
        long outPlane = (long)outD * outH * outW;
        int kVol = kD * kH * kW;
        long wCoStride = (long)cg * kVol;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            long t = i;
            int iw = (int)(t % inW); t /= inW;
            int ih = (int)(t % inH); t /= inH;
            int id = (int)(t % inD); t /= inD;
            int ci = (int)(t % cin);
            long b = t / cin;
            int g = ci / cg;
            long yBase = (b * cout + (long)g * og) * outPlane;
            long wBase = ((long)g * og * cg + ci % cg) * kVol;
            float acc = 0f;
            for (int kd = 0; kd < kD; kd++)
            {
                int td = id + pD - kd * dD;
                if (td < 0 || td % sD != 0 || td / sD >= outD) continue;
                for (int kh = 0; kh < kH; kh++)
                {
                    int th = ih + pH - kh * dH;
                    if (th < 0 || th % sH != 0 || th / sH >= outH) continue;
                    for (int kw = 0; kw < kW; kw++)
                    {
                        int tw = iw + pW - kw * dW;
                        if (tw < 0 || tw % sW != 0 || tw / sW >= outW) continue;
                        long yo = yBase + ((long)(td / sD) * outH + th / sH) * outW + tw / sW;
                        long wo = wBase + (kd * kH + kh) * kW + kw;
                        for (int c = 0; c < og; c++) acc += dy[yo + c * outPlane] * w[wo + c * wCoStride];
                    }
                }
            }
            if (hasBias != 0) acc += bias[ci];
            dx[i] = acc;
        }
    }

    /// <summary>One warp per weight element (grid-stride over elements by warps, so a warp's loop
    /// and its shuffles stay converged): lanes stride over batch × output positions, then a warp
    /// shuffle sum. No shared memory and no barriers.</summary>
    private static void BackwardWeightsKernel(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw,
        long total, int batch, int cin, int cout, int groups,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW, int dD, int dH, int dW)
    {
        int cg = cin / groups, og = cout / groups;
        long inPlane = (long)inD * inH * inW;
        long outPlane = (long)outD * outH * outW;
        int lane = Warp.LaneIdx;
        long warps = (long)Grid.DimX * (Group.DimX / Warp.WarpSize);
        for (long e = (long)Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx; e < total; e += warps)
        {
            long t = e;
            int kw = (int)(t % kW); t /= kW;
            int kh = (int)(t % kH); t /= kH;
            int kd = (int)(t % kD); t /= kD;
            int cl = (int)(t % cg);
            int co = (int)(t / cg);
            int ci = co / og * cg + cl;
            int offD = kd * dD - pD, offH = kh * dH - pH, offW = kw * dW - pW;
            float acc = 0f;
            // Lanes take consecutive output positions of one image (coalesced dy and x reads);
            // positions are split in int (the host checks a plane fits), not with 64-bit divisions.
            for (int b = 0; b < batch; b++)
            {
                long yo = ((long)b * cout + co) * outPlane;
                long xo = ((long)b * cin + ci) * inPlane;
                for (int r = lane; r < outPlane; r += Warp.WarpSize)
                {
                    int ow = r % outW, q = r / outW;
                    int oh = q % outH, od = q / outH;
                    int id = od * sD + offD, ih = oh * sH + offH, iw = ow * sW + offW;
                    if (id < 0 || id >= inD || ih < 0 || ih >= inH || iw < 0 || iw >= inW) continue;
                    acc += dy[yo + r] * x[xo + ((long)id * inH + ih) * inW + iw];
                }
            }
            for (int o = 16; o > 0; o >>= 1) acc += Warp.ShuffleDown(acc, o);
            if (lane == 0) dw[e] = acc;
        }
    }

    /// <summary>One thread per weight element looping over batch × output positions (short reductions).</summary>
    private static void BackwardWeightsShortKernel(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw,
        long total, int batch, int cin, int cout, int groups,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW, int dD, int dH, int dW)
    {
        int cg = cin / groups, og = cout / groups;
        long inPlane = (long)inD * inH * inW;
        long outPlane = (long)outD * outH * outW;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long e = Grid.GlobalIndex.X; e < total; e += stride)
        {
            long t = e;
            int kw = (int)(t % kW); t /= kW;
            int kh = (int)(t % kH); t /= kH;
            int kd = (int)(t % kD); t /= kD;
            int cl = (int)(t % cg);
            int co = (int)(t / cg);
            int ci = co / og * cg + cl;
            int offD = kd * dD - pD, offH = kh * dH - pH, offW = kw * dW - pW;
            float acc = 0f;
            for (int b = 0; b < batch; b++)
            {
                long yo = ((long)b * cout + co) * outPlane;
                long xo = ((long)b * cin + ci) * inPlane;
                for (int od = 0; od < outD; od++)
                {
                    int id = od * sD + offD;
                    if (id < 0 || id >= inD) continue;
                    for (int oh = 0; oh < outH; oh++)
                    {
                        int ih = oh * sH + offH;
                        if (ih < 0 || ih >= inH) continue;
                        long yRow = yo + ((long)od * outH + oh) * outW;
                        long xRow = xo + ((long)id * inH + ih) * inW;
                        for (int ow = 0; ow < outW; ow++)
                        {
                            int iw = ow * sW + offW;
                            if (iw >= 0 && iw < inW) acc += dy[yRow + ow] * x[xRow + iw];
                        }
                    }
                }
            }
            dw[e] = acc;
        }
    }

    /// <summary>One group per channel (grid-stride over channels): threads stride over batch ×
    /// spatial, then a group sum.</summary>
    private static void ChannelSumKernel(ArrayView<float> t, ArrayView<float> sum, int batch, int channels, long spatial)
    {
        var partial = SharedMemory.Allocate<float>(SumThreads / 32);
        for (int c = Grid.IdxX; c < channels; c += Grid.DimX)
        {
            float acc = 0f;
            for (int b = 0; b < batch; b++)
            {
                long o = ((long)b * channels + c) * spatial;
                for (long r = Group.IdxX; r < spatial; r += Group.DimX) acc += t[o + r];
            }
            for (int o = 16; o > 0; o >>= 1) acc += Warp.ShuffleDown(acc, o);
            if (Warp.LaneIdx == 0) partial[Warp.WarpIdx] = acc;
            Group.Barrier();
            if (Warp.WarpIdx == 0)
            {
                float v = Warp.LaneIdx < Group.DimX / Warp.WarpSize ? partial[Warp.LaneIdx] : 0f;
                for (int o = 16; o > 0; o >>= 1) v += Warp.ShuffleDown(v, o);
                if (Warp.LaneIdx == 0) sum[c] = v;
            }
            // partial is rewritten by the next channel's warps.
            Group.Barrier();
        }
    }
}
