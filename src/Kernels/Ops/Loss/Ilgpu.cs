using ILGPU;
using ILGPU.Algorithms;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Loss;

/// <summary>ILGPU fused losses (float32). Cross-entropy gives each row `lanes` threads: a power of
/// two up to a warp for plain [N, C] logits (classes contiguous, reduced with warp shuffles, no
/// shared memory), one thread for [N, C, Inner] logits (neighbouring threads take neighbouring
/// inner positions, so the strided class loop stays coalesced). Rows are warp-uniform, so every
/// shuffle is reached by all lanes of its row. BCE is elementwise; SumAll is one group with
/// compensated per-thread sums and a shared-memory tree, so it is deterministic.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class LossIlgpu(Device device) : ILoss
{
    private const int SumThreads = 512;

    /// <summary>The warp width the cross-entropy row mapping assumes (NVIDIA GPUs and ilgpu-cpu's
    /// NVIDIA-like device); groups are multiples of it.</summary>
    private const int WarpLanes = 32;

    private static readonly IlgpuKernel s_ceForward = new(CeForwardKernel);
    private static readonly IlgpuKernel s_ceBackward = new(CeBackwardKernel);
    private static readonly IlgpuKernel s_bceForward = new(BceForwardKernel);
    private static readonly IlgpuKernel s_bceBackward = new(BceBackwardKernel);
    private static readonly IlgpuKernel s_sumAll = new(SumAllKernel);
    private static readonly IlgpuKernel s_expand = new(ExpandKernel);

    /// <summary>Threads per cross-entropy row (see the class comment).</summary>
    private static int Lanes(in CrossEntropyShape s)
    {
        if (s.Inner != 1) return 1;
        int lanes = 1;
        while (lanes < 32 && lanes < s.Classes) lanes <<= 1;
        return lanes;
    }

    public void CrossEntropyForward(in CrossEntropyShape shape, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? classWeight, DeviceBuffer loss, DeviceBuffer logSumExp, DeviceBuffer? targetWeight)
    {
        IlgpuLaunch.RequireF32("Loss.CrossEntropyForward", logits, loss, logSumExp);
        if (classWeight is not null) IlgpuLaunch.RequireF32("Loss.CrossEntropyForward", classWeight);
        if (targetWeight is not null) IlgpuLaunch.RequireF32("Loss.CrossEntropyForward", targetWeight);
        if (shape.Rows == 0) return;
        int lanes = Lanes(shape);
        // Absent optional buffers are replaced by the logits and switched off by a flag.
        s_ceForward.Launch(device, IlgpuLaunch.Grid1D(shape.Rows * lanes), IlgpuLaunch.Block1D, logits, targets,
            classWeight ?? logits, loss, logSumExp, targetWeight ?? logits, shape.Outer, shape.Classes, shape.Inner,
            (float)shape.LabelSmoothing, shape.IgnoreIndex, classWeight is null ? 0 : 1, targetWeight is null ? 0 : 1, lanes);
    }

    public void CrossEntropyBackward(in CrossEntropyShape shape, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? classWeight, DeviceBuffer logSumExp, DeviceBuffer dLoss, DeviceBuffer dLogits)
    {
        IlgpuLaunch.RequireF32("Loss.CrossEntropyBackward", logits, logSumExp, dLoss, dLogits);
        if (classWeight is not null) IlgpuLaunch.RequireF32("Loss.CrossEntropyBackward", classWeight);
        if (shape.Rows == 0) return;
        int lanes = Lanes(shape);
        s_ceBackward.Launch(device, IlgpuLaunch.Grid1D(shape.Rows * lanes), IlgpuLaunch.Block1D, logits, targets,
            classWeight ?? logits, logSumExp, dLoss, dLogits, shape.Outer, shape.Classes, shape.Inner,
            (float)shape.LabelSmoothing, shape.IgnoreIndex, classWeight is null ? 0 : 1, lanes);
    }

    public void BceWithLogitsForward(long n, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? posWeight,
        int posWeightLength, DeviceBuffer loss)
    {
        IlgpuLaunch.RequireF32("Loss.BceWithLogitsForward", logits, targets, loss);
        if (posWeight is not null) IlgpuLaunch.RequireF32("Loss.BceWithLogitsForward", posWeight);
        if (n == 0) return;
        s_bceForward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, logits, targets, posWeight ?? logits,
            loss, n, posWeight is null ? 0 : Math.Max(posWeightLength, 1));
    }

    public void BceWithLogitsBackward(long n, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer? posWeight,
        int posWeightLength, DeviceBuffer dLoss, DeviceBuffer? dLogits, DeviceBuffer? dTargets)
    {
        IlgpuLaunch.RequireF32("Loss.BceWithLogitsBackward", logits, targets, dLoss);
        if (posWeight is not null) IlgpuLaunch.RequireF32("Loss.BceWithLogitsBackward", posWeight);
        if (dLogits is not null) IlgpuLaunch.RequireF32("Loss.BceWithLogitsBackward", dLogits);
        if (dTargets is not null) IlgpuLaunch.RequireF32("Loss.BceWithLogitsBackward", dTargets);
        if (n == 0 || (dLogits is null && dTargets is null)) return;
        s_bceBackward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, logits, targets, posWeight ?? logits,
            dLoss, dLogits ?? logits, dTargets ?? logits, n, posWeight is null ? 0 : Math.Max(posWeightLength, 1),
            dLogits is null ? 0 : 1, dTargets is null ? 0 : 1);
    }

    public void SumAll(long n, double scale, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Loss.SumAll", x, y);
        s_sumAll.Launch(device, new(1), new(SumThreads), x, y, n, (float)scale);
    }

    public void ExpandScalar(double scale, DeviceBuffer x, long n, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Loss.ExpandScalar", x, y);
        if (n == 0) return;
        s_expand.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, n, (float)scale);
    }

    // ---- cross-entropy ----------------------------------------------------------------------

    /// <summary>Sum over the `lanes` threads of a row (lanes a power of two ≤ the warp size, rows
    /// aligned to it, so XOR partners stay inside the row). Every lane gets the total.</summary>
    private static float RowSum(float v, int lanes)
    {
        for (int o = lanes >> 1; o > 0; o >>= 1) v += Warp.ShuffleXor(v, o);
        return v;
    }

    private static float RowMax(float v, int lanes)
    {
        for (int o = lanes >> 1; o > 0; o >>= 1) v = XMath.Max(v, Warp.ShuffleXor(v, o));
        return v;
    }

    private static void CeForwardKernel(ArrayView<float> x, ArrayView<int> targets, ArrayView<float> w,
        ArrayView<float> loss, ArrayView<float> lse, ArrayView<float> tw, int outer, int classes, int inner, float eps,
        int ignoreIndex, int weighted, int writeTargetWeight, int lanes)
    {
        long rows = (long)outer * inner;
        long gid = Grid.GlobalIndex.X;
        int warpLane = (int)(gid % WarpLanes), lane = warpLane % lanes;
        long rowsPerWarp = WarpLanes / lanes;
        long stride = (long)Grid.DimX * Group.DimX / WarpLanes * rowsPerWarp;
        // The loop runs per warp (r0 is warp-uniform), so all 32 lanes reach every shuffle; rows past
        // the end and ignored rows take part with empty class ranges.
        for (long r0 = gid / WarpLanes * rowsPerWarp; r0 < rows; r0 += stride)
        {
            long r = r0 + warpLane / lanes;
            bool live = r < rows;
            int t = live ? targets[r] : ignoreIndex;
            bool active = live && t != ignoreIndex;
            int end = active ? classes : 0;
            long o = r / inner;
            long b = o * classes * inner + (r - o * inner);
            float max = float.NegativeInfinity, sumWx = 0f, sumW = 0f;
            for (int k = lane; k < end; k += lanes)
            {
                float v = x[b + (long)k * inner];
                max = XMath.Max(max, v);
                float wk = weighted != 0 ? w[k] : 1f;
                sumWx += wk * v;
                sumW += wk;
            }
            max = RowMax(max, lanes);
            sumWx = RowSum(sumWx, lanes);
            sumW = RowSum(sumW, lanes);
            float sumExp = 0f;
            for (int k = lane; k < end; k += lanes) sumExp += XMath.Exp(x[b + (long)k * inner] - max);
            sumExp = RowSum(sumExp, lanes);
            if (!live || lane != 0) continue;
            float l = 0f, value = 0f, wt = 0f;
            if (active)
            {
                l = max + XMath.Log(sumExp);
                wt = weighted != 0 ? w[t] : 1f;
                value = (1f - eps) * wt * (l - x[b + (long)t * inner]);
                if (eps != 0f) value += eps / classes * (sumW * l - sumWx);
            }
            loss[r] = value;
            lse[r] = l;
            if (writeTargetWeight != 0) tw[r] = wt;
        }
    }

    private static void CeBackwardKernel(ArrayView<float> x, ArrayView<int> targets, ArrayView<float> w,
        ArrayView<float> lse, ArrayView<float> dLoss, ArrayView<float> dx, int outer, int classes, int inner, float eps,
        int ignoreIndex, int weighted, int lanes)
    {
        long rows = (long)outer * inner;
        long gid = Grid.GlobalIndex.X;
        int warpLane = (int)(gid % WarpLanes), lane = warpLane % lanes;
        long rowsPerWarp = WarpLanes / lanes;
        long stride = (long)Grid.DimX * Group.DimX / WarpLanes * rowsPerWarp;
        for (long r0 = gid / WarpLanes * rowsPerWarp; r0 < rows; r0 += stride)
        {
            long r = r0 + warpLane / lanes;
            bool live = r < rows;
            int t = live ? targets[r] : ignoreIndex;
            bool active = live && t != ignoreIndex;
            long o = r / inner;
            long b = o * classes * inner + (r - o * inner);
            // W = Σ w_c, needed only for smoothing with class weights (a launch-uniform condition, so
            // the shuffles stay warp-uniform).
            float sumW = classes;
            if (weighted != 0 && eps != 0f)
            {
                sumW = 0f;
                for (int k = lane; k < (active ? classes : 0); k += lanes) sumW += w[k];
                sumW = RowSum(sumW, lanes);
            }
            if (!live) continue;
            if (!active)
            {
                for (int k = lane; k < classes; k += lanes) dx[b + (long)k * inner] = 0f;
                continue;
            }
            float l = lse[r], g = dLoss[r];
            float hard = (1f - eps) * (weighted != 0 ? w[t] : 1f), soft = eps / classes;
            for (int k = lane; k < classes; k += lanes)
            {
                long at = b + (long)k * inner;
                float p = XMath.Exp(x[at] - l);
                float wk = weighted != 0 ? w[k] : 1f;
                float d = hard * (k == t ? p - 1f : p) + soft * (sumW * p - wk);
                dx[at] = g * d;
            }
        }
    }

    // ---- binary cross-entropy with logits ----------------------------------------------------

    /// <summary>log(1 + u) accurate for small u (Goldberg's trick).</summary>
    private static float Log1P(float u)
    {
        float v = 1f + u;
        return v == 1f ? u : XMath.Log(v) * u / (v - 1f);
    }

    /// <summary>softplus(−x) = max(−x, 0) + log1p(e^{−|x|}), finite for any finite x.</summary>
    private static float SoftplusNeg(float x) => XMath.Max(-x, 0f) + Log1P(XMath.Exp(-XMath.Abs(x)));

    /// <summary>σ(−x) without overflow.</summary>
    private static float SigmoidNeg(float x)
    {
        if (x >= 0f)
        {
            float e = XMath.Exp(-x);
            return e / (1f + e);
        }
        return 1f / (1f + XMath.Exp(x));
    }

    private static void BceForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> pw, ArrayView<float> loss,
        long n, int pwLength)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float xv = x[i], yv = y[i];
            float lw = pwLength != 0 ? 1f + (pw[i % pwLength] - 1f) * yv : 1f;
            loss[i] = (1f - yv) * xv + lw * SoftplusNeg(xv);
        }
    }

    private static void BceBackwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> pw,
        ArrayView<float> dLoss, ArrayView<float> dx, ArrayView<float> dy, long n, int pwLength, int writeDx, int writeDy)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float xv = x[i], yv = y[i], g = dLoss[i];
            float p = pwLength != 0 ? pw[i % pwLength] : 1f;
            if (writeDx != 0) dx[i] = g * ((1f - yv) - (1f + (p - 1f) * yv) * SigmoidNeg(xv));
            if (writeDy != 0) dy[i] = g * (-xv + (p - 1f) * SoftplusNeg(xv));
        }
    }

    // ---- reductions to and from a scalar -----------------------------------------------------

    private static void SumAllKernel(ArrayView<float> x, ArrayView<float> y, long n, float scale)
    {
        var partial = SharedMemory.Allocate<float>(SumThreads);
        int tid = Group.IdxX;
        // Kahan-compensated per-thread sums: float32 accumulators lose little over long inputs.
        float s = 0f, c = 0f;
        for (long i = tid; i < n; i += Group.DimX)
        {
            float v = x[i] - c;
            float t = s + v;
            c = (t - s) - v;
            s = t;
        }
        partial[tid] = s;
        Group.Barrier();
        for (int half = SumThreads / 2; half > 0; half >>= 1)
        {
            if (tid < half) partial[tid] += partial[tid + half];
            Group.Barrier();
        }
        if (tid == 0) y[0] = scale * partial[0];
    }

    private static void ExpandKernel(ArrayView<float> x, ArrayView<float> y, long n, float scale)
    {
        float v = scale * x[0];
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = v;
    }
}
