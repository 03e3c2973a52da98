using ILGPU;
using ILGPU.Algorithms;
using Kernels.Ilgpu;

namespace Kernels.Ops.Layout;

// The kernels of LayoutIlgpu. Copies exist once per element type (float32, int32): the index math
// lives in shared helpers and each kernel is a one-line loop over it. Kernel methods have distinct
// names because the cuda module cache is keyed by method name.
public sealed partial class LayoutIlgpu
{
    private static readonly IlgpuKernel s_axisCopyF32 = new(AxisCopyF32);
    private static readonly IlgpuKernel s_axisCopyI32 = new(AxisCopyI32);
    private static readonly IlgpuKernel s_padF32 = new(PadF32);
    private static readonly IlgpuKernel s_padI32 = new(PadI32);
    private static readonly IlgpuKernel s_cropF32 = new(CropF32);
    private static readonly IlgpuKernel s_cropI32 = new(CropI32);
    private static readonly IlgpuKernel s_permuteF32 = new(PermuteF32);
    private static readonly IlgpuKernel s_permuteI32 = new(PermuteI32);
    private static readonly IlgpuKernel s_gatherF32 = new(GatherF32);
    private static readonly IlgpuKernel s_gatherI32 = new(GatherI32);
    private static readonly IlgpuKernel s_gatherBackward = new(GatherBackwardKernel);
    private static readonly IlgpuKernel s_indexSelectF32 = new(IndexSelectF32);
    private static readonly IlgpuKernel s_indexSelectI32 = new(IndexSelectI32);
    private static readonly IlgpuKernel s_indexAdd = new(IndexAddKernel);
    private static readonly IlgpuKernel s_findBadIndex = new(FindBadIndexKernel);
    private static readonly IlgpuKernel s_fillF32 = new(FillF32);

    private static long Stride => (long)Grid.DimX * Group.DimX;

    /// <summary>A long stored at m[at] (high word), m[at + 1] (low word).</summary>
    private static long ReadLong(ArrayView<int> m, int at) => ((long)m[at] << 32) | (uint)m[at + 1];

    // ---- concat / slice ----------------------------------------------------------------------

    private static long AxisCopySource(long i, long block, long xRow, long xOff) =>
        i / block * xRow + xOff + i % block;

    private static long AxisCopyTarget(long i, long block, long yRow, long yOff) =>
        i / block * yRow + yOff + i % block;

    private static void AxisCopyF32(ArrayView<float> x, ArrayView<float> y, long n, long block, long xRow, long yRow,
        long xOff, long yOff)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride)
            y[AxisCopyTarget(i, block, yRow, yOff)] = x[AxisCopySource(i, block, xRow, xOff)];
    }

    private static void AxisCopyI32(ArrayView<int> x, ArrayView<int> y, long n, long block, long xRow, long yRow,
        long xOff, long yOff)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride)
            y[AxisCopyTarget(i, block, yRow, yOff)] = x[AxisCopySource(i, block, xRow, xOff)];
    }

    // ---- pad / crop (meta: rank, large dims, small dims, before, small strides, large strides) --

    /// <summary>Offset in the small tensor of large element <paramref name="i"/>, or −1 when it lies
    /// in the padding.</summary>
    private static long PadSource(ArrayView<int> m, long i)
    {
        int r = m[0];
        long lin = i, off = 0;
        bool inside = true;
        for (int d = r - 1; d >= 0; d--)
        {
            int dim = m[1 + d];
            long q = lin / dim;
            long c = lin - q * dim - m[1 + 2 * r + d];
            lin = q;
            if (c < 0 || c >= m[1 + r + d]) inside = false;
            off += c * ReadLong(m, 1 + 3 * r + 2 * d);
        }
        return inside ? off : -1;
    }

    /// <summary>Offset in the large tensor of small element <paramref name="i"/>.</summary>
    private static long CropSource(ArrayView<int> m, long i)
    {
        int r = m[0];
        long lin = i, off = 0;
        for (int d = r - 1; d >= 0; d--)
        {
            int dim = m[1 + r + d];
            long q = lin / dim;
            off += (lin - q * dim + m[1 + 2 * r + d]) * ReadLong(m, 1 + 5 * r + 2 * d);
            lin = q;
        }
        return off;
    }

    private static void PadF32(ArrayView<float> x, ArrayView<float> y, ArrayView<int> meta, long n, float value)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride)
        {
            long s = PadSource(meta, i);
            y[i] = s >= 0 ? x[s] : value;
        }
    }

    private static void PadI32(ArrayView<int> x, ArrayView<int> y, ArrayView<int> meta, long n, int value)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride)
        {
            long s = PadSource(meta, i);
            y[i] = s >= 0 ? x[s] : value;
        }
    }

    private static void CropF32(ArrayView<float> x, ArrayView<float> y, ArrayView<int> meta, long n)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[CropSource(meta, i)];
    }

    private static void CropI32(ArrayView<int> x, ArrayView<int> y, ArrayView<int> meta, long n)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[CropSource(meta, i)];
    }

    // ---- permute (meta: rank, output dims, input stride of each output axis) ---------------------

    private static long PermuteSource(ArrayView<int> m, long i)
    {
        int r = m[0];
        long lin = i, off = 0;
        for (int d = r - 1; d >= 0; d--)
        {
            int dim = m[1 + d];
            long q = lin / dim;
            off += (lin - q * dim) * ReadLong(m, 1 + r + 2 * d);
            lin = q;
        }
        return off;
    }

    private static void PermuteF32(ArrayView<float> x, ArrayView<float> y, ArrayView<int> meta, long n)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[PermuteSource(meta, i)];
    }

    private static void PermuteI32(ArrayView<int> x, ArrayView<int> y, ArrayView<int> meta, long n)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[PermuteSource(meta, i)];
    }

    // ---- gather (meta: rank, index dims, x strides) --------------------------------------------

    private static long GatherSource(ArrayView<int> m, ArrayView<int> index, long i, int axis)
    {
        int r = m[0];
        long lin = i, off = 0;
        for (int d = r - 1; d >= 0; d--)
        {
            int dim = m[1 + d];
            long q = lin / dim;
            long c = d == axis ? index[i] : lin - q * dim;
            off += c * ReadLong(m, 1 + r + 2 * d);
            lin = q;
        }
        return off;
    }

    private static void GatherF32(ArrayView<float> x, ArrayView<int> index, ArrayView<float> y, ArrayView<int> meta,
        long n, int axis)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[GatherSource(meta, index, i, axis)];
    }

    private static void GatherI32(ArrayView<int> x, ArrayView<int> index, ArrayView<int> y, ArrayView<int> meta,
        long n, int axis)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[GatherSource(meta, index, i, axis)];
    }

    /// <summary>Writes <paramref name="value"/> over the first n elements: the zero start of the scatter-adds.</summary>
    private static void FillF32(ArrayView<float> y, long n, float value)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = value;
    }

    /// <summary>One thread per line of the index along the axis (meta: rank, index dims, x strides,
    /// index strides). Lines at different coordinates off the axis write disjoint lines of dx, so
    /// each thread adds its dy entries in index order without atomics: deterministic, the
    /// reference's order, O(|dy|) work.</summary>
    private static void GatherBackwardKernel(ArrayView<int> index, ArrayView<float> dy, ArrayView<float> dx,
        ArrayView<int> m, long lines, int axis)
    {
        int r = m[0];
        int along = m[1 + axis];
        long xAxisStride = ReadLong(m, 1 + r + 2 * axis);
        long iAxisStride = ReadLong(m, 1 + 3 * r + 2 * axis);
        for (long l = Grid.GlobalIndex.X; l < lines; l += Stride)
        {
            long lin = l, xb = 0, ib = 0;
            for (int d = r - 1; d >= 0; d--)
            {
                if (d == axis) continue;
                int dim = m[1 + d];
                long q = lin / dim;
                long c = lin - q * dim;
                lin = q;
                xb += c * ReadLong(m, 1 + r + 2 * d);
                ib += c * ReadLong(m, 1 + 3 * r + 2 * d);
            }
            for (int j = 0; j < along; j++)
            {
                long at = ib + j * iAxisStride;
                long to = xb + index[at] * xAxisStride;
                dx[to] += dy[at];
            }
        }
    }

    // ---- index-select / index-add --------------------------------------------------------------

    private static long IndexSelectSource(ArrayView<int> index, long i, int xAxis, int count, long inner)
    {
        long row = i / inner;
        long o = row / count;
        long k = row - o * count;
        return (o * xAxis + index[k]) * inner + (i - row * inner);
    }

    private static void IndexSelectF32(ArrayView<float> x, ArrayView<int> index, ArrayView<float> y, long n, int xAxis,
        int count, long inner)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[IndexSelectSource(index, i, xAxis, count, inner)];
    }

    private static void IndexSelectI32(ArrayView<int> x, ArrayView<int> index, ArrayView<int> y, long n, int xAxis,
        int count, long inner)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride) y[i] = x[IndexSelectSource(index, i, xAxis, count, inner)];
    }

    /// <summary>One thread per column (outer slice, inner position): it walks the index in order and
    /// adds each dy row's element into the selected dx row. Columns are disjoint, so no atomics and
    /// the reference's order; O(|dy|) work, consecutive threads on consecutive inner positions.</summary>
    private static void IndexAddKernel(ArrayView<int> index, ArrayView<float> dy, ArrayView<float> dx, long columns,
        int xAxis, int count, long inner)
    {
        for (long c = Grid.GlobalIndex.X; c < columns; c += Stride)
        {
            long o = c / inner;
            long pos = c - o * inner;
            long xb = o * xAxis * inner + pos, yb = o * count * inner + pos;
            for (int k = 0; k < count; k++)
                dx[xb + index[k] * inner] += dy[yb + k * inner];
        }
    }

    // ---- index validation ----------------------------------------------------------------------

    private static void FindBadIndexKernel(ArrayView<int> index, ArrayView<int> first, long n, int bound)
    {
        for (long i = Grid.GlobalIndex.X; i < n; i += Stride)
            if ((uint)index[i] >= (uint)bound) Atomic.Min(ref first[0], (int)i);
    }
}
