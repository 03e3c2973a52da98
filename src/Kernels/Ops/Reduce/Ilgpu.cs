using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Ops.Elementwise;
using Kernels.Registry;
using static Kernels.Ops.Reduce.IlgpuGroupReduce;

namespace Kernels.Ops.Reduce;

/// <summary>ILGPU version of the reductions (float32; argmax indices int32). Inner = 1: a group per
/// row (grid-stride over rows), warp-shuffle + shared-memory tree. Inner &gt; 1: a group per tile of
/// 32 adjacent lanes × (threads / 32) slices of the reduced axis, so loads stay coalesced and a long
/// reduced axis still has several threads per lane. Groups are 256 threads on cuda, 64 on ilgpu-cpu
/// (see IlgpuGroupReduce). Grids are capped; groups loop over their work.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class ReduceIlgpu(Device device) : IReduce
{
    /// <summary>Threads per group: 256 on cuda, 64 on ilgpu-cpu (IlgpuGroupReduce.ThreadsFor); a
    /// multiple of 32 up to 256. Settable so that tests can run the cuda geometry on ilgpu-cpu.</summary>
    internal int Threads { get; init; } = IlgpuGroupReduce.ThreadsFor(device);

    private static readonly IlgpuKernel s_sumRows = new(SumRowsKernel);
    private static readonly IlgpuKernel s_sumCols = new(SumColsKernel);
    private static readonly IlgpuKernel s_maxRows = new(MaxRowsKernel);
    private static readonly IlgpuKernel s_argMaxRows = new(ArgMaxRowsKernel);
    private static readonly IlgpuKernel s_maxCols = new(MaxColsKernel);
    private static readonly IlgpuKernel s_argMaxCols = new(ArgMaxColsKernel);
    private static readonly IlgpuKernel s_expand = new(ExpandKernel);

    /// <summary>Mode of the value-only max kernels: write the maxima, or route dy into dx.</summary>
    private const int WriteValues = 0, WriteGradient = 1;


    /// <summary>Groups for <paramref name="units"/> rows or tiles, capped (each group loops).</summary>
    private Dim3 Block => new((uint)Threads);

    private static Dim3 Groups(long units) => new((uint)Math.Clamp(units, 1, IlgpuLaunch.MaxGroups));

    private static long Tiles(in ReduceShape s) => s.Outer * ((s.Inner + Cols - 1) / Cols);

    public void Sum(in ReduceShape shape, double scale, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Reduce.Sum", x, y);
        if (shape.OutputNumel == 0) return;
        if (shape.Inner == 1)
            s_sumRows.Launch(device, Groups(shape.Outer), Block, x, y, shape.Outer, shape.Reduced, (float)scale);
        else
            s_sumCols.Launch(device, Groups(Tiles(shape)), Block, x, y, shape.Outer, shape.Reduced, shape.Inner, (float)scale);
    }

    public void Max(in ReduceShape shape, DeviceBuffer x, DeviceBuffer? values, DeviceBuffer? indices)
    {
        IlgpuLaunch.RequireF32("Reduce.Max", x);
        if (values is not null) IlgpuLaunch.RequireF32("Reduce.Max", values);
        if (shape.OutputNumel == 0 || (values is null && indices is null)) return;
        if (shape.Reduced < 1) throw new ArgumentException($"Reduce.Max: the reduced axis is empty ({shape})");
        bool rows = shape.Inner == 1;
        var grid = Groups(rows ? shape.Outer : Tiles(shape));
        if (indices is null)
        {
            if (rows) s_maxRows.Launch(device, grid, Block, x, values!, x, WriteValues, shape.Outer, shape.Reduced);
            else s_maxCols.Launch(device, grid, Block, x, values!, x, WriteValues, shape.Outer, shape.Reduced, shape.Inner);
            return;
        }
        // The kernels always take a value view; without one they get x and are told not to write it.
        int write = values is null ? 0 : 1;
        var v = values ?? x;
        if (rows) s_argMaxRows.Launch(device, grid, Block, x, v, indices, write, shape.Outer, shape.Reduced);
        else s_argMaxCols.Launch(device, grid, Block, x, v, indices, write, shape.Outer, shape.Reduced, shape.Inner);
    }

    public void MaxBackward(in ReduceShape shape, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Reduce.MaxBackward", x, dy, dx);
        if (shape.InputNumel == 0) return;
        // Every dx element is written (dy at the first maximum, 0 elsewhere): no separate clear.
        if (shape.Inner == 1)
            s_maxRows.Launch(device, Groups(shape.Outer), Block, x, dx, dy, WriteGradient, shape.Outer, shape.Reduced);
        else
            s_maxCols.Launch(device, Groups(Tiles(shape)), Block, x, dx, dy, WriteGradient, shape.Outer, shape.Reduced, shape.Inner);
    }

    public void Expand(Shape kept, Shape full, double scale, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Reduce.Expand", dy, dx);
        var plan = new IlgpuBroadcast(new BroadcastShape(kept, kept, full));
        long n = plan.LaunchElements, launches = plan.Launches;
        if (n == 0) return;
        var (_, s0, _) = plan.Axis(0);
        var (d1, s1, _) = plan.Axis(1);
        var (d2, s2, _) = plan.Axis(2);
        var (d3, s3, _) = plan.Axis(3);
        for (long l = 0; l < launches; l++)
        {
            var (ko, _, xo) = plan.Offsets(l);
            s_expand.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, dy, ko, dx, xo, n, plan.Inner, plan.AInner,
                d1, d2, d3, s0, s1, s2, s3, (float)scale);
        }
    }

    // ---- sum ----------------------------------------------------------------------------------

    private static void SumRowsKernel(ArrayView<float> x, ArrayView<float> y, long outer, int red, float scale)
    {
        var sh = SharedMemory.Allocate<float>(32);
        for (long o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            long b = o * red;
            float acc = 0f;
            for (int r = Group.IdxX; r < red; r += Group.DimX) acc += x[b + r];
            acc = RowSum(acc, sh);
            if (Group.IdxX == 0) y[o] = acc * scale;
        }
    }

    private static void SumColsKernel(ArrayView<float> x, ArrayView<float> y, long outer, int red, long inner, float scale)
    {
        var sh = SharedMemory.Allocate<float>(MaxThreads);
        int tx = Group.IdxX % Cols, ty = Group.IdxX / Cols, slices = Group.DimX / Cols;
        long perOuter = (inner + Cols - 1) / Cols;
        long tiles = outer * perOuter;
        for (long t = Grid.IdxX; t < tiles; t += Grid.DimX)
        {
            long o = t / perOuter;
            long i = (t - o * perOuter) * Cols + tx;
            float acc = 0f;
            if (i < inner)
            {
                long b = o * red * inner + i;
                for (int r = ty; r < red; r += slices) acc += x[b + r * inner];
            }
            acc = ColSum(acc, sh);
            if (ty == 0 && i < inner) y[o * inner + i] = acc * scale;
        }
    }

    // ---- max and argmax -----------------------------------------------------------------------

    /// <summary>Values (mode 0: outF[o] = max) or the gradient (mode 1: outF = dx, every element of
    /// the row written: dy at the first maximum, 0 elsewhere).</summary>
    private static void MaxRowsKernel(ArrayView<float> x, ArrayView<float> outF, ArrayView<float> dy, int mode,
        long outer, int red)
    {
        var shv = SharedMemory.Allocate<float>(32);
        var shk = SharedMemory.Allocate<int>(32);
        for (long o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            long b = o * red;
            float v = float.NegativeInfinity;
            int k = int.MaxValue;
            for (int r = Group.IdxX; r < red; r += Group.DimX)
                if (Beats(x[b + r], r, v, k)) { v = x[b + r]; k = r; }
            RowArgMax(ref v, ref k, shv, shk);
            if (mode == WriteValues)
            {
                if (Group.IdxX == 0) outF[o] = v;
            }
            else
            {
                float g = dy[o];
                for (int r = Group.IdxX; r < red; r += Group.DimX) outF[b + r] = r == k ? g : 0f;
            }
        }
    }

    private static void ArgMaxRowsKernel(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices,
        int writeValues, long outer, int red)
    {
        var shv = SharedMemory.Allocate<float>(32);
        var shk = SharedMemory.Allocate<int>(32);
        for (long o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            long b = o * red;
            float v = float.NegativeInfinity;
            int k = int.MaxValue;
            for (int r = Group.IdxX; r < red; r += Group.DimX)
                if (Beats(x[b + r], r, v, k)) { v = x[b + r]; k = r; }
            RowArgMax(ref v, ref k, shv, shk);
            if (Group.IdxX == 0)
            {
                indices[o] = k;
                if (writeValues != 0) values[o] = v;
            }
        }
    }

    private static void MaxColsKernel(ArrayView<float> x, ArrayView<float> outF, ArrayView<float> dy, int mode,
        long outer, int red, long inner)
    {
        var shv = SharedMemory.Allocate<float>(MaxThreads);
        var shk = SharedMemory.Allocate<int>(MaxThreads);
        int tx = Group.IdxX % Cols, ty = Group.IdxX / Cols, slices = Group.DimX / Cols;
        long perOuter = (inner + Cols - 1) / Cols;
        long tiles = outer * perOuter;
        for (long t = Grid.IdxX; t < tiles; t += Grid.DimX)
        {
            long o = t / perOuter;
            long i = (t - o * perOuter) * Cols + tx;
            long b = o * red * inner + i;
            float v = float.NegativeInfinity;
            int k = int.MaxValue;
            if (i < inner)
                for (int r = ty; r < red; r += slices)
                    if (Beats(x[b + r * inner], r, v, k)) { v = x[b + r * inner]; k = r; }
            ColArgMax(ref v, ref k, shv, shk);
            if (i < inner)
            {
                if (mode == WriteValues)
                {
                    if (ty == 0) outF[o * inner + i] = v;
                }
                else
                {
                    float g = dy[o * inner + i];
                    for (int r = ty; r < red; r += slices) outF[b + r * inner] = r == k ? g : 0f;
                }
            }
        }
    }

    private static void ArgMaxColsKernel(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices,
        int writeValues, long outer, int red, long inner)
    {
        var shv = SharedMemory.Allocate<float>(MaxThreads);
        var shk = SharedMemory.Allocate<int>(MaxThreads);
        int tx = Group.IdxX % Cols, ty = Group.IdxX / Cols, slices = Group.DimX / Cols;
        long perOuter = (inner + Cols - 1) / Cols;
        long tiles = outer * perOuter;
        for (long t = Grid.IdxX; t < tiles; t += Grid.DimX)
        {
            long o = t / perOuter;
            long i = (t - o * perOuter) * Cols + tx;
            long b = o * red * inner + i;
            float v = float.NegativeInfinity;
            int k = int.MaxValue;
            if (i < inner)
                for (int r = ty; r < red; r += slices)
                    if (Beats(x[b + r * inner], r, v, k)) { v = x[b + r * inner]; k = r; }
            ColArgMax(ref v, ref k, shv, shk);
            if (i < inner && ty == 0)
            {
                indices[o * inner + i] = k;
                if (writeValues != 0) values[o * inner + i] = v;
            }
        }
    }

    // ---- broadcast back -----------------------------------------------------------------------

    /// <summary>dx[dxOff + i] = scale · dy[dyOff + offset of i's kept element]; the index split is
    /// Elementwise's broadcast (four outer axes, an inner row of dy-stride kIn = 0 or 1).</summary>
    private static void ExpandKernel(ArrayView<float> dy, long dyOff, ArrayView<float> dx, long dxOff, long n,
        int inner, int kIn, int d1, int d2, int d3, long s0, long s1, long s2, long s3, float scale)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        bool oneRow = n == inner;
        bool fits32 = n <= int.MaxValue;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            long row = oneRow ? 0 : Div(i, inner, fits32);
            long ko = dyOff + (i - row * inner) * kIn;
            if (!oneRow)
            {
                long q = Div(row, d3, fits32);
                ko += (row - q * d3) * s3;
                row = q;
                q = Div(row, d2, fits32);
                ko += (row - q * d2) * s2;
                row = q;
                q = Div(row, d1, fits32);
                ko += (row - q * d1) * s1 + q * s0;
            }
            dx[dxOff + i] = scale * dy[ko];
        }
    }
}
