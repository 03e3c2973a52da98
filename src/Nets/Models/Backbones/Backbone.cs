using Kernels.Nets.Modules;

namespace Kernels.Nets.Models.Backbones;

/// <summary>A convolutional trunk without global pooling or classifier: images [B, 3, H, W] →
/// feature map [B, <see cref="OutChannels"/>, H / <see cref="Stride"/>, W / <see cref="Stride"/>].</summary>
public abstract class Backbone : Module
{
    public abstract int OutChannels { get; }

    /// <summary>Total downsampling factor (the feature map is the input size divided by this, rounded up).</summary>
    public abstract int Stride { get; }

    /// <summary>Conv weights kaiming-normal (fan_out, relu) and batch norms 1 / 0, as torchvision's ResNet.</summary>
    protected void InitWeights()
    {
        foreach (var (_, m) in NamedModules())
            switch (m)
            {
                case Conv2d c: Init.KaimingNormal(c.Weight, 0, Init.FanMode.FanOut, "relu"); break;
                case BatchNorm2d bn when bn.Weight is not null && bn.Bias is not null:
                    Init.Ones(bn.Weight);
                    Init.Zeros(bn.Bias);
                    break;
            }
    }

    internal static Conv2d Conv3x3(int cin, int cout, int stride, DType dtype, Device? device) =>
        new(cin, cout, 3, stride, 1, bias: false, dtype: dtype, device: device);

    internal static Conv2d Conv1x1(int cin, int cout, int stride, DType dtype, Device? device) =>
        new(cin, cout, 1, stride, 0, bias: false, dtype: dtype, device: device);
}
