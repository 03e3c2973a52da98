using Kernels.Nets.Models.Backbones;
using Kernels.Nets.Modules;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>Backbone + head: images [B, 3, H, W] → logits [B, N]. The feature map goes to the
/// head as is, or flattened to tokens [B, H·W, C] when the head takes tokens (ML-Decoder).
/// Children "body" and "head" (TResNet's naming).</summary>
public sealed class MultiLabelClassifier : Module
{
    public MultiLabelClassifier(Backbone backbone, ClassifierHead head)
    {
        Body = RegisterModule("body", backbone);
        Head = RegisterModule("head", head);
    }

    public Backbone Body { get; }
    public ClassifierHead Head { get; }
    public int Classes => Head.Classes;

    public override Tensor Forward(Tensor x)
    {
        var features = Body.Forward(x);
        return Head.Forward(Head.TakesTokens ? ClassifierHead.ToTokens(features) : features);
    }
}
