using System.Globalization;
using Kernels.Nets.Modules;
using Kernels.Ops.Activation;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.Lits;

/// <summary>Normalisation after each convolution.</summary>
public enum UNetNorm { Instance, Batch }

/// <summary>How the encoder halves the resolution between stages.</summary>
public enum UNetDownsampling { StridedConv, MaxPool }

/// <summary>A U-Net's shape, nnU-Net's usual choices by default: two conv (3×3[×3]) – norm –
/// LeakyReLU(0.01) blocks per stage, widths doubling from <see cref="BaseWidth"/> up to
/// <see cref="MaxWidth"/>, <see cref="Depth"/> halvings (strided conv or max pooling),
/// transposed-conv (2, stride 2) upsampling and skip concatenation, a 1×1 head.</summary>
public sealed record UNetConfig
{
    /// <summary>2 (slices; 2.5D = adjacent slices as channels) or 3 (volumes).</summary>
    public int Dims { get; init; } = 3;
    public int InChannels { get; init; } = 1;
    /// <summary>Output classes (LiTS: background, liver, tumour).</summary>
    public int Classes { get; init; } = 3;
    public int BaseWidth { get; init; } = 16;
    public int MaxWidth { get; init; } = 320;
    /// <summary>Number of halvings (stages − 1).</summary>
    public int Depth { get; init; } = 3;
    public UNetNorm Norm { get; init; } = UNetNorm.Instance;
    public UNetDownsampling Down { get; init; } = UNetDownsampling.StridedConv;
    public double NegativeSlope { get; init; } = 0.01;

    /// <summary>Spatial sizes must be multiples of this (2^Depth).</summary>
    public int SizeMultiple => 1 << Depth;

    public int Width(int stage) => Math.Min(MaxWidth, BaseWidth << stage);

    public void Validate()
    {
        if (Dims is not (2 or 3)) throw new ArgumentException($"UNet: dims must be 2 or 3, got {Dims}");
        if (InChannels <= 0) throw new ArgumentException($"UNet: in channels must be positive, got {InChannels}");
        if (Classes < 2) throw new ArgumentException($"UNet: at least 2 classes are needed, got {Classes}");
        if (BaseWidth <= 0 || MaxWidth < BaseWidth) throw new ArgumentException($"UNet: base width {BaseWidth} must be positive and at most the max width {MaxWidth}");
        if (Depth is < 1 or > 7) throw new ArgumentException($"UNet: depth must be 1 to 7 halvings, got {Depth}");
    }

    /// <summary>The configuration as checkpoint metadata (extra.unet.*).</summary>
    public Dictionary<string, string> ToMetadata(string prefix = "unet.")
    {
        var c = CultureInfo.InvariantCulture;
        return new Dictionary<string, string>
        {
            [prefix + "dims"] = Dims.ToString(c), [prefix + "in_channels"] = InChannels.ToString(c),
            [prefix + "classes"] = Classes.ToString(c), [prefix + "base_width"] = BaseWidth.ToString(c),
            [prefix + "max_width"] = MaxWidth.ToString(c), [prefix + "depth"] = Depth.ToString(c),
            [prefix + "norm"] = Norm == UNetNorm.Instance ? "instance" : "batch",
            [prefix + "down"] = Down == UNetDownsampling.StridedConv ? "strided" : "maxpool",
        };
    }

    /// <summary>Reads <see cref="ToMetadata"/> back; <paramref name="source"/> names the file in errors.</summary>
    public static UNetConfig FromMetadata(IReadOnlyDictionary<string, string> m, string source, string prefix = "unet.")
    {
        int Int(string key)
        {
            if (!m.TryGetValue(prefix + key, out var v))
                throw new InvalidDataException($"{source}: metadata '{prefix}{key}' is missing; this checkpoint was not written by `kernels train unet*`");
            if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r))
                throw new InvalidDataException($"{source}: metadata '{prefix}{key}' is '{v}', not an integer");
            return r;
        }
        string Str(string key) => m.TryGetValue(prefix + key, out var v) ? v
            : throw new InvalidDataException($"{source}: metadata '{prefix}{key}' is missing; this checkpoint was not written by `kernels train unet*`");
        var norm = Str("norm");
        var down = Str("down");
        if (norm is not ("instance" or "batch")) throw new InvalidDataException($"{source}: metadata '{prefix}norm' is '{norm}', expected instance or batch");
        if (down is not ("strided" or "maxpool")) throw new InvalidDataException($"{source}: metadata '{prefix}down' is '{down}', expected strided or maxpool");
        var cfg = new UNetConfig
        {
            Dims = Int("dims"), InChannels = Int("in_channels"), Classes = Int("classes"), BaseWidth = Int("base_width"),
            MaxWidth = Int("max_width"), Depth = Int("depth"),
            Norm = norm == "instance" ? UNetNorm.Instance : UNetNorm.Batch,
            Down = down == "strided" ? UNetDownsampling.StridedConv : UNetDownsampling.MaxPool,
        };
        try
        {
            cfg.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}");
        }
        return cfg;
    }
}

/// <summary>conv – norm – LeakyReLU, twice; the first conv may stride 2 (the encoder's downsampling).</summary>
public sealed class UNetBlock : Module
{
    private readonly Module _conv1, _norm1, _conv2, _norm2;
    private readonly double _slope;

    public UNetBlock(UNetConfig c, int inCh, int outCh, int firstStride, Device? device = null)
    {
        _slope = c.NegativeSlope;
        _conv1 = RegisterModule("conv1", Conv(c.Dims, inCh, outCh, 3, firstStride, 1, device));
        _norm1 = RegisterModule("norm1", Norm(c, outCh, device));
        _conv2 = RegisterModule("conv2", Conv(c.Dims, outCh, outCh, 3, 1, 1, device));
        _norm2 = RegisterModule("norm2", Norm(c, outCh, device));
    }

    /// <summary>Fold conv → batch norm → LeakyReLU into one fused convolution where allowed (see
    /// <see cref="Layer"/>); false runs the three ops (the fused path's comparison).</summary>
    public bool FuseInference { get; set; } = true;

    public override Tensor Forward(Tensor x)
    {
        x = Layer(x, _conv1, _norm1);
        return Layer(x, _conv2, _norm2);
    }

    /// <summary>LeakyReLU(norm(conv(x))). With batch norm in inference (running statistics) and no
    /// gradient needed, the norm is a per-channel affine map of the conv output: it and the conv's
    /// bias fold into the epilogue's scale / shift (F.FoldBatchNorm) and the layer is one
    /// F.ConvFused call (decision 0019). Instance norm is never folded: its mean and variance are
    /// those of this conv's output per sample and channel, known only after the whole output
    /// exists, so they cannot be applied as the output is written. Training, or any input or
    /// parameter needing a gradient, takes the ordinary ops.</summary>
    private Tensor Layer(Tensor x, Module conv, Module norm)
    {
        if (FuseInference && norm is BatchNormBase { IsTraining: false, RunningMean: { } mean, RunningVar: { } variance } bn
            && conv is ConvBase c && !Autograd.Needs(x, c.Weight, c.Bias, bn.Weight, bn.Bias))
        {
            var (scale, shift) = F.FoldBatchNorm(c.Bias, bn.Weight, bn.Bias, mean, variance, bn.Eps);
            using (scale)
            using (shift)
                return F.ConvFused(x, c.Weight, null, scale, shift, ActivationKind.LeakyRelu, _slope, c.Stride, c.Padding, c.Dilation, c.Groups);
        }
        return F.LeakyRelu(norm.Forward(conv.Forward(x)), _slope);
    }

    internal static Module Conv(int dims, int inCh, int outCh, int k, int stride, int pad, Device? device) => dims == 3
        ? new Conv3d(inCh, outCh, k, stride, pad, device: device)
        : new Conv2d(inCh, outCh, k, stride, pad, device: device);

    private static Module Norm(UNetConfig c, int ch, Device? device) => (c.Norm, c.Dims) switch
    {
        (UNetNorm.Instance, 3) => new InstanceNorm3d(ch, affine: true, device: device),
        (UNetNorm.Instance, _) => new InstanceNorm2d(ch, affine: true, device: device),
        (_, 3) => new BatchNorm3d(ch, device: device),
        _ => new BatchNorm2d(ch, device: device),
    };
}

/// <summary>The U-Net of <see cref="UNetConfig"/>: logits [N, classes, spatial...] for input
/// [N, in channels, spatial...] whose spatial sizes are multiples of 2^depth. Parameter names
/// follow the modules: enc.i.conv1.weight, up.i.weight, dec.i.conv2.weight, head.weight.</summary>
public sealed class UNet : Module
{
    private readonly ModuleList<UNetBlock> _enc = new(), _dec = new();
    private readonly ModuleList<ConvBase> _up = new();
    private readonly Module _head;

    public UNet(UNetConfig config, Device? device = null)
    {
        config.Validate();
        Config = config;
        RegisterModule("enc", _enc);
        RegisterModule("up", _up);
        RegisterModule("dec", _dec);
        bool strided = config.Down == UNetDownsampling.StridedConv;
        int prev = config.InChannels;
        for (int s = 0; s <= config.Depth; s++)
        {
            _enc.Add(new UNetBlock(config, prev, config.Width(s), s > 0 && strided ? 2 : 1, device));
            prev = config.Width(s);
        }
        for (int s = config.Depth - 1; s >= 0; s--)
        {
            int from = config.Width(s + 1), to = config.Width(s);
            _up.Add(config.Dims == 3
                ? new ConvTranspose3d(from, to, 2, 2, device: device)
                : new ConvTranspose2d(from, to, 2, 2, device: device));
            _dec.Add(new UNetBlock(config, 2 * to, to, 1, device));
        }
        _head = RegisterModule("head", UNetBlock.Conv(config.Dims, config.Width(0), config.Classes, 1, 1, 0, device));
    }

    public UNetConfig Config { get; }

    /// <summary>Whether the blocks fold conv → batch norm → LeakyReLU into one fused convolution in
    /// inference (<see cref="UNetBlock.FuseInference"/>); on by default, off to compare.</summary>
    public bool FuseInference
    {
        get => _enc[0].FuseInference;
        set
        {
            foreach (var b in _enc) b.FuseInference = value;
            foreach (var b in _dec) b.FuseInference = value;
        }
    }

    public override Tensor Forward(Tensor x)
    {
        var c = Config;
        if (x.Rank != c.Dims + 2 || x.Shape[1] != c.InChannels)
            throw new ArgumentException($"UNet: input has shape {x.Shape}, expected [N, {c.InChannels}, {(c.Dims == 3 ? "D, H, W" : "H, W")}]");
        for (int i = 2; i < x.Rank; i++)
            if (x.Shape[i] % c.SizeMultiple != 0)
                throw new ArgumentException($"UNet: input has shape {x.Shape}; every spatial size must be a multiple of {c.SizeMultiple} (2^depth, depth {c.Depth})");
        var skips = new Tensor[c.Depth];
        for (int s = 0; s <= c.Depth; s++)
        {
            if (s > 0 && c.Down == UNetDownsampling.MaxPool)
                x = c.Dims == 3 ? F.MaxPool3d(x, 2) : F.MaxPool2d(x, 2);
            x = _enc[s].Forward(x);
            if (s < c.Depth) skips[s] = x;
        }
        for (int j = 0; j < c.Depth; j++)
        {
            int s = c.Depth - 1 - j;
            x = _up[j].Forward(x);
            x = _dec[j].Forward(F.Concat([skips[s], x], 1));
        }
        return _head.Forward(x);
    }
}
