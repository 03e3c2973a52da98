using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Layout;

/// <summary>ILGPU data movement: every copy is one grid-stride pass over its output, each thread
/// computing its source by general N-d index math. The scatter-adds zero dx, then give each thread
/// a line of dx that no other thread writes and add into it in index order: deterministic, the
/// reference's sums, no atomics. Shapes and strides travel as a
/// small int32 buffer (longs as hi/lo pairs) uploaded per call. Copies take float32 and int32;
/// the scatter-adds float32.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed partial class LayoutIlgpu(Device device) : ILayout
{
    public void AxisCopy(in AxisCopyShape s, DeviceBuffer x, DeviceBuffer y)
    {
        bool f = IsF32(nameof(AxisCopy), x, y);
        long block = s.Length * s.Inner;
        long n = s.Outer * block;
        if (n == 0) return;
        long xRow = s.XAxis * s.Inner, yRow = s.YAxis * s.Inner, xOff = s.XStart * s.Inner, yOff = s.YStart * s.Inner;
        (f ? s_axisCopyF32 : s_axisCopyI32).Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D,
            x, y, n, block, xRow, yRow, xOff, yOff);
    }

    public void Pad(in PadShape s, double value, DeviceBuffer x, DeviceBuffer y)
    {
        bool f = IsF32(nameof(Pad), x, y);
        long n = s.Large.Numel;
        if (n == 0) return;
        using var meta = Upload(PadMeta(s));
        if (f)
            s_padF32.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, meta, n, (float)value);
        else
            s_padI32.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, meta, n, (int)value);
    }

    public void Crop(in PadShape s, DeviceBuffer x, DeviceBuffer y)
    {
        bool f = IsF32(nameof(Crop), x, y);
        long n = s.Small.Numel;
        if (n == 0) return;
        using var meta = Upload(PadMeta(s));
        (f ? s_cropF32 : s_cropI32).Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, meta, n);
    }

    public void Permute(Shape x, int[] axes, DeviceBuffer xBuffer, DeviceBuffer y)
    {
        bool f = IsF32(nameof(Permute), xBuffer, y);
        long n = x.Numel;
        if (n == 0) return;
        int r = x.Rank;
        var xs = Strides(x.Dims);
        // [rank, output dims, input stride of each output axis (long)]
        var m = new Meta(1 + 3 * r);
        m.Int(r);
        for (int i = 0; i < r; i++) m.Int(x[axes[i]]);
        for (int i = 0; i < r; i++) m.Long(xs[axes[i]]);
        using var meta = Upload(m);
        (f ? s_permuteF32 : s_permuteI32).Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, xBuffer, y, meta, n);
    }

    public void Gather(in GatherShape s, DeviceBuffer x, DeviceBuffer index, DeviceBuffer y)
    {
        bool f = IsF32(nameof(Gather), x, y);
        long n = s.Index.Numel;
        if (n == 0) return;
        int r = s.Index.Rank;
        var xs = Strides(s.X.Dims);
        // [rank, index dims, x strides (long)]
        var m = new Meta(1 + 3 * r);
        m.Int(r);
        for (int d = 0; d < r; d++) m.Int(s.Index[d]);
        for (int d = 0; d < r; d++) m.Long(xs[d]);
        using var meta = Upload(m);
        (f ? s_gatherF32 : s_gatherI32).Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, index, y, meta, n, s.Axis);
    }

    public void GatherBackward(in GatherShape s, DeviceBuffer index, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Layout.GatherBackward", dy, dx);
        if (!Zero(dx, s.X.Numel)) return;
        int r = s.Index.Rank, along = s.Index[s.Axis];
        long lines = along == 0 ? 0 : s.Index.Numel / along;
        if (lines == 0) return;
        var xs = Strides(s.X.Dims);
        var ist = Strides(s.Index.Dims);
        // [rank, index dims, x strides (long), index strides (long)]
        var m = new Meta(1 + 5 * r);
        m.Int(r);
        for (int d = 0; d < r; d++) m.Int(s.Index[d]);
        for (int d = 0; d < r; d++) m.Long(xs[d]);
        for (int d = 0; d < r; d++) m.Long(ist[d]);
        using var meta = Upload(m);
        s_gatherBackward.Launch(device, IlgpuLaunch.Grid1D(lines), IlgpuLaunch.Block1D, index, dy, dx, meta, lines, s.Axis);
    }

    public void IndexSelect(in IndexSelectShape s, DeviceBuffer x, DeviceBuffer index, DeviceBuffer y)
    {
        bool f = IsF32(nameof(IndexSelect), x, y);
        long n = s.Outer * s.Count * s.Inner;
        if (n == 0) return;
        (f ? s_indexSelectF32 : s_indexSelectI32).Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D,
            x, index, y, n, s.XAxis, s.Count, s.Inner);
    }

    public void IndexAdd(in IndexSelectShape s, DeviceBuffer index, DeviceBuffer dy, DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Layout.IndexAdd", dy, dx);
        if (!Zero(dx, s.Outer * s.XAxis * s.Inner)) return;
        long columns = s.Outer * s.Inner;
        if (columns == 0 || s.Count == 0) return;
        s_indexAdd.Launch(device, IlgpuLaunch.Grid1D(columns), IlgpuLaunch.Block1D, index, dy, dx, columns, s.XAxis, s.Count, s.Inner);
    }

    /// <summary>Zeroes the first <paramref name="n"/> elements (the scatter-adds accumulate into it);
    /// false when there are none.</summary>
    private bool Zero(DeviceBuffer b, long n)
    {
        if (n == 0) return false;
        s_fillF32.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, b, n, 0f);
        return true;
    }

    public long FindBadIndex(long n, DeviceBuffer index, int bound)
    {
        if (n <= 0) return -1;
        // The answer is an atomic minimum over int32 positions.
        if (n > int.MaxValue)
            throw new NotSupportedException($"Layout.FindBadIndex: {n} indices, the ilgpu kernel handles up to {int.MaxValue}");
        using var result = device.Allocate(DType.I32, 1);
        device.Upload<int>([int.MaxValue], result);
        s_findBadIndex.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, index, result, n, bound);
        Span<int> first = stackalloc int[1];
        device.Download(result, first);
        return first[0] == int.MaxValue ? -1 : first[0];
    }

    /// <summary>True for float32, false for int32; float64 belongs to the cpu device.</summary>
    private static bool IsF32(string op, DeviceBuffer x, DeviceBuffer y)
    {
        if (x.DType == DType.F32 && y.DType == DType.F32) return true;
        if (x.DType == DType.I32 && y.DType == DType.I32) return false;
        throw new NotSupportedException(
            $"Layout.{op}: the ilgpu kernels copy float32 or int32, got {x.DType.Name()} → {y.DType.Name()}; run float64 on the cpu device");
    }

    /// <summary>[rank, large dims, small dims, before, small strides (long), large strides (long)].</summary>
    private static Meta PadMeta(in PadShape s)
    {
        int r = s.Small.Rank;
        var ss = Strides(s.Small.Dims);
        var ls = Strides(s.Large.Dims);
        var m = new Meta(1 + 7 * r);
        m.Int(r);
        for (int d = 0; d < r; d++) m.Int(s.Large[d]);
        for (int d = 0; d < r; d++) m.Int(s.Small[d]);
        for (int d = 0; d < r; d++) m.Int(s.Before[d]);
        for (int d = 0; d < r; d++) m.Long(ss[d]);
        for (int d = 0; d < r; d++) m.Long(ls[d]);
        return m;
    }

    private static long[] Strides(ReadOnlySpan<int> dims)
    {
        var s = new long[dims.Length];
        long acc = 1;
        for (int i = dims.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= dims[i];
        }
        return s;
    }

    /// <summary>The shape buffer, on the device. It is disposed right after the launch is queued: on
    /// cuda the allocator's reuse is ordered on the device's one stream, so the kernel reads it first.</summary>
    private DeviceBuffer Upload(Meta m)
    {
        var b = device.Allocate(DType.I32, m.Data.Length);
        device.Upload<int>(m.Data, b);
        return b;
    }

    /// <summary>Builder of the int32 shape buffer; a long is stored as (high, low) words.</summary>
    private sealed class Meta(int ints)
    {
        public readonly int[] Data = new int[Math.Max(1, ints)];
        private int _at;

        public void Int(int v) => Data[_at++] = v;

        public void Long(long v)
        {
            Data[_at++] = (int)(v >> 32);
            Data[_at++] = (int)v;
        }
    }
}
