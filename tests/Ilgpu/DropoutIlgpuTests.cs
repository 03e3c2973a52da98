using Kernels.Ops.Dropout;
using static Kernels.Tests.Support.DeviceArrays;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ILGPU dropout on ilgpu-cpu gives bit for bit what the cpu device gives (same mask,
/// same float32 scaling) and leaves elements past n alone.</summary>
public class DropoutIlgpuTests
{
    [TestCase(1029, 0.3), TestCase(4099, 0.5), TestCase(37, 0.9)]
    public void MaskAndValuesAreBitIdenticalToTheCpuDevice(int n, double p)
    {
        var r = new Random(n);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 4 - 2);
        ulong seed = (ulong)r.NextInt64();
        var cpu = Device.Cpu;
        var ilgpu = Devices.Get("ilgpu-cpu");

        using var cx = F32(cpu, x);
        using var cy = cpu.Allocate(DType.F32, n);
        cpu.Kernels.Get<IDropout>().Apply(n, p, seed, cx, cy);
        var expected = new float[n];
        cpu.Download<float>(cy, expected);

        using var gx = F32(ilgpu, x);
        var poison = new float[n + 3];
        Array.Fill(poison, float.NaN);
        using var gy = F32(ilgpu, poison);
        new DropoutIlgpu(ilgpu).Apply(n, p, seed, gx, gy);
        var got = new float[n + 3];
        ilgpu.Download<float>(gy, got);

        Assert.That(got[..n], Is.EqualTo(expected), $"n={n} p={p} seed={seed:x}");
        Assert.That(got[n..].All(float.IsNaN), "elements past n were written");
        int kept = expected.Count(v => v != 0);
        Assert.That(kept, Is.InRange((int)(n * (1 - p) * 0.8) - 3, (int)(n * (1 - p) * 1.2) + 3), "kept fraction");
    }
}
