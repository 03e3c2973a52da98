using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Embedding;

/// <summary>Reference embedding. The backward groups the lookups by row with a stable counting
/// sort, then threads own disjoint ranges of rows: no atomics, no races, and the order of
/// additions into each row is fixed (increasing n).</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class EmbeddingCpu : IEmbedding
{
    public void Forward(in EmbeddingShape shape, DeviceBuffer indices, DeviceBuffer weight, DeviceBuffer y)
    {
        var idx = CpuBuffer.Array<int>(indices);
        switch (y.DType)
        {
            case DType.F32: Forward(shape, idx, CpuBuffer.Array<float>(weight), CpuBuffer.Array<float>(y)); break;
            case DType.F64: Forward(shape, idx, CpuBuffer.Array<double>(weight), CpuBuffer.Array<double>(y)); break;
            default: throw new NotSupportedException($"Embedding: dtype {y.DType.Name()} is not supported on the cpu");
        }
    }

    public void BackwardWeight(in EmbeddingShape shape, DeviceBuffer indices, DeviceBuffer dy, DeviceBuffer dWeight)
    {
        var idx = CpuBuffer.Array<int>(indices);
        switch (dWeight.DType)
        {
            case DType.F32: Backward(shape, idx, CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dWeight)); break;
            case DType.F64: Backward(shape, idx, CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dWeight)); break;
            default: throw new NotSupportedException($"Embedding: dtype {dWeight.DType.Name()} is not supported on the cpu");
        }
    }

    private static void Forward<T>(EmbeddingShape s, int[] idx, T[] w, T[] y) where T : unmanaged
    {
        int d = s.Dim;
        if (d == 0) return;
        CpuParallel.For(s.N, d, (n0, n1) =>
        {
            for (long n = n0; n < n1; n++)
                w.AsSpan(idx[n] * d, d).CopyTo(y.AsSpan((int)(n * d), d));
        });
    }

    private static void Backward<T>(EmbeddingShape s, int[] idx, T[] dy, T[] dw) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = s.Dim, vocab = s.Vocab;
        dw.AsSpan(0, vocab * d).Clear();
        if (d == 0 || s.N == 0) return;
        int n = (int)s.N;
        // Stable counting sort of the positions by row: start[v]..start[v+1] lists the n with
        // indices[n] = v, in increasing n.
        var start = new int[vocab + 1];
        for (int i = 0; i < n; i++) start[idx[i] + 1]++;
        for (int v = 0; v < vocab; v++) start[v + 1] += start[v];
        var order = new int[n];
        var fill = (int[])start.Clone();
        for (int i = 0; i < n; i++) order[fill[idx[i]]++] = i;
        CpuParallel.For(vocab, Math.Max(1, (long)n * d / Math.Max(1, vocab)), (v0, v1) =>
        {
            for (long v = v0; v < v1; v++)
            {
                if (start[v] == start[v + 1]) continue;
                var row = dw.AsSpan((int)(v * d), d);
                for (int k = start[v]; k < start[v + 1]; k++)
                    TensorPrimitives.Add(row, dy.AsSpan(order[k] * d, d), row);
            }
        });
    }
}
