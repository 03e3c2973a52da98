using Kernels.Ops.Elementwise;
using Kernels.Registry;

namespace Kernels.Nets;

/// <summary>Differentiable ops over tensors, one file per kernel family. Each op checks its
/// arguments once (op, argument and shapes in the message), allocates its output on the inputs'
/// device, calls the family's kernel and records its backward.</summary>
public static partial class Functional
{
    /// <summary>The kernel implementation of family <typeparamref name="T"/> for a tensor's device.</summary>
    internal static T K<T>(Tensor t) where T : class, IKernelFamily => t.Device.Kernels.Get<T>();

    /// <summary>A new tensor like <paramref name="like"/> (device, dtype) with the given shape.</summary>
    internal static Tensor NewLike(Tensor like, Shape shape) => Tensor.Empty(shape, like.DType, like.Device);

    /// <summary>Checks that every tensor sits on the device and has the dtype of the first.</summary>
    internal static void SameDevice(string op, Tensor first, params ReadOnlySpan<(string Name, Tensor? T)> others)
    {
        first.ThrowIfDisposed();
        foreach (var (name, t) in others)
        {
            if (t is null) continue;
            t.ThrowIfDisposed();
            Check.SameDevice(op, name, first.Device, t.Device);
            Check.SameDType(op, name, first.DType, t.DType);
        }
    }

    /// <summary>Refuses an integer tensor where the op computes in floating point (the kernels would
    /// otherwise throw NotSupportedException without naming the op).</summary>
    internal static void FloatInput(string op, string name, Tensor t) =>
        Check.That(t.DType.IsFloat(), op, $"{name} has dtype {t.DType.Name()} (shape {t.Shape}), expected a float tensor");

    /// <summary>Sums a gradient of a broadcast result back to an input's shape.</summary>
    internal static Tensor Unbroadcast(Tensor g, Shape to)
    {
        if (g.Shape == to) return g;
        var y = NewLike(g, to);
        K<IElementwise>(g).SumToShape(g.Shape, to, g.Buffer, y.Buffer);
        return y;
    }
}
