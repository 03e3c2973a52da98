using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Ops.Activation;
using Kernels.Ops.Gemm;
using Kernels.Registry;

using Geo = Kernels.Ops.Conv.ConvGeometry3;

namespace Kernels.Ops.Conv;

/// <summary>Convolution as im2col + the device's GEMM (cuBLAS on cuda), float32. The column
/// matrix of a block of images (or of output positions, when one image's columns exceed
/// <see cref="ColumnBudget"/>) is built by an ILGPU kernel, per group [InPerGroup·kernel volume,
/// positions]; groups and images are addressed through GEMM offsets and batch strides, never
/// copied. Backward-data multiplies by the weight's transpose into columns and gathers them back
/// per input element (col2im, deterministic). A 1×1 unit-stride unpadded convolution uses the
/// input (or dx) itself as its column matrix. Channel sums reuse the direct ilgpu kernel.</summary>
public abstract partial class ConvIm2col(Device device) : IConv
{
    private static readonly IlgpuKernel s_im2col = new(Im2colKernel);
    private static readonly IlgpuKernel s_col2im = new(Col2imKernel);
    private static readonly IlgpuKernel s_channelBias = new(ChannelBiasKernel);
    private static readonly IlgpuKernel s_sumImages = new(SumImagesKernel);

    /// <summary>Most float32 elements of a column workspace (256 MiB); settable so tests can force
    /// the position blocking.</summary>
    public static long ColumnBudget { get; set; } = 1L << 26;

    private readonly ConvIlgpu _direct = new(device);

    private IGemm Gemm => device.Kernels.Get<IGemm>();

    public void Forward(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Conv.Forward", x, w, y);
        if (bias is not null) IlgpuLaunch.RequireF32("Conv.Forward", bias);
        if (shape.OutputElements <= 0) return;
        Product(shape, x, w, y);
        if (bias is not null)
            AddChannels(y, bias, overwrite: false, shape.OutputElements, shape.OutChannels, shape.OutSpatial);
    }

    /// <summary>The GEMM writes y, then one ILGPU pass applies bias, scale, shift and the activation
    /// in place (cuBLAS has no per-row epilogue for this).</summary>
    public void ForwardFused(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y,
        ActivationKind? activation, double alpha, DeviceBuffer? scale, DeviceBuffer? shift)
    {
        int act = ConvEpilogue.Code(activation);
        IlgpuLaunch.RequireF32("Conv.ForwardFused", x, w, y);
        foreach (var v in new[] { bias, scale, shift })
            if (v is not null) IlgpuLaunch.RequireF32("Conv.ForwardFused", v);
        if (shape.OutputElements <= 0) return;
        Product(shape, x, w, y);
        IlgpuEpilogue.Run(device, y, bias, scale, shift, act, alpha, shape.OutputElements, shape.OutChannels, shape.OutSpatial);
    }

    /// <summary>y = conv(x, w) without bias, block by block through the GEMM.</summary>
    private void Product(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer y)
    {
        var p = Plan.Of(shape);
        var gemm = Gemm;
        using var cols = p.Pointwise ? null : device.Allocate(DType.F32, p.ColumnElements);
        for (int b0 = 0; b0 < shape.Batch; b0 += p.Images)
        {
            int nb = Math.Min(p.Images, shape.Batch - b0);
            for (int p0 = 0; p0 < p.P; p0 += p.Pc)
            {
                int pc = Math.Min(p.Pc, p.P - p0);
                var (src, srcBase) = Columns(p, x, cols, b0, nb, p0, pc);
                // y_g[b][:, p0..] = W_g · cols_g[b]
                var s = new GemmShape(p.Og, pc, p.GroupRows, Ldb: pc, Ldc: p.P,
                    OffsetB: srcBase, OffsetC: (long)b0 * p.Cout * p.P + p0);
                Issue(gemm, s, nb, p.Groups, 0, (long)p.Og * p.GroupRows, p.ImageRows * pc, (long)p.GroupRows * pc,
                    (long)p.Cout * p.P, (long)p.Og * p.P, 0, w, src, y);
            }
        }
    }

    public void BackwardData(in ConvShape shape, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx, DeviceBuffer? bias = null)
    {
        IlgpuLaunch.RequireF32("Conv.BackwardData", dy, w, dx);
        if (bias is not null) IlgpuLaunch.RequireF32("Conv.BackwardData", bias);
        long n = shape.InputElements;
        if (n <= 0) return;
        var p = Plan.Of(shape);
        if (p.P == 0)
        {
            // No output reads any input: dx is the bias alone.
            AddChannels(dx, bias, overwrite: true, n, p.Cin, p.G.InPlane);
            return;
        }
        var gemm = Gemm;
        using var cols = p.Pointwise ? null : device.Allocate(DType.F32, p.ColumnElements);
        for (int b0 = 0; b0 < shape.Batch; b0 += p.Images)
        {
            int nb = Math.Min(p.Images, shape.Batch - b0);
            for (int p0 = 0; p0 < p.P; p0 += p.Pc)
            {
                int pc = Math.Min(p.Pc, p.P - p0);
                // cols_g[b] = W_gᵀ · dy_g[b][:, p0..]; pointwise: straight into dx.
                var dst = cols ?? dx;
                long dstBase = cols is null ? (long)b0 * p.Cin * p.P : 0;
                var s = new GemmShape(p.GroupRows, pc, p.Og, TransA: true, Ldb: p.P, Ldc: pc,
                    OffsetB: (long)b0 * p.Cout * p.P + p0, OffsetC: dstBase);
                Issue(gemm, s, nb, p.Groups, 0, (long)p.Og * p.GroupRows, (long)p.Cout * p.P, (long)p.Og * p.P,
                    p.ImageRows * pc, (long)p.GroupRows * pc, 0, w, dy, dst);
                if (cols is null) continue;
                var g = p.G;
                long planes = (long)nb * p.Cin;
                s_col2im.Launch(device, RowGrid(planes), RowGroup(g.InPlane), cols, bias ?? cols,
                    bias is null ? 0 : 1, p0 > 0 ? 1 : 0, dx, planes, (long)b0 * p.Cin * g.InPlane, p.Cin, pc, p0,
                    g.InD, g.InH, g.InW, g.OutD, g.OutH, g.OutW, g.KD, g.KH, g.KW,
                    g.SD, g.SH, g.SW, g.PD, g.PH, g.PW, g.DD, g.DH, g.DW);
            }
        }
        if (p.Pointwise && bias is not null)
            AddChannels(dx, bias, overwrite: false, n, p.Cin, p.G.InPlane);
    }

    public void BackwardWeights(in ConvShape shape, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? db)
    {
        IlgpuLaunch.RequireF32("Conv.BackwardWeights", x, dy, dw);
        var p = Plan.Of(shape);
        if (db is not null)
        {
            IlgpuLaunch.RequireF32("Conv.BackwardWeights", db);
            ChannelSum(shape.Batch, shape.OutChannels, p.P, dy, db);
        }
        long n = shape.WeightElements;
        if (n <= 0) return;
        if (p.P == 0 || shape.Batch == 0)
        {
            AddChannels(dw, null, overwrite: true, n, 1, n);
            return;
        }
        // Images of a block multiply as one batched GEMM into per-image partial gradients, summed
        // in image order by a small kernel (deterministic, and the GEMM fills the GPU better than
        // one small product per image); partials are capped at a quarter of the column budget.
        p = p with { Images = (int)Math.Clamp(Math.Min(p.Images, ColumnBudget / 4 / n), 1, p.Images) };
        var gemm = Gemm;
        using var cols = p.Pointwise ? null : device.Allocate(DType.F32, p.ColumnElements);
        using var part = p.Images > 1 ? device.Allocate(DType.F32, p.Images * n) : null;
        bool first = true;
        for (int b0 = 0; b0 < shape.Batch; b0 += p.Images)
        {
            int nb = Math.Min(p.Images, shape.Batch - b0);
            for (int p0 = 0; p0 < p.P; p0 += p.Pc)
            {
                int pc = Math.Min(p.Pc, p.P - p0);
                var (src, srcBase) = Columns(p, x, cols, b0, nb, p0, pc);
                // dw_g (+)= dy_g[b][:, p0..] · cols_g[b]ᵀ
                var s = new GemmShape(p.Og, p.GroupRows, pc, TransB: true, Lda: p.P, Ldb: pc,
                    OffsetA: (long)b0 * p.Cout * p.P + p0, OffsetB: srcBase);
                if (nb == 1)
                {
                    Issue(gemm, s, 1, p.Groups, 0, (long)p.Og * p.P, 0, (long)p.GroupRows * pc,
                        0, (long)p.Og * p.GroupRows, first ? 0.0 : 1.0, dy, src, dw);
                }
                else
                {
                    Issue(gemm, s, nb, p.Groups, (long)p.Cout * p.P, (long)p.Og * p.P, p.ImageRows * pc, (long)p.GroupRows * pc,
                        n, (long)p.Og * p.GroupRows, 0.0, dy, src, part!);
                    s_sumImages.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, part!, dw, n, nb, first ? 0 : 1);
                }
                first = false;
            }
        }
    }

    public void ChannelSum(int batch, int channels, long spatial, DeviceBuffer t, DeviceBuffer sum) =>
        _direct.ChannelSum(batch, channels, spatial, t, sum);

    /// <summary>The column matrix of images b0..b0+nb at positions p0..p0+pc: built into cols, or
    /// (pointwise, all positions) the input itself. Returns the buffer and the offset of image b0.</summary>
    private (DeviceBuffer Buffer, long Offset) Columns(in Plan p, DeviceBuffer x, DeviceBuffer? cols, int b0, int nb, int p0, int pc)
    {
        if (cols is null) return (x, (long)b0 * p.Cin * p.P);
        var g = p.G;
        long rows = nb * p.ImageRows;
        s_im2col.Launch(device, RowGrid(rows), RowGroup(pc), x, cols, rows,
            (long)b0 * p.Cin * g.InPlane, pc, p0,
            g.InD, g.InH, g.InW, g.OutH, g.OutW, g.KD, g.KH, g.KW,
            g.SD, g.SH, g.SW, g.PD, g.PH, g.PW, g.DD, g.DH, g.DW);
        return (cols, 0);
    }

    /// <summary>One group per row (grid-stride beyond the cap).</summary>
    private static Dim3 RowGrid(long rows) => new((uint)Math.Clamp(rows, 1, IlgpuLaunch.MaxGroups));

    /// <summary>Threads over a row of <paramref name="length"/>: 256, or fewer warps for a short
    /// row so that lanes (and, on ilgpu-cpu, simulated threads) are not left idle.</summary>
    private static Dim3 RowGroup(long length) =>
        new((uint)Math.Clamp((length + 31) / 32 * 32, 32, IlgpuLaunch.Threads));

    /// <summary>t = (overwrite ? 0 : t) + bias per channel (no bias: zeros or unchanged).</summary>
    private void AddChannels(DeviceBuffer t, DeviceBuffer? bias, bool overwrite, long total, int channels, long spatial)
    {
        if (total <= 0 || (!overwrite && bias is null)) return;
        s_channelBias.Launch(device, IlgpuLaunch.Grid1D(total), IlgpuLaunch.Block1D, t, bias ?? t, bias is null ? 0 : 1,
            overwrite ? 1 : 0, total, channels, Math.Max(1, spatial));
    }

    /// <summary>One GEMM per image over the groups as a batch, or one per group over the images,
    /// whichever makes fewer calls. Offsets in <paramref name="s"/> are those of image 0, group 0.</summary>
    private static void Issue(IGemm gemm, GemmShape s, int images, int groups, long aImage, long aGroup,
        long bImage, long bGroup, long cImage, long cGroup, double beta, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c)
    {
        if (images <= groups)
        {
            for (int i = 0; i < images; i++)
                gemm.Gemm(s with
                {
                    OffsetA = s.OffsetA + i * aImage, OffsetB = s.OffsetB + i * bImage, OffsetC = s.OffsetC + i * cImage,
                    Batch = groups, StrideA = aGroup, StrideB = bGroup, StrideC = cGroup,
                }, 1.0, a, b, beta, c);
        }
        else
        {
            for (int g = 0; g < groups; g++)
                gemm.Gemm(s with
                {
                    OffsetA = s.OffsetA + g * aGroup, OffsetB = s.OffsetB + g * bGroup, OffsetC = s.OffsetC + g * cGroup,
                    Batch = images, StrideA = aImage, StrideB = bImage, StrideC = cImage,
                }, 1.0, a, b, beta, c);
        }
    }

    /// <summary>How a pass walks the problem: blocks of Images whole images, or one image in blocks
    /// of Pc output positions when one image's columns exceed the budget.</summary>
    private readonly record struct Plan(Geo G, int Cin, int Cout, int Groups, int Cg, int Og, int KVol, int P,
        bool Pointwise, int Images, int Pc)
    {
        /// <summary>Column rows of one group (the GEMM's K in the forward).</summary>
        public int GroupRows => Cg * KVol;

        /// <summary>Column rows of one image (all groups).</summary>
        public long ImageRows => (long)Cin * KVol;

        public long ColumnElements => Math.Max(1, Images * ImageRows * Pc);

        public static Plan Of(in ConvShape s)
        {
            var g = Geo.Of(s);
            long p = (long)g.OutD * g.OutH * g.OutW;
            long kVol = (long)g.KD * g.KH * g.KW;
            if (p > int.MaxValue || s.InPerGroup * kVol > int.MaxValue || g.InPlane > int.MaxValue)
                throw new NotSupportedException($"Conv (im2col): {p} output positions, {s.InPerGroup * kVol} column rows per group or {g.InPlane} input positions; at most 2^31 - 1 each");
            // A 1×1 unit-stride unpadded kernel reads every input once in place: x is its own column matrix.
            bool pointwise = g.KD == 1 && g.KH == 1 && g.KW == 1 && g.SD == 1 && g.SH == 1 && g.SW == 1 &&
                             g.PD == 0 && g.PH == 0 && g.PW == 0 && p == g.InPlane;
            long rows = s.InChannels * kVol, perImage = rows * p;
            int images, pc;
            if (pointwise || p == 0) { images = Math.Max(1, s.Batch); pc = (int)p; }
            else if (perImage <= ColumnBudget) { images = (int)Math.Clamp(ColumnBudget / perImage, 1, Math.Max(1, s.Batch)); pc = (int)p; }
            else { images = 1; pc = (int)Math.Clamp(ColumnBudget / rows, 1, p); }
            return new Plan(g, s.InChannels, s.OutChannels, s.Groups, s.InPerGroup, s.OutPerGroup, (int)kVol, (int)p,
                pointwise, images, pc);
        }
    }
}

/// <summary>The im2col convolution on cuda: its GEMMs go to cuBLAS (`--impl conv=im2col`). Ranked
/// above the direct ilgpu kernels and below the native ones since the H100 device check of
/// 2026-11-27 17:26 UTC passed its self-test (docs/gpu-results.md).</summary>
[KernelImplementation("im2col", 15, DeviceKind.Cuda)]
public sealed class ConvIm2colCuda(Device device) : ConvIm2col(device);

/// <summary>The im2col convolution on ilgpu-cpu, below the direct kernels there (the simulated
/// GEMM is no faster); kept so the self-test checks the same code the cuda device runs.</summary>
[KernelImplementation("im2col", 5, DeviceKind.IlgpuCpu)]
public sealed class ConvIm2colIlgpuCpu(Device device) : ConvIm2col(device);
