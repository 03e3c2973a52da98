using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Layout;

/// <summary>Reference data movement. Every op is reduced to contiguous row copies (or, for a
/// permutation that moves the innermost axis, 32×32 tiled transposes); scatter-adds are split
/// so that no two threads ever write the same element, keeping them deterministic.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed partial class LayoutCpu : ILayout
{
    public void AxisCopy(in AxisCopyShape shape, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: AxisCopy(shape, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: AxisCopy(shape, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            case DType.I32: AxisCopy(shape, CpuBuffer.Array<int>(x), CpuBuffer.Array<int>(y)); break;
            default: throw Unsupported(nameof(AxisCopy), y.DType);
        }
    }

    public void Pad(in PadShape shape, double value, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Window(shape, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y), true, (float)value); break;
            case DType.F64: Window(shape, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y), true, value); break;
            case DType.I32: Window(shape, CpuBuffer.Array<int>(x), CpuBuffer.Array<int>(y), true, (int)value); break;
            default: throw Unsupported(nameof(Pad), y.DType);
        }
    }

    public void Crop(in PadShape shape, DeviceBuffer x, DeviceBuffer y)
    {
        // Window copies small ↔ large; for a crop the large one is the source.
        switch (y.DType)
        {
            case DType.F32: Window(shape, CpuBuffer.Array<float>(y), CpuBuffer.Array<float>(x), false, 0f); break;
            case DType.F64: Window(shape, CpuBuffer.Array<double>(y), CpuBuffer.Array<double>(x), false, 0.0); break;
            case DType.I32: Window(shape, CpuBuffer.Array<int>(y), CpuBuffer.Array<int>(x), false, 0); break;
            default: throw Unsupported(nameof(Crop), y.DType);
        }
    }

    public void Permute(Shape x, int[] axes, DeviceBuffer xBuffer, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Permute(x, axes, CpuBuffer.Array<float>(xBuffer), CpuBuffer.Array<float>(y)); break;
            case DType.F64: Permute(x, axes, CpuBuffer.Array<double>(xBuffer), CpuBuffer.Array<double>(y)); break;
            case DType.I32: Permute(x, axes, CpuBuffer.Array<int>(xBuffer), CpuBuffer.Array<int>(y)); break;
            default: throw Unsupported(nameof(Permute), y.DType);
        }
    }

    public void Gather(in GatherShape shape, DeviceBuffer x, DeviceBuffer index, DeviceBuffer y)
    {
        var idx = CpuBuffer.Array<int>(index);
        switch (y.DType)
        {
            case DType.F32: Gather(shape, CpuBuffer.Array<float>(x), idx, CpuBuffer.Array<float>(y)); break;
            case DType.F64: Gather(shape, CpuBuffer.Array<double>(x), idx, CpuBuffer.Array<double>(y)); break;
            case DType.I32: Gather(shape, CpuBuffer.Array<int>(x), idx, CpuBuffer.Array<int>(y)); break;
            default: throw Unsupported(nameof(Gather), y.DType);
        }
    }

    public void GatherBackward(in GatherShape shape, DeviceBuffer index, DeviceBuffer dy, DeviceBuffer dx)
    {
        var idx = CpuBuffer.Array<int>(index);
        switch (dx.DType)
        {
            case DType.F32: GatherBackward(shape, idx, CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx)); break;
            case DType.F64: GatherBackward(shape, idx, CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx)); break;
            default: throw Unsupported(nameof(GatherBackward), dx.DType);
        }
    }

    public void IndexSelect(in IndexSelectShape shape, DeviceBuffer x, DeviceBuffer index, DeviceBuffer y)
    {
        var idx = CpuBuffer.Array<int>(index);
        switch (y.DType)
        {
            case DType.F32: IndexSelect(shape, CpuBuffer.Array<float>(x), idx, CpuBuffer.Array<float>(y)); break;
            case DType.F64: IndexSelect(shape, CpuBuffer.Array<double>(x), idx, CpuBuffer.Array<double>(y)); break;
            case DType.I32: IndexSelect(shape, CpuBuffer.Array<int>(x), idx, CpuBuffer.Array<int>(y)); break;
            default: throw Unsupported(nameof(IndexSelect), y.DType);
        }
    }

    public void IndexAdd(in IndexSelectShape shape, DeviceBuffer index, DeviceBuffer dy, DeviceBuffer dx)
    {
        var idx = CpuBuffer.Array<int>(index);
        switch (dx.DType)
        {
            case DType.F32: IndexAdd(shape, idx, CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx)); break;
            case DType.F64: IndexAdd(shape, idx, CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx)); break;
            default: throw Unsupported(nameof(IndexAdd), dx.DType);
        }
    }

    public long FindBadIndex(long n, DeviceBuffer index, int bound)
    {
        var idx = CpuBuffer.Span<int>(index);
        for (int i = 0; i < n; i++)
            if ((uint)idx[i] >= (uint)bound) return i; // one unsigned compare catches negatives too
        return -1;
    }

    private static NotSupportedException Unsupported(string op, DType t) =>
        new($"Layout.{op}: dtype {t.Name()} is not supported on the cpu");

    /// <summary>Offset of row-major linear index <paramref name="lin"/> over <paramref name="dims"/>
    /// in an array with the given strides.</summary>
    private static long Offset(long lin, ReadOnlySpan<int> dims, ReadOnlySpan<long> strides)
    {
        long off = 0;
        for (int i = dims.Length - 1; i >= 0; i--)
        {
            long q = lin / dims[i];
            off += (lin - q * dims[i]) * strides[i];
            lin = q;
        }
        return off;
    }

    private static long[] Strides(ReadOnlySpan<int> dims)
    {
        var s = new long[dims.Length];
        long acc = 1;
        for (int i = dims.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= dims[i];
        }
        return s;
    }

    // ---- concat / slice ----------------------------------------------------------------------

    private static void AxisCopy<T>(AxisCopyShape s, T[] x, T[] y) where T : unmanaged
    {
        long block = s.Length * s.Inner;
        if (block == 0) return;
        CpuParallel.For(s.Outer, block, (o0, o1) =>
        {
            for (long o = o0; o < o1; o++)
                x.AsSpan((int)((o * s.XAxis + s.XStart) * s.Inner), (int)block)
                 .CopyTo(y.AsSpan((int)((o * s.YAxis + s.YStart) * s.Inner), (int)block));
        });
    }

    // ---- pad / crop --------------------------------------------------------------------------

    /// <summary>Copies between the small tensor and its window in the large one: small → large
    /// (after filling large with <paramref name="fill"/>) when <paramref name="toLarge"/>, else back.</summary>
    private static void Window<T>(PadShape s, T[] small, T[] large, bool toLarge, T fill) where T : unmanaged
    {
        int rank = s.Small.Rank;
        if (toLarge) large.AsSpan(0, (int)s.Large.Numel).Fill(fill);
        if (s.Small.Numel == 0) return;
        if (rank == 0)
        {
            if (toLarge) large[0] = small[0]; else small[0] = large[0];
            return;
        }
        var ls = Strides(s.Large.Dims);
        long shift = 0;
        for (int d = 0; d < rank; d++) shift += s.Before[d] * ls[d];
        int inner = s.Small[rank - 1];
        var rowDims = s.Small.Dims[..(rank - 1)].ToArray();
        var rowStrides = ls[..(rank - 1)];
        long rows = s.Small.Numel / inner;
        CpuParallel.For(rows, inner, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long lo = Offset(r, rowDims, rowStrides) + shift;
                var a = small.AsSpan((int)(r * inner), inner);
                var b = large.AsSpan((int)lo, inner);
                if (toLarge) a.CopyTo(b); else b.CopyTo(a);
            }
        });
    }

    // ---- gather / index-select ---------------------------------------------------------------

    private static void Gather<T>(GatherShape s, T[] x, int[] idx, T[] y) where T : unmanaged
    {
        var p = GatherPlan.Create(s);
        if (s.Index.Numel == 0) return;
        CpuParallel.For(p.Rows, p.Last, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long xb = Offset(r, p.RowDims, p.RowStrides);
                long o = r * p.Last;
                if (p.AxisIsLast)
                    for (int j = 0; j < p.Last; j++) y[o + j] = x[xb + idx[o + j]];
                else
                    for (int j = 0; j < p.Last; j++) y[o + j] = x[xb + idx[o + j] * p.AxisStride + j];
            }
        });
    }

    private static void GatherBackward<T>(GatherShape s, int[] idx, T[] dy, T[] dx) where T : unmanaged, INumber<T>
    {
        var p = GatherPlan.Create(s);
        dx.AsSpan(0, (int)s.X.Numel).Clear();
        if (s.Index.Numel == 0) return;
        // Rows that differ in a coordinate before the axis write disjoint parts of dx: those groups
        // run in parallel, each in index order.
        long groupRows = p.AxisIsLast ? 1 : s.Index.Prod(s.Axis, s.Index.Rank - 1);
        long groups = p.Rows / groupRows;
        CpuParallel.For(groups, groupRows * p.Last, (g0, g1) =>
        {
            for (long r = g0 * groupRows; r < g1 * groupRows; r++)
            {
                long xb = Offset(r, p.RowDims, p.RowStrides);
                long o = r * p.Last;
                if (p.AxisIsLast)
                    for (int j = 0; j < p.Last; j++) dx[xb + idx[o + j]] += dy[o + j];
                else
                    for (int j = 0; j < p.Last; j++) dx[xb + idx[o + j] * p.AxisStride + j] += dy[o + j];
            }
        });
    }

    /// <summary>Rows of the index (every axis but the last) mapped to x offsets with the gather
    /// axis's coordinate left out (stride 0).</summary>
    private sealed record GatherPlan(int[] RowDims, long[] RowStrides, long Rows, int Last, long AxisStride, bool AxisIsLast)
    {
        public static GatherPlan Create(GatherShape s)
        {
            int rank = s.Index.Rank;
            var xs = Strides(s.X.Dims);
            var rowDims = s.Index.Dims[..(rank - 1)].ToArray();
            var rowStrides = new long[rank - 1];
            for (int d = 0; d < rank - 1; d++) rowStrides[d] = d == s.Axis ? 0 : xs[d];
            int last = s.Index[rank - 1];
            long rows = last == 0 ? 0 : s.Index.Numel / last;
            return new GatherPlan(rowDims, rowStrides, rows, last, xs[s.Axis], s.Axis == rank - 1);
        }
    }

    private static void IndexSelect<T>(IndexSelectShape s, T[] x, int[] idx, T[] y) where T : unmanaged
    {
        int inner = (int)s.Inner;
        if (inner == 0) return;
        CpuParallel.For(s.Outer * s.Count, inner, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long o = r / s.Count;
                int k = (int)(r - o * s.Count);
                x.AsSpan((int)((o * s.XAxis + idx[k]) * inner), inner).CopyTo(y.AsSpan((int)(r * inner), inner));
            }
        });
    }

    private const int InnerChunk = 1024;

    private static void IndexAdd<T>(IndexSelectShape s, int[] idx, T[] dy, T[] dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long inner = s.Inner;
        dx.AsSpan(0, (int)(s.Outer * s.XAxis * inner)).Clear();
        if (inner == 0) return;
        // Each work item owns one outer slice and one chunk of the inner axis, and adds the
        // selected rows in index order: no races, same sums for any thread count.
        long chunks = (inner + InnerChunk - 1) / InnerChunk;
        CpuParallel.For(s.Outer * chunks, (long)s.Count * Math.Min(inner, InnerChunk), (u0, u1) =>
        {
            for (long u = u0; u < u1; u++)
            {
                long o = u / chunks;
                long i0 = (u - o * chunks) * InnerChunk;
                int len = (int)Math.Min(InnerChunk, inner - i0);
                for (int k = 0; k < s.Count; k++)
                {
                    var dst = dx.AsSpan((int)((o * s.XAxis + idx[k]) * inner + i0), len);
                    TensorPrimitives.Add(dst, dy.AsSpan((int)((o * s.Count + k) * inner + i0), len), dst);
                }
            }
        });
    }
}
