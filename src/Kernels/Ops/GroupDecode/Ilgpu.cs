using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Registry;

namespace Kernels.Ops.GroupDecode;

/// <summary>ILGPU group decoding (float32). Forward: one grid-stride launch over the [B, N] logits,
/// each thread one D-long dot product (neighbouring threads take neighbouring columns of one group,
/// so the w reads coalesce and the x row is shared). Backward: one launch over the concatenated
/// index spaces of dx, dw and dbias; each element is one ordered sum (deterministic, no atomics).
/// ForwardAsl (3 launches): (1) one group per tile of 256 logits of one image (T = B·⌈N/256⌉ tiles,
/// so a small batch still fills the GPU) computes each logit in a register, the ASL entry loss and
/// gradient (<see cref="AslMath.Entry"/>), writes the weighted logit gradient to a [B, N] scratch
/// and the tile's loss and non-zero-weight count (a fixed-order tree) to a [2T + 1] scratch; (2)
/// one thread sums those in tile order into loss[0] and the mean's scale; (3) the backward launch on
/// the scratch gradients, scaled. Trade-off (documented choice): the logits never reach memory,
/// but their gradients do (B·N floats written once, read by the dx, dw and dbias parts of the
/// backward). Recomputing the logits inside the dx and dw kernels instead would save that traffic
/// but redo the B·N·D dot products twice and need each group's B gradients at once for dw; at
/// ML-Decoder sizes the scratch (B·N·4 bytes, e.g. 2.5 MB for B = 64, N = 9605) is the cheaper
/// side.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class GroupDecodeIlgpu(Device device) : IGroupDecode
{
    private const int RowThreads = 256;

    private static readonly IlgpuKernel s_forward = new(ForwardKernel);
    private static readonly IlgpuKernel s_backward = new(BackwardKernel);
    private static readonly IlgpuKernel s_aslRows = new(AslRowsKernel);
    private static readonly IlgpuKernel s_aslFinish = new(AslFinishKernel);

    public void Forward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("GroupDecode.Forward", x, w, y);
        if (bias is not null) IlgpuLaunch.RequireF32("GroupDecode.Forward", bias);
        long total = (long)shape.Batch * shape.Classes;
        if (total == 0) return;
        s_forward.Launch(device, IlgpuLaunch.Grid1D(total), IlgpuLaunch.Block1D, x, w, bias ?? w, y, shape.Batch,
            shape.Groups, shape.Dim, shape.PerGroup, shape.Classes, bias is null ? 0 : 1);
    }

    public void Backward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer dy,
        DeviceBuffer? dx, DeviceBuffer? dw, DeviceBuffer? dbias)
    {
        IlgpuLaunch.RequireF32("GroupDecode.Backward", x, w, dy);
        foreach (var b in new[] { dx, dw, dbias })
            if (b is not null) IlgpuLaunch.RequireF32("GroupDecode.Backward", b);
        LaunchBackward(shape, x, w, dy, dx, dw, dbias, dy, 0, 0);
    }

    private void LaunchBackward(in GroupDecodeShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer dy,
        DeviceBuffer? dx, DeviceBuffer? dw, DeviceBuffer? dbias, DeviceBuffer scale, long scaleAt, int useScale)
    {
        long nx = dx is null ? 0 : (long)s.Batch * s.Groups * s.Dim;
        long nw = dw is null ? 0 : (long)s.Groups * s.Dim * s.PerGroup;
        long nb = dbias is null ? 0 : s.Classes;
        long total = nx + nw + nb;
        if (total == 0) return;
        s_backward.Launch(device, IlgpuLaunch.Grid1D(total), IlgpuLaunch.Block1D, x, w, dy, dx ?? dy, dw ?? dy,
            dbias ?? dy, scale, scaleAt, useScale, s.Batch, s.Groups, s.Dim, s.PerGroup, s.Classes, nx, nw, nb);
    }

    public void ForwardAsl(in GroupDecodeShape shape, in AslOptions options, DeviceBuffer x, DeviceBuffer w,
        DeviceBuffer? bias, DeviceBuffer targets, DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dx,
        DeviceBuffer? dw, DeviceBuffer? dbias)
    {
        IlgpuLaunch.RequireF32("GroupDecode.ForwardAsl", x, w, targets, loss);
        foreach (var b in new[] { bias, weights, dx, dw, dbias })
            if (b is not null) IlgpuLaunch.RequireF32("GroupDecode.ForwardAsl", b);
        long entries = (long)shape.Batch * shape.Classes;
        using var grads = device.Allocate(DType.F32, Math.Max(entries, 1));
        long tiles = (long)shape.Batch * ((shape.Classes + RowThreads - 1) / RowThreads);
        using var part = device.Allocate(DType.F32, 2 * tiles + 1);
        var o = options;
        s_aslRows.Launch(device, new Dim3((uint)Math.Clamp(tiles, 1, IlgpuLaunch.MaxGroups)), new Dim3(RowThreads),
            x, w, bias ?? w, targets, weights ?? targets, grads, part, shape.Batch, shape.Groups, shape.Dim,
            shape.PerGroup, shape.Classes, bias is null ? 0 : 1, weights is null ? 0 : 1,
            (float)o.GammaPos, (float)o.GammaNeg, (float)o.Clip, (float)o.Eps, (float)o.AlphaPos, (float)o.AlphaNeg,
            (float)o.GammaUnannotated, (float)o.AlphaUnannotated, o.FocusingWeightConstant ? 1 : 0);
        s_aslFinish.Launch(device, new Dim3(1), new Dim3(32), part, loss, tiles, o.Mean ? 1 : 0);
        LaunchBackward(shape, x, w, grads, dx, dw, dbias, part, 2 * tiles, 1);
    }

    private static void ForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        int batch, int groups, int dim, int g, int n, int hasBias)
    {
        long total = (long)batch * n;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            long b = i / n;
            int j = (int)(i - b * n);
            int grp = j / g, c = j - grp * g;
            long xo = (b * groups + grp) * dim, wo = (long)grp * dim * g + c;
            float acc = 0f;
            for (int t = 0; t < dim; t++) acc += x[xo + t] * w[wo + (long)t * g];
            y[i] = hasBias != 0 ? acc + bias[j] : acc;
        }
    }

    private static void BackwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> dy,
        ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> dbias, ArrayView<float> scale, long scaleAt,
        int useScale, int batch, int groups, int dim, int g, int n, long nx, long nw, long nb)
    {
        float sc = useScale != 0 ? scale[scaleAt] : 1f;
        long total = nx + nw + nb;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            if (i < nx)
            {
                // dx[b, k, d] = Σ_c dy[b, k·g + c] · w[k, d, c]
                long kd = (long)groups * dim;
                long b = i / kd;
                long r = i - b * kd;
                int grp = (int)(r / dim), t = (int)(r - (long)grp * dim);
                int cols = n - grp * g < g ? n - grp * g : g;
                long dyo = b * n + (long)grp * g, wo = r * g;
                float acc = 0f;
                for (int c = 0; c < cols; c++) acc += dy[dyo + c] * w[wo + c];
                dx[i] = sc * acc;
            }
            else if (i < nx + nw)
            {
                // dw[k, d, c] = Σ_b x[b, k, d] · dy[b, k·g + c]; 0 for the padding columns j ≥ N.
                long e = i - nx;
                long grp = e / ((long)dim * g);
                long r = e - grp * dim * g;
                long t = r / g;
                long j = grp * g + (r - t * g);
                float acc = 0f;
                if (j < n)
                    for (int b = 0; b < batch; b++) acc += x[((long)b * groups + grp) * dim + t] * dy[(long)b * n + j];
                dw[e] = sc * acc;
            }
            else
            {
                long j = i - nx - nw;
                float acc = 0f;
                for (int b = 0; b < batch; b++) acc += dy[(long)b * n + j];
                dbias[j] = sc * acc;
            }
        }
    }

    private static void AslRowsKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> targets, ArrayView<float> weights, ArrayView<float> grads, ArrayView<float> part, int batch,
        int groups, int dim, int g, int n, int hasBias, int hasWeights, float gammaPos, float gammaNeg, float clip,
        float eps, float alphaPos, float alphaNeg, float gammaUnannotated, float alphaUnannotated, int focusConstant)
    {
        var sumSh = SharedMemory.Allocate<float>(RowThreads);
        var cntSh = SharedMemory.Allocate<float>(RowThreads);
        int tid = Group.IdxX;
        int chunks = (n + RowThreads - 1) / RowThreads;
        long tiles = (long)batch * chunks;
        // The tile loop is uniform over the group, so every thread reaches every barrier.
        for (long tile = Grid.IdxX; tile < tiles; tile += Grid.DimX)
        {
            int b = (int)(tile / chunks);
            int j = (int)(tile - (long)b * chunks) * RowThreads + tid;
            float s = 0f, cnt = 0f;
            if (j < n)
            {
                int grp = j / g, c = j - grp * g;
                long xo = ((long)b * groups + grp) * dim, wo = (long)grp * dim * g + c;
                float acc = 0f;
                for (int t = 0; t < dim; t++) acc += x[xo + t] * w[wo + (long)t * g];
                float logit = hasBias != 0 ? acc + bias[j] : acc;
                long at = (long)b * n + j;
                float wt = hasWeights != 0 ? weights[at] : 1f;
                float l = AslMath.Entry(logit, targets[at], gammaPos, gammaNeg, clip, eps, alphaPos, alphaNeg,
                    gammaUnannotated, alphaUnannotated, focusConstant, out float gr);
                grads[at] = wt * gr;
                s = wt * l;
                cnt = wt != 0f ? 1f : 0f;
            }
            sumSh[tid] = s;
            cntSh[tid] = cnt;
            Group.Barrier();
            for (int half = RowThreads / 2; half > 0; half >>= 1)
            {
                if (tid < half)
                {
                    sumSh[tid] += sumSh[tid + half];
                    cntSh[tid] += cntSh[tid + half];
                }
                Group.Barrier();
            }
            if (tid == 0)
            {
                part[tile] = sumSh[0];
                part[tiles + tile] = cntSh[0];
            }
            Group.Barrier();
        }
    }

    /// <summary>One thread: the tiles' losses and counts in tile order (deterministic), then
    /// loss[0] and the gradient scale part[2T] (1, or 1 / count for the mean).</summary>
    private static void AslFinishKernel(ArrayView<float> part, ArrayView<float> loss, long tiles, int mean)
    {
        if (Grid.GlobalIndex.X != 0) return;
        float s = 0f, comp = 0f;
        long count = 0;
        for (long i = 0; i < tiles; i++)
        {
            float v = part[i] - comp;
            float t = s + v;
            comp = (t - s) - v;
            s = t;
            count += (long)part[tiles + i];
        }
        float scale = mean != 0 ? 1f / (count > 0 ? count : 1) : 1f;
        loss[0] = s * scale;
        part[2 * tiles] = scale;
    }
}
