using Kernels.Bindings.Emu;
using Kernels.Tests.Support;

namespace Kernels.Tests.Native;

/// <summary>The emulation header's features, through native/emu_selftest.cu, on awkward geometry:
/// blocks of 96 / 100 / 33 threads (partial last warps), grids that do not divide n.</summary>
public unsafe class EmuSelfTests
{

    [TestCase(1000, 3u, 96u)]
    [TestCase(77, 5u, 100u)]    // the last blocks see nothing: their sums are 0
    [TestCase(5003, 7u, 1024u)] // the largest block
    [TestCase(10, 4u, 1u)]
    public void BlockSumWithSharedMemoryAndSyncthreads(int n, uint grid, uint block)
    {
        EmuSupport.RequireLibrary();
        var x = EmuSupport.Uniform(EmuSupport.NewRandom(out int seed), n, -1, 1);
        var output = Enumerable.Repeat(float.NaN, (int)grid).ToArray();
        fixed (float* px = x, po = output)
            EmuNative.Check(EmuNative.SelftestBlockSum(px, po, n, grid, block, 0), "selftest_block_sum");
        var expected = new double[grid];
        for (int i = 0; i < n; i++) expected[i / block % grid] += x[i];
        Approx.Equal(expected, EmuSupport.ToDoubles(output), 1e-5, 1e-5, $"block sums (seed {seed})");
    }

    [TestCase(1000, 96u)]
    [TestCase(1000, 100u)] // last warp of every block has 4 lanes
    [TestCase(70, 33u)]    // last warp has 1 lane; last block partly past n
    public void WarpShuffleSums(int n, uint block)
    {
        EmuSupport.RequireLibrary();
        var x = EmuSupport.Uniform(EmuSupport.NewRandom(out int seed), n, -1, 1);
        uint grid = (uint)((n + block - 1) / block);
        int warps = (int)(block + 31) / 32;
        var warpOut = Enumerable.Repeat(float.NaN, (int)grid * warps).ToArray();
        var threadOut = Enumerable.Repeat(float.NaN, n).ToArray();
        fixed (float* px = x, pw = warpOut, pt = threadOut)
            EmuNative.Check(EmuNative.SelftestWarpSum(px, pw, pt, n, grid, block, 0), "selftest_warp_sum");

        var expectedWarp = new double[warpOut.Length];
        var expectedThread = new double[n];
        for (int b = 0; b < grid; b++)
            for (int w = 0; w < warps; w++)
            {
                int lanes = Math.Min(32, (int)block - w * 32);
                long first = b * block + w * 32L;
                double s = 0;
                for (int l = 0; l < lanes; l++)
                    if (first + l < n) s += x[first + l];
                expectedWarp[b * warps + w] = s;
                for (int l = 0; l < lanes; l++)
                    if (first + l < n) expectedThread[first + l] = s;
            }
        Approx.Equal(expectedWarp, EmuSupport.ToDoubles(warpOut), 1e-5, 1e-5, $"shfl_down sums (seed {seed})");
        Approx.Equal(expectedThread, EmuSupport.ToDoubles(threadOut), 1e-5, 1e-5,
            $"xor butterfly / shfl broadcast sums (seed {seed})");
    }

    [TestCase(1000, 96u)]
    [TestCase(999, 100u)]
    [TestCase(50, 37u)]
    public void VotesInDivergentWarps(int n, uint block)
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        // Runs of 32 that are all positive, all negative, or mixed, so any/all take both values.
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (i / 32 % 3) switch { 0 => 0.5f + r.NextSingle(), 1 => -0.5f - r.NextSingle(), _ => r.NextSingle() - 0.5f };
        uint grid = (uint)((n + block - 1) / block);
        var ballot = new uint[n];
        var any = Enumerable.Repeat(-1, n).ToArray();
        var all = Enumerable.Repeat(-1, n).ToArray();
        fixed (float* px = x)
        fixed (uint* pb = ballot)
        fixed (int* pany = any, pall = all)
            EmuNative.Check(EmuNative.SelftestVote(px, pb, pany, pall, n, grid, block, 0), "selftest_vote");

        bool sawAll = false, sawNone = false;
        for (int i = 0; i < n; i++)
        {
            long t = i % block, warpFirst = i - t + t / 32 * 32;
            int lane = (int)(t % 32), lanes = (int)Math.Min(32, block - t / 32 * 32);
            uint group = 0, bits = 0;
            for (int l = lane & 1; l < lanes; l += 2)
            {
                group |= 1u << l;
                long j = warpFirst + l;
                if (j < n && x[j] > 0) bits |= 1u << l;
            }
            Assert.That(ballot[i], Is.EqualTo(bits), $"ballot of thread {i} (lane {lane}, seed {seed})");
            Assert.That(any[i], Is.EqualTo(bits != 0 ? 1 : 0), $"any of thread {i} (seed {seed})");
            Assert.That(all[i], Is.EqualTo(bits == group ? 1 : 0), $"all of thread {i} (seed {seed})");
            sawAll |= bits == group;
            sawNone |= bits == 0;
        }
        Assert.That(sawAll && sawNone, Is.True, "the input should make all() true and any() false somewhere");
    }

    [TestCase(3001, 3u, 96u)]
    [TestCase(100, 2u, 100u)]
    public void AtomicsFromEveryThread(int n, uint grid, uint block)
    {
        EmuSupport.RequireLibrary();
        var x = EmuSupport.Uniform(EmuSupport.NewRandom(out int seed), n, -1, 1);
        float sum = 0, floatMax = float.NegativeInfinity;
        int positives = 0, intMax = int.MinValue;
        fixed (float* px = x)
            EmuNative.Check(EmuNative.SelftestAtomics(px, n, &sum, &positives, &intMax, &floatMax, grid, block, 0),
                "selftest_atomics");
        Assert.That(sum, Is.EqualTo(x.Sum(v => (double)v)).Within(1e-3), $"atomicAdd sum (seed {seed})");
        Assert.That(positives, Is.EqualTo(x.Count(v => v > 0)), $"atomicAdd count (seed {seed})");
        Assert.That(intMax, Is.EqualTo(x.Max(v => (int)MathF.Floor(v * 1000f))), $"atomicMax (seed {seed})");
        Assert.That(floatMax, Is.EqualTo(x.Max()), $"atomicCAS float max (seed {seed})");
    }

    [TestCase(500, 32u, 3u)]
    [TestCase(71, 7u, 5u)]
    [TestCase(3, 1u, 1u)]
    public void DynamicSharedMemoryWith2DBlocks(int n, uint bx, uint by)
    {
        EmuSupport.RequireLibrary();
        var x = EmuSupport.Uniform(EmuSupport.NewRandom(out int seed), n, -1, 1);
        int size = (int)(bx * by);
        uint grid = (uint)((n + size - 1) / size);
        var output = Enumerable.Repeat(float.NaN, n).ToArray();
        fixed (float* px = x, po = output)
            EmuNative.Check(EmuNative.SelftestReverse(px, po, n, grid, bx, by, 0), "selftest_reverse");
        var expected = new double[n];
        for (int i = 0; i < n; i++)
        {
            int b = i / size, j = b * size + size - 1 - i % size;
            expected[i] = j < n ? x[j] : -1;
        }
        Approx.Equal(expected, EmuSupport.ToDoubles(output), 0, 0, $"tile reversal (seed {seed})");
    }

    [TestCase(1u, 2000u, "more than 1024 threads")]
    [TestCase(1u, 0u, "zero grid or block")]
    [TestCase(0u, 32u, "zero grid or block")]
    public void LaunchGeometryErrorsNameTheKernel(uint grid, uint block, string reason)
    {
        EmuSupport.RequireLibrary();
        var x = new float[4];
        var output = new float[4];
        var e = Assert.Throws<KernelLaunchException>(() =>
        {
            fixed (float* px = x, po = output)
                EmuNative.Check(EmuNative.SelftestBlockSum(px, po, 4, grid, block, 0), "selftest_block_sum");
        })!;
        Assert.That(e.Message, Does.Contain("selftest_block_sum").And.Contain("CUDA error 9").And.Contain(reason));
        // The native side names the kernel too, so the message is right whichever wrapper is used.
        Assert.That(e.Message, Does.Match("selftest_block_sum.*selftest_block_sum"));
    }

    [Test]
    public void TwoDimensionalBlockOverTheThreadLimitFails()
    {
        EmuSupport.RequireLibrary();
        var x = new float[4];
        var e = Assert.Throws<KernelLaunchException>(() =>
        {
            fixed (float* px = x)
                EmuNative.Check(EmuNative.SelftestReverse(px, px, 4, 1, 32, 33, 0), "selftest_reverse");
        })!;
        Assert.That(e.Message, Does.Contain("selftest_reverse").And.Contain("block 32,33,1"));
    }

    [Test]
    public void SuccessfulLaunchAfterAFailedOneClearsTheError()
    {
        EmuSupport.RequireLibrary();
        var x = new float[] { 1, 2, 3 };
        var output = new float[1];
        fixed (float* px = x, po = output)
        {
            Assert.That(EmuNative.SelftestBlockSum(px, po, 3, 1, 4096, 0), Is.EqualTo(9));
            Assert.That(EmuNative.SelftestBlockSum(px, po, 3, 1, 32, 0), Is.EqualTo(0));
        }
        Assert.That(output[0], Is.EqualTo(6f));
    }
}
