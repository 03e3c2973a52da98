using Kernels.Ops.Activation;
using Kernels.Ops.Conv;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>2-D convolution: x [N, Cin, H, W], w [Cout, Cin/groups, kH, kW], bias [Cout].</summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0, int dilation = 1, int groups = 1) =>
        ConvNd("Conv2d", 2, x, w, bias, Rep(stride, 2), Rep(padding, 2), Rep(dilation, 2), groups);

    /// <summary>2-D convolution with per-axis stride, padding and dilation (H first).</summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups = 1) =>
        ConvNd("Conv2d", 2, x, w, bias, stride, padding, dilation, groups);

    /// <summary>3-D convolution: x [N, Cin, D, H, W], w [Cout, Cin/groups, kD, kH, kW], bias [Cout].</summary>
    public static Tensor Conv3d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0, int dilation = 1, int groups = 1) =>
        ConvNd("Conv3d", 3, x, w, bias, Rep(stride, 3), Rep(padding, 3), Rep(dilation, 3), groups);

    /// <summary>3-D convolution with per-axis stride, padding and dilation (D first).</summary>
    public static Tensor Conv3d(Tensor x, Tensor w, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups = 1) =>
        ConvNd("Conv3d", 3, x, w, bias, stride, padding, dilation, groups);

    /// <summary>2-D transposed convolution: x [N, Cin, H, W], w [Cin, Cout/groups, kH, kW], bias [Cout];
    /// output size (in − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1.</summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0,
        int outputPadding = 0, int dilation = 1, int groups = 1) =>
        ConvTransposeNd("ConvTranspose2d", 2, x, w, bias, Rep(stride, 2), Rep(padding, 2), Rep(outputPadding, 2), Rep(dilation, 2), groups);

    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? bias, int[] stride, int[] padding,
        int[] outputPadding, int[] dilation, int groups = 1) =>
        ConvTransposeNd("ConvTranspose2d", 2, x, w, bias, stride, padding, outputPadding, dilation, groups);

    /// <summary>3-D transposed convolution: x [N, Cin, D, H, W], w [Cin, Cout/groups, kD, kH, kW], bias [Cout].</summary>
    public static Tensor ConvTranspose3d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0,
        int outputPadding = 0, int dilation = 1, int groups = 1) =>
        ConvTransposeNd("ConvTranspose3d", 3, x, w, bias, Rep(stride, 3), Rep(padding, 3), Rep(outputPadding, 3), Rep(dilation, 3), groups);

    public static Tensor ConvTranspose3d(Tensor x, Tensor w, Tensor? bias, int[] stride, int[] padding,
        int[] outputPadding, int[] dilation, int groups = 1) =>
        ConvTransposeNd("ConvTranspose3d", 3, x, w, bias, stride, padding, outputPadding, dilation, groups);

    [ThreadStatic] private static long t_fusedConvCalls;

    /// <summary>IConv.ForwardFused calls made by <see cref="ConvFused"/> on this thread (tests check
    /// which path a model took).</summary>
    internal static long FusedConvCalls => t_fusedConvCalls;

    /// <summary>3-D convolution with the epilogue fused (see <see cref="ConvFused"/>).</summary>
    public static Tensor Conv3dFused(Tensor x, Tensor w, Tensor? bias, Tensor? scale, Tensor? shift,
        ActivationKind? activation, double alpha = 0.01, int stride = 1, int padding = 0, int dilation = 1, int groups = 1) =>
        ConvFused(x, w, bias, scale, shift, activation, alpha, Rep(stride, 3), Rep(padding, 3), Rep(dilation, 3), groups);

    /// <summary>y = act((conv(x, w) + bias) · scale + shift), scale / shift [Cout] per output channel
    /// (each of bias / scale / shift optional), activation none, ReLU or LeakyReLU (negative slope
    /// <paramref name="alpha"/>); 1-, 2- or 3-D by the rank of x. An inference op: when no gradient
    /// is needed (autograd off, or no input requires one) it is one IConv.ForwardFused call, the
    /// epilogue applied as the convolution writes y; otherwise it composes the ordinary ops (conv,
    /// Mul, Add, the activation), so training and its gradients are exactly those of the unfused
    /// layers. Other activations are refused (NotSupportedException) on both paths.</summary>
    public static Tensor ConvFused(Tensor x, Tensor w, Tensor? bias, Tensor? scale, Tensor? shift,
        ActivationKind? activation, double alpha, int[] stride, int[] padding, int[] dilation, int groups = 1)
    {
        const string op = "ConvFused";
        ConvEpilogue.Code(activation);
        int dims = x.Rank - 2;
        Check.That(dims is >= 1 and <= 3, op, $"input has shape {x.Shape} (rank {x.Rank}); expected [N, C, spatial...] with 1 to 3 spatial axes");
        CheckConvArgs(op, dims, x, w, bias, stride, padding, dilation, groups);
        SameDevice(op, x, ("scale", scale), ("shift", shift));
        int cout = w.Shape[0];
        foreach (var (name, v) in new[] { ("scale", scale), ("shift", shift) })
            if (v is not null)
            {
                Check.Rank(op, name, v.Shape, 1);
                Check.Shape(op, name, [cout], v.Shape);
                Check.That(v.DType == x.DType, op, $"{name} has dtype {v.DType.Name()}, the input {x.DType.Name()}");
            }
        if (Autograd.Needs(x, w, bias, scale, shift))
        {
            var y = ConvNd(op, dims, x, w, bias, stride, padding, dilation, groups);
            var perChannel = new int[dims + 2];
            Array.Fill(perChannel, 1);
            perChannel[1] = cout;
            if (scale is not null) y = Mul(y, scale.Reshape(perChannel));
            if (shift is not null) y = Add(y, shift.Reshape(perChannel));
            return activation switch
            {
                ActivationKind.Relu => Relu(y),
                ActivationKind.LeakyRelu => LeakyRelu(y, alpha),
                _ => y,
            };
        }
        var (s, output) = ConvOutput(op, dims, x, w, bias, stride, padding, dilation, groups);
        t_fusedConvCalls++;
        K<IConv>(x).ForwardFused(s, x.Buffer, w.Buffer, bias?.Buffer, output.Buffer, activation, alpha, scale?.Buffer, shift?.Buffer);
        return output;
    }

    /// <summary>The per-channel scale and shift that fold a convolution's bias and an inference-mode
    /// batch norm (running statistics, optional affine) into <see cref="ConvFused"/>:
    /// scale = γ / √(var + ε), shift = β + (bias − mean) · scale. Computed on the tensors' device
    /// without recording (the folded values are constants of an inference pass).</summary>
    public static (Tensor Scale, Tensor Shift) FoldBatchNorm(Tensor? convBias, Tensor? weight, Tensor? bias,
        Tensor runningMean, Tensor runningVar, double eps)
    {
        using var noGrad = Autograd.NoGrad();
        using var std = AddScalar(runningVar, eps);
        var scale = Rsqrt(std);
        if (weight is not null)
        {
            var scaled = Mul(scale, weight);
            scale.Dispose();
            scale = scaled;
        }
        using var centred = convBias is null ? MulScalar(runningMean, -1) : Sub(convBias, runningMean);
        var shift = Mul(centred, scale);
        if (bias is not null)
        {
            var shifted = Add(shift, bias);
            shift.Dispose();
            shift = shifted;
        }
        return (scale, shift);
    }

    private static int[] Rep(int v, int n) => Enumerable.Repeat(v, n).ToArray();

    private static Tensor ConvNd(string op, int dims, Tensor x, Tensor w, Tensor? bias,
        int[] stride, int[] padding, int[] dilation, int groups)
    {
        var (s, y) = ConvOutput(op, dims, x, w, bias, stride, padding, dilation, groups);
        int cout = s.OutChannels;
        var k = K<IConv>(x);
        k.Forward(s, x.Buffer, w.Buffer, bias?.Buffer, y.Buffer);
        if (Autograd.Needs(x, w, bias))
        {
            Tensor[] inputs = bias is null ? [x, w] : [x, w, bias];
            Autograd.Record(op, y, inputs, g =>
            {
                Tensor? dx = null, dw = null, db = null;
                if (x.RequiresGrad)
                {
                    dx = NewLike(x, x.Shape);
                    k.BackwardData(s, g.Buffer, w.Buffer, dx.Buffer);
                }
                if (bias is { RequiresGrad: true }) db = NewLike(bias, bias.Shape);
                if (w.RequiresGrad)
                {
                    dw = NewLike(w, w.Shape);
                    k.BackwardWeights(s, x.Buffer, g.Buffer, dw.Buffer, db?.Buffer);
                }
                else if (db is not null) k.ChannelSum(s.Batch, cout, s.OutSpatial, g.Buffer, db.Buffer);
                return bias is null ? [dx, dw] : [dx, dw, db];
            });
        }
        return y;
    }

    /// <summary>Checks a convolution's arguments; its shape and a new output tensor.</summary>
    private static (ConvShape Shape, Tensor Y) ConvOutput(string op, int dims, Tensor x, Tensor w, Tensor? bias,
        int[] stride, int[] padding, int[] dilation, int groups)
    {
        CheckConvArgs(op, dims, x, w, bias, stride, padding, dilation, groups);
        int cin = x.Shape[1], cout = w.Shape[0];
        Check.That(cout % groups == 0, op, $"groups {groups} does not divide the weight's {cout} output channels (weight shape {w.Shape})");
        Check.That(w.Shape[1] * groups == cin, op,
            $"input has shape {x.Shape} with {cin} channels, but weight of shape {w.Shape} with groups {groups} expects {w.Shape[1] * groups} (weight.shape[1] × groups)");
        if (bias is not null) Check.Shape(op, "bias", [cout], bias.Shape);
        var inSize = x.Shape.Dims[2..].ToArray();
        var kernel = w.Shape.Dims[2..].ToArray();
        for (int i = 0; i < dims; i++)
        {
            int span = dilation[i] * (kernel[i] - 1) + 1, padded = inSize[i] + 2 * padding[i];
            Check.That(span <= padded, op,
                $"kernel of weight {w.Shape} (dilated extent {span} on spatial axis {i}) is bigger than the padded input {padded} of input {x.Shape} (padding {padding[i]})");
        }
        var s = ConvShape.Create(x.Shape[0], cin, cout, inSize, kernel, stride, padding, dilation, groups);
        return (s, NewLike(x, new Shape([x.Shape[0], cout, .. s.OutSize])));
    }

    private static Tensor ConvTransposeNd(string op, int dims, Tensor x, Tensor w, Tensor? bias,
        int[] stride, int[] padding, int[] outputPadding, int[] dilation, int groups)
    {
        CheckConvArgs(op, dims, x, w, bias, stride, padding, dilation, groups);
        CheckAxes(op, "outputPadding", outputPadding, dims, 0);
        int cin = x.Shape[1], cout = w.Shape[1] * groups;
        Check.That(w.Shape[0] == cin, op,
            $"input has shape {x.Shape} with {cin} channels, but weight of shape {w.Shape} has {w.Shape[0]} input channels (weight.shape[0])");
        Check.That(cin % groups == 0, op, $"groups {groups} does not divide the input's {cin} channels (input shape {x.Shape}, weight shape {w.Shape})");
        if (bias is not null) Check.Shape(op, "bias", [cout], bias.Shape);
        var inSize = x.Shape.Dims[2..].ToArray();
        var kernel = w.Shape.Dims[2..].ToArray();
        var outSize = new int[dims];
        for (int i = 0; i < dims; i++)
        {
            Check.That(outputPadding[i] < Math.Max(stride[i], dilation[i]), op,
                $"outputPadding {outputPadding[i]} on spatial axis {i} must be smaller than stride {stride[i]} or dilation {dilation[i]}");
            outSize[i] = ConvShape.TransposedOutputSize(inSize[i], kernel[i], stride[i], padding[i], dilation[i], outputPadding[i]);
            Check.That(outSize[i] > 0, op,
                $"input {x.Shape} with weight {w.Shape}, stride {stride[i]}, padding {padding[i]} gives output size {outSize[i]} on spatial axis {i}; padding is too large");
        }
        // The equivalent convolution maps the transposed output (its input) to x (its output).
        var s = new ConvShape(x.Shape[0], cout, cin, outSize, inSize, kernel, stride, padding, dilation, groups);
        var y = NewLike(x, new Shape([x.Shape[0], cout, .. outSize]));
        var k = K<IConv>(x);
        k.BackwardData(s, x.Buffer, w.Buffer, y.Buffer, bias?.Buffer);
        if (Autograd.Needs(x, w, bias))
        {
            Tensor[] inputs = bias is null ? [x, w] : [x, w, bias];
            Autograd.Record(op, y, inputs, g =>
            {
                Tensor? dx = null, dw = null, db = null;
                if (x.RequiresGrad)
                {
                    dx = NewLike(x, x.Shape);
                    k.Forward(s, g.Buffer, w.Buffer, null, dx.Buffer);
                }
                if (w.RequiresGrad)
                {
                    dw = NewLike(w, w.Shape);
                    k.BackwardWeights(s, g.Buffer, x.Buffer, dw.Buffer, null);
                }
                if (bias is { RequiresGrad: true })
                {
                    db = NewLike(bias, bias.Shape);
                    k.ChannelSum(s.Batch, cout, s.InSpatial, g.Buffer, db.Buffer);
                }
                return bias is null ? [dx, dw] : [dx, dw, db];
            });
        }
        return y;
    }

    private static void CheckConvArgs(string op, int dims, Tensor x, Tensor w, Tensor? bias,
        int[] stride, int[] padding, int[] dilation, int groups)
    {
        SameDevice(op, x, ("weight", w), ("bias", bias));
        Check.That(x.DType.IsFloat(), op, $"input has dtype {x.DType.Name()}; convolutions need a floating-point dtype");
        Check.Rank(op, "input", x.Shape, dims + 2);
        Check.Rank(op, "weight", w.Shape, dims + 2);
        if (bias is not null) Check.Rank(op, "bias", bias.Shape, 1);
        Check.That(groups >= 1, op, $"groups must be at least 1, got {groups}");
        CheckAxes(op, "stride", stride, dims, 1);
        CheckAxes(op, "padding", padding, dims, 0);
        CheckAxes(op, "dilation", dilation, dims, 1);
        for (int i = 1; i < w.Rank; i++)
            Check.That(w.Shape[i] > 0, op, $"weight has shape {w.Shape}; its channel and kernel sizes must be positive");
    }

    private static void CheckAxes(string op, string arg, int[] values, int dims, int min)
    {
        Check.That(values.Length == dims, op, $"{arg} has {values.Length} values {Shape.Format(values)}, expected one per spatial axis ({dims})");
        foreach (var v in values)
            Check.That(v >= min, op, $"{arg} {Shape.Format(values)} must be at least {min} on every axis");
    }
}
