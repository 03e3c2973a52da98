using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Modules;

/// <summary>nn.MaxPool2d (stride 0 means stride = kernel, as PyTorch's default).</summary>
public sealed class MaxPool2d(int kernelSize, int stride = 0, int padding = 0) : Module
{
    public override Tensor Forward(Tensor x) => F.MaxPool2d(x, kernelSize, stride, padding);
}

public sealed class MaxPool3d(int kernelSize, int stride = 0, int padding = 0) : Module
{
    public override Tensor Forward(Tensor x) => F.MaxPool3d(x, kernelSize, stride, padding);
}

public sealed class AvgPool2d(int kernelSize, int stride = 0, int padding = 0) : Module
{
    public override Tensor Forward(Tensor x) => F.AvgPool2d(x, kernelSize, stride, padding);
}

public sealed class AvgPool3d(int kernelSize, int stride = 0, int padding = 0) : Module
{
    public override Tensor Forward(Tensor x) => F.AvgPool3d(x, kernelSize, stride, padding);
}

/// <summary>Mean over all spatial axes: [N, C, ...] → [N, C] (adaptive average pooling to 1, flattened).</summary>
public sealed class GlobalAvgPool : Module
{
    public override Tensor Forward(Tensor x) => F.GlobalAvgPool(x);
}
