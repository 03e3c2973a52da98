using ILGPU;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Activation;

/// <summary>ILGPU version of the activations (float32): one grid-stride loop per pass, the kind a
/// launch-uniform switch. Runs on ilgpu-cpu and, compiled to PTX, on cuda.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class ActivationIlgpu(Device device) : IActivation
{
    private static readonly IlgpuKernel s_forward = new(ForwardKernel);
    private static readonly IlgpuKernel s_backward = new(BackwardKernel);

    public void Forward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Activation.Forward", x, y);
        if (n == 0) return;
        s_forward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (int)kind, (float)alpha, x, y, n);
    }

    public void Backward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dy,
        DeviceBuffer dx)
    {
        IlgpuLaunch.RequireF32("Activation.Backward", x, y, dy, dx);
        if (n == 0) return;
        s_backward.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, (int)kind, (float)alpha, x, y, dy, dx, n);
    }

    private static float Erf(float x)
    {
        // Abramowitz–Stegun 7.1.26 is too coarse (1.5e-7 absolute is fine, but its relative error near 0
        // is poor); use erf(x) = sign(x)·(1 − exp(−x²·P(|x|))) via the series / continued fraction split.
        float ax = XMathAbs(x);
        float r;
        if (ax < 0.5f)
        {
            float x2 = x * x;
            // Taylor series of erf to x^11: error below 1e-8 for |x| < 0.5.
            r = ax * (1.1283791671f + x2 * (-0.3761263890f + x2 * (0.1128379167f + x2 * (-0.0268661706f
                + x2 * (0.0052239776f + x2 * -0.0008548327f)))));
        }
        else
        {
            // erfc(x) = t·exp(−x² − 1.26551223 + t·P(t)), t = 1/(1 + x/2): Numerical Recipes' erfcc, 1.2e-7 relative.
            float t = 1f / (1f + 0.5f * ax);
            float p = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
                + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
            r = 1f - t * MathF.Exp(-ax * ax + p);
        }
        return x < 0 ? -r : r;
    }

    private static float XMathAbs(float v) => v < 0 ? -v : v;

    private static float Apply(int kind, float alpha, float v) => kind switch
    {
        0 => v > 0f ? v : 0f,
        1 => v > 0f ? v : alpha * v,
        2 => 0.5f * v * (1f + Erf(v * 0.70710678118654752f)),
        3 => 1f / (1f + MathF.Exp(-v)),
        _ => MathF.Tanh(v),
    };

    private static void ForwardKernel(int kind, float alpha, ArrayView<float> x, ArrayView<float> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = Apply(kind, alpha, x[i]);
    }

    private static void BackwardKernel(int kind, float alpha, ArrayView<float> x, ArrayView<float> y,
        ArrayView<float> dy, ArrayView<float> dx, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float g = dy[i];
            float r;
            switch (kind)
            {
                case 0: r = x[i] > 0f ? g : 0f; break;
                case 1: r = x[i] > 0f ? g : alpha * g; break;
                case 2:
                    float v = x[i];
                    float cdf = 0.5f * (1f + Erf(v * 0.70710678118654752f));
                    float pdf = 0.39894228040143268f * MathF.Exp(-0.5f * v * v);
                    r = g * (cdf + v * pdf);
                    break;
                case 3: r = g * y[i] * (1f - y[i]); break;
                default: r = g * (1f - y[i] * y[i]); break;
            }
            dx[i] = r;
        }
    }
}
