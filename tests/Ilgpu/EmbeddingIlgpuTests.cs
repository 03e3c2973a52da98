using Kernels.Ops.Embedding;
using static Kernels.Tests.Support.DeviceArrays;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ILGPU embedding on ilgpu-cpu against the cpu device. The backward adds each row's
/// contributions in increasing n, as the cpu reference does, so the gradients are bit-identical;
/// the shapes cross several 256-index tiles and rows wider than a group.</summary>
public class EmbeddingIlgpuTests
{
    [TestCase(600, 5, 3), TestCase(9, 4, 300), TestCase(257, 13, 1)]
    public void ForwardAndBackwardMatchTheCpuDeviceExactly(int n, int vocab, int dim)
    {
        var r = new Random(n * 31 + dim);
        var idx = new int[n];
        // Only even rows are used (when there are several), so untouched rows must come out zero.
        for (int i = 0; i < n; i++) idx[i] = vocab == 1 ? 0 : 2 * r.Next((vocab + 1) / 2);
        var w = Uniform(r, vocab * dim);
        var dy = Uniform(r, n * dim);
        var s = new EmbeddingShape(n, vocab, dim);
        var cpu = Device.Cpu;
        var ilgpu = Devices.Get("ilgpu-cpu");
        var k = new EmbeddingIlgpu(ilgpu);

        using var ci = I32(cpu, idx);
        using var cw = F32(cpu, w);
        using var cdy = F32(cpu, dy);
        using var cyb = cpu.Allocate(DType.F32, n * dim);
        using var cdw = cpu.Allocate(DType.F32, vocab * dim);
        cpu.Kernels.Get<IEmbedding>().Forward(s, ci, cw, cyb);
        cpu.Kernels.Get<IEmbedding>().BackwardWeight(s, ci, cdy, cdw);

        using var gi = I32(ilgpu, idx);
        using var gw = F32(ilgpu, w);
        using var gdy = F32(ilgpu, dy);
        using var gyb = F32(ilgpu, Nan(n * dim));
        using var gdw = F32(ilgpu, Nan(vocab * dim));
        k.Forward(s, gi, gw, gyb);
        k.BackwardWeight(s, gi, gdy, gdw);

        Assert.That(Get(gyb), Is.EqualTo(Get(cyb)), "forward");
        Assert.That(Get(gdw), Is.EqualTo(Get(cdw)), "backward: same sums in the same order");
    }

    private static float[] Uniform(Random r, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }
}
