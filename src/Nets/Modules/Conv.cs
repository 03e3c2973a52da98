using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Modules;

/// <summary>Shared body of Conv2d / Conv3d and their transposes: weight, bias and the per-axis
/// geometry, with PyTorch's parameter layout and default initialisation.</summary>
public abstract class ConvBase : Module
{
    private protected ConvBase(string op, int dims, bool transposed, int inChannels, int outChannels, int[] kernel,
        int[] stride, int[] padding, int[] dilation, int[] outputPadding, int groups, bool bias, DType dtype, Device? device)
    {
        Check.That(inChannels > 0 && outChannels > 0, op, $"channels must be positive, got in {inChannels}, out {outChannels}");
        Check.That(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0, op,
            $"groups {groups} must divide in channels {inChannels} and out channels {outChannels}");
        foreach (var (name, v) in new[] { ("kernel", kernel), ("stride", stride), ("padding", padding), ("dilation", dilation), ("outputPadding", outputPadding) })
            Check.That(v.Length == dims, op, $"{name} has {v.Length} values, expected {dims}");
        Check.That(kernel.All(k => k > 0) && stride.All(s => s > 0) && dilation.All(d => d > 0) && padding.All(p => p >= 0),
            op, $"kernel {Shape.Format(kernel)}, stride {Shape.Format(stride)}, dilation {Shape.Format(dilation)} must be positive and padding {Shape.Format(padding)} non-negative");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernel;
        Stride = stride;
        Padding = padding;
        Dilation = dilation;
        OutputPadding = outputPadding;
        Groups = groups;
        var wShape = new int[2 + dims];
        wShape[0] = transposed ? inChannels : outChannels;
        wShape[1] = transposed ? outChannels / groups : inChannels / groups;
        kernel.CopyTo(wShape, 2);
        var (w, b) = Init.DefaultLayer(wShape, outChannels, bias, dtype, device);
        Weight = RegisterParameter("weight", w);
        if (b is not null) Bias = RegisterParameter("bias", b);
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int[] KernelSize { get; }
    public int[] Stride { get; }
    public int[] Padding { get; }
    public int[] Dilation { get; }
    public int[] OutputPadding { get; }
    public int Groups { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    private protected static int[] Rep(int v, int n) => Enumerable.Repeat(v, n).ToArray();
}

/// <summary>nn.Conv2d: x [N, Cin, H, W], weight [Cout, Cin/groups, kH, kW].</summary>
public sealed class Conv2d : ConvBase
{
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1,
        int groups = 1, bool bias = true, DType dtype = DType.F32, Device? device = null)
        : this(inChannels, outChannels, Rep(kernelSize, 2), Rep(stride, 2), Rep(padding, 2), Rep(dilation, 2), groups, bias, dtype, device) { }

    public Conv2d(int inChannels, int outChannels, int[] kernelSize, int[] stride, int[] padding, int[] dilation,
        int groups = 1, bool bias = true, DType dtype = DType.F32, Device? device = null)
        : base("Conv2d", 2, false, inChannels, outChannels, kernelSize, stride, padding, dilation, Rep(0, 2), groups, bias, dtype, device) { }

    public override Tensor Forward(Tensor x) => F.Conv2d(x, Weight, Bias, Stride, Padding, Dilation, Groups);
}

/// <summary>nn.Conv3d: x [N, Cin, D, H, W], weight [Cout, Cin/groups, kD, kH, kW].</summary>
public sealed class Conv3d : ConvBase
{
    public Conv3d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1,
        int groups = 1, bool bias = true, DType dtype = DType.F32, Device? device = null)
        : this(inChannels, outChannels, Rep(kernelSize, 3), Rep(stride, 3), Rep(padding, 3), Rep(dilation, 3), groups, bias, dtype, device) { }

    public Conv3d(int inChannels, int outChannels, int[] kernelSize, int[] stride, int[] padding, int[] dilation,
        int groups = 1, bool bias = true, DType dtype = DType.F32, Device? device = null)
        : base("Conv3d", 3, false, inChannels, outChannels, kernelSize, stride, padding, dilation, Rep(0, 3), groups, bias, dtype, device) { }

    public override Tensor Forward(Tensor x) => F.Conv3d(x, Weight, Bias, Stride, Padding, Dilation, Groups);
}

/// <summary>nn.ConvTranspose2d: weight [Cin, Cout/groups, kH, kW].</summary>
public sealed class ConvTranspose2d : ConvBase
{
    public ConvTranspose2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0,
        int outputPadding = 0, int groups = 1, bool bias = true, int dilation = 1, DType dtype = DType.F32, Device? device = null)
        : this(inChannels, outChannels, Rep(kernelSize, 2), Rep(stride, 2), Rep(padding, 2), Rep(outputPadding, 2),
            groups, bias, Rep(dilation, 2), dtype, device) { }

    public ConvTranspose2d(int inChannels, int outChannels, int[] kernelSize, int[] stride, int[] padding, int[] outputPadding,
        int groups, bool bias, int[] dilation, DType dtype = DType.F32, Device? device = null)
        : base("ConvTranspose2d", 2, true, inChannels, outChannels, kernelSize, stride, padding, dilation, outputPadding, groups, bias, dtype, device) { }

    public override Tensor Forward(Tensor x) => F.ConvTranspose2d(x, Weight, Bias, Stride, Padding, OutputPadding, Dilation, Groups);
}

/// <summary>nn.ConvTranspose3d: weight [Cin, Cout/groups, kD, kH, kW].</summary>
public sealed class ConvTranspose3d : ConvBase
{
    public ConvTranspose3d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0,
        int outputPadding = 0, int groups = 1, bool bias = true, int dilation = 1, DType dtype = DType.F32, Device? device = null)
        : this(inChannels, outChannels, Rep(kernelSize, 3), Rep(stride, 3), Rep(padding, 3), Rep(outputPadding, 3),
            groups, bias, Rep(dilation, 3), dtype, device) { }

    public ConvTranspose3d(int inChannels, int outChannels, int[] kernelSize, int[] stride, int[] padding, int[] outputPadding,
        int groups, bool bias, int[] dilation, DType dtype = DType.F32, Device? device = null)
        : base("ConvTranspose3d", 3, true, inChannels, outChannels, kernelSize, stride, padding, dilation, outputPadding, groups, bias, dtype, device) { }

    public override Tensor Forward(Tensor x) => F.ConvTranspose3d(x, Weight, Bias, Stride, Padding, OutputPadding, Dilation, Groups);
}
