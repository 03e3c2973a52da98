using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Modules;

public sealed class ReLU : Module
{
    public override Tensor Forward(Tensor x) => F.Relu(x);
}

public sealed class LeakyReLU(double negativeSlope = 0.01) : Module
{
    public double NegativeSlope { get; } = negativeSlope;
    public override Tensor Forward(Tensor x) => F.LeakyRelu(x, NegativeSlope);
}

/// <summary>The exact (erf) GELU, PyTorch's default.</summary>
public sealed class GELU : Module
{
    public override Tensor Forward(Tensor x) => F.Gelu(x);
}

public sealed class Sigmoid : Module
{
    public override Tensor Forward(Tensor x) => F.Sigmoid(x);
}

public sealed class Tanh : Module
{
    public override Tensor Forward(Tensor x) => F.Tanh(x);
}

public sealed class Identity : Module
{
    public override Tensor Forward(Tensor x) => x;
}

/// <summary>Flattens axes [startDim, endDim] into one (PyTorch's nn.Flatten: default from axis 1).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    public override Tensor Forward(Tensor x)
    {
        int s = x.Shape.Axis(startDim, "Flatten"), e = x.Shape.Axis(endDim, "Flatten");
        if (e < s) throw new ArgumentException($"Flatten: startDim {startDim} is after endDim {endDim} for shape {x.Shape}");
        var dims = new List<int>();
        for (int i = 0; i < s; i++) dims.Add(x.Shape[i]);
        dims.Add((int)x.Shape.Prod(s, e + 1));
        for (int i = e + 1; i < x.Rank; i++) dims.Add(x.Shape[i]);
        return x.Reshape(dims.ToArray());
    }
}
