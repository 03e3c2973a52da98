using System.Runtime.CompilerServices;
using Kernels.Bindings.Cuda;

namespace Kernels.Tests.Bindings;

/// <summary>The ownership rule of every CUDA handle, checked with a fake resource (no GPU):
/// Dispose releases exactly once; a handle left to the finalizer is counted as a leak and its
/// release is NOT run on the finalizer thread.</summary>
public class CudaHandleOwnershipTests
{
    private sealed class FakeResource(nint value, StrongBox<int> releases) : CudaHandle(value, 0)
    {
        protected override bool ReleaseHandle()
        {
            releases.Value++;
            return true;
        }
    }

    [Test]
    public void Dispose_ReleasesOnce_AndIsNotALeak()
    {
        long leaked = CudaDriver.LeakedHandles;
        var releases = new StrongBox<int>();
        var h = new FakeResource(42, releases);
        h.Dispose();
        h.Dispose();
        Assert.That(releases.Value, Is.EqualTo(1));
        Assert.That(h.IsClosed, Is.True);
        Assert.That(CudaDriver.LeakedHandles, Is.EqualTo(leaked));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference Abandon(StrongBox<int> releases) => new(new FakeResource(7, releases));

    [Test]
    public void Finalizer_CountsALeak_AndDoesNotRelease()
    {
        long leaked = CudaDriver.LeakedHandles;
        var releases = new StrongBox<int>();
        var weak = Abandon(releases);
        for (int i = 0; i < 5 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.That(weak.IsAlive, Is.False, "the abandoned handle was collected");
        Assert.That(releases.Value, Is.Zero, "no release from the finalizer thread");
        Assert.That(CudaDriver.LeakedHandles, Is.GreaterThanOrEqualTo(leaked + 1));
    }
}
