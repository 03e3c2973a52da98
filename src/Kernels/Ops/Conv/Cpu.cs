using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Ops.Activation;
using Kernels.Ops.Gemm;
using Kernels.Registry;

namespace Kernels.Ops.Conv;

/// <summary>Convolution as im2col / vol2col + GEMM (the device's IGemm), col2im for the data
/// gradient. Images and output positions are processed in blocks so the column matrix stays under
/// <see cref="ColumnBudget"/> elements; a 1×1 unit-stride convolution multiplies the input directly.
/// Groups and images are addressed through GEMM offsets and batch strides, never copied.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class ConvCpu : IConv
{
    /// <summary>Most elements a column block may hold (8 MiB of float32).</summary>
    public static long ColumnBudget { get; set; } = 1 << 21;

    public void Forward(in ConvShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Forward(s, x, w, CpuEpilogue<float>.Of(bias), y); break;
            case DType.F64: Forward(s, x, w, CpuEpilogue<double>.Of(bias), y); break;
            default: throw Unsupported(y.DType);
        }
    }

    /// <summary>The reference fused forward: the convolution, its epilogue applied to each output
    /// run as it is written (in the padded-grid scatter, or one pass per GEMM block's rows).</summary>
    public void ForwardFused(in ConvShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y,
        ActivationKind? activation, double alpha, DeviceBuffer? scale, DeviceBuffer? shift)
    {
        int act = ConvEpilogue.Code(activation);
        switch (y.DType)
        {
            case DType.F32: Forward(s, x, w, CpuEpilogue<float>.Of(bias, scale, shift, act, alpha), y); break;
            case DType.F64: Forward(s, x, w, CpuEpilogue<double>.Of(bias, scale, shift, act, alpha), y); break;
            default: throw Unsupported(y.DType);
        }
    }

    public void BackwardData(in ConvShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx, DeviceBuffer? bias = null)
    {
        switch (dx.DType)
        {
            case DType.F32: BackwardData<float>(s, dy, w, dx, bias); break;
            case DType.F64: BackwardData<double>(s, dy, w, dx, bias); break;
            default: throw Unsupported(dx.DType);
        }
    }

    public void BackwardWeights(in ConvShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? db)
    {
        switch (dw.DType)
        {
            case DType.F32: BackwardWeights<float>(s, x, dy, dw, db); break;
            case DType.F64: BackwardWeights<double>(s, x, dy, dw, db); break;
            default: throw Unsupported(dw.DType);
        }
    }

    public void ChannelSum(int batch, int channels, long spatial, DeviceBuffer t, DeviceBuffer sum)
    {
        switch (sum.DType)
        {
            case DType.F32: ChannelSum(batch, channels, spatial, CpuBuffer.Array<float>(t), CpuBuffer.Array<float>(sum)); break;
            case DType.F64: ChannelSum(batch, channels, spatial, CpuBuffer.Array<double>(t), CpuBuffer.Array<double>(sum)); break;
            default: throw Unsupported(sum.DType);
        }
    }

    private static NotSupportedException Unsupported(DType t) => new($"Conv: dtype {t.Name()} is not supported on the cpu");

    /// <summary>How a pass walks the problem: blocks of Images whole images, or one image in
    /// blocks of Pc output positions when a single image's columns exceed the budget.</summary>
    private readonly struct Plan
    {
        public readonly bool Pointwise;
        public readonly int Images, Pc;
        public readonly long Rows, P;

        public Plan(in ConvShape s)
        {
            Pointwise = s.IsPointwise;
            Rows = s.InChannels * s.KernelVolume;
            P = s.OutSpatial;
            long perImage = Rows * P;
            if (Pointwise) { Images = s.Batch; Pc = (int)P; }
            else if (perImage <= ColumnBudget) { Images = (int)Math.Clamp(ColumnBudget / perImage, 1, s.Batch); Pc = (int)P; }
            else { Images = 1; Pc = (int)Math.Clamp(ColumnBudget / Rows, 1, P); }
        }

        public long ColumnElements => Pointwise ? 0 : Images * Rows * Pc;
    }

    private static DeviceBuffer? Workspace(Device device, DType dtype, in Plan plan) =>
        plan.Pointwise ? null : device.Allocate(dtype, plan.ColumnElements);

    private static void Forward<T>(ConvShape s, DeviceBuffer x, DeviceBuffer w, CpuEpilogue<T> epilogue, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (s.Batch == 0 || s.OutSpatial == 0) return;
        if (PaddedGrid.Applies(s))
        {
            PaddedGrid.Run(s, x, w, epilogue, y);
            return;
        }
        var geo = new Geometry(s);
        var plan = new Plan(s);
        var gemm = y.Device.Kernels.Get<IGemm>();
        int groups = s.Groups, og = s.OutPerGroup, cg = s.InPerGroup, k = cg * geo.KernelVolume;
        long p = plan.P;
        T[] xa = CpuBuffer.Array<T>(x), ya = CpuBuffer.Array<T>(y);
        using var colBuf = Workspace(y.Device, y.DType, plan);
        T[]? col = colBuf is null ? null : CpuBuffer.Array<T>(colBuf);

        for (int n0 = 0; n0 < s.Batch; n0 += plan.Images)
        {
            int ni = Math.Min(plan.Images, s.Batch - n0);
            for (long p0 = 0; p0 < p; p0 += plan.Pc)
            {
                int pc = (int)Math.Min(plan.Pc, p - p0);
                DeviceBuffer b;
                long bBase, bImg, bGrp;
                int ldb;
                if (plan.Pointwise)
                {
                    (b, bBase, bImg, bGrp, ldb) = (x, (long)n0 * s.InChannels * p + p0, s.InChannels * p, cg * p, (int)p);
                }
                else
                {
                    Columns.Im2Col(geo, ni, s.InChannels, xa, (long)n0 * s.InChannels * geo.InPlane, p0, pc, col!);
                    (b, bBase, bImg, bGrp, ldb) = (colBuf!, 0, plan.Rows * pc, (long)k * pc, pc);
                }
                // y[n, g·og.., p0..] (og × pc) = w_g (og × k) · col_g (k × pc)
                var shape = new GemmShape(og, pc, k, Lda: k, Ldb: ldb, Ldc: (int)p,
                    OffsetB: bBase, OffsetC: (long)n0 * s.OutChannels * p + p0);
                Grouped(gemm, ni, groups, shape, 0, (long)og * k, bImg, bGrp, s.OutChannels * p, og * p, w, b, 0, y);
                if (!epilogue.IsEmpty) ApplyPerChannel(ya, n0, ni, s.OutChannels, p, p0, pc, epilogue);
            }
        }
    }

    private static void BackwardData<T>(ConvShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx, DeviceBuffer? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var geo = new Geometry(s);
        T[] dxa = CpuBuffer.Array<T>(dx);
        T[]? ba = bias is null ? null : CpuBuffer.Array<T>(bias);
        if (s.Batch == 0 || s.OutSpatial == 0)
        {
            dxa.AsSpan(0, (int)s.InputElements).Clear();
            if (ba is not null) AddPerChannel(dxa, 0, s.Batch, s.InChannels, geo.InPlane, 0, (int)geo.InPlane, ba);
            return;
        }
        if (PaddedGrid.AppliesToBackwardData(s))
        {
            PaddedGrid.BackwardData<T>(s, dy, w, dx, bias);
            return;
        }
        var plan = new Plan(s);
        var gemm = dx.Device.Kernels.Get<IGemm>();
        int groups = s.Groups, og = s.OutPerGroup, cg = s.InPerGroup, k = cg * geo.KernelVolume;
        long p = plan.P;
        using var colBuf = Workspace(dx.Device, dx.DType, plan);
        T[]? col = colBuf is null ? null : CpuBuffer.Array<T>(colBuf);

        for (int n0 = 0; n0 < s.Batch; n0 += plan.Images)
        {
            int ni = Math.Min(plan.Images, s.Batch - n0);
            long dyBase = (long)n0 * s.OutChannels * p;
            for (long p0 = 0; p0 < p; p0 += plan.Pc)
            {
                int pc = (int)Math.Min(plan.Pc, p - p0);
                if (plan.Pointwise)
                {
                    // dx[n, g·cg.., :] (cg × P) = w_gᵀ (cg × og) · dy_g (og × P): no columns needed.
                    var direct = new GemmShape(cg, pc, og, TransA: true, Lda: cg, Ldb: (int)p, Ldc: (int)p,
                        OffsetB: dyBase + p0, OffsetC: (long)n0 * s.InChannels * p + p0);
                    Grouped(gemm, ni, groups, direct, 0, (long)og * cg, s.OutChannels * p, og * p,
                        s.InChannels * p, cg * p, w, dy, 0, dx);
                    continue;
                }
                // col_g (k × pc) = w_gᵀ (k × og) · dy_g (og × pc), then scattered back into dx.
                var shape = new GemmShape(k, pc, og, TransA: true, Lda: k, Ldb: (int)p, Ldc: pc, OffsetB: dyBase + p0);
                Grouped(gemm, ni, groups, shape, 0, (long)og * k, s.OutChannels * p, og * p,
                    plan.Rows * pc, (long)k * pc, w, dy, 0, colBuf!);
                long dxBase = (long)n0 * s.InChannels * geo.InPlane;
                if (p0 == 0) ClearParallel(dxa, dxBase, ni * s.InChannels * geo.InPlane);
                Columns.Col2Im(geo, ni, s.InChannels, col!, p0, pc, dxa, dxBase);
            }
        }
        if (ba is not null) AddPerChannel(dxa, 0, s.Batch, s.InChannels, geo.InPlane, 0, (int)geo.InPlane, ba);
    }

    private static void BackwardWeights<T>(ConvShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (db is not null) ChannelSum(s.Batch, s.OutChannels, s.OutSpatial, CpuBuffer.Array<T>(dy), CpuBuffer.Array<T>(db));
        T[] dwa = CpuBuffer.Array<T>(dw);
        if (s.Batch == 0 || s.OutSpatial == 0)
        {
            dwa.AsSpan(0, (int)s.WeightElements).Clear();
            return;
        }
        if (PaddedGrid.AppliesToWeights(s))
        {
            PaddedGrid.BackwardWeights<T>(s, x, dy, dw);
            return;
        }
        var geo = new Geometry(s);
        var plan = new Plan(s);
        var gemm = dw.Device.Kernels.Get<IGemm>();
        int groups = s.Groups, og = s.OutPerGroup, cg = s.InPerGroup, k = cg * geo.KernelVolume;
        long p = plan.P;
        T[] xa = CpuBuffer.Array<T>(x);
        using var colBuf = Workspace(dw.Device, dw.DType, plan);
        T[]? col = colBuf is null ? null : CpuBuffer.Array<T>(colBuf);
        bool first = true;

        for (int n0 = 0; n0 < s.Batch; n0 += plan.Images)
        {
            int ni = Math.Min(plan.Images, s.Batch - n0);
            for (long p0 = 0; p0 < p; p0 += plan.Pc)
            {
                int pc = (int)Math.Min(plan.Pc, p - p0);
                if (!plan.Pointwise)
                    Columns.Im2Col(geo, ni, s.InChannels, xa, (long)n0 * s.InChannels * geo.InPlane, p0, pc, col!);
                // Images accumulate into the same dw, so they go one after another; groups batch.
                for (int i = 0; i < ni; i++)
                {
                    int n = n0 + i;
                    DeviceBuffer b = plan.Pointwise ? x : colBuf!;
                    long bOff = plan.Pointwise ? (long)n * s.InChannels * p + p0 : i * plan.Rows * pc;
                    long bGrp = plan.Pointwise ? cg * p : (long)k * pc;
                    int ldb = plan.Pointwise ? (int)p : pc;
                    // dw_g (og × k) += dy_g (og × pc) · col_gᵀ (pc × k)
                    var shape = new GemmShape(og, k, pc, TransB: true, Lda: (int)p, Ldb: ldb, Ldc: k,
                        OffsetA: (long)n * s.OutChannels * p + p0, OffsetB: bOff,
                        Batch: groups, StrideA: og * p, StrideB: bGrp, StrideC: (long)og * k);
                    gemm.Gemm(shape, 1.0, dy, b, first ? 0.0 : 1.0, dw);
                    first = false;
                }
            }
        }
    }

    /// <summary>Runs one GEMM shape over every (image, group) pair: the larger of the two counts
    /// becomes the GEMM batch, the other a loop. Offsets in <paramref name="s"/> are for image 0, group 0.</summary>
    private static void Grouped(IGemm gemm, int images, int groups, in GemmShape s,
        long aImg, long aGrp, long bImg, long bGrp, long cImg, long cGrp,
        DeviceBuffer a, DeviceBuffer b, double beta, DeviceBuffer c)
    {
        if (images >= groups)
        {
            for (int g = 0; g < groups; g++)
                gemm.Gemm(s with
                {
                    OffsetA = s.OffsetA + g * aGrp, OffsetB = s.OffsetB + g * bGrp, OffsetC = s.OffsetC + g * cGrp,
                    Batch = images, StrideA = aImg, StrideB = bImg, StrideC = cImg,
                }, 1.0, a, b, beta, c);
        }
        else
        {
            for (int i = 0; i < images; i++)
                gemm.Gemm(s with
                {
                    OffsetA = s.OffsetA + i * aImg, OffsetB = s.OffsetB + i * bImg, OffsetC = s.OffsetC + i * cImg,
                    Batch = groups, StrideA = aGrp, StrideB = bGrp, StrideC = cGrp,
                }, 1.0, a, b, beta, c);
        }
    }

    /// <summary>t[n, c, p0..p0+pc] += v[c] for images n0..n0+ni.</summary>
    private static void AddPerChannel<T>(T[] t, int n0, int ni, int channels, long plane, long p0, int pc, T[] v)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For((long)ni * channels, pc, (u0, u1) =>
        {
            for (long u = u0; u < u1; u++)
            {
                int c = (int)(u % channels);
                var span = t.AsSpan((int)((n0 * (long)channels + u) * plane + p0), pc);
                TensorPrimitives.Add(span, v[c], span);
            }
        });
    }

    /// <summary>t[n, c, p0..p0+pc] = epilogue(t[n, c, p0..p0+pc]) for images n0..n0+ni.</summary>
    private static void ApplyPerChannel<T>(T[] t, int n0, int ni, int channels, long plane, long p0, int pc, CpuEpilogue<T> epilogue)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For((long)ni * channels, pc, (u0, u1) =>
        {
            for (long u = u0; u < u1; u++)
            {
                var span = t.AsSpan((int)((n0 * (long)channels + u) * plane + p0), pc);
                epilogue.Apply(span, span, u % channels);
            }
        });
    }

    private static void ChannelSum<T>(int batch, int channels, long spatial, T[] t, T[] sum)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(channels, batch * spatial, (c0, c1) =>
        {
            for (long c = c0; c < c1; c++)
            {
                T acc = T.Zero;
                for (int n = 0; n < batch; n++)
                    acc += TensorPrimitives.Sum<T>(t.AsSpan((int)((n * channels + c) * spatial), (int)spatial));
                sum[c] = acc;
            }
        });
    }

    private static void ClearParallel<T>(T[] a, long offset, long count) where T : unmanaged =>
        CpuParallel.For(count, 1, (s, e) => a.AsSpan((int)(offset + s), (int)(e - s)).Clear());
}
