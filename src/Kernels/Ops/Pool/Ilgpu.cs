using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Pool;

/// <summary>ILGPU version of the pooling (float32). Forwards run one thread per output; backwards
/// one thread per input that gathers from the outputs whose windows hold it (no atomics,
/// deterministic; the max backward adds, in output order as the cpu does, the outputs whose
/// argmax names this input). Global average: one group per plane. Runs on ilgpu-cpu and,
/// compiled to PTX, on cuda.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class PoolIlgpu(Device device) : IPool
{
    private static readonly IlgpuKernel s_maxForward = new(MaxForwardKernel);
    private static readonly IlgpuKernel s_maxBackward = new(MaxBackwardKernel);
    private static readonly IlgpuKernel s_avgForward = new(AvgForwardKernel);
    private static readonly IlgpuKernel s_avgBackward = new(AvgBackwardKernel);
    private static readonly IlgpuKernel s_globalForward = new(GlobalAvgForwardKernel);
    private static readonly IlgpuKernel s_globalBackward = new(GlobalAvgBackwardKernel);

    /// <summary>Threads of the global-average group reduction (a multiple of the warp, at most 32 warps).</summary>
    private const int SumThreads = 256;

    public void MaxForward(in PoolShape s, DeviceBuffer x, DeviceBuffer y, DeviceBuffer argmax)
    {
        IlgpuLaunch.RequireF32("Pool.MaxForward", x, y);
        long n = s.Planes * s.OutPlane;
        if (n <= 0) return;
        s_maxForward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, argmax, n,
            s.InD, s.InH, s.InW, s.OutD, s.OutH, s.OutW, s.KD, s.KH, s.KW, s.SD, s.SH, s.SW, s.PD, s.PH, s.PW);
    }

    public void MaxBackward(in PoolShape s, DeviceBuffer dy, DeviceBuffer argmax, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Pool.MaxBackward", dy, dx);
        long n = s.Planes * s.InPlane;
        if (n <= 0) return;
        s_maxBackward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, dy, argmax, dx, n,
            s.InD, s.InH, s.InW, s.OutD, s.OutH, s.OutW, s.KD, s.KH, s.KW, s.SD, s.SH, s.SW, s.PD, s.PH, s.PW);
    }

    public void AvgForward(in PoolShape s, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Pool.AvgForward", x, y);
        long n = s.Planes * s.OutPlane;
        if (n <= 0) return;
        s_avgForward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, n,
            s.InD, s.InH, s.InW, s.OutD, s.OutH, s.OutW, s.KD, s.KH, s.KW, s.SD, s.SH, s.SW, s.PD, s.PH, s.PW);
    }

    public void AvgBackward(in PoolShape s, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Pool.AvgBackward", dy, dx);
        long n = s.Planes * s.InPlane;
        if (n <= 0) return;
        s_avgBackward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, dy, dx, n,
            s.InD, s.InH, s.InW, s.OutD, s.OutH, s.OutW, s.KD, s.KH, s.KW, s.SD, s.SH, s.SW, s.PD, s.PH, s.PW);
    }

    public void GlobalAvgForward(long planes, long planeSize, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Pool.GlobalAvgForward", x, y);
        if (planes <= 0) return;
        var grid = new Dim3((uint)Math.Min(planes, IlgpuLaunch.MaxGroups));
        s_globalForward.Launch(device, grid, new Dim3(SumThreads), x, y, planes, planeSize);
    }

    public void GlobalAvgBackward(long planes, long planeSize, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Pool.GlobalAvgBackward", dy, dx);
        long n = planes * planeSize;
        if (n <= 0) return;
        s_globalBackward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, dy, dx, n, planeSize);
    }

    /// <summary>First index of the outputs along one axis whose window [o·s − p, o·s − p + k) holds input i.</summary>
    private static int FirstOutput(int i, int stride, int pad, int kernel)
    {
        int num = i + pad - kernel + 1;
        return num <= 0 ? 0 : (num + stride - 1) / stride;
    }

    /// <summary>One past the last such output, clipped to the output size.</summary>
    private static int EndOutput(int i, int stride, int pad, int output) => Math.Min((i + pad) / stride + 1, output);

    /// <summary>Cells of an output's window along one axis, padding included but clipped to
    /// [−pad, in + pad) (PyTorch's count_include_pad divisor, as the cpu computes it).</summary>
    private static int WindowCount(int o, int stride, int pad, int kernel, int input)
    {
        int start = o * stride - pad;
        return Math.Min(start + kernel, input + pad) - start;
    }

    /// <summary>The input window of output element i (flat over planes × outD × outH × outW),
    /// clipped to the input: the forward kernels' shared index arithmetic.</summary>
    private readonly struct Window
    {
        public readonly long Plane;
        public readonly int Od, Oh, Ow, D0, D1, H0, H1, W0, W1;

        private Window(long plane, int od, int oh, int ow, int d0, int d1, int h0, int h1, int w0, int w1)
        {
            Plane = plane; Od = od; Oh = oh; Ow = ow;
            D0 = d0; D1 = d1; H0 = h0; H1 = h1; W0 = w0; W1 = w1;
        }

        public static Window Of(long i, int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
            int sD, int sH, int sW, int pD, int pH, int pW)
        {
            long t = i;
            int ow = (int)(t % outW); t /= outW;
            int oh = (int)(t % outH); t /= outH;
            int od = (int)(t % outD);
            int ds = od * sD - pD, hs = oh * sH - pH, ws = ow * sW - pW;
            return new Window(t / outD, od, oh, ow, Math.Max(ds, 0), Math.Min(ds + kD, inD), Math.Max(hs, 0),
                Math.Min(hs + kH, inH), Math.Max(ws, 0), Math.Min(ws + kW, inW));
        }
    }

    /// <summary>Same scan as the cpu: (d, h, w) in order, the first strict maximum wins, the first
    /// NaN wins outright; an all −∞ window keeps its first cell.</summary>
    private static void MaxForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax, long total,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW)
    {
        long inPlane = (long)inD * inH * inW;
        int hw = inH * inW;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            var win = Window.Of(i, inD, inH, inW, outD, outH, outW, kD, kH, kW, sD, sH, sW, pD, pH, pW);
            long xo = win.Plane * inPlane;
            int d0 = win.D0, d1 = win.D1, h0 = win.H0, h1 = win.H1, w0 = win.W0, w1 = win.W1;
            float best = float.NegativeInfinity;
            int bestIdx = d0 * hw + h0 * inW + w0;
            bool nan = false;
            for (int d = d0; d < d1 && !nan; d++)
                for (int h = h0; h < h1 && !nan; h++)
                {
                    int row = d * hw + h * inW;
                    for (int w = w0; w < w1; w++)
                    {
                        float v = x[xo + row + w];
                        if (float.IsNaN(v))
                        {
                            best = v;
                            bestIdx = row + w;
                            nan = true;
                            break;
                        }
                        if (v > best)
                        {
                            best = v;
                            bestIdx = row + w;
                        }
                    }
                }
            y[i] = best;
            argmax[i] = bestIdx;
        }
    }

    private static void MaxBackwardKernel(ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx, long total,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW)
    {
        long inPlane = (long)inD * inH * inW;
        long outPlane = (long)outD * outH * outW;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            long t = i;
            int iw = (int)(t % inW); t /= inW;
            int ih = (int)(t % inH); t /= inH;
            int id = (int)(t % inD);
            long p = t / inD;
            int self = (int)(i - p * inPlane);
            long yo = p * outPlane;
            float acc = 0f;
            int d1 = EndOutput(id, sD, pD, outD), h1 = EndOutput(ih, sH, pH, outH), w1 = EndOutput(iw, sW, pW, outW);
            for (int od = FirstOutput(id, sD, pD, kD); od < d1; od++)
                for (int oh = FirstOutput(ih, sH, pH, kH); oh < h1; oh++)
                {
                    long row = yo + ((long)od * outH + oh) * outW;
                    for (int ow = FirstOutput(iw, sW, pW, kW); ow < w1; ow++)
                        if (argmax[row + ow] == self) acc += dy[row + ow];
                }
            dx[i] = acc;
        }
    }

    private static void AvgForwardKernel(ArrayView<float> x, ArrayView<float> y, long total,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW)
    {
        long inPlane = (long)inD * inH * inW;
        int hw = inH * inW;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            var win = Window.Of(i, inD, inH, inW, outD, outH, outW, kD, kH, kW, sD, sH, sW, pD, pH, pW);
            long xo = win.Plane * inPlane;
            int od = win.Od, oh = win.Oh, ow = win.Ow;
            int d0 = win.D0, d1 = win.D1, h0 = win.H0, h1 = win.H1, w0 = win.W0, w1 = win.W1;
            float sum = 0f;
            for (int d = d0; d < d1; d++)
                for (int h = h0; h < h1; h++)
                {
                    long row = xo + d * hw + h * inW;
                    for (int w = w0; w < w1; w++) sum += x[row + w];
                }
            int count = WindowCount(od, sD, pD, kD, inD) * WindowCount(oh, sH, pH, kH, inH) * WindowCount(ow, sW, pW, kW, inW);
            y[i] = sum / count;
        }
    }

    private static void AvgBackwardKernel(ArrayView<float> dy, ArrayView<float> dx, long total,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW)
    {
        long outPlane = (long)outD * outH * outW;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            long t = i;
            int iw = (int)(t % inW); t /= inW;
            int ih = (int)(t % inH); t /= inH;
            int id = (int)(t % inD);
            long yo = t / inD * outPlane;
            float acc = 0f;
            int d1 = EndOutput(id, sD, pD, outD), h1 = EndOutput(ih, sH, pH, outH), w1 = EndOutput(iw, sW, pW, outW);
            for (int od = FirstOutput(id, sD, pD, kD); od < d1; od++)
            {
                int cd = WindowCount(od, sD, pD, kD, inD);
                for (int oh = FirstOutput(ih, sH, pH, kH); oh < h1; oh++)
                {
                    int cdh = cd * WindowCount(oh, sH, pH, kH, inH);
                    long row = yo + ((long)od * outH + oh) * outW;
                    for (int ow = FirstOutput(iw, sW, pW, kW); ow < w1; ow++)
                        acc += dy[row + ow] / (cdh * WindowCount(ow, sW, pW, kW, inW));
                }
            }
            dx[i] = acc;
        }
    }

    /// <summary>One group per plane (grid-stride over planes): threads stride over the plane,
    /// then a warp-shuffle and shared-memory group sum.</summary>
    private static void GlobalAvgForwardKernel(ArrayView<float> x, ArrayView<float> y, long planes, long size)
    {
        var partial = SharedMemory.Allocate<float>(SumThreads / 32);
        for (long p = Grid.IdxX; p < planes; p += Grid.DimX)
        {
            float acc = 0f;
            for (long r = Group.IdxX; r < size; r += Group.DimX) acc += x[p * size + r];
            for (int o = 16; o > 0; o >>= 1) acc += Warp.ShuffleDown(acc, o);
            if (Warp.LaneIdx == 0) partial[Warp.WarpIdx] = acc;
            Group.Barrier();
            if (Warp.WarpIdx == 0)
            {
                float v = Warp.LaneIdx < Group.DimX / Warp.WarpSize ? partial[Warp.LaneIdx] : 0f;
                for (int o = 16; o > 0; o >>= 1) v += Warp.ShuffleDown(v, o);
                if (Warp.LaneIdx == 0) y[p] = v / size;
            }
            // partial is rewritten for the next plane.
            Group.Barrier();
        }
    }

    private static void GlobalAvgBackwardKernel(ArrayView<float> dy, ArrayView<float> dx, long total, long size)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride) dx[i] = dy[i / size] / size;
    }
}
