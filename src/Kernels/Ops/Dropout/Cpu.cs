using System.Numerics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Dropout;

[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class DropoutCpu : IDropout
{
    public void Apply(long n, double p, ulong seed, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Apply(n, p, seed, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: Apply(n, p, seed, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            default: throw new NotSupportedException($"Dropout: dtype {y.DType.Name()} is not supported on the cpu");
        }
    }

    private static void Apply<T>(long n, double p, ulong seed, T[] x, T[] y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        uint threshold = DropoutMask.Threshold(p);
        T scale = T.CreateTruncating(1.0 / (1.0 - p));
        CpuParallel.For(n, 8, (s, e) =>
        {
            for (long i = s; i < e; i++)
                y[i] = DropoutMask.Keep(seed, (ulong)i, threshold) ? x[i] * scale : T.Zero;
        });
    }
}
