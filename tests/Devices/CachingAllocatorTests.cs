namespace Kernels.Tests.DeviceTests; // not ".Devices": that would hide the Kernels.Devices class in this assembly

/// <summary>The cuda device's caching allocator against a fake driver (no GPU): size classes,
/// reuse, counters, Trim, and the out-of-memory path (trim, retry, then a clear exception).</summary>
public class CachingAllocatorTests
{
    /// <summary>A driver with a byte budget: hands out increasing fake addresses, records every call.</summary>
    private sealed class FakeMemory(long capacity) : IDeviceMemorySource
    {
        private ulong _next = 0x1000_0000;
        public readonly Dictionary<ulong, long> Live = [];
        public long Capacity = capacity;
        public int AllocateCalls, FailedCalls, FreeCalls, Synchronizes;

        public long Used => Live.Values.Sum();

        public bool TryAllocate(long bytes, out ulong pointer)
        {
            AllocateCalls++;
            if (Used + bytes > Capacity)
            {
                FailedCalls++;
                pointer = 0;
                return false;
            }
            pointer = _next;
            _next += (ulong)bytes + 4096;
            Live[pointer] = bytes;
            return true;
        }

        public void Free(ulong pointer)
        {
            FreeCalls++;
            Assert.That(Live.Remove(pointer), $"free of 0x{pointer:x}, which the driver did not hand out (or freed twice)");
        }

        public void Synchronize() => Synchronizes++;
    }

    private static void AssertCounters(CachingAllocator a, FakeMemory m, long allocated, long cached)
    {
        Assert.That(a.AllocatedBytes, Is.EqualTo(allocated), "AllocatedBytes");
        Assert.That(a.CachedBytes, Is.EqualTo(cached), "CachedBytes");
        Assert.That(a.ReservedBytes, Is.EqualTo(allocated + cached), "ReservedBytes = allocated + cached");
        Assert.That(a.ReservedBytes, Is.EqualTo(m.Used), "ReservedBytes = what the driver holds for us");
    }

    [TestCase(1, 512)]
    [TestCase(511, 512)]
    [TestCase(512, 512)]
    [TestCase(513, 1024)]
    [TestCase(1000, 1024)]
    [TestCase((1 << 20) - 1, 1 << 20)]
    [TestCase(1 << 20, 2 << 20)]
    [TestCase((2 << 20) + 1, 4 << 20)]
    [TestCase(5L << 30, 5L << 30)]
    public void SizeClasses(long request, long expected)
    {
        Assert.That(CachingAllocator.SizeClass(request), Is.EqualTo(expected));
        Assert.That(CachingAllocator.SizeClass(request), Is.GreaterThanOrEqualTo(request));
    }

    [Test]
    public void SizeClassRefusesEmptyRequests()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CachingAllocator.SizeClass(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => CachingAllocator.SizeClass(-1));
    }

    [Test]
    public void FreedBlocksAreReusedForTheSameClass_AndCountersFollow()
    {
        var m = new FakeMemory(1L << 30);
        using var a = new CachingAllocator(m, "fake:0");
        var b1 = a.Allocate(1000);
        Assert.That(b1.Bytes, Is.EqualTo(1024));
        var b2 = a.Allocate(3 << 20);
        Assert.That(b2.Bytes, Is.EqualTo(4 << 20));
        AssertCounters(a, m, 1024 + (4 << 20), 0);
        Assert.That(a.DriverAllocations, Is.EqualTo(2));
        Assert.That(a.PeakBytes, Is.EqualTo(1024 + (4 << 20)));

        a.Free(b1);
        AssertCounters(a, m, 4 << 20, 1024);
        Assert.That(m.FreeCalls, Is.Zero, "a freed block stays cached");

        // Any request of the same class gets the cached block back, without the driver.
        var b3 = a.Allocate(600);
        Assert.That(b3, Is.EqualTo(b1));
        Assert.That(a.DriverAllocations, Is.EqualTo(2));
        AssertCounters(a, m, 1024 + (4 << 20), 0);

        // A different class does not take it.
        a.Free(b3);
        var b4 = a.Allocate(2000);
        Assert.That(b4.Bytes, Is.EqualTo(2048));
        Assert.That(b4.Pointer, Is.Not.EqualTo(b1.Pointer));
        Assert.That(a.DriverAllocations, Is.EqualTo(3));
        AssertCounters(a, m, 2048 + (4 << 20), 1024);
        Assert.That(a.PeakBytes, Is.EqualTo(2048 + (4 << 20)));

        a.Free(b4);
        a.Free(b2);
        AssertCounters(a, m, 0, 1024 + 2048 + (4 << 20));
        Assert.That(a.PeakBytes, Is.EqualTo(2048 + (4 << 20)), "peak is a high-water mark");
        a.Free(default); // a disposed buffer's empty block: ignored
        AssertCounters(a, m, 0, 1024 + 2048 + (4 << 20));
    }

    [Test]
    public void TrimReturnsEveryCachedBlockAfterSynchronizing_AndKeepsLiveOnes()
    {
        var m = new FakeMemory(1L << 30);
        using var a = new CachingAllocator(m, "fake:0");
        var keep = a.Allocate(100);
        var blocks = Enumerable.Range(1, 6).Select(i => a.Allocate(i * 700L)).ToList();
        blocks.Add(a.Allocate(1000));
        blocks.Add(a.Allocate(1000)); // two blocks of one class
        foreach (var b in blocks) a.Free(b);
        long cached = blocks.Sum(b => b.Bytes);
        AssertCounters(a, m, 512, cached);

        a.Trim();
        Assert.That(m.Synchronizes, Is.EqualTo(1), "the GPU may still use a freed block until the stream is drained");
        Assert.That(m.FreeCalls, Is.EqualTo(blocks.Count));
        AssertCounters(a, m, 512, 0);
        Assert.That(m.Live.Keys, Is.EqualTo(new[] { keep.Pointer }));

        a.Trim();
        Assert.That(m.Synchronizes, Is.EqualTo(1), "nothing cached: no sync, no driver call");
        Assert.That(m.FreeCalls, Is.EqualTo(blocks.Count));

        // After a trim the next request goes to the driver again.
        long before = a.DriverAllocations;
        a.Free(a.Allocate(700));
        Assert.That(a.DriverAllocations, Is.EqualTo(before + 1));
    }

    [Test]
    public void ASteadyLoopStopsCallingTheDriver()
    {
        var m = new FakeMemory(1L << 30);
        using var a = new CachingAllocator(m, "fake:0");
        long[] step = [4096, 123_457, 3 << 20, 4096, 77, 10 << 20];
        void Step()
        {
            var blocks = step.Select(a.Allocate).ToList();
            foreach (var b in blocks) a.Free(b);
        }
        Step();
        long driver = a.DriverAllocations;
        int calls = m.AllocateCalls;
        long reserved = a.ReservedBytes;
        Assert.That(driver, Is.EqualTo(step.Length));
        for (int i = 0; i < 50; i++) Step();
        Assert.That(a.DriverAllocations, Is.EqualTo(driver));
        Assert.That(m.AllocateCalls, Is.EqualTo(calls), "no TryAllocate at all in steady state");
        Assert.That(m.FreeCalls, Is.Zero);
        Assert.That(a.ReservedBytes, Is.EqualTo(reserved));
        Assert.That(a.AllocatedBytes, Is.Zero);
        Assert.That(a.PeakBytes, Is.EqualTo(step.Sum(CachingAllocator.SizeClass)));
    }

    [Test]
    public void OutOfMemory_TrimsTheCacheAndRetries_ThenThrowsWithTheCounters()
    {
        const long mib = 1 << 20;
        var m = new FakeMemory(10 * mib);
        using var a = new CachingAllocator(m, "fake:3");
        var live = a.Allocate(4 * mib);
        var cachedBlock = a.Allocate(4 * mib);
        a.Free(cachedBlock);
        AssertCounters(a, m, 4 * mib, 4 * mib);

        // 6 MiB does not fit next to 8 MiB reserved; giving the cached 4 MiB back makes room.
        var big = a.Allocate(5 * mib + 1);
        Assert.That(big.Bytes, Is.EqualTo(6 * mib));
        Assert.That(m.FailedCalls, Is.EqualTo(1));
        Assert.That(m.Synchronizes, Is.EqualTo(1));
        Assert.That(m.FreeCalls, Is.EqualTo(1));
        AssertCounters(a, m, 10 * mib, 0);
        Assert.That(a.DriverAllocations, Is.EqualTo(3));
        Assert.That(a.PeakBytes, Is.EqualTo(10 * mib));

        // Nothing cached and nothing free: the retry fails too, and the message says why.
        var e = Assert.Throws<OutOfMemoryException>(() => a.Allocate(1000))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.Message, Does.Contain("fake:3"));
        Assert.That(e.Message, Does.Contain("1000 bytes"));
        Assert.That(e.Message, Does.Contain("size class 1024"));
        Assert.That(e.Message, Does.Contain($"allocated {10 * mib}"));
        Assert.That(e.Message, Does.Contain($"reserved {10 * mib}"));
        Assert.That(e.Message, Does.Contain("cached 0"));
        Assert.That(e.Message, Does.Contain($"peak {10 * mib}"));
        Assert.That(e.Message, Does.Contain("driver allocations 3"));
        Assert.That(m.FailedCalls, Is.EqualTo(3), "one try, a trim (nothing to give back), one retry");
        AssertCounters(a, m, 10 * mib, 0);
        Assert.That(a.DriverAllocations, Is.EqualTo(3), "a failed request is no allocation");

        // The allocator still works once memory is freed.
        a.Free(live);
        Assert.That(a.Allocate(1000).Bytes, Is.EqualTo(1024));
        Assert.That(a.Allocate(2 * mib).Bytes, Is.EqualTo(2 * mib));
    }

    [Test]
    public void OutOfMemoryWithAPartlyUsefulCache_StillFailsCleanly()
    {
        const long mib = 1 << 20;
        var m = new FakeMemory(8 * mib);
        using var a = new CachingAllocator(m, "fake:0");
        var live = a.Allocate(6 * mib);
        a.Free(a.Allocate(2 * mib));
        AssertCounters(a, m, 6 * mib, 2 * mib);
        // Even with the 2 MiB back, 4 MiB does not fit: the cache is gone, the counters agree.
        Assert.Throws<OutOfMemoryException>(() => a.Allocate(4 * mib));
        AssertCounters(a, m, 6 * mib, 0);
        a.Free(live);
        AssertCounters(a, m, 0, 6 * mib);
    }

    [Test]
    public void DoubleFreeAndForeignBlocksAreRefused()
    {
        var m = new FakeMemory(1L << 30);
        using var a = new CachingAllocator(m, "fake:1");
        var b = a.Allocate(1000);
        a.Free(b);
        var e = Assert.Throws<InvalidOperationException>(() => a.Free(b))!;
        Assert.That(e.Message, Does.Contain("fake:1").And.Contain("freed twice"));
        Assert.Throws<InvalidOperationException>(() => a.Free(new MemoryBlock(0xdead_0000, 512)));
        AssertCounters(a, m, 0, 1024);
        // The block is cached once: two requests get two different blocks.
        var c1 = a.Allocate(1000);
        var c2 = a.Allocate(1000);
        Assert.That(c1.Pointer, Is.Not.EqualTo(c2.Pointer));
        // A live block with the wrong size is refused too (it would corrupt the size-class lists).
        Assert.Throws<InvalidOperationException>(() => a.Free(c1 with { Bytes = 2048 }));
        a.Free(c1);
        a.Free(c2);
        AssertCounters(a, m, 0, 2048);
    }

    [Test]
    public void DisposeReturnsTheCache()
    {
        var m = new FakeMemory(1L << 30);
        var a = new CachingAllocator(m, "fake:0");
        a.Free(a.Allocate(100));
        a.Free(a.Allocate(5 << 20));
        a.Dispose();
        Assert.That(m.Live, Is.Empty);
        Assert.That(a.ReservedBytes, Is.Zero);
    }

    [Test]
    public void ConcurrentAllocateAndFreeKeepTheCountersConsistent()
    {
        var m = new LockedFake(new FakeMemory(1L << 34));
        using var a = new CachingAllocator(m, "fake:0");
        Parallel.For(0, 4, t =>
        {
            var r = new Random(t);
            var held = new List<MemoryBlock>();
            for (int i = 0; i < 2000; i++)
            {
                if (held.Count > 0 && r.Next(2) == 0)
                {
                    int k = r.Next(held.Count);
                    a.Free(held[k]);
                    held.RemoveAt(k);
                }
                else held.Add(a.Allocate(1 + r.Next(3 << 20)));
            }
            foreach (var b in held) a.Free(b);
        });
        Assert.That(a.AllocatedBytes, Is.Zero);
        Assert.That(a.ReservedBytes, Is.EqualTo(a.CachedBytes));
        Assert.That(a.ReservedBytes, Is.EqualTo(m.Inner.Used));
        // Distinct live blocks never share an address: every cached pointer is a driver allocation.
        a.Trim();
        Assert.That(m.Inner.Live, Is.Empty);
    }

    /// <summary>The fake is not thread-safe; the allocator calls it under its own lock, and this
    /// wrapper would expose a call made outside that lock as overlapping calls.</summary>
    private sealed class LockedFake(FakeMemory inner) : IDeviceMemorySource
    {
        public FakeMemory Inner => inner;
        private int _inside;

        private void Enter() => Assert.That(Interlocked.Exchange(ref _inside, 1), Is.Zero, "overlapping driver calls");

        public bool TryAllocate(long bytes, out ulong pointer)
        {
            Enter();
            try { return inner.TryAllocate(bytes, out pointer); }
            finally { _inside = 0; }
        }

        public void Free(ulong pointer)
        {
            Enter();
            try { inner.Free(pointer); }
            finally { _inside = 0; }
        }

        public void Synchronize() => inner.Synchronize();
    }
}
