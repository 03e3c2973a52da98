using F = Kernels.Nets.Functional;

namespace Kernels.Nets;

public sealed partial class Tensor
{
    public static Tensor operator +(Tensor a, Tensor b) => F.Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => F.Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => F.Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => F.Div(a, b);
    public static Tensor operator -(Tensor a) => F.Neg(a);
    public static Tensor operator +(Tensor a, double s) => F.AddScalar(a, s);
    public static Tensor operator +(double s, Tensor a) => F.AddScalar(a, s);
    public static Tensor operator -(Tensor a, double s) => F.AddScalar(a, -s);
    public static Tensor operator -(double s, Tensor a) => F.RSubScalar(s, a);
    public static Tensor operator *(Tensor a, double s) => F.MulScalar(a, s);
    public static Tensor operator *(double s, Tensor a) => F.MulScalar(a, s);
    public static Tensor operator /(Tensor a, double s) => F.MulScalar(a, 1.0 / s);
    public static Tensor operator /(double s, Tensor a) => F.RDivScalar(s, a);

    public Tensor Relu() => F.Relu(this);
    public Tensor Sigmoid() => F.Sigmoid(this);
    public Tensor Tanh() => F.Tanh(this);
    public Tensor Exp() => F.Exp(this);
    public Tensor Log() => F.Log(this);
}
