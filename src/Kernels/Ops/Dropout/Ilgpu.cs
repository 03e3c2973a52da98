using ILGPU;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Dropout;

/// <summary>ILGPU dropout (float32): one grid-stride loop that recomputes the <see cref="DropoutMask"/>
/// hash per element, so the mask is bit-identical to the cpu device's for the same seed (it depends
/// only on the seed and the element index). The backward is the same call on the output gradient.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class DropoutIlgpu(Device device) : IDropout
{
    private static readonly IlgpuKernel s_apply = new(ApplyKernel);

    public void Apply(long n, double p, ulong seed, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Dropout.Apply", x, y);
        if (n == 0) return;
        var (a, b) = DropoutMask.Keys(seed);
        // uint keys and threshold travel as int bits (kernel parameters are int / long / float).
        s_apply.Launch(device, IlgpuLaunch.Grid1D(n), IlgpuLaunch.Block1D, x, y, n, unchecked((int)a), unchecked((int)b),
            unchecked((int)DropoutMask.Threshold(p)), (float)(1.0 / (1.0 - p)));
    }

    /// <summary>MurmurHash3's 32-bit finaliser, as in <see cref="DropoutMask"/>.</summary>
    private static uint Fmix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6B;
        h ^= h >> 13;
        h *= 0xC2B2AE35;
        return h ^ (h >> 16);
    }

    private static void ApplyKernel(ArrayView<float> x, ArrayView<float> y, long n, int keyA, int keyB, int threshold,
        float scale)
    {
        uint a = (uint)keyA, b = (uint)keyB, t = (uint)threshold;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            // The counter is the element index truncated to 32 bits, as DropoutMask.Keep takes it.
            uint h = Fmix(Fmix((uint)i ^ a) + b);
            y[i] = h >= t ? x[i] * scale : 0f;
        }
    }
}
