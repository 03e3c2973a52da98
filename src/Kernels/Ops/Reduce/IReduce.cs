using Kernels.Registry;

namespace Kernels.Ops.Reduce;

/// <summary>A reduction over one contiguous run of axes: the input is viewed as
/// [Outer, Reduced, Inner] (row-major) and the output as [Outer, Inner].</summary>
public readonly record struct ReduceShape(long Outer, int Reduced, long Inner)
{
    public long InputNumel => Outer * Reduced * Inner;
    public long OutputNumel => Outer * Inner;

    /// <summary>The view of <paramref name="shape"/> that reduces the axes [from, to).</summary>
    public static ReduceShape Of(Shape shape, int from, int to) =>
        new(shape.Prod(0, from), (int)shape.Prod(from, to), shape.Prod(to, shape.Rank));
}

/// <summary>Sums, maxima and their gradients. Float32 and float64; argmax indices are int32.</summary>
public interface IReduce : IKernelFamily
{
    /// <summary>y[o, i] = scale · Σ_r x[o, r, i]. A zero-length reduced axis gives 0·scale.</summary>
    void Sum(in ReduceShape shape, double scale, DeviceBuffer x, DeviceBuffer y);

    /// <summary>Maximum over the reduced axis: values (x's dtype) and/or indices (int32) of the
    /// first maximal element. NaN counts as larger than every number (PyTorch's rule), so a row
    /// holding NaN yields NaN and the index of its first NaN. Either output may be null.
    /// Needs Reduced ≥ 1.</summary>
    void Max(in ReduceShape shape, DeviceBuffer x, DeviceBuffer? values, DeviceBuffer? indices);

    /// <summary>dx = 0 except dx[o, argmax, i] = dy[o, i], argmax being the first maximal element
    /// of x (recomputed here, so the forward keeps no index tensor).</summary>
    void MaxBackward(in ReduceShape shape, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx);

    /// <summary>dx (shape <paramref name="full"/>) = scale · dy broadcast from <paramref name="kept"/>
    /// (the same rank, 1 on every reduced axis): the backward of a sum or mean.</summary>
    void Expand(Shape kept, Shape full, double scale, DeviceBuffer dy, DeviceBuffer dx);
}
