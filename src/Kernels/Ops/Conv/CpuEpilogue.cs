using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;

namespace Kernels.Ops.Conv;

/// <summary>The cpu form of the fused forward epilogue, y = act((v + bias[c]) · scale[c] + shift[c]),
/// applied to a run of one output channel as the convolution writes it (the padded-grid scatter, or
/// the GEMM path's per-row pass), so no separate pass reads y again. Operations in the order the
/// native kernels use (conv3d.h conv3d_epilogue): add, multiply, add, activation.</summary>
internal readonly struct CpuEpilogue<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[]? _bias, _scale, _shift;
    private readonly int _act;
    private readonly T _alpha;

    private CpuEpilogue(T[]? bias, T[]? scale, T[]? shift, int act, T alpha)
    {
        _bias = bias;
        _scale = scale;
        _shift = shift;
        _act = act;
        _alpha = alpha;
    }

    public static CpuEpilogue<T> Of(DeviceBuffer? bias) =>
        new(bias is null ? null : CpuBuffer.Array<T>(bias), null, null, ConvEpilogue.None, T.Zero);

    public static CpuEpilogue<T> Of(DeviceBuffer? bias, DeviceBuffer? scale, DeviceBuffer? shift, int act, double alpha) =>
        new(bias is null ? null : CpuBuffer.Array<T>(bias), scale is null ? null : CpuBuffer.Array<T>(scale),
            shift is null ? null : CpuBuffer.Array<T>(shift), act, T.CreateChecked(alpha));

    /// <summary>Only a bias (or nothing): a copy or one vector add.</summary>
    public bool BiasOnly => _scale is null && _shift is null && _act == ConvEpilogue.None;

    /// <summary>Nothing to apply: y is the convolution itself.</summary>
    public bool IsEmpty => _bias is null && BiasOnly;

    /// <summary>dst = epilogue(src) for output channel <paramref name="channel"/>; src and dst may
    /// be the same span.</summary>
    public void Apply(ReadOnlySpan<T> src, Span<T> dst, long channel)
    {
        if (_bias is null) src.CopyTo(dst);
        else TensorPrimitives.Add(src, _bias[channel], dst);
        if (_scale is not null) TensorPrimitives.Multiply(dst, _scale[channel], dst);
        if (_shift is not null) TensorPrimitives.Add(dst, _shift[channel], dst);
        if (_act == ConvEpilogue.Relu) TensorPrimitives.Max(dst, T.Zero, dst);
        else if (_act == ConvEpilogue.LeakyRelu)
        {
            T alpha = _alpha;
            for (int i = 0; i < dst.Length; i++)
            {
                T v = dst[i];
                if (!(v > T.Zero)) dst[i] = alpha * v;
            }
        }
    }
}
