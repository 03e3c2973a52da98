using Kernels.Ilgpu;
using Kernels.Ops.Optim;

namespace Kernels.Tests.Ilgpu;

/// <summary>The fused ILGPU optimizer updates on ilgpu-cpu against the cpu reference over several
/// consecutive steps (the state carries over), for every flag combination.</summary>
public class OptimIlgpuTests
{
    private static Device Dev => IlgpuCpuDevice.Instance;
    private const int N = 777;

    private static float[] Floats(int seed, double lo = -1, double hi = 1)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, N).Select(_ => (float)(lo + r.NextDouble() * (hi - lo))).ToArray();
    }

    /// <summary>Runs <paramref name="steps"/> updates on a device; returns every state buffer's contents.</summary>
    private static float[][] Run(IOptimizerUpdate opt, Device device, float[][] init, Action<IOptimizerUpdate, int, DeviceBuffer[]> step, int steps)
    {
        var bufs = init.Select(v =>
        {
            var b = device.Allocate(DType.F32, N);
            device.Upload<float>(v, b);
            return b;
        }).ToArray();
        try
        {
            for (int t = 0; t < steps; t++) step(opt, t, bufs);
            return bufs.Select(b =>
            {
                var v = new float[N];
                device.Download<float>(b, v);
                return v;
            }).ToArray();
        }
        finally
        {
            foreach (var b in bufs) b.Dispose();
        }
    }

    private static void Compare(string what, float[][] init, Action<IOptimizerUpdate, int, DeviceBuffer[]> step)
    {
        var expected = Run(new OptimizerUpdateCpu(), Device.Cpu, init, step, 4);
        var actual = Run(new OptimizerUpdateIlgpu(Dev), Dev, init, step, 4);
        for (int b = 0; b < expected.Length; b++)
            for (int i = 0; i < N; i++)
                Assert.That(actual[b][i], Is.EqualTo(expected[b][i]).Within(1e-6 * (1 + Math.Abs(expected[b][i]))),
                    $"{what}: buffer {b}, element {i}");
    }

    [Test]
    public void SgdEveryFlagCombination()
    {
        foreach (double mom in new[] { 0.0, 0.9 })
            foreach (bool nesterov in new[] { false, true })
                foreach (double wd in new[] { 0.0, 0.05 })
                    foreach (bool maximize in new[] { false, true })
                    {
                        if (nesterov && mom == 0) continue;
                        double damp = nesterov ? 0 : 0.1;
                        Compare($"sgd momentum={mom} nesterov={nesterov} wd={wd} maximize={maximize}",
                            [Floats(1), Floats(2), Floats(3)], (k, t, b) =>
                                k.Sgd(new SgdStep(0.05, mom, damp, wd, nesterov, t == 0, maximize), N, b[0], b[1], mom != 0 ? b[2] : null));
                    }
    }

    [Test]
    public void AdamAndAdamWEveryFlagCombination()
    {
        foreach (double wd in new[] { 0.0, 0.1 })
            foreach (bool decoupled in new[] { false, true })
                foreach (bool maximize in new[] { false, true })
                    Compare($"adam wd={wd} decoupled={decoupled} maximize={maximize}",
                        [Floats(4), Floats(5), Floats(6, -0.1, 0.1), Floats(7, 0, 0.1)], (k, t, b) =>
                            k.Adam(new AdamStep(1e-2, 0.9, 0.999, 1e-8, wd, decoupled, t + 1, maximize), N, b[0], b[1], b[2], b[3]));
    }

    [Test]
    public void MissingMomentumBufferAndFloat64AreRejected()
    {
        var opt = new OptimizerUpdateIlgpu(Dev);
        using var p = Dev.Allocate(DType.F32, 4, zero: true);
        using var g = Dev.Allocate(DType.F32, 4, zero: true);
        Assert.Throws<ArgumentNullException>(() => opt.Sgd(new SgdStep(0.1, 0.9, 0, 0, false, false), 4, p, g, null));
        using var d = Dev.Allocate(DType.F64, 4, zero: true);
        Assert.Throws<NotSupportedException>(() => opt.Adam(new AdamStep(1e-3, 0.9, 0.999, 1e-8, 0, false, 1), 4, d, d, d, d));
    }
}
