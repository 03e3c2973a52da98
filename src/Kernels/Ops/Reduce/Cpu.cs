using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Ops.Elementwise;
using Kernels.Registry;

namespace Kernels.Ops.Reduce;

/// <summary>Reference reductions over [outer, reduced, inner]. With inner = 1 each output is a
/// TensorPrimitives reduction of one contiguous row; otherwise whole inner rows are accumulated
/// with SIMD adds. Work is split in fixed-size pieces, so results do not depend on the thread count.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class ReduceCpu : IReduce
{
    /// <summary>Longest run summed as one piece before partial sums are combined (in order).</summary>
    private const int SumBlock = 8192;

    /// <summary>Inner elements handled by one work item.</summary>
    private const int InnerChunk = 1024;

    public void Sum(in ReduceShape shape, double scale, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Sum(shape, (float)scale, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: Sum(shape, scale, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            default: throw Unsupported(nameof(Sum), y.DType);
        }
    }

    public void Max(in ReduceShape shape, DeviceBuffer x, DeviceBuffer? values, DeviceBuffer? indices)
    {
        int[]? idx = indices is null ? null : CpuBuffer.Array<int>(indices);
        switch (x.DType)
        {
            case DType.F32:
                MaxCore(shape, CpuBuffer.Array<float>(x), values is null ? null : CpuBuffer.Array<float>(values), idx, null, null);
                break;
            case DType.F64:
                MaxCore(shape, CpuBuffer.Array<double>(x), values is null ? null : CpuBuffer.Array<double>(values), idx, null, null);
                break;
            default: throw Unsupported(nameof(Max), x.DType);
        }
    }

    public void MaxBackward(in ReduceShape shape, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx)
    {
        switch (dx.DType)
        {
            case DType.F32:
                MaxCore(shape, CpuBuffer.Array<float>(x), null, null, CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx));
                break;
            case DType.F64:
                MaxCore(shape, CpuBuffer.Array<double>(x), null, null, CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx));
                break;
            default: throw Unsupported(nameof(MaxBackward), dx.DType);
        }
    }

    public void Expand(Shape kept, Shape full, double scale, DeviceBuffer dy, DeviceBuffer dx)
    {
        switch (dx.DType)
        {
            case DType.F32: Expand(kept, full, (float)scale, CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx)); break;
            case DType.F64: Expand(kept, full, scale, CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx)); break;
            default: throw Unsupported(nameof(Expand), dx.DType);
        }
    }

    private static NotSupportedException Unsupported(string op, DType t) =>
        new($"Reduce.{op}: dtype {t.Name()} is not supported on the cpu");

    // ---- sum ----------------------------------------------------------------------------------

    private static void Sum<T>(ReduceShape s, T scale, T[] x, T[] y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long outer = s.Outer, inner = s.Inner;
        int red = s.Reduced;
        if (s.OutputNumel == 0) return;
        if (red == 0)
        {
            y.AsSpan(0, (int)s.OutputNumel).Fill(T.Zero * scale); // mean over nothing: 0·∞ = NaN, as in PyTorch
            return;
        }
        if (inner == 1)
        {
            if (red <= SumBlock)
            {
                CpuParallel.For(outer, red, (o0, o1) =>
                {
                    for (long o = o0; o < o1; o++)
                        y[o] = TensorPrimitives.Sum<T>(x.AsSpan((int)(o * red), red)) * scale;
                });
                return;
            }
            // Long rows: fixed blocks summed in parallel, then combined in block order.
            int blocks = (red + SumBlock - 1) / SumBlock;
            var partial = new T[outer * blocks];
            CpuParallel.For(outer * blocks, SumBlock, (u0, u1) =>
            {
                for (long u = u0; u < u1; u++)
                {
                    long o = u / blocks;
                    int b = (int)(u - o * blocks);
                    int start = b * SumBlock, len = Math.Min(SumBlock, red - start);
                    partial[u] = TensorPrimitives.Sum<T>(x.AsSpan((int)(o * red + start), len));
                }
            });
            for (long o = 0; o < outer; o++)
                y[o] = TensorPrimitives.Sum<T>(partial.AsSpan((int)(o * blocks), blocks)) * scale;
            return;
        }
        long chunks = (inner + InnerChunk - 1) / InnerChunk;
        if (outer * chunks < FewItems && red >= 2 * MinRowBlock)
        {
            SumColumnsSplit(s, scale, x, y, chunks);
            return;
        }
        CpuParallel.For(outer * chunks, (long)red * Math.Min(inner, InnerChunk), (u0, u1) =>
        {
            for (long u = u0; u < u1; u++)
            {
                long o = u / chunks;
                long i0 = (u - o * chunks) * InnerChunk;
                int len = (int)Math.Min(InnerChunk, inner - i0);
                var dst = y.AsSpan((int)(o * inner + i0), len);
                SumRows(x, o * red * inner + i0, inner, 0, red, dst);
                if (scale != T.One) TensorPrimitives.Multiply(dst, scale, dst);
            }
        });
    }

    /// <summary>Below this many (outer, inner-chunk) items the reduced axis is split as well.</summary>
    private const int FewItems = 8;

    private const int MinRowBlock = 256;

    /// <summary>dst = Σ rows [r0, r1) of the lane block starting at baseX (row stride inner).</summary>
    private static void SumRows<T>(T[] x, long baseX, long inner, int r0, int r1, Span<T> dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int len = dst.Length;
        x.AsSpan((int)(baseX + r0 * inner), len).CopyTo(dst);
        for (int r = r0 + 1; r < r1; r++)
            TensorPrimitives.Add(dst, x.AsSpan((int)(baseX + r * inner), len), dst);
    }

    /// <summary>Few, long column sums (e.g. [1e6, 64] over axis 0): the reduced axis is cut into at
    /// most 64 blocks whose size depends only on the shape, summed in parallel, and the partial
    /// rows combined in block order, so the result is the same for any thread count.</summary>
    private static void SumColumnsSplit<T>(ReduceShape s, T scale, T[] x, T[] y, long chunks)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long outer = s.Outer, inner = s.Inner;
        int red = s.Reduced;
        int rowBlock = Math.Max(MinRowBlock, (red + 63) / 64);
        int blocks = (red + rowBlock - 1) / rowBlock;
        var partial = new T[outer * blocks * inner];
        CpuParallel.For(outer * chunks * blocks, (long)rowBlock * Math.Min(inner, InnerChunk), (u0, u1) =>
        {
            for (long u = u0; u < u1; u++)
            {
                long oc = u / blocks;
                int b = (int)(u - oc * blocks);
                long o = oc / chunks;
                long i0 = (oc - o * chunks) * InnerChunk;
                int len = (int)Math.Min(InnerChunk, inner - i0);
                var dst = partial.AsSpan((int)((o * blocks + b) * inner + i0), len);
                SumRows(x, o * red * inner + i0, inner, b * rowBlock, Math.Min(red, (b + 1) * rowBlock), dst);
            }
        });
        for (long o = 0; o < outer; o++)
        {
            var dst = y.AsSpan((int)(o * inner), (int)inner);
            SumRows(partial, o * blocks * inner, inner, 0, blocks, dst);
            if (scale != T.One) TensorPrimitives.Multiply(dst, scale, dst);
        }
    }

    // ---- max, argmax and the max gradient -----------------------------------------------------

    /// <summary>Finds the first maximal element of every (outer, inner) lane and writes whichever
    /// of values / indices / dx (routing dy) is given.</summary>
    private static void MaxCore<T>(ReduceShape s, T[] x, T[]? values, int[]? indices, T[]? dy, T[]? dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long outer = s.Outer, inner = s.Inner;
        int red = s.Reduced;
        if (dx is not null) dx.AsSpan(0, (int)s.InputNumel).Clear();
        if (s.OutputNumel == 0) return;
        if (inner == 1)
        {
            CpuParallel.For(outer, red, (o0, o1) =>
            {
                for (long o = o0; o < o1; o++)
                {
                    var row = x.AsSpan((int)(o * red), red);
                    T m = TensorPrimitives.Max<T>(row); // NaN if any element is NaN
                    if (values is not null) values[o] = m;
                    if (indices is null && dx is null) continue;
                    int k = 0;
                    if (T.IsNaN(m)) { while (!T.IsNaN(row[k])) k++; }
                    else { while (row[k] != m) k++; }
                    if (indices is not null) indices[o] = k;
                    if (dx is not null) dx[o * red + k] = dy![o];
                }
            });
            return;
        }
        long chunks = (inner + InnerChunk - 1) / InnerChunk;
        CpuParallel.For(outer * chunks, (long)red * Math.Min(inner, InnerChunk), (u0, u1) =>
        {
            Span<T> best = stackalloc T[InnerChunk];
            Span<int> arg = stackalloc int[InnerChunk];
            for (long u = u0; u < u1; u++)
            {
                long o = u / chunks;
                long i0 = (u - o * chunks) * InnerChunk;
                int len = (int)Math.Min(InnerChunk, inner - i0);
                long baseX = o * red * inner + i0;
                var b = best[..len];
                var a = arg[..len];
                x.AsSpan((int)baseX, len).CopyTo(b);
                a.Clear();
                if (indices is null && dx is null)
                {
                    // Values only: SIMD lane-wise max (which also lets NaN win).
                    for (int r = 1; r < red; r++) TensorPrimitives.Max(b, x.AsSpan((int)(baseX + r * inner), len), b);
                    if (values is not null) b.CopyTo(values.AsSpan((int)(o * inner + i0), len));
                    continue;
                }
                for (int r = 1; r < red; r++)
                {
                    var row = x.AsSpan((int)(baseX + r * inner), len);
                    for (int j = 0; j < len; j++)
                    {
                        T v = row[j];
                        // Strictly greater keeps the first maximum; NaN beats every number.
                        if (v > b[j] || (T.IsNaN(v) && !T.IsNaN(b[j])))
                        {
                            b[j] = v;
                            a[j] = r;
                        }
                    }
                }
                long yo = o * inner + i0;
                if (values is not null) b.CopyTo(values.AsSpan((int)yo, len));
                if (indices is not null) a.CopyTo(indices.AsSpan((int)yo, len));
                if (dx is not null)
                    for (int j = 0; j < len; j++)
                        dx[baseX + a[j] * inner + j] = dy![yo + j];
            }
        });
    }

    // ---- broadcast back (sum / mean backward) -------------------------------------------------

    private static void Expand<T>(Shape kept, Shape full, T scale, T[] dy, T[] dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = BroadcastPlan.Create(new BroadcastShape(kept, kept, full));
        int inner = plan.Inner;
        CpuParallel.For(plan.Rows, inner, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                plan.Offsets(r, default, out long ko, out _);
                var dst = dx.AsSpan((int)(r * inner), inner);
                if (plan.AInnerStride == 1) TensorPrimitives.Multiply(dy.AsSpan((int)ko, inner), scale, dst);
                else dst.Fill(dy[ko] * scale);
            }
        });
    }
}
