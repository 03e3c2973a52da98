using Kernels.Nets.Modules;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.Backbones;

/// <summary>A small TResNet-like trunk for CPU runs: a space-to-depth stem (4×4 blocks of pixels
/// become channels, no strided 7×7 convolution), a 3×3 conv + BN + ReLU, then stages of
/// BasicBlocks, every stage after the first halving the resolution. Images [B, 3, H, W] with H, W
/// multiples of 4·2^(stages−1) → [B, widths[^1], H / Stride, W / Stride].</summary>
public sealed class TinyTResNet : Backbone
{
    private const int Block = 4;
    private readonly List<Sequential> _stages = new();

    /// <param name="widths">channels per stage (default 32, 64, 128)</param>
    /// <param name="blocks">BasicBlocks per stage (default 1 each)</param>
    public TinyTResNet(int[]? widths = null, int[]? blocks = null, int inChannels = 3, DType dtype = DType.F32, Device? device = null)
    {
        widths ??= [32, 64, 128];
        blocks ??= Enumerable.Repeat(1, widths.Length).ToArray();
        if (widths.Length == 0 || widths.Length != blocks.Length || widths.Any(w => w <= 0) || blocks.Any(b => b <= 0))
            throw new ArgumentException($"TinyTResNet: widths {Shape.Format(widths)} and blocks {Shape.Format(blocks)} must be positive and as many");
        InChannels = inChannels;
        Conv1 = RegisterModule("conv1", Conv3x3(inChannels * Block * Block, widths[0], 1, dtype, device));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(widths[0], dtype: dtype, device: device));
        int c = widths[0];
        for (int s = 0; s < widths.Length; s++)
        {
            var stage = new Sequential();
            for (int i = 0; i < blocks[s]; i++)
            {
                stage.Add(new BasicBlock(c, widths[s], s > 0 && i == 0 ? 2 : 1, dtype, device));
                c = widths[s];
            }
            _stages.Add(RegisterModule($"layer{s + 1}", stage));
        }
        OutChannels = c;
        Stride = Block << (widths.Length - 1);
        InitWeights();
    }

    public int InChannels { get; }
    public Conv2d Conv1 { get; }
    public BatchNorm2d Bn1 { get; }
    public override int OutChannels { get; }
    public override int Stride { get; }

    public override Tensor Forward(Tensor x)
    {
        x = F.Relu(Bn1.Forward(Conv1.Forward(SpaceToDepth(x, Block))));
        foreach (var stage in _stages) x = stage.Forward(x);
        return x;
    }

    /// <summary>[B, C, H, W] → [B, bs²·C, H/bs, W/bs], channel index (dy·bs + dx)·C + c (TResNet's order).</summary>
    public static Tensor SpaceToDepth(Tensor x, int bs)
    {
        const string op = "SpaceToDepth";
        Check.That(x.Rank == 4 && x.Shape[2] % bs == 0 && x.Shape[3] % bs == 0, op,
            $"x has shape {x.Shape}, expected [B, C, H, W] with H and W multiples of {bs}");
        int b = x.Shape[0], c = x.Shape[1], h = x.Shape[2] / bs, w = x.Shape[3] / bs;
        return F.Permute(x.Reshape(b, c, h, bs, w, bs), 0, 3, 5, 1, 2, 4).Reshape(b, bs * bs * c, h, w);
    }
}
