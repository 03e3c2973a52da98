using Kernels.Cpu;

namespace Kernels.Ops.Layout;

public sealed partial class LayoutCpu
{
    private const int Tile = 32;

    /// <summary>General permutation. Size-1 axes are dropped and axes that stay adjacent and in
    /// order are merged, so e.g. [B, M, N] → [B, N, M] becomes a batch of 2-D transposes. If the
    /// innermost axis stays innermost, rows are copied whole; otherwise the output's last axis and
    /// the output axis that holds the input's last axis are walked in 32×32 tiles.</summary>
    private static void Permute<T>(Shape shape, int[] axes, T[] x, T[] y) where T : unmanaged
    {
        long n = shape.Numel;
        if (n == 0) return;
        var (dims, perm) = Coalesce(shape, axes);
        int r = dims.Length;
        bool identity = true;
        for (int i = 0; i < r; i++) identity &= perm[i] == i;
        if (identity)
        {
            x.AsSpan(0, (int)n).CopyTo(y);
            return;
        }
        var inStrides = Strides(dims);
        var od = new int[r];
        var xsOut = new long[r]; // input stride of each output axis
        for (int i = 0; i < r; i++)
        {
            od[i] = dims[perm[i]];
            xsOut[i] = inStrides[perm[i]];
        }
        var ys = Strides(od);
        if (perm[r - 1] == r - 1)
        {
            int row = od[r - 1];
            var rowDims = od[..(r - 1)];
            var rowStrides = xsOut[..(r - 1)];
            CpuParallel.For(n / row, row, (r0, r1) =>
            {
                for (long k = r0; k < r1; k++)
                    x.AsSpan((int)Offset(k, rowDims, rowStrides), row).CopyTo(y.AsSpan((int)(k * row), row));
            });
            return;
        }
        int q = Array.IndexOf(perm, r - 1); // output axis holding the input's contiguous axis
        int qLen = od[q], lLen = od[r - 1];
        long yStrideQ = ys[q], xStrideL = xsOut[r - 1];
        var outerDims = new List<int>();
        var outerX = new List<long>();
        var outerY = new List<long>();
        for (int i = 0; i < r - 1; i++)
        {
            if (i == q) continue;
            outerDims.Add(od[i]);
            outerX.Add(xsOut[i]);
            outerY.Add(ys[i]);
        }
        var oDims = outerDims.ToArray();
        var oX = outerX.ToArray();
        var oY = outerY.ToArray();
        long outer = n / ((long)qLen * lLen);
        int qTiles = (qLen + Tile - 1) / Tile;
        CpuParallel.For(outer * qTiles, (long)Tile * lLen, (u0, u1) =>
        {
            for (long u = u0; u < u1; u++)
            {
                long o = u / qTiles;
                int a0 = (int)(u - o * qTiles) * Tile, a1 = Math.Min(qLen, a0 + Tile);
                long xb = Offset(o, oDims, oX), yb = Offset(o, oDims, oY);
                for (int b0 = 0; b0 < lLen; b0 += Tile)
                {
                    int b1 = Math.Min(lLen, b0 + Tile);
                    for (int a = a0; a < a1; a++)
                    {
                        long yo = yb + a * yStrideQ, xo = xb + a;
                        for (int b = b0; b < b1; b++) y[yo + b] = x[xo + b * xStrideL];
                    }
                }
            }
        });
    }

    /// <summary>The permutation on fewer, larger axes: size-1 axes removed, runs of output axes
    /// that are consecutive input axes merged. Returns input-order dims and the new permutation.</summary>
    private static (int[] Dims, int[] Perm) Coalesce(Shape shape, int[] axes)
    {
        // Renumber the input axes of size > 1.
        var newIndex = new int[shape.Rank];
        int kept = 0;
        for (int a = 0; a < shape.Rank; a++) newIndex[a] = shape[a] == 1 ? -1 : kept++;
        var inDims = new int[kept];
        for (int a = 0; a < shape.Rank; a++)
            if (newIndex[a] >= 0) inDims[newIndex[a]] = shape[a];
        var order = axes.Where(a => newIndex[a] >= 0).Select(a => newIndex[a]).ToList();
        if (order.Count == 0) return ([1], [0]);
        // Group consecutive runs (in output order) of consecutive input axes.
        var groups = new List<(int First, int Last)>();
        foreach (int a in order)
        {
            if (groups.Count > 0 && groups[^1].Last + 1 == a) groups[^1] = (groups[^1].First, a);
            else groups.Add((a, a));
        }
        var byInput = groups.OrderBy(g => g.First).ToList();
        var dims = new int[groups.Count];
        for (int i = 0; i < byInput.Count; i++)
        {
            long d = 1;
            for (int a = byInput[i].First; a <= byInput[i].Last; a++) d *= inDims[a];
            dims[i] = (int)d;
        }
        var perm = groups.Select(g => byInput.IndexOf(g)).ToArray();
        return (dims, perm);
    }
}
