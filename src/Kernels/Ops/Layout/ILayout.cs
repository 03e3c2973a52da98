using Kernels.Registry;

namespace Kernels.Ops.Layout;

/// <summary>Copies Length slices along the middle axis: x viewed as [Outer, XAxis, Inner] from
/// XStart, into y viewed as [Outer, YAxis, Inner] at YStart. Concat, Slice and their gradients.</summary>
public readonly record struct AxisCopyShape(long Outer, int XAxis, int YAxis, long Inner, int XStart, int YStart, int Length);

/// <summary>A constant pad: Small sits inside Large at offset Before[d] on each axis (same rank).</summary>
public readonly record struct PadShape(Shape Small, Shape Large, int[] Before);

/// <summary>torch.gather along Axis: the output has the index's shape; Index[d] ≤ X[d] for d ≠ Axis.</summary>
public readonly record struct GatherShape(Shape X, Shape Index, int Axis);

/// <summary>index_select: x viewed as [Outer, XAxis, Inner], y as [Outer, Count, Inner], with a
/// 1-D index of Count entries.</summary>
public readonly record struct IndexSelectShape(long Outer, int XAxis, int Count, long Inner);

/// <summary>Data movement. Pure copies (AxisCopy, Pad, Crop, Permute, Gather, IndexSelect)
/// accept float32, float64 and int32; the scatter-adds are float only. Indices are int32 and
/// already validated (see <see cref="FindBadIndex"/>).</summary>
public interface ILayout : IKernelFamily
{
    void AxisCopy(in AxisCopyShape shape, DeviceBuffer x, DeviceBuffer y);

    /// <summary>y (Large) = value everywhere except the window holding x (Small).</summary>
    void Pad(in PadShape shape, double value, DeviceBuffer x, DeviceBuffer y);

    /// <summary>y (Small) = the window of x (Large): the gradient of Pad.</summary>
    void Crop(in PadShape shape, DeviceBuffer x, DeviceBuffer y);

    /// <summary>y = x with its axes reordered: y's axis i is x's axis <paramref name="axes"/>[i].</summary>
    void Permute(Shape x, int[] axes, DeviceBuffer xBuffer, DeviceBuffer y);

    void Gather(in GatherShape shape, DeviceBuffer x, DeviceBuffer index, DeviceBuffer y);

    /// <summary>dx (shape X, overwritten) = zeros with dy scatter-added at the gathered places.
    /// Deterministic: colliding indices are summed in index order.</summary>
    void GatherBackward(in GatherShape shape, DeviceBuffer index, DeviceBuffer dy, DeviceBuffer dx);

    void IndexSelect(in IndexSelectShape shape, DeviceBuffer x, DeviceBuffer index, DeviceBuffer y);

    /// <summary>dx (overwritten) = zeros with dy index-added along the axis, repeated indices
    /// summed in index order.</summary>
    void IndexAdd(in IndexSelectShape shape, DeviceBuffer index, DeviceBuffer dy, DeviceBuffer dx);

    /// <summary>Position of the first of the <paramref name="n"/> int32 indices outside
    /// [0, <paramref name="bound"/>), or −1 when all are valid.</summary>
    long FindBadIndex(long n, DeviceBuffer index, int bound);
}
