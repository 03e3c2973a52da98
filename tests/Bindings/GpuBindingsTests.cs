using Kernels.Bindings.Cublas;
using Kernels.Bindings.Cuda;
using Kernels.Bindings.Nvrtc;

namespace Kernels.Tests.Bindings;

/// <summary>End-to-end checks that need a real GPU (Inconclusive elsewhere).</summary>
[Category("Gpu")]
public class GpuBindingsTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new System.Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    [Test]
    public void Memory_AllocMemsetCopyBack()
    {
        using var ctx = BindingsSupport.RequireGpu();
        using var stream = CudaStream.Create();
        using var mem = CudaDeviceMemory.Allocate(4000);
        using var other = CudaDeviceMemory.Allocate(4000);
        stream.Memset32(mem.Pointer, BitConverter.SingleToUInt32Bits(1.5f), 1000);
        stream.MemsetBytes(mem.Pointer + 400, 0, 400);
        stream.CopyDeviceToDevice(other.Pointer, mem.Pointer, 4000);
        var back = new float[1000];
        stream.CopyToHost<float>(back, other);
        stream.Synchronize();
        for (int i = 0; i < 1000; i++) Assert.That(back[i], Is.EqualTo(i is >= 100 and < 200 ? 0f : 1.5f), $"element {i}");

        using var pinned = CudaPinnedMemory.Allocate(4000);
        var src = Random(1000, 3);
        src.CopyTo(pinned.AsSpan<float>());
        using var start = CudaEvent.Create();
        using var end = CudaEvent.Create();
        start.Record(stream);
        unsafe { stream.CopyHostToDevice(mem.Pointer, (void*)pinned.Pointer, 4000); }
        stream.CopyToHost<float>(back, mem);
        end.Record(stream);
        end.Synchronize();
        Assert.That(back, Is.EqualTo(src));
        Assert.That(CudaEvent.ElapsedMilliseconds(start, end), Is.GreaterThanOrEqualTo(0f));
    }

    [Test]
    public unsafe void NvrtcPtx_ReluKernel_MatchesCpu()
    {
        using var ctx = BindingsSupport.RequireGpu();
        if (!Nvrtc.IsAvailable) Assert.Inconclusive(Nvrtc.Reason);
        int dev = CudaDriver.GetDevice(0);
        string arch = $"compute_{CudaDriver.GetAttribute(dev, CudaDeviceAttribute.ComputeCapabilityMajor)}{CudaDriver.GetAttribute(dev, CudaDeviceAttribute.ComputeCapabilityMinor)}";
        var root = BindingsSupport.RepoRoot();
        var ptx = Nvrtc.CompileFile(Path.Combine(root, "native", "activation.cu"),
            new NvrtcOptions(arch) { IncludePaths = [Path.Combine(root, "native", "include")] }).Ptx!;
        using var module = CudaModule.LoadPtx(ptx);
        var fn = module.GetFunction("activation_forward_f32");
        Assert.That(fn.MaxThreadsPerBlock, Is.GreaterThanOrEqualTo(256));
        Assert.That(fn.Registers, Is.GreaterThan(0));

        const int n = 1000;
        var x = Random(n, 7);
        using var stream = CudaStream.Create();
        using var dx = CudaDeviceMemory.Allocate(n * 4);
        using var dy = CudaDeviceMemory.Allocate(n * 4);
        stream.CopyToDevice<float>(dx, x);
        stream.Memset32(dy.Pointer, 0x7FC00000, n); // NaN, so an unwritten element fails
        byte* storage = stackalloc byte[KernelArguments.StorageFor(5)];
        nint* slots = stackalloc nint[5];
        var args = new KernelArguments(slots, 5, storage, KernelArguments.StorageFor(5));
        args.Add(0);            // kind: relu
        args.Add(0f);           // alpha
        args.Add(dx.Pointer);
        args.Add(dy.Pointer);
        args.Add((long)n);
        stream.Launch(fn, 2u, 256u, 0, args); // grid-stride: 512 threads cover 1000 elements
        var y = new float[n];
        stream.CopyToHost<float>(y, dy);
        stream.Synchronize();
        for (int i = 0; i < n; i++) Assert.That(y[i], Is.EqualTo(Math.Max(x[i], 0f)), $"element {i}");
    }

    [Test]
    public void Sgemm_65x33x17_MatchesCpuLoop()
    {
        using var ctx = BindingsSupport.RequireGpu();
        if (!Cublas.IsAvailable) Assert.Inconclusive(Cublas.Reason);
        const int m = 65, n = 33, k = 17;
        var a = Random(m * k, 1);
        var b = Random(k * n, 2);
        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                expected[i * n + j] = (float)s;
            }
        using var stream = CudaStream.Create();
        using var blas = Cublas.Create();
        Cublas.SetStream(blas, stream);
        using var da = CudaDeviceMemory.Allocate(a.Length * 4);
        using var db = CudaDeviceMemory.Allocate(b.Length * 4);
        using var dc = CudaDeviceMemory.Allocate(expected.Length * 4);
        stream.CopyToDevice<float>(da, a);
        stream.CopyToDevice<float>(db, b);
        Cublas.SgemmRowMajor(blas, m, n, k, da.Pointer, db.Pointer, dc.Pointer);
        var c = new float[m * n];
        stream.CopyToHost<float>(c, dc);
        stream.Synchronize();
        // TF32 is off by default for SGEMM, so fp32 accuracy is expected.
        for (int i = 0; i < c.Length; i++) Assert.That(c[i], Is.EqualTo(expected[i]).Within(1e-4f), $"C[{i / n},{i % n}]");

        // The same product through cuBLASLt with a bias + ReLU epilogue: column-major Cᵀ[n,m] = Bᵀ·Aᵀ, bias per row of Cᵀ (length n).
        if (!CublasLt.IsAvailable) return;
        var bias = Random(n, 5);
        using var dbias = CudaDeviceMemory.Allocate(n * 4);
        stream.CopyToDevice<float>(dbias, bias);
        using var lt = CublasLt.Create();
        CublasLt.MatmulEpilogue(lt, stream, CublasLtEpilogue.ReluBias, CublasOperation.None, CublasOperation.None, n, m, k,
            CudaDataType.Float32, db.Pointer, n, da.Pointer, k, dc.Pointer, n, dbias.Pointer);
        stream.CopyToHost<float>(c, dc);
        stream.Synchronize();
        for (int i = 0; i < c.Length; i++)
            Assert.That(c[i], Is.EqualTo(Math.Max(expected[i] + bias[i % n], 0f)).Within(1e-4f), $"Lt C[{i / n},{i % n}]");
    }

    [Test]
    public void Handles_DisposedInOrder_LeakNothing()
    {
        long before = CudaDriver.LeakedHandles;
        using (var ctx = BindingsSupport.RequireGpu())
        {
            using var stream = CudaStream.Create();
            using var mem = CudaDeviceMemory.Allocate(1 << 20);
            using var ev = CudaEvent.Create();
            ev.Record(stream);
            ev.Synchronize();
        }
        Assert.That(CudaDriver.LeakedHandles, Is.EqualTo(before));
        Assert.That(CudaDriver.LastReleaseError, Is.Empty);
    }
}
