using Kernels.Nets.Modules;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>A multi-label classification head on a backbone's output: logits [B, N].</summary>
public abstract class ClassifierHead : Module
{
    /// <summary>Number of classes (logits per image).</summary>
    public abstract int Classes { get; }

    /// <summary>True when the head wants tokens [B, T, C] (T = H·W) rather than the feature map
    /// [B, C, H, W]; <see cref="MultiLabelClassifier"/> flattens for it.</summary>
    public virtual bool TakesTokens => false;

    /// <summary>Feature map [B, C, H, W] → tokens [B, H·W, C] (the ML-Decoder's input layout).</summary>
    public static Tensor ToTokens(Tensor featureMap)
    {
        Check.That(featureMap.Rank == 4, "ToTokens", $"feature map has shape {featureMap.Shape}, expected [B, C, H, W]");
        int b = featureMap.Shape[0], c = featureMap.Shape[1], hw = featureMap.Shape[2] * featureMap.Shape[3];
        return F.Permute(featureMap.Reshape(b, c, hw), 0, 2, 1);
    }
}

/// <summary>The baseline head: global average pooling then Linear(C → N). Accepts a feature map
/// [B, C, H, W] or tokens [B, T, C] (averaged over T). Child "fc" as torchvision's ResNet.</summary>
public sealed class GapHead : ClassifierHead
{
    public GapHead(int inFeatures, int classes, DType dtype = DType.F32, Device? device = null)
    {
        if (inFeatures <= 0 || classes <= 0)
            throw new ArgumentException($"GapHead: inFeatures {inFeatures} and classes {classes} must be positive");
        InFeatures = inFeatures;
        Fc = RegisterModule("fc", new Linear(inFeatures, classes, dtype: dtype, device: device));
    }

    public int InFeatures { get; }
    public Linear Fc { get; }
    public override int Classes => Fc.OutFeatures;

    public override Tensor Forward(Tensor x)
    {
        const string op = "GapHead";
        if (x.Rank == 3)
        {
            Check.That(x.Shape[2] == InFeatures, op, $"tokens have shape {x.Shape}, expected [B, T, {InFeatures}]");
            return Fc.Forward(F.Mean(x, [1]));
        }
        Check.That(x.Rank == 4 && x.Shape[1] == InFeatures, op, $"input has shape {x.Shape}, expected [B, {InFeatures}, H, W] or [B, T, {InFeatures}]");
        return Fc.Forward(F.GlobalAvgPool(x));
    }
}
