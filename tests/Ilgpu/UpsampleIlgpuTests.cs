using Kernels.Ilgpu;
using Kernels.Ops.Upsample;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ilgpu resize against the cpu reference on ilgpu-cpu, on geometries the self-test
/// does not hold: outputs of size 1 (align_corners' zero scale), uneven down-sampling that skips
/// inputs (nearest leaves them a zero gradient), and a depth axis that shrinks.</summary>
public class UpsampleIlgpuTests
{
    public static IEnumerable<TestCaseData> Shapes()
    {
        var geometries = new (int N, int C, int ID, int IH, int IW, int OD, int OH, int OW)[]
        {
            (1, 2, 1, 4, 5, 1, 1, 1),     // everything to one output
            (2, 1, 1, 11, 13, 1, 4, 3),   // down-sampling by uneven ratios
            (1, 1, 4, 3, 2, 3, 5, 5),     // depth down, height and width up
        };
        foreach (var g in geometries)
            foreach (var (mode, align) in new[] { (UpsampleMode.Nearest, false), (UpsampleMode.Linear, false), (UpsampleMode.Linear, true) })
                yield return new TestCaseData(new UpsampleShape(g.N, g.C, g.ID, g.IH, g.IW, g.OD, g.OH, g.OW, mode, align))
                    .SetArgDisplayNames($"{mode}{(align ? "-align" : "")}-{g.ID}x{g.IH}x{g.IW}-to-{g.OD}x{g.OH}x{g.OW}");
    }

    private static float[] Run(Device d, in UpsampleShape s, bool backward, float[] src)
    {
        var k = d.Kernels.Get<IUpsample>();
        long n = s.Planes * (backward ? s.InPlane : s.OutPlane);
        using var a = d.Allocate(DType.F32, src.Length);
        d.Upload<float>(src, a);
        using var b = d.Allocate(DType.F32, n);
        if (backward) k.Backward(s, a, b);
        else k.Forward(s, a, b);
        var r = new float[n];
        d.Download<float>(b, r);
        return r;
    }

    [TestCaseSource(nameof(Shapes))]
    public void ForwardAndBackwardMatchTheCpu(UpsampleShape s)
    {
        Assert.That(IlgpuCpuDevice.Instance.Kernels.Get<IUpsample>(), Is.InstanceOf<UpsampleIlgpu>());
        var rng = new Random(5);
        var x = new float[s.Planes * s.InPlane];
        var dy = new float[s.Planes * s.OutPlane];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(rng.NextDouble() * 2 - 1);
        foreach (bool backward in new[] { false, true })
        {
            var e = Run(Device.Cpu, s, backward, backward ? dy : x);
            var g = Run(IlgpuCpuDevice.Instance, s, backward, backward ? dy : x);
            for (int i = 0; i < e.Length; i++)
                Assert.That(g[i], Is.EqualTo(e[i]).Within(1e-6 + 1e-5 * Math.Abs(e[i])), $"{(backward ? "dx" : "y")}[{i}]");
        }
    }
}
