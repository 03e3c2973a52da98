using ILGPU;

namespace Kernels.Ops.Reduce;

/// <summary>Group-wide reductions for the ILGPU kernels (Reduce, Softmax, SumToShape), for groups
/// of a multiple of 32 threads (warp 32 on a GPU and on ilgpu-cpu's NVIDIA-like device). Every
/// thread of the group must call them (they contain barriers); every thread gets the result.
/// Rows use a warp butterfly (ShuffleXor), then each warp re-reduces the per-warp partials from
/// shared memory, so no third barrier is needed to broadcast. Columns use a Cols × Slices tile:
/// thread (tx, ty) holds a partial of column tx, combined through shared memory.</summary>
internal static class IlgpuGroupReduce
{
    /// <summary>Threads per group on cuda, and the most any of these kernels takes (shared arrays
    /// are sized for it).</summary>
    public const int MaxThreads = 256;

    /// <summary>Threads per group on ilgpu-cpu: it simulates every thread, and 64 (two warps, two
    /// column slices) runs several times faster than 256 while still crossing warps and slices.
    /// The kernels read the group size at run time, so the code is the same on both devices.</summary>
    public const int CpuThreads = 64;

    /// <summary>Column tile: 32 adjacent columns (coalesced loads) × Group.DimX / 32 slices of the
    /// reduced axis.</summary>
    public const int Cols = 32;

    public static int ThreadsFor(Device device) => device is Kernels.Ilgpu.IlgpuCpuDevice ? CpuThreads : MaxThreads;

    /// <summary>a / b for index math: no division by an extent of 1 (padded axes), and a 32-bit one
    /// where the launch's indices fit (64-bit division is a long software sequence on GPUs).
    /// <paramref name="fits32"/> is launch-uniform, so neither test diverges.</summary>
    public static long Div(long a, int b, bool fits32) => b == 1 ? a : fits32 ? (int)a / b : a / b;

    public static float WarpSum(float v)
    {
        for (int m = 16; m >= 1; m >>= 1) v += Warp.ShuffleXor(v, m);
        return v;
    }

    public static float WarpMax(float v)
    {
        for (int m = 16; m >= 1; m >>= 1) v = NanMax(v, Warp.ShuffleXor(v, m));
        return v;
    }

    /// <summary>Maximum that propagates NaN (PyTorch's rule; PTX max.f32 would drop it).</summary>
    public static float NanMax(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? a + b : a > b ? a : b;

    public static float NanMin(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? a + b : a < b ? a : b;

    /// <summary>Whether (v2, k2) beats (v, k): larger value, NaN above every number, the smaller
    /// index on a tie — a total order, so any combination order finds the first maximum.</summary>
    public static bool Beats(float v2, int k2, float v, int k)
    {
        bool nan2 = float.IsNaN(v2), nan = float.IsNaN(v);
        if (nan2 != nan) return nan2;
        if (!nan && v2 != v) return v2 > v;
        return k2 < k;
    }

    public static void WarpArgMax(ref float v, ref int k)
    {
        for (int m = 16; m >= 1; m >>= 1)
        {
            float v2 = Warp.ShuffleXor(v, m);
            int k2 = Warp.ShuffleXor(k, m);
            if (Beats(v2, k2, v, k))
            {
                v = v2;
                k = k2;
            }
        }
    }

    /// <summary>Sum over the group; <paramref name="sh"/> holds at least 32 floats.</summary>
    public static float RowSum(float v, ArrayView<float> sh)
    {
        v = WarpSum(v);
        if (Warp.IsFirstLane) sh[Warp.WarpIdx] = v;
        Group.Barrier();
        float t = Warp.LaneIdx < Group.DimX / Warp.WarpSize ? sh[Warp.LaneIdx] : 0f;
        t = WarpSum(t);
        Group.Barrier(); // everyone has read sh before it is reused
        return t;
    }

    public static float RowMax(float v, ArrayView<float> sh)
    {
        v = WarpMax(v);
        if (Warp.IsFirstLane) sh[Warp.WarpIdx] = v;
        Group.Barrier();
        float t = Warp.LaneIdx < Group.DimX / Warp.WarpSize ? sh[Warp.LaneIdx] : float.NegativeInfinity;
        t = WarpMax(t);
        Group.Barrier();
        return t;
    }

    public static void RowArgMax(ref float v, ref int k, ArrayView<float> shv, ArrayView<int> shk)
    {
        WarpArgMax(ref v, ref k);
        if (Warp.IsFirstLane)
        {
            shv[Warp.WarpIdx] = v;
            shk[Warp.WarpIdx] = k;
        }
        Group.Barrier();
        bool has = Warp.LaneIdx < Group.DimX / Warp.WarpSize;
        v = has ? shv[Warp.LaneIdx] : float.NegativeInfinity;
        k = has ? shk[Warp.LaneIdx] : int.MaxValue;
        WarpArgMax(ref v, ref k);
        Group.Barrier();
    }

    /// <summary>Sum of column tx over the slices' partials; <paramref name="sh"/> holds Group.DimX floats.</summary>
    public static float ColSum(float v, ArrayView<float> sh)
    {
        int tx = Group.IdxX % Cols;
        sh[Group.IdxX] = v;
        Group.Barrier();
        float t = 0f;
        for (int s = 0; s < Group.DimX / Cols; s++) t += sh[s * Cols + tx];
        Group.Barrier();
        return t;
    }

    public static float ColMax(float v, ArrayView<float> sh)
    {
        int tx = Group.IdxX % Cols;
        sh[Group.IdxX] = v;
        Group.Barrier();
        float t = float.NegativeInfinity;
        for (int s = 0; s < Group.DimX / Cols; s++) t = NanMax(t, sh[s * Cols + tx]);
        Group.Barrier();
        return t;
    }

    public static void ColArgMax(ref float v, ref int k, ArrayView<float> shv, ArrayView<int> shk)
    {
        int tx = Group.IdxX % Cols;
        shv[Group.IdxX] = v;
        shk[Group.IdxX] = k;
        Group.Barrier();
        v = float.NegativeInfinity;
        k = int.MaxValue;
        for (int s = 0; s < Group.DimX / Cols; s++)
        {
            float v2 = shv[s * Cols + tx];
            int k2 = shk[s * Cols + tx];
            if (Beats(v2, k2, v, k))
            {
                v = v2;
                k = k2;
            }
        }
        Group.Barrier();
    }
}
