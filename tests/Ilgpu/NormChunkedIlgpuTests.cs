using Kernels.Ops.Norm;
using Kernels.Tests.Support;
using static Kernels.Tests.Support.DeviceArrays;

namespace Kernels.Tests.Ilgpu;

/// <summary>The chunked group-norm path of <see cref="NormIlgpu"/> (few long rows): its chunk
/// geometry, and its results on ilgpu-cpu against the cpu device with awkward sizes, a mean far
/// from zero (the per-chunk statistics and their combination must not cancel), and bit-identical
/// reruns (fixed reduction order).</summary>
public class NormChunkedIlgpuTests
{
    private static readonly Device Cpu = Device.Cpu;
    private static readonly Device Gpu = Devices.Get("ilgpu-cpu");

    [TestCase(16L, 131072L), TestCase(3L, 1005L), TestCase(2L, 513L), TestCase(1L, 100000L), TestCase(527L, 600L),
     TestCase(64L, 2048L)]
    public void ChunksCoverEachSliceAndFillTheTarget(long units, long length)
    {
        int chunks = NormIlgpu.Chunks(units, length, out long chunkLen);
        Assert.That(chunks, Is.GreaterThan(1), "these sizes take the chunked path");
        Assert.That(chunkLen % 32, Is.Zero, "chunk starts stay 32-aligned within a slice");
        Assert.That(chunkLen, Is.GreaterThanOrEqualTo(NormIlgpu.MinChunk));
        Assert.That((chunks - 1) * chunkLen, Is.LessThan(length), "the last chunk is not empty");
        Assert.That(chunks * chunkLen, Is.GreaterThanOrEqualTo(length), "the chunks cover the slice");
        // Either the GPU is filled or the slice is cut into (about) as many minimum-size chunks as it holds.
        Assert.That(units * chunks >= NormIlgpu.TargetGroups || chunks >= length / NormIlgpu.MinChunk - 1
            || chunkLen <= NormIlgpu.MinChunk + 32, Is.True, $"{units}×{chunks} units");
    }

    [Test]
    public void UnetInstanceNormGetsTheWholeGpu()
    {
        // 2 samples × 8 channels of 32×64×64: one group per row would be 16 groups.
        int chunks = NormIlgpu.Chunks(16, 32 * 64 * 64, out _);
        Assert.That(16 * chunks, Is.GreaterThanOrEqualTo(NormIlgpu.TargetGroups));
    }

    [TestCase(1280L, 768L), TestCase(64L, 511L), TestCase(600L, 100000L)]
    public void ManyOrShortSlicesKeepOneGroupPerSlice(long units, long length)
    {
        Assert.That(NormIlgpu.Chunks(units, length, out long chunkLen), Is.EqualTo(1));
        Assert.That(chunkLen, Is.EqualTo(length));
    }

    /// <summary>The quick case: one row of two chunks (320 + 280) straddling its two channels, far
    /// from zero.</summary>
    [Test]
    public void ChunkedGroupNormMatchesTheCpuDevice() => Check(1, 1, 2, 300, true, 1000f);

    // Batch 1 with G = C (instance norm on a 3×5×67 volume), G < C with chunks straddling channels,
    // a single long row without affine parameters, parameter gradients chunked over space. Slow on
    // ilgpu-cpu (seconds each); the self-test covers the same shapes.
    [TestCase(3, 3, 1, 1005, true, 0f), TestCase(2, 1, 3, 335, true, 50f), TestCase(1, 1, 2, 1500, false, 1000f),
     TestCase(4, 2, 2, 700, true, -20f), Category("Slow")]
    public void ChunkedGroupNormMatchesTheCpuDeviceOnAwkwardShapes(int rows, int groupsPerSample, int channelsPerGroup,
        int spatial, bool affine, float offset) => Check(rows, groupsPerSample, channelsPerGroup, spatial, affine, offset);

    private static void Check(int rows, int groupsPerSample, int channelsPerGroup, int spatial, bool affine, float offset)
    {
        var s = new GroupNormShape(rows, groupsPerSample, channelsPerGroup, spatial);
        Assert.That(NormIlgpu.Chunks(s.Rows, s.RowLength, out _), Is.GreaterThan(1), "the case must hit the chunked path");
        int n = (int)(rows * s.RowLength);
        var r = new Random(n + 7);
        var x = Uniform(r, n, offset - 1, offset + 1);
        var w = Uniform(r, s.Params, 0.5f, 1.5f);
        var b = Uniform(r, s.Params, -1, 1);
        var dy = Uniform(r, n, -1, 1);

        float[][] Run(Device d, INorm k) =>
            NormIlgpuTests.RunGroupNorm(d, k, s, x, affine ? w : null, affine ? b : null, dy, weightGrad: true);

        var expected = Run(Cpu, Cpu.Kernels.Get<INorm>());
        var kernel = new NormIlgpu(Gpu);
        var got = Run(Gpu, kernel);
        var again = Run(Gpu, kernel);
        string[] names = ["y", "mean", "rstd", "dx", "dweight", "dbias"];
        for (int i = 0; i < names.Length; i++)
        {
            // The statistics of offset data: compare the mean relative to its size.
            Approx.Equal(D(expected[i]), D(got[i]), 1e-4, 1e-4, $"{names[i]} {s} offset {offset}");
            Assert.That(again[i], Is.EqualTo(got[i]).AsCollection, $"{names[i]} differs between identical runs");
        }
    }
}
