using ILGPU;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Embedding;

/// <summary>ILGPU embedding (float32). Forward: a grid-stride copy of the looked-up rows.
/// Backward: a deterministic gather, no atomics (the interface promises each row's contributions
/// are added in increasing n): every group owns a contiguous range of vocabulary rows, zeroes them,
/// then scans all indices once in shared-memory tiles and, for each index in its range, adds that
/// dy row; thread t owns columns t, t+256, … of its rows, so every element has one writer and its
/// additions happen in index order. Cost: each group reads all N indices (groups·N reads).</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class EmbeddingIlgpu(Device device) : IEmbedding
{
    private const int Tile = IlgpuLaunch.Threads;

    private static readonly IlgpuKernel s_forward = new(ForwardKernel);
    private static readonly IlgpuKernel s_backward = new(BackwardKernel);

    public void Forward(in EmbeddingShape shape, DeviceBuffer indices, DeviceBuffer weight, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Embedding.Forward", weight, y);
        long total = shape.N * shape.Dim;
        if (total == 0) return;
        s_forward.Launch(device, IlgpuLaunch.Grid1D(total), IlgpuLaunch.Block1D, indices, weight, y, total, shape.Dim);
    }

    public void BackwardWeight(in EmbeddingShape shape, DeviceBuffer indices, DeviceBuffer dy, DeviceBuffer dWeight)
    {
        IlgpuLaunch.RequireF32("Embedding.BackwardWeight", dy, dWeight);
        if (shape.Vocab == 0 || shape.Dim == 0) return;
        int groups = Math.Min(shape.Vocab, IlgpuLaunch.MaxGroups);
        int rowsPerGroup = (shape.Vocab + groups - 1) / groups;
        s_backward.Launch(device, new((uint)groups), new(Tile), indices, dy, dWeight, shape.N, shape.Vocab, shape.Dim,
            rowsPerGroup);
    }

    private static void ForwardKernel(ArrayView<int> indices, ArrayView<float> weight, ArrayView<float> y, long total, int dim)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long e = Grid.GlobalIndex.X; e < total; e += stride)
        {
            long n = e / dim;
            y[e] = weight[(long)indices[n] * dim + (e - n * dim)];
        }
    }

    private static void BackwardKernel(ArrayView<int> indices, ArrayView<float> dy, ArrayView<float> dWeight, long n,
        int vocab, int dim, int rowsPerGroup)
    {
        var tile = SharedMemory.Allocate<int>(Tile);
        int tid = Group.IdxX, threads = Group.DimX;
        // v0, v1 are uniform over the group, so every thread reaches the same barriers.
        int v0 = Grid.IdxX * rowsPerGroup;
        int v1 = Math.Min(vocab, v0 + rowsPerGroup);
        if (v0 >= v1) return;
        // Zero with the same column ownership as the additions below, so no barrier is needed
        // between the two.
        for (int v = v0; v < v1; v++)
            for (int d = tid; d < dim; d += threads) dWeight[(long)v * dim + d] = 0f;
        for (long n0 = 0; n0 < n; n0 += Tile)
        {
            Group.Barrier(); // the previous tile has been read by every thread
            long m = n0 + tid;
            tile[tid] = m < n ? indices[m] : -1;
            Group.Barrier();
            int count = (int)Math.Min(Tile, n - n0);
            for (int j = 0; j < count; j++)
            {
                int v = tile[j];
                if (v < v0 || v >= v1) continue;
                long src = (n0 + j) * dim, dst = (long)v * dim;
                for (int d = tid; d < dim; d += threads) dWeight[dst + d] += dy[src + d];
            }
        }
    }
}
