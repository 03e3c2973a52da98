using Kernels.Bindings.Emu;

namespace Kernels.Tests.Native;

/// <summary>Shared set-up of the emu tests. Without libkernels_emu.so they are inconclusive with
/// the lookup report, unless KERNELS_REQUIRE_EMU=1 (set where the library was built) makes a
/// missing library a failure. Called first in each test body, not from [SetUp]: with NUnit 4.4
/// here an Inconclusive thrown in a SetUp method did not stop the test body from running.</summary>
internal static class EmuSupport
{
    public static void RequireLibrary()
    {
        if (EmuNative.IsAvailable) return;
        if (Environment.GetEnvironmentVariable("KERNELS_REQUIRE_EMU") == "1")
            Assert.Fail(EmuNative.Reason);
        Assert.Inconclusive(EmuNative.Reason);
    }

    /// <summary>A fresh seed per run, printed so a failure can be replayed.</summary>
    public static Random NewRandom(out int seed)
    {
        seed = Random.Shared.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        return new Random(seed);
    }

    public static float[] Uniform(Random r, int n, float lo, float hi)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * r.NextSingle();
        return a;
    }

    public static double[] ToDoubles(float[] a) => Array.ConvertAll(a, v => (double)v);
}
