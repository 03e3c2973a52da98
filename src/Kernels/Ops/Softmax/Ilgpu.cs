using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Registry;
using Kernels.Ops.Reduce;
using static Kernels.Ops.Reduce.IlgpuGroupReduce;

namespace Kernels.Ops.Softmax;

/// <summary>ILGPU version of softmax / log-softmax (float32). Inner = 1: a group per lane (grid-stride
/// over lanes): group max, group Σ exp(x − max), then the write pass. Inner &gt; 1: a group per tile
/// of 32 adjacent lanes × (threads / 32) slices of the axis (coalesced), the same three passes with
/// column reductions. Groups are 256 threads on cuda, 64 on ilgpu-cpu (see IlgpuGroupReduce).
/// The max is subtracted first; an all −∞ lane gives NaN, as in PyTorch.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class SoftmaxIlgpu(Device device) : ISoftmax
{
    /// <summary>Threads per group: 256 on cuda, 64 on ilgpu-cpu (IlgpuGroupReduce.ThreadsFor); a
    /// multiple of 32 up to 256. Settable so that tests can run the cuda geometry on ilgpu-cpu.</summary>
    internal int Threads { get; init; } = IlgpuGroupReduce.ThreadsFor(device);

    private static readonly IlgpuKernel s_forwardRows = new(ForwardRowsKernel);
    private static readonly IlgpuKernel s_forwardCols = new(ForwardColsKernel);
    private static readonly IlgpuKernel s_backwardRows = new(BackwardRowsKernel);
    private static readonly IlgpuKernel s_backwardCols = new(BackwardColsKernel);


    private Dim3 Block => new((uint)Threads);

    private static Dim3 Groups(long units) => new((uint)Math.Clamp(units, 1, IlgpuLaunch.MaxGroups));

    public void Forward(in SoftmaxShape shape, bool log, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Softmax.Forward", x, y);
        if (shape.Numel == 0) return;
        int l = log ? 1 : 0;
        if (shape.Inner == 1)
            s_forwardRows.Launch(device, Groups(shape.Outer), Block, x, y, shape.Outer, shape.Axis, l);
        else
            s_forwardCols.Launch(device, Groups(Tiles(shape)), Block, x, y, shape.Outer, shape.Axis, shape.Inner, l);
    }

    public void Backward(in SoftmaxShape shape, bool log, DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Softmax.Backward", y, dy, dx);
        if (shape.Numel == 0) return;
        int l = log ? 1 : 0;
        if (shape.Inner == 1)
            s_backwardRows.Launch(device, Groups(shape.Outer), Block, y, dy, dx, shape.Outer, shape.Axis, l);
        else
            s_backwardCols.Launch(device, Groups(Tiles(shape)), Block, y, dy, dx, shape.Outer, shape.Axis, shape.Inner, l);
    }

    private static long Tiles(in SoftmaxShape s) => s.Outer * ((s.Inner + Cols - 1) / Cols);

    private static void ForwardRowsKernel(ArrayView<float> x, ArrayView<float> y, long outer, int n, int log)
    {
        var sh = SharedMemory.Allocate<float>(32);
        for (long o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            long b = o * n;
            float m = float.NegativeInfinity;
            for (int r = Group.IdxX; r < n; r += Group.DimX) m = NanMax(m, x[b + r]);
            m = RowMax(m, sh);
            float s = 0f;
            for (int r = Group.IdxX; r < n; r += Group.DimX) s += MathF.Exp(x[b + r] - m);
            s = RowSum(s, sh);
            if (log != 0)
            {
                float shift = m + MathF.Log(s);
                for (int r = Group.IdxX; r < n; r += Group.DimX) y[b + r] = x[b + r] - shift;
            }
            else
            {
                float inv = 1f / s;
                for (int r = Group.IdxX; r < n; r += Group.DimX) y[b + r] = MathF.Exp(x[b + r] - m) * inv;
            }
        }
    }

    private static void ForwardColsKernel(ArrayView<float> x, ArrayView<float> y, long outer, int n, long inner, int log)
    {
        var sh = SharedMemory.Allocate<float>(MaxThreads);
        int tx = Group.IdxX % Cols, ty = Group.IdxX / Cols, slices = Group.DimX / Cols;
        long perOuter = (inner + Cols - 1) / Cols;
        long tiles = outer * perOuter;
        for (long t = Grid.IdxX; t < tiles; t += Grid.DimX)
        {
            long o = t / perOuter;
            long i = (t - o * perOuter) * Cols + tx;
            bool live = i < inner;
            long b = o * n * inner + i;
            float m = float.NegativeInfinity;
            if (live)
                for (int r = ty; r < n; r += slices) m = NanMax(m, x[b + r * inner]);
            m = ColMax(m, sh);
            float s = 0f;
            if (live)
                for (int r = ty; r < n; r += slices) s += MathF.Exp(x[b + r * inner] - m);
            s = ColSum(s, sh);
            if (!live) continue;
            if (log != 0)
            {
                float shift = m + MathF.Log(s);
                for (int r = ty; r < n; r += slices) y[b + r * inner] = x[b + r * inner] - shift;
            }
            else
            {
                float inv = 1f / s;
                for (int r = ty; r < n; r += slices) y[b + r * inner] = MathF.Exp(x[b + r * inner] - m) * inv;
            }
        }
    }

    /// <summary>softmax: dx = y·(dy − Σ dy·y); log-softmax: dx = dy − exp(y)·Σ dy.</summary>
    private static void BackwardRowsKernel(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, long outer,
        int n, int log)
    {
        var sh = SharedMemory.Allocate<float>(32);
        for (long o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            long b = o * n;
            float s = 0f;
            for (int r = Group.IdxX; r < n; r += Group.DimX) s += log != 0 ? dy[b + r] : dy[b + r] * y[b + r];
            s = RowSum(s, sh);
            for (int r = Group.IdxX; r < n; r += Group.DimX)
                dx[b + r] = log != 0 ? dy[b + r] - MathF.Exp(y[b + r]) * s : y[b + r] * (dy[b + r] - s);
        }
    }

    private static void BackwardColsKernel(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, long outer,
        int n, long inner, int log)
    {
        var sh = SharedMemory.Allocate<float>(MaxThreads);
        int tx = Group.IdxX % Cols, ty = Group.IdxX / Cols, slices = Group.DimX / Cols;
        long perOuter = (inner + Cols - 1) / Cols;
        long tiles = outer * perOuter;
        for (long t = Grid.IdxX; t < tiles; t += Grid.DimX)
        {
            long o = t / perOuter;
            long i = (t - o * perOuter) * Cols + tx;
            bool live = i < inner;
            long b = o * n * inner + i;
            float s = 0f;
            if (live)
                for (int r = ty; r < n; r += slices)
                {
                    long e = b + r * inner;
                    s += log != 0 ? dy[e] : dy[e] * y[e];
                }
            s = ColSum(s, sh);
            if (!live) continue;
            for (int r = ty; r < n; r += slices)
            {
                long e = b + r * inner;
                dx[e] = log != 0 ? dy[e] - MathF.Exp(y[e]) * s : y[e] * (dy[e] - s);
            }
        }
    }
}
