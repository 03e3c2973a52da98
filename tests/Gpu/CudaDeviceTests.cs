using Kernels.Ilgpu;
using Kernels.Ops.Activation;
using Kernels.SelfTesting;

namespace Kernels.Tests.Gpu;

/// <summary>The cuda device on a real GPU: copies through pinned staging, the caching allocator,
/// device checks, and the whole kernel self-test (Ignored where there is no GPU).</summary>
[Category("Gpu")]
public class CudaDeviceTests
{
    [Test]
    public void CudaIsOneDevicePerOrdinal()
    {
        var d = GpuSupport.RequireCuda();
        Assert.That(Devices.Get("cuda"), Is.SameAs(d));
        Assert.That(d.Name, Is.EqualTo("cuda:0"));
        Assert.That(d.ComputeCapability.Major, Is.GreaterThanOrEqualTo(5));
        TestContext.Out.WriteLine($"{d.Info.Name}, sm_{d.ComputeCapability.Major}{d.ComputeCapability.Minor}, {d.Info.TotalMemoryBytes >> 20} MiB");
    }

    // 3,000,007 floats is 12 MB: more than one 8 MiB staging chunk, and not a multiple of anything.
    [TestCase(1), TestCase(1000), TestCase(3_000_007)]
    public void UploadDownloadRoundTrips(int n)
    {
        var d = GpuSupport.RequireCuda();
        var host = GpuSupport.Uniform(n, n);
        using var b = d.Allocate(DType.F32, n);
        d.Upload<float>(host, b);
        var back = new float[n];
        d.Download<float>(b, back);
        Assert.That(back, Is.EqualTo(host));

        var ints = Enumerable.Range(0, n).Select(i => i * 7 - 3).ToArray();
        using var bi = d.Allocate(DType.I32, n);
        d.Upload<int>(ints, bi);
        var backInts = new int[n];
        d.Download<int>(bi, backInts);
        Assert.That(backInts, Is.EqualTo(ints));
    }

    [Test]
    public void ZeroedAllocationIsZero()
    {
        var d = GpuSupport.RequireCuda();
        // Dirty a block first so the zeroed one may reuse it.
        using (var dirty = d.Allocate(DType.F32, 5000)) d.Upload<float>(GpuSupport.Uniform(5000, 1), dirty);
        using var z = d.Allocate(DType.F32, 5000, zero: true);
        var back = new float[5000];
        d.Download<float>(z, back);
        Assert.That(back, Is.All.EqualTo(0f));
    }

    [Test]
    public void SteadyAllocationsStopReachingTheDriver()
    {
        var d = GpuSupport.RequireCuda();
        for (int i = 0; i < 3; i++) { using var _ = d.Allocate(DType.F32, 123_457); }
        long driverCalls = d.Allocator.DriverAllocations, allocated = d.Allocator.AllocatedBytes;
        for (int i = 0; i < 200; i++)
        {
            using var a = d.Allocate(DType.F32, 123_457);
            using var b = d.Allocate(DType.F32, 77);
        }
        Assert.That(d.Allocator.DriverAllocations - driverCalls, Is.LessThanOrEqualTo(1), "only the 77-float class may be new");
        Assert.That(d.Allocator.AllocatedBytes, Is.EqualTo(allocated));
        Assert.That(d.Allocator.ReservedBytes, Is.GreaterThanOrEqualTo(d.Allocator.AllocatedBytes));
        d.Allocator.Trim();
        Assert.That(d.Allocator.CachedBytes, Is.Zero);
    }

    [Test]
    public void IlgpuKernelRunsOnTheEngineStreamAndBuffers()
    {
        var d = GpuSupport.RequireCuda();
        const int n = 1_000_003;
        var x = GpuSupport.Uniform(n, 5, -4, 4);
        using var xb = d.Allocate(DType.F32, n);
        using var yb = d.Allocate(DType.F32, n);
        d.Upload<float>(x, xb);
        new ActivationIlgpu(d).Forward(ActivationKind.Relu, 0, n, xb, yb);
        var y = new float[n];
        d.Download<float>(yb, y);
        for (int i = 0; i < n; i++)
            if (y[i] != MathF.Max(x[i], 0)) Assert.Fail($"relu element {i}: {y[i]} for x = {x[i]}");
    }

    [Test]
    public void ABufferOfAnotherDeviceIsRefused()
    {
        var d = GpuSupport.RequireCuda();
        using var cpu = Device.Cpu.Allocate(DType.F32, 10);
        using var y = d.Allocate(DType.F32, 10);
        var e = Assert.Throws<ArgumentException>(() => new ActivationIlgpu(d).Forward(ActivationKind.Relu, 0, 10, cpu, y));
        Assert.That(e!.Message, Does.Contain("cpu").And.Contain("cuda:0"));
    }

    [Test]
    public void EveryKernelImplementationOnCudaPassesTheSelfTest()
    {
        var d = GpuSupport.RequireCuda();
        var results = Kernels.SelfTesting.SelfTest.Run(d, sizes: SelfTestSizes.Small, seed: 20261127);
        var failed = results.Where(r => !r.Passed).ToList();
        foreach (var g in results.GroupBy(r => (r.Family, r.Implementation)))
            TestContext.Out.WriteLine($"{g.Key.Family,-16} {g.Key.Implementation,-8} {g.Count(r => r.Passed)}/{g.Count()} ok, max rel {g.Max(r => r.MaxRelError):0.0e0}");
        Assert.That(results, Is.Not.Empty);
        Assert.That(failed, Is.Empty, string.Join("\n", failed.Select(f => $"{f.Family}/{f.Implementation} {f.Case}: {f.Error ?? $"rel {f.MaxRelError}"}")));
    }
}
