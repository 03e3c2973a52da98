using Kernels.Nets.Modules;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.Backbones;

/// <summary>A residual block of <see cref="ResNet"/>: [B, InChannels, H, W] → [B, OutChannels, H/s, W/s].</summary>
public abstract class ResidualBlock : Module
{
    public abstract int OutChannels { get; }
}

/// <summary>Two 3×3 convolutions (ResNet-18/34), torchvision names conv1, bn1, conv2, bn2, downsample.</summary>
public sealed class BasicBlock : ResidualBlock
{
    public const int Expansion = 1;

    public BasicBlock(int inChannels, int width, int stride = 1, DType dtype = DType.F32, Device? device = null)
    {
        Conv1 = RegisterModule("conv1", Backbone.Conv3x3(inChannels, width, stride, dtype, device));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(width, dtype: dtype, device: device));
        Conv2 = RegisterModule("conv2", Backbone.Conv3x3(width, width, 1, dtype, device));
        Bn2 = RegisterModule("bn2", new BatchNorm2d(width, dtype: dtype, device: device));
        if (stride != 1 || inChannels != width)
            Downsample = RegisterModule("downsample", new Sequential(
                Backbone.Conv1x1(inChannels, width, stride, dtype, device), new BatchNorm2d(width, dtype: dtype, device: device)));
        OutChannels = width;
    }

    public Conv2d Conv1 { get; }
    public BatchNorm2d Bn1 { get; }
    public Conv2d Conv2 { get; }
    public BatchNorm2d Bn2 { get; }
    public Sequential? Downsample { get; }
    public override int OutChannels { get; }

    public override Tensor Forward(Tensor x)
    {
        var y = F.Relu(Bn1.Forward(Conv1.Forward(x)));
        y = Bn2.Forward(Conv2.Forward(y));
        return F.Relu(F.Add(y, Downsample?.Forward(x) ?? x));
    }
}

/// <summary>1×1 → 3×3 (stride here, as torchvision's v1.5) → 1×1 ×4 (ResNet-50/101/152).</summary>
public sealed class Bottleneck : ResidualBlock
{
    public const int Expansion = 4;

    public Bottleneck(int inChannels, int width, int stride = 1, DType dtype = DType.F32, Device? device = null)
    {
        int outC = width * Expansion;
        Conv1 = RegisterModule("conv1", Backbone.Conv1x1(inChannels, width, 1, dtype, device));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(width, dtype: dtype, device: device));
        Conv2 = RegisterModule("conv2", Backbone.Conv3x3(width, width, stride, dtype, device));
        Bn2 = RegisterModule("bn2", new BatchNorm2d(width, dtype: dtype, device: device));
        Conv3 = RegisterModule("conv3", Backbone.Conv1x1(width, outC, 1, dtype, device));
        Bn3 = RegisterModule("bn3", new BatchNorm2d(outC, dtype: dtype, device: device));
        if (stride != 1 || inChannels != outC)
            Downsample = RegisterModule("downsample", new Sequential(
                Backbone.Conv1x1(inChannels, outC, stride, dtype, device), new BatchNorm2d(outC, dtype: dtype, device: device)));
        OutChannels = outC;
    }

    public Conv2d Conv1 { get; }
    public BatchNorm2d Bn1 { get; }
    public Conv2d Conv2 { get; }
    public BatchNorm2d Bn2 { get; }
    public Conv2d Conv3 { get; }
    public BatchNorm2d Bn3 { get; }
    public Sequential? Downsample { get; }
    public override int OutChannels { get; }

    public override Tensor Forward(Tensor x)
    {
        var y = F.Relu(Bn1.Forward(Conv1.Forward(x)));
        y = F.Relu(Bn2.Forward(Conv2.Forward(y)));
        y = Bn3.Forward(Conv3.Forward(y));
        return F.Relu(F.Add(y, Downsample?.Forward(x) ?? x));
    }
}

/// <summary>torchvision-style ResNet trunk (conv1 7×7/2, bn1, relu, maxpool 3×3/2, layer1..4)
/// without avgpool and fc: returns the feature map [B, C, H/32, W/32]. Stage widths are
/// 64, 128, 256, 512 times <paramref name="widthMultiplier"/> (rounded, at least 1); state-dict
/// names follow torchvision, so its weights load (minus fc.*).</summary>
public sealed class ResNet : Backbone
{
    private readonly List<Sequential> _stages = new();

    /// <param name="bottleneck">Bottleneck blocks (ResNet-50 style) instead of BasicBlocks</param>
    /// <param name="blocks">blocks per stage, 4 stages: [2,2,2,2] ResNet-18, [3,4,6,3] ResNet-34/50</param>
    public ResNet(bool bottleneck, int[] blocks, double widthMultiplier = 1, int inChannels = 3, DType dtype = DType.F32,
        Device? device = null)
    {
        if (blocks.Length != 4 || blocks.Any(b => b <= 0))
            throw new ArgumentException($"ResNet: blocks {Shape.Format(blocks)} must be 4 positive counts");
        if (widthMultiplier <= 0) throw new ArgumentException($"ResNet: widthMultiplier {widthMultiplier} must be positive");
        int Width(int w) => Math.Max(1, (int)Math.Round(w * widthMultiplier));
        int c = Width(64);
        Conv1 = RegisterModule("conv1", new Conv2d(inChannels, c, 7, 2, 3, bias: false, dtype: dtype, device: device));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(c, dtype: dtype, device: device));
        int[] widths = [Width(64), Width(128), Width(256), Width(512)];
        for (int s = 0; s < 4; s++)
        {
            var stage = new Sequential();
            for (int i = 0; i < blocks[s]; i++)
            {
                int stride = s > 0 && i == 0 ? 2 : 1;
                ResidualBlock block = bottleneck
                    ? new Bottleneck(c, widths[s], stride, dtype, device)
                    : new BasicBlock(c, widths[s], stride, dtype, device);
                stage.Add(block);
                c = block.OutChannels;
            }
            _stages.Add(RegisterModule($"layer{s + 1}", stage));
        }
        OutChannels = c;
        InitWeights();
    }

    public static ResNet ResNet18(double widthMultiplier = 1, DType dtype = DType.F32, Device? device = null) =>
        new(false, [2, 2, 2, 2], widthMultiplier, 3, dtype, device);

    public static ResNet ResNet50(double widthMultiplier = 1, DType dtype = DType.F32, Device? device = null) =>
        new(true, [3, 4, 6, 3], widthMultiplier, 3, dtype, device);

    public Conv2d Conv1 { get; }
    public BatchNorm2d Bn1 { get; }
    public override int OutChannels { get; }
    public override int Stride => 32;

    public override Tensor Forward(Tensor x)
    {
        x = F.MaxPool2d(F.Relu(Bn1.Forward(Conv1.Forward(x))), 3, 2, 1);
        foreach (var stage in _stages) x = stage.Forward(x);
        return x;
    }
}
