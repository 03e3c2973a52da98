using System.Numerics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Optim;

/// <summary>Reference updates. Arithmetic runs in the parameter's own precision, in PyTorch's
/// order of operations, so float32 results track torch.optim to rounding.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class OptimizerUpdateCpu : IOptimizerUpdate
{
    public void Sgd(in SgdStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentumBuffer)
    {
        switch (param.DType)
        {
            case DType.F32:
                Sgd(step, n, CpuBuffer.Array<float>(param), CpuBuffer.Array<float>(grad),
                    momentumBuffer is null ? null : CpuBuffer.Array<float>(momentumBuffer));
                break;
            case DType.F64:
                Sgd(step, n, CpuBuffer.Array<double>(param), CpuBuffer.Array<double>(grad),
                    momentumBuffer is null ? null : CpuBuffer.Array<double>(momentumBuffer));
                break;
            default: throw new NotSupportedException($"OptimizerUpdate.Sgd: dtype {param.DType.Name()} is not supported on the cpu");
        }
    }

    public void Adam(in AdamStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer expAvg, DeviceBuffer expAvgSq)
    {
        switch (param.DType)
        {
            case DType.F32:
                Adam(step, n, CpuBuffer.Array<float>(param), CpuBuffer.Array<float>(grad), CpuBuffer.Array<float>(expAvg),
                    CpuBuffer.Array<float>(expAvgSq));
                break;
            case DType.F64:
                Adam(step, n, CpuBuffer.Array<double>(param), CpuBuffer.Array<double>(grad), CpuBuffer.Array<double>(expAvg),
                    CpuBuffer.Array<double>(expAvgSq));
                break;
            default: throw new NotSupportedException($"OptimizerUpdate.Adam: dtype {param.DType.Name()} is not supported on the cpu");
        }
    }

    private static void Sgd<T>(SgdStep s, long n, T[] p, T[] grad, T[]? buf) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T lr = T.CreateTruncating(s.Lr), wd = T.CreateTruncating(s.WeightDecay), mom = T.CreateTruncating(s.Momentum);
        T keep = T.CreateTruncating(1 - s.Dampening);
        bool useWd = s.WeightDecay != 0, useMom = s.Momentum != 0, nesterov = s.Nesterov, first = s.FirstStep;
        bool maximize = s.Maximize;
        CpuParallel.For(n, 4, (i0, i1) =>
        {
            for (long i = i0; i < i1; i++)
            {
                T d = maximize ? -grad[i] : grad[i];
                if (useWd) d += wd * p[i];
                if (useMom)
                {
                    T b = first ? d : buf![i] * mom + keep * d;
                    buf![i] = b;
                    d = nesterov ? d + mom * b : b;
                }
                p[i] += -lr * d;
            }
        });
    }

    private static void Adam<T>(AdamStep s, long n, T[] p, T[] grad, T[] m, T[] v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T b1 = T.CreateTruncating(s.Beta1), b2 = T.CreateTruncating(s.Beta2);
        T oneMinusB1 = T.CreateTruncating(1 - s.Beta1), oneMinusB2 = T.CreateTruncating(1 - s.Beta2);
        T wd = T.CreateTruncating(s.WeightDecay), eps = T.CreateTruncating(s.Eps);
        // Bias corrections in float64 as PyTorch computes them (Python floats), then cast.
        double bc1 = 1 - Math.Pow(s.Beta1, s.Step), bc2 = 1 - Math.Pow(s.Beta2, s.Step);
        T stepSize = T.CreateTruncating(s.Lr / bc1), bc2Sqrt = T.CreateTruncating(Math.Sqrt(bc2));
        T decay = T.CreateTruncating(1 - s.Lr * s.WeightDecay);
        bool l2 = s.WeightDecay != 0 && !s.Decoupled, decoupled = s.WeightDecay != 0 && s.Decoupled, maximize = s.Maximize;
        CpuParallel.For(n, 8, (i0, i1) =>
        {
            for (long i = i0; i < i1; i++)
            {
                T g = maximize ? -grad[i] : grad[i];
                if (decoupled) p[i] *= decay;
                if (l2) g += wd * p[i];
                m[i] = m[i] * b1 + oneMinusB1 * g;
                v[i] = v[i] * b2 + oneMinusB2 * g * g;
                T denom = T.Sqrt(v[i]) / bc2Sqrt + eps;
                p[i] += -stepSize * (m[i] / denom);
            }
        });
    }
}
