using System.Runtime.InteropServices;
using Kernels.Bindings.Cuda;

namespace Kernels.Tests.Bindings;

/// <summary>The driver binding without a GPU: it reports why it is unusable and never throws at
/// startup; error text and launch-argument packing are checked without a driver.</summary>
public class CudaDriverBindingsTests
{
    [Test]
    public void Driver_WithoutGpu_ReportsUnavailableWithTheReason_AndDoesNotThrowAtStartup()
    {
        bool ok = CudaDriver.TryInitialize(out var reason);
        if (ok) Assert.Inconclusive("this machine has a usable CUDA driver and GPU; the no-GPU path cannot be checked here");
        TestContext.Out.WriteLine(reason);
        if (CudaDriver.Library.IsLoaded)
            Assert.That(reason, Does.Contain("CUDA_ERROR_NO_DEVICE").Or.Contain("CUDA_ERROR_STUB_LIBRARY").Or.Contain("CUDA_ERROR_INSUFFICIENT_DRIVER"),
                "the driver loaded, so cuInit's error must be named");
        else
            foreach (var name in CudaDriver.Library.Names)
                Assert.That(reason, Does.Contain(name), "a missing driver lists every name tried");
        Assert.Multiple(() =>
        {
            Assert.That(reason, Does.Contain("cuInit").Or.Contain("not found"));
            Assert.That(CudaDriverProbe.IsAvailable, Is.False);
            Assert.That(CudaDriverProbe.Reason, Is.EqualTo(reason));
            Assert.That(CudaDriverProbe.Devices, Is.Empty);
        });
        // Using the driver afterwards throws a CudaException that carries the same reason.
        var e = Assert.Throws<CudaException>(() => _ = CudaDriver.DeviceCount)!;
        Assert.That(e.Message, Does.Contain(reason));
        Assert.Throws<CudaException>(() => CudaDeviceMemory.Allocate(1024));
    }

    [Test]
    public void Driver_OnThisMachine_NamesTheLoadedLibrary()
    {
        if (!CudaDriver.Library.IsLoaded) Assert.Inconclusive($"no CUDA driver library here: {CudaDriver.Library.Reason}");
        Assert.That(CudaDriver.Library.Names, Does.Contain(CudaDriver.Library.LoadedName));
        Assert.That(CudaDriver.Library.Reason, Is.Empty);
    }

    [TestCase(2, "CUDA_ERROR_OUT_OF_MEMORY")]
    [TestCase(100, "CUDA_ERROR_NO_DEVICE")]
    [TestCase(218, "CUDA_ERROR_INVALID_PTX")]
    [TestCase(700, "CUDA_ERROR_ILLEGAL_ADDRESS")]
    [TestCase(719, "CUDA_ERROR_LAUNCH_FAILED")]
    public void ErrorMessage_NamesTheCallAndTheError(int code, string name)
    {
        Assert.That(CudaErrors.KnownName(code), Is.EqualTo(name));
        Assert.That(CudaErrors.Format("cuMemAlloc_v2", code, null, null), Is.EqualTo($"cuMemAlloc_v2 failed: {name} ({code})"));
        Assert.That(CudaErrors.Format("cuMemAlloc_v2", code, name, "some text"), Is.EqualTo($"cuMemAlloc_v2 failed: {name} ({code}): some text"));
        // Through the driver's cuGetErrorName when it is loaded, the table otherwise: same name.
        Assert.That(CudaDriver.Message("cuLaunchKernel", code), Does.StartWith($"cuLaunchKernel failed: {name} ({code})"));
    }

    [Test]
    public void ErrorMessage_UnknownCode_KeepsTheNumber()
    {
        Assert.That(CudaErrors.KnownName(12345), Is.Null);
        Assert.That(CudaErrors.Format("cuX", 12345, null, null), Is.EqualTo("cuX failed: CUDA error (12345)"));
    }

    [Test]
    public void VersionedLibrary_NoNameLoads_ListsEveryNameTried_AndThrowsOnlyWhenUsed()
    {
        var lib = new VersionedLibrary("a library that is not there", ["libkernels-not-here.so.3", "libkernels-not-here.so"]);
        Assert.That(lib.IsLoaded, Is.False);
        Assert.That(lib.Reason, Does.StartWith("a library that is not there not found; tried libkernels-not-here.so.3, libkernels-not-here.so ("));
        Assert.That(lib.Reason, Does.Contain("libkernels-not-here.so.3: cannot open shared object file"), "the loader's own reason is kept");
        Assert.That(lib.TryExport("x"), Is.EqualTo((nint)0));
        Assert.Throws<DllNotFoundException>(() => lib.Export("x"));
    }

    [Test]
    public void VersionedLibrary_FirstNameThatLoadsWins()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("uses libc.so.6 / libm.so.6");
        var lib = new VersionedLibrary("libc", ["libkernels-not-here.so.1", "libc.so.6", "libm.so.6"]);
        Assert.That(lib.LoadedName, Is.EqualTo("libc.so.6"));
        Assert.That(lib.Export("strlen"), Is.Not.EqualTo((nint)0));
        Assert.Throws<EntryPointNotFoundException>(() => lib.Export("kernels_no_such_symbol"));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Params24
    {
        public long A;
        public long B;
        public int C;
        public int D;
    }

    [Test]
    public unsafe void KernelArguments_PointerArray_PointsAtAlignedCopiesOfEachValue()
    {
        const int storageBytes = 96;
        byte* storage = stackalloc byte[storageBytes];
        nint* slots = stackalloc nint[6];
        var args = new KernelArguments(slots, 6, storage, storageBytes);
        args.Add(7);                          // int
        args.Add(0.5f);                       // float
        args.Add(0xDEAD_BEEF_0000_1234UL);    // a device pointer
        args.Add(-3L);                        // long long n
        args.Add(new Params24 { A = 1, B = 2, C = 3, D = 4 });
        args.Add((short)-2);

        Assert.That(args.Count, Is.EqualTo(6));
        Assert.That((nint)args.Pointers, Is.EqualTo((nint)slots), "the void** handed to cuLaunchKernel is the caller's slot array");
        for (int i = 0; i < args.Count; i++)
        {
            Assert.That(args[i], Is.EqualTo(slots[i]));
            Assert.That((long)args[i] % 8, Is.EqualTo(0L), $"argument {i} is 8-byte aligned");
            Assert.That(args[i], Is.GreaterThanOrEqualTo((nint)storage).And.LessThan((nint)storage + storageBytes));
            if (i > 0) Assert.That(args[i], Is.GreaterThan(args[i - 1]), "slots follow one another");
        }
        Assert.That((long)args[4] % 16, Is.EqualTo(0L), "a 16-byte-or-larger value is 16-byte aligned");
        Assert.That((long)(args[2] - args[1]), Is.EqualTo(8L), "small values take one 8-byte slot");
        var ptr = new nint[args.Count];
        for (int i = 0; i < ptr.Length; i++) ptr[i] = args[i];
        Assert.Multiple(() =>
        {
            Assert.That(*(int*)ptr[0], Is.EqualTo(7));
            Assert.That(*(float*)ptr[1], Is.EqualTo(0.5f));
            Assert.That(*(ulong*)ptr[2], Is.EqualTo(0xDEAD_BEEF_0000_1234UL));
            Assert.That(*(long*)ptr[3], Is.EqualTo(-3L));
            var p = *(Params24*)ptr[4];
            Assert.That((p.A, p.B, p.C, p.D), Is.EqualTo((1L, 2L, 3, 4)));
            Assert.That(*(short*)ptr[5], Is.EqualTo((short)-2));
        });
    }

    [Test]
    public unsafe void KernelArguments_Overflow_ThrowsNamingTheArgument()
    {
        byte* storage = stackalloc byte[16];
        nint* slots = stackalloc nint[4];
        var args = new KernelArguments(slots, 4, storage, 16);
        args.Add(1L);
        args.Add(2L);
        InvalidOperationException? e = null;
        try
        {
            args.Add(3L);
        }
        catch (InvalidOperationException ex)
        {
            e = ex;
        }
        Assert.That(e, Is.Not.Null);
        Assert.That(e!.Message, Does.Contain("argument 2").And.Contain("16-byte storage"));

        byte* storage2 = stackalloc byte[64];
        nint* one = stackalloc nint[1];
        var args2 = new KernelArguments(one, 1, storage2, 64);
        args2.Add(1);
        e = null;
        try
        {
            args2.Add(2);
        }
        catch (InvalidOperationException ex)
        {
            e = ex;
        }
        Assert.That(e?.Message, Does.Contain("all 1 pointer slots"));
    }
}
