using ILGPU;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Optim;

/// <summary>ILGPU version of the fused optimizer updates (float32): one grid-stride pass per
/// parameter, the same constants and order of operations as the cpu reference.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class OptimizerUpdateIlgpu(Device device) : IOptimizerUpdate
{
    private static readonly IlgpuKernel s_sgd = new(SgdKernel);
    private static readonly IlgpuKernel s_adam = new(AdamKernel);

    // Flag bits: kernels take no bool parameters.
    private const int UseWd = 1, UseMom = 2, Nesterov = 4, First = 8, Maximize = 16, L2 = 32, Decoupled = 64;

    public void Sgd(in SgdStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentumBuffer)
    {
        bool mom = step.Momentum != 0;
        if (mom) ArgumentNullException.ThrowIfNull(momentumBuffer, "OptimizerUpdate.Sgd momentumBuffer");
        // Without momentum the kernel never touches the buffer argument: param stands in for it.
        var buf = mom ? momentumBuffer! : param;
        IlgpuLaunch.RequireF32("OptimizerUpdate.Sgd", param, grad, buf);
        if (n == 0) return;
        int flags = (step.WeightDecay != 0 ? UseWd : 0) | (mom ? UseMom : 0) | (step.Nesterov ? Nesterov : 0)
            | (step.FirstStep ? First : 0) | (step.Maximize ? Maximize : 0);
        s_sgd.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, param, grad, buf, n, flags,
            (float)step.WeightDecay, (float)step.Momentum, (float)(1 - step.Dampening), -(float)step.Lr);
    }

    public void Adam(in AdamStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer expAvg, DeviceBuffer expAvgSq)
    {
        IlgpuLaunch.RequireF32("OptimizerUpdate.Adam", param, grad, expAvg, expAvgSq);
        if (n == 0) return;
        bool wd = step.WeightDecay != 0;
        int flags = (wd && !step.Decoupled ? L2 : 0) | (wd && step.Decoupled ? Decoupled : 0) | (step.Maximize ? Maximize : 0);
        // Bias corrections in float64 on the host, as the reference (and PyTorch) computes them.
        float negStep = -(float)(step.Lr / (1 - Math.Pow(step.Beta1, step.Step)));
        float bc2Sqrt = (float)Math.Sqrt(1 - Math.Pow(step.Beta2, step.Step));
        s_adam.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, param, grad, expAvg, expAvgSq, n, flags,
            (float)step.Beta1, (float)step.Beta2, (float)(1 - step.Beta1), (float)(1 - step.Beta2),
            (float)step.WeightDecay, (float)step.Eps, negStep, bc2Sqrt, (float)(1 - step.Lr * step.WeightDecay));
    }

    private static void SgdKernel(ArrayView<float> p, ArrayView<float> grad, ArrayView<float> buf, long n, int flags,
        float wd, float mom, float keep, float negLr)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float d = (flags & Maximize) != 0 ? -grad[i] : grad[i];
            float pv = p[i];
            if ((flags & UseWd) != 0) d += wd * pv;
            if ((flags & UseMom) != 0)
            {
                float b = (flags & First) != 0 ? d : buf[i] * mom + keep * d;
                buf[i] = b;
                d = (flags & Nesterov) != 0 ? d + mom * b : b;
            }
            p[i] = pv + negLr * d;
        }
    }

    private static void AdamKernel(ArrayView<float> p, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v,
        long n, int flags, float b1, float b2, float omb1, float omb2, float wd, float eps, float negStep, float bc2Sqrt,
        float decay)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float g = (flags & Maximize) != 0 ? -grad[i] : grad[i];
            float pv = p[i];
            if ((flags & Decoupled) != 0) pv *= decay;
            if ((flags & L2) != 0) g += wd * pv;
            float mv = m[i] * b1 + omb1 * g;
            float vv = v[i] * b2 + omb2 * g * g;
            m[i] = mv;
            v[i] = vv;
            float denom = MathF.Sqrt(vv) / bc2Sqrt + eps;
            p[i] = pv + negStep * (mv / denom);
        }
    }
}
