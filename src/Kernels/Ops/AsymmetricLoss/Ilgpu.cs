using ILGPU;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.AsymmetricLoss;

/// <summary>ILGPU asymmetric loss (float32): one grid-stride pass over the logits computes each
/// entry's loss and gradient (<see cref="AslMath.Entry"/>), writes the gradient, and leaves one
/// partial sum per group; a single-group second stage adds the partials in a fixed order into
/// loss[0], so the result is deterministic for a given launch geometry. Mean with weights needs
/// the count of non-zero weights before the gradients are written: a pre-pass over the weights
/// (not the logits) counts them per group and a single group totals them; without weights the
/// count is rows × cols, known on the host.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class AsymmetricLossIlgpu(Device device) : IAsymmetricLoss
{
    private const int Threads = IlgpuLaunch.Threads;

    private static readonly IlgpuKernel s_count = new(CountKernel);
    private static readonly IlgpuKernel s_countTotal = new(CountTotalKernel);
    private static readonly IlgpuKernel s_entries = new(EntriesKernel);
    private static readonly IlgpuKernel s_final = new(FinalKernel);

    public void ForwardBackward(long rows, long cols, in AslOptions options, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dLogits)
    {
        const string op = "AsymmetricLoss.ForwardBackward";
        IlgpuLaunch.RequireF32(op, logits, targets, loss);
        if (weights is not null) IlgpuLaunch.RequireF32(op, weights);
        if (dLogits is not null) IlgpuLaunch.RequireF32(op, dLogits);
        long n = rows * cols;
        var grid = IlgpuLaunch.Grid1D(n, Threads);
        int groups = (int)grid.X;
        using var partials = device.Allocate(DType.F32, groups);
        using var counts = device.Allocate(DType.I32, groups + 1);
        // countSlot ≥ 0: the mean's denominator is counts[countSlot] (computed on the device);
        // otherwise hostScale is the whole scale (1, or 1 / n for an unweighted mean).
        int countSlot = -1;
        float hostScale = 1f;
        if (options.Mean && weights is not null)
        {
            countSlot = groups;
            s_count.Launch(device, grid, new(Threads), weights, counts, n);
            s_countTotal.Launch(device, new(1), new(Threads), counts, groups);
        }
        else if (options.Mean) hostScale = (float)(1.0 / Math.Max(n, 1));
        var o = options;
        s_entries.Launch(device, grid, new(Threads), logits, targets, weights ?? logits, dLogits ?? logits, partials, counts, n,
            (float)o.GammaPos, (float)o.GammaNeg, (float)o.Clip, (float)o.Eps, (float)o.AlphaPos, (float)o.AlphaNeg,
            (float)o.GammaUnannotated, (float)o.AlphaUnannotated, o.FocusingWeightConstant ? 1 : 0,
            weights is null ? 0 : 1, dLogits is null ? 0 : 1, countSlot, hostScale);
        s_final.Launch(device, new(1), new(Threads), partials, counts, loss, groups, countSlot, hostScale);
    }

    /// <summary>1 / max(count, 1) from the device count, or the host's scale.</summary>
    private static float Scale(ArrayView<int> counts, int countSlot, float hostScale) =>
        countSlot >= 0 ? 1f / XMax(counts[countSlot], 1) : hostScale;

    private static int XMax(int a, int b) => a > b ? a : b;

    /// <summary>Tree sum of one value per thread over the group (Threads a power of two); thread 0
    /// gets the total. Every thread of the group must call it.</summary>
    private static float GroupSum(float v)
    {
        var sh = SharedMemory.Allocate<float>(Threads);
        int tid = Group.IdxX;
        sh[tid] = v;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (tid < half) sh[tid] += sh[tid + half];
            Group.Barrier();
        }
        return sh[0];
    }

    private static int GroupSumInt(int v)
    {
        var sh = SharedMemory.Allocate<int>(Threads);
        int tid = Group.IdxX;
        sh[tid] = v;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (tid < half) sh[tid] += sh[tid + half];
            Group.Barrier();
        }
        return sh[0];
    }

    private static void CountKernel(ArrayView<float> w, ArrayView<int> counts, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        int c = 0;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
            if (w[i] != 0f) c++;
        int total = GroupSumInt(c);
        if (Group.IdxX == 0) counts[Grid.IdxX] = total;
    }

    private static void CountTotalKernel(ArrayView<int> counts, int groups)
    {
        int c = 0;
        for (int i = Group.IdxX; i < groups; i += Group.DimX) c += counts[i];
        int total = GroupSumInt(c);
        if (Group.IdxX == 0) counts[groups] = total;
    }

    private static void EntriesKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> w, ArrayView<float> dx,
        ArrayView<float> partials, ArrayView<int> counts, long n, float gammaPos, float gammaNeg, float clip, float eps,
        float alphaPos, float alphaNeg, float gammaUnannotated, float alphaUnannotated, int focusConstant, int weighted,
        int writeGrad, int countSlot, float hostScale)
    {
        float scale = Scale(counts, countSlot, hostScale);
        long stride = (long)Grid.DimX * Group.DimX;
        float s = 0f;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float l = AslMath.Entry(x[i], y[i], gammaPos, gammaNeg, clip, eps, alphaPos, alphaNeg, gammaUnannotated,
                alphaUnannotated, focusConstant, out float g);
            float wi = weighted != 0 ? w[i] : 1f;
            s += wi * l;
            if (writeGrad != 0) dx[i] = scale * wi * g;
        }
        float total = GroupSum(s);
        if (Group.IdxX == 0) partials[Grid.IdxX] = total;
    }

    private static void FinalKernel(ArrayView<float> partials, ArrayView<int> counts, ArrayView<float> loss, int groups,
        int countSlot, float hostScale)
    {
        // Each thread adds a fixed strided subset in order, then a fixed tree: deterministic.
        float s = 0f;
        for (int i = Group.IdxX; i < groups; i += Group.DimX) s += partials[i];
        float total = GroupSum(s);
        if (Group.IdxX == 0) loss[0] = Scale(counts, countSlot, hostScale) * total;
    }
}
