using Kernels.Bindings.Emu;
using Kernels.Tests.Support;

namespace Kernels.Tests.Native;

/// <summary>native/elementwise.cu's Axpby and same-shape Add / Mul entry points called directly
/// through EmuNative (the family-level comparison is in ElementwiseFamilyNativeTests).</summary>
public unsafe class ElementwiseNativeTests
{

    [TestCase(1), TestCase(300), TestCase(2049), TestCase(5001)]
    public void AxpbyAddAndMulMatchTheirDefinitions(int n)
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var a = EmuSupport.Uniform(r, n, -3, 3);
        var b = EmuSupport.Uniform(r, n, -3, 3);
        float alpha = 0.5f + r.NextSingle(), beta = -1.5f + r.NextSingle();
        var sum = Enumerable.Repeat(float.NaN, n).ToArray();
        var product = Enumerable.Repeat(float.NaN, n).ToArray();
        var y = (float[])b.Clone();
        fixed (float* pa = a, pb = b, ps = sum, pp = product, py = y)
        {
            EmuNative.Check(EmuNative.AddF32(pa, pb, ps, n, 0), "elementwise_add_f32");
            EmuNative.Check(EmuNative.MulF32(pa, pb, pp, n, 0), "elementwise_mul_f32");
            EmuNative.Check(EmuNative.AxpbyF32(alpha, pa, beta, py, n, 0), "elementwise_axpby_f32");
        }
        var expectedSum = new double[n];
        var expectedProduct = new double[n];
        var expectedAxpby = new double[n];
        for (int i = 0; i < n; i++)
        {
            expectedSum[i] = a[i] + b[i];
            expectedProduct[i] = a[i] * b[i];
            expectedAxpby[i] = alpha * a[i] + beta * b[i];
        }
        Approx.Equal(expectedSum, EmuSupport.ToDoubles(sum), 1e-6, 1e-6, $"add n={n} seed={seed}");
        Approx.Equal(expectedProduct, EmuSupport.ToDoubles(product), 1e-6, 1e-6, $"mul n={n} seed={seed}");
        Approx.Equal(expectedAxpby, EmuSupport.ToDoubles(y), 1e-5, 1e-5, $"axpby n={n} seed={seed}");
    }

    [Test]
    public void RepeatedLaunchesDoNotAccumulateThreads()
    {
        EmuSupport.RequireLibrary();
        // The emulator keeps one pool of OS threads that outlives launches; a pool per launch that
        // were never torn down would make the thread count grow with the number of launches.
        // (Threads created and joined per block would not show here; emu.h's Pool rules them out.)
        var x = new float[3000];
        var y = new float[3000];
        fixed (float* px = x, py = y)
        {
            EmuNative.Check(EmuNative.AddF32(px, px, py, x.Length, 0), "elementwise_add_f32");
            int before = ThreadCount();
            for (int i = 0; i < 50; i++)
                EmuNative.Check(EmuNative.AddF32(px, px, py, x.Length, 0), "elementwise_add_f32");
            Assert.That(ThreadCount(), Is.LessThanOrEqualTo(before + 8), "threads grew with launches");
        }
    }

    private static int ThreadCount()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("Threads:", StringComparison.Ordinal))
                return int.Parse(line["Threads:".Length..].Trim());
        throw new InvalidOperationException("no Threads line in /proc/self/status");
    }
}
