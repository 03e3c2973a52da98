using Kernels.Ops.Activation;
using Kernels.Registry;

namespace Kernels.Ops.Conv;

/// <summary>A convolution over 1 to 3 spatial axes, channels-first (NC[D]HW), weight
/// [OutChannels, InChannels/Groups, kernel...]. Arrays hold one value per spatial axis, outermost
/// first. OutSize is stored rather than derived so that a transposed convolution (whose output
/// padding makes several input sizes map to one output size) can state the size it needs.</summary>
public readonly record struct ConvShape(
    int Batch, int InChannels, int OutChannels,
    int[] InSize, int[] OutSize, int[] Kernel, int[] Stride, int[] Padding, int[] Dilation, int Groups)
{
    public int SpatialRank => InSize.Length;
    public long InSpatial => Prod(InSize);
    public long OutSpatial => Prod(OutSize);
    public long KernelVolume => Prod(Kernel);
    public int InPerGroup => InChannels / Groups;
    public int OutPerGroup => OutChannels / Groups;

    public long InputElements => (long)Batch * InChannels * InSpatial;
    public long OutputElements => (long)Batch * OutChannels * OutSpatial;
    public long WeightElements => (long)OutChannels * InPerGroup * KernelVolume;

    /// <summary>Multiply-adds × 2 of the forward pass (the same for each backward pass).</summary>
    public double Flops => 2.0 * Batch * OutChannels * OutSpatial * InPerGroup * KernelVolume;

    /// <summary>True when the convolution is a plain matrix product per image (1×1 kernel, unit
    /// stride, no padding): the input itself serves as the column matrix.</summary>
    public bool IsPointwise
    {
        get
        {
            for (int i = 0; i < SpatialRank; i++)
                if (Kernel[i] != 1 || Stride[i] != 1 || Padding[i] != 0) return false;
            return true;
        }
    }

    /// <summary>Output length along one axis: ⌊(in + 2p − d(k − 1) − 1) / s⌋ + 1 (may be ≤ 0 when
    /// the dilated kernel does not fit the padded input).</summary>
    public static int OutputSize(int input, int kernel, int stride, int padding, int dilation) =>
        (int)Math.Floor((input + 2.0 * padding - dilation * (kernel - 1) - 1) / stride) + 1;

    /// <summary>A shape with the output sizes computed from the input sizes.</summary>
    public static ConvShape Create(int batch, int inChannels, int outChannels, int[] inSize, int[] kernel,
        int[] stride, int[] padding, int[] dilation, int groups)
    {
        var outSize = new int[inSize.Length];
        for (int i = 0; i < inSize.Length; i++)
            outSize[i] = OutputSize(inSize[i], kernel[i], stride[i], padding[i], dilation[i]);
        return new ConvShape(batch, inChannels, outChannels, inSize, outSize, kernel, stride, padding, dilation, groups);
    }

    /// <summary>Output length of a transposed convolution along one axis:
    /// (in − 1)s − 2p + d(k − 1) + outputPadding + 1.</summary>
    public static int TransposedOutputSize(int input, int kernel, int stride, int padding, int dilation, int outputPadding) =>
        (input - 1) * stride - 2 * padding + dilation * (kernel - 1) + outputPadding + 1;

    private static long Prod(int[] a)
    {
        long n = 1;
        foreach (var v in a) n *= v;
        return n;
    }
}

/// <summary>Convolution passes. x is [Batch, InChannels, InSize...], y [Batch, OutChannels, OutSize...],
/// w [OutChannels, InChannels/Groups, Kernel...], bias [OutChannels]. A transposed convolution is
/// the same three passes with the roles swapped (its forward is BackwardData).</summary>
public interface IConv : IKernelFamily
{
    /// <summary>y = conv(x, w) (+ bias per output channel when given).</summary>
    void Forward(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y);

    /// <summary>The forward with its epilogue fused: y = act((conv(x, w) + bias[c]) · scale[c] + shift[c])
    /// per output channel c, each of bias / scale / shift optional (null: 0, 1, 0). scale and shift
    /// are an inference-mode normalisation folded in (batch norm with running statistics);
    /// <paramref name="activation"/> null is none, <see cref="ActivationKind.Relu"/> or
    /// <see cref="ActivationKind.LeakyRelu"/> (negative slope <paramref name="alpha"/>); any other
    /// kind is a NotSupportedException (<see cref="ConvEpilogue.Code"/>) on every implementation.
    /// No gradient: callers that need one compose Forward and the elementwise ops.</summary>
    void ForwardFused(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y,
        ActivationKind? activation, double alpha, DeviceBuffer? scale, DeviceBuffer? shift);

    /// <summary>dx = the adjoint of the forward in x applied to dy (overwrites dx), plus
    /// <paramref name="bias"/> per input channel when given (the transposed convolution's bias).</summary>
    void BackwardData(in ConvShape shape, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx, DeviceBuffer? bias = null);

    /// <summary>dw = gradient of the forward in w (overwrites dw); db = dy summed per output
    /// channel when a buffer is given.</summary>
    void BackwardWeights(in ConvShape shape, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? db);

    /// <summary>sum[c] = Σ over batch and spatial positions of t[n, c, ...] (a bias gradient).</summary>
    void ChannelSum(int batch, int channels, long spatial, DeviceBuffer t, DeviceBuffer sum);
}

/// <summary>The activations a fused convolution epilogue applies, as the kernels' int codes
/// (native/include/kernels/conv3d.h: CONV3D_ACT_*).</summary>
public static class ConvEpilogue
{
    public const int None = 0, Relu = 1, LeakyRelu = 2;

    /// <summary>The code of <paramref name="activation"/>; the same NotSupportedException on every
    /// implementation for the kinds the epilogue does not fuse.</summary>
    public static int Code(ActivationKind? activation) => activation switch
    {
        null => None,
        ActivationKind.Relu => Relu,
        ActivationKind.LeakyRelu => LeakyRelu,
        _ => throw new NotSupportedException(
            $"Conv.ForwardFused: the fused epilogue applies ReLU or LeakyReLU (or none), not {activation}; " +
            "run Conv.Forward and apply the activation separately"),
    };
}
