using Kernels.Registry;

namespace Kernels.Ops.Softmax;

/// <summary>Softmax along one axis of a tensor viewed as [Outer, Axis, Inner] (row-major).</summary>
public readonly record struct SoftmaxShape(long Outer, int Axis, long Inner)
{
    public long Numel => Outer * Axis * Inner;

    public static SoftmaxShape Of(Shape shape, int axis) =>
        new(shape.Prod(0, axis), shape[axis], shape.Prod(axis + 1, shape.Rank));
}

/// <summary>Softmax and log-softmax, computed stably (the lane maximum is subtracted first).
/// A lane that is entirely −∞ gives NaN, as in PyTorch.</summary>
public interface ISoftmax : IKernelFamily
{
    /// <summary>y = softmax(x) or, with <paramref name="log"/>, log-softmax(x).</summary>
    void Forward(in SoftmaxShape shape, bool log, DeviceBuffer x, DeviceBuffer y);

    /// <summary>From the forward output y and its gradient dy: softmax dx = y·(dy − Σ dy·y);
    /// log-softmax dx = dy − exp(y)·Σ dy (sums along the axis).</summary>
    void Backward(in SoftmaxShape shape, bool log, DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx);
}
