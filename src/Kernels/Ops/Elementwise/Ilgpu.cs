using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Elementwise;

/// <summary>ILGPU version of the elementwise family: arithmetic is float32 (float64 is refused:
/// gradient checks run on the cpu); Fill and Copy also take int32, Cast does int32 → float32.
/// Every kernel is a grid-stride loop over a capped grid (Ilgpu.Kernels.cs); a broadcast passes
/// its coalesced outer axes as scalars (IlgpuBroadcast); SumToShape reduces with a thread per
/// output, or a group per output when the summed run is long (Ilgpu.SumToShape.cs).</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed partial class ElementwiseIlgpu(Device device) : IElementwise
{
    public void Binary(BinaryOp op, in BroadcastShape shape, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Elementwise.Binary", a, b, y);
        var plan = new IlgpuBroadcast(shape);
        long n = plan.LaunchElements, launches = plan.Launches;
        if (n == 0) return;
        // The outermost kernel axis needs no extent: its index is what is left of the row.
        var (_, sa0, sb0) = plan.Axis(0);
        var (d1, sa1, sb1) = plan.Axis(1);
        var (d2, sa2, sb2) = plan.Axis(2);
        var (d3, sa3, sb3) = plan.Axis(3);
        for (long l = 0; l < launches; l++)
        {
            var (ao, bo, yo) = plan.Offsets(l);
            s_binary.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (int)op, a, ao, b, bo, y, yo, n,
                plan.Inner, plan.AInner, plan.BInner, d1, d2, d3, sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3);
        }
    }

    public void Unary(UnaryOp op, long n, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Elementwise.Unary", x, y);
        if (n == 0) return;
        s_unary.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (int)op, x, y, n);
    }

    public void Scalar(ScalarOp op, double scalar, long n, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Elementwise.Scalar", x, y);
        if (n == 0) return;
        s_scalar.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (int)op, (float)scalar, x, y, n);
    }

    public void Fill(double value, long n, DeviceBuffer y)
    {
        if (n == 0) return;
        switch (y.DType)
        {
            case DType.F32: s_fill.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (float)value, y, n); break;
            case DType.I32: s_fillInt.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (int)value, y, n); break;
            default: throw Unsupported(nameof(Fill), y.DType);
        }
    }

    public void Copy(long n, DeviceBuffer x, DeviceBuffer y)
    {
        if (x.DType != y.DType)
            throw new ArgumentException($"Elementwise.Copy: {x.DType.Name()} into {y.DType.Name()}; use Cast");
        if (n == 0) return;
        switch (y.DType)
        {
            case DType.F32: s_copy.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, n); break;
            case DType.I32: s_copyInt.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, n); break;
            default: throw Unsupported(nameof(Copy), y.DType);
        }
    }

    public void Axpby(double alpha, DeviceBuffer x, double beta, long n, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Elementwise.Axpby", x, y);
        if (n == 0) return;
        // beta = 0 must not read y (it may hold NaN garbage), as in BLAS and the cpu reference.
        s_axpby.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (float)alpha, x, (float)beta,
            beta == 0 ? 0 : 1, y, n);
    }

    public void Cast(long n, DeviceBuffer x, DeviceBuffer y)
    {
        if (x.DType == y.DType)
        {
            Copy(n, x, y);
            return;
        }
        if (x.DType != DType.I32 || y.DType != DType.F32)
            throw new NotSupportedException(
                $"Elementwise.Cast: {x.DType.Name()} → {y.DType.Name()} is not supported by the ilgpu kernels (float32 and int32 only; run float64 on the cpu device)");
        if (n == 0) return;
        s_castIntToFloat.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, n);
    }

    private static NotSupportedException Unsupported(string op, DType t) =>
        new($"Elementwise.{op}: the ilgpu kernels take float32 and int32, got {t.Name()}; run float64 on the cpu device");
}
