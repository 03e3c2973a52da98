using Kernels.Ops.Activation;

namespace Kernels.Nets;

public static partial class Functional
{
    public static Tensor Relu(Tensor x) => Activation(ActivationKind.Relu, x);
    public static Tensor LeakyRelu(Tensor x, double slope = 0.01) => Activation(ActivationKind.LeakyRelu, x, slope);
    public static Tensor Gelu(Tensor x) => Activation(ActivationKind.Gelu, x);
    public static Tensor Sigmoid(Tensor x) => Activation(ActivationKind.Sigmoid, x);
    public static Tensor Tanh(Tensor x) => Activation(ActivationKind.Tanh, x);

    public static Tensor Activation(ActivationKind kind, Tensor x, double alpha = 0)
    {
        x.ThrowIfDisposed();
        FloatInput(kind.ToString(), "x", x);
        var y = NewLike(x, x.Shape);
        var k = K<IActivation>(x);
        k.Forward(kind, alpha, x.Numel, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(kind.ToString(), y, [x], g =>
            {
                var dx = NewLike(g, g.Shape);
                K<IActivation>(g).Backward(kind, alpha, x.Numel, x.Buffer, y.Buffer, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }
}
