using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Registry;
using MathNet.Numerics;

namespace Kernels.Ops.Activation;

[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class ActivationCpu : IActivation
{
    public void Forward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Forward(kind, (float)alpha, n, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: Forward(kind, alpha, n, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            default: throw new NotSupportedException($"Activation: dtype {y.DType.Name()} is not supported on the cpu");
        }
    }

    public void Backward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dy,
        DeviceBuffer dx)
    {
        switch (dx.DType)
        {
            case DType.F32:
                Backward(kind, (float)alpha, n, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y),
                    CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx));
                break;
            case DType.F64:
                Backward(kind, alpha, n, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y),
                    CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx));
                break;
            default: throw new NotSupportedException($"Activation: dtype {dx.DType.Name()} is not supported on the cpu");
        }
    }

    private static void Forward<T>(ActivationKind kind, T alpha, long n, T[] x, T[] y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 16, (s, e) =>
        {
            ReadOnlySpan<T> xs = x.AsSpan((int)s, (int)(e - s));
            Span<T> ys = y.AsSpan((int)s, (int)(e - s));
            switch (kind)
            {
                case ActivationKind.Relu: TensorPrimitives.Max(xs, T.Zero, ys); break;
                case ActivationKind.LeakyRelu:
                    for (int i = 0; i < xs.Length; i++) ys[i] = xs[i] > T.Zero ? xs[i] : alpha * xs[i];
                    break;
                case ActivationKind.Sigmoid: TensorPrimitives.Sigmoid(xs, ys); break;
                case ActivationKind.Tanh: TensorPrimitives.Tanh(xs, ys); break;
                case ActivationKind.Gelu:
                    for (int i = 0; i < xs.Length; i++) ys[i] = xs[i] * Phi(xs[i]);
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
            }
        });
    }

    private static void Backward<T>(ActivationKind kind, T alpha, long n, T[] x, T[] y, T[] dy, T[] dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 16, (s, e) =>
        {
            int o = (int)s, len = (int)(e - s);
            ReadOnlySpan<T> xs = x.AsSpan(o, len), ys = y.AsSpan(o, len), gs = dy.AsSpan(o, len);
            Span<T> ds = dx.AsSpan(o, len);
            switch (kind)
            {
                case ActivationKind.Relu: RectifierBackward(xs, gs, ds, T.Zero, leaky: false); break;
                case ActivationKind.LeakyRelu: RectifierBackward(xs, gs, ds, alpha, leaky: true); break;
                case ActivationKind.Sigmoid:
                    for (int i = 0; i < len; i++) ds[i] = gs[i] * ys[i] * (T.One - ys[i]);
                    break;
                case ActivationKind.Tanh:
                    for (int i = 0; i < len; i++) ds[i] = gs[i] * (T.One - ys[i] * ys[i]);
                    break;
                case ActivationKind.Gelu:
                    for (int i = 0; i < len; i++)
                    {
                        T v = xs[i];
                        ds[i] = gs[i] * (Phi(v) + v * Pdf(v));
                    }
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
            }
        });
    }

    /// <summary>dx = x &gt; 0 ? dy : slope·dy (0 for ReLU). Selected a vector at a time: the scalar
    /// branch mispredicts on mixed signs and made ReLU's backward cost several times its forward.
    /// NaN compares false either way, as in the scalar form.</summary>
    private static void RectifierBackward<T>(ReadOnlySpan<T> xs, ReadOnlySpan<T> gs, Span<T> ds, T slope, bool leaky)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0, len = ds.Length;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
        {
            var zero = Vector<T>.Zero;
            var a = new Vector<T>(slope);
            for (; i <= len - Vector<T>.Count; i += Vector<T>.Count)
            {
                var xv = new Vector<T>(xs[i..]);
                var gv = new Vector<T>(gs[i..]);
                Vector.ConditionalSelect(Vector.GreaterThan(xv, zero), gv, leaky ? gv * a : zero).CopyTo(ds[i..]);
            }
        }
        for (; i < len; i++) ds[i] = xs[i] > T.Zero ? gs[i] : leaky ? slope * gs[i] : T.Zero;
    }

    private static readonly double InvSqrt2 = 1.0 / Math.Sqrt(2.0);
    private static readonly double InvSqrt2Pi = 1.0 / Math.Sqrt(2.0 * Math.PI);

    /// <summary>Standard normal CDF. Double precision through MathNet's erf so that float64
    /// gradient checks see the exact function.</summary>
    private static T Phi<T>(T v) where T : unmanaged, IFloatingPointIeee754<T> =>
        T.CreateTruncating(0.5 * (1.0 + SpecialFunctions.Erf(double.CreateTruncating(v) * InvSqrt2)));

    private static T Pdf<T>(T v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double d = double.CreateTruncating(v);
        return T.CreateTruncating(InvSqrt2Pi * Math.Exp(-0.5 * d * d));
    }
}
