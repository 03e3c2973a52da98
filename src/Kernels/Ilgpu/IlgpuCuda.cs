using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Kernels.Bindings.Cuda;

namespace Kernels.Ilgpu;

/// <summary>ILGPU as a compiler for the cuda device: kernels go through ILGPU's PTX backend (which
/// needs no GPU), the PTX is loaded into the engine's own context through src/Bindings and
/// launched on the device's stream (decisions/0010). PTX is compiled once per (method, arch).</summary>
public static class IlgpuCuda
{
    /// <summary>PTX ISA 7.8 (CUDA 11.8): assembles with the ptxas of the toolkit CI installs and is
    /// JIT-compiled by every newer driver.</summary>
    public static readonly CudaInstructionSet Isa = CudaInstructionSet.ISA_78;

    private static readonly Lazy<Context> s_context = new(() =>
        Context.Create(b => b.Optimize(OptimizationLevel.O2).EnableAlgorithms()));
    private static readonly ConcurrentDictionary<(MethodInfo, CudaArchitecture), (string Ptx, string Entry)> s_ptx = new();
    private static readonly Lock s_compileGate = new();

    /// <summary>The architecture ILGPU targets for a compute capability: the device's own up to
    /// sm_90 (the newest this ISA knows); newer GPUs JIT the sm_90 PTX.</summary>
    public static CudaArchitecture ArchitectureFor(int major, int minor) =>
        major > 9 || (major == 9 && minor > 0) ? CudaArchitecture.SM_90 : new CudaArchitecture(major, minor);

    /// <summary>Compiles <paramref name="method"/> to PTX for <paramref name="arch"/>; returns the
    /// PTX text and the name of its entry point.</summary>
    public static (string Ptx, string Entry) CompilePtx(MethodInfo method, CudaArchitecture arch) =>
        s_ptx.GetOrAdd((method, arch), key =>
        {
            // ILGPU's IR context is not built for concurrent compiles of one backend.
            lock (s_compileGate)
            {
                using var backend = new PTXBackend(s_context.Value, new CudaCapabilityContext(key.Item2), key.Item2, Isa, null);
                var entry = EntryPointDescription.FromExplicitlyGroupedKernel(key.Item1);
                var compiled = (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
                return (compiled.PTXAssembly, compiled.Name);
            }
        });

    /// <summary>Compiles (once per architecture) and loads (once per device) the kernel's PTX.</summary>
    internal static CudaFunction LoadFunction(IlgpuKernel kernel, CudaDevice device)
    {
        var arch = ArchitectureFor(device.ComputeCapability.Major, device.ComputeCapability.Minor);
        var (ptx, entry) = CompilePtx(kernel.Method, arch);
        var key = $"ilgpu:{kernel.Method.DeclaringType?.FullName}.{kernel.Method.Name}:{arch}";
        return device.Modules.Function(key, entry, () => CudaModule.LoadPtx(ptx));
    }

    /// <summary>The (pointer, length) pair an ArrayView is passed as (.param .align 8 .b8 [16]).</summary>
    private readonly record struct ViewParameter(ulong Pointer, long Length);

    internal static unsafe void Launch(IlgpuKernel kernel, CudaDevice device, Dim3 grid, Dim3 group, ReadOnlySpan<KernelArg> args)
    {
        var fn = kernel.CudaFunctionFor(device);
        int n = args.Length;
        int storageBytes = n * 16 + 16;
        byte* storage = stackalloc byte[storageBytes];
        nint* slots = stackalloc nint[n];
        var ka = new KernelArguments(slots, n, storage, storageBytes);
        foreach (var a in args)
        {
            switch (a.Kind)
            {
                case KernelArg.ArgKind.Int32: ka.Add(a.AsInt32); break;
                case KernelArg.ArgKind.Int64: ka.Add(a.AsInt64); break;
                case KernelArg.ArgKind.Float32: ka.Add(a.AsFloat32); break;
                default:
                    var b = CudaBuffer.Of(a.Buffer!, device);
                    ka.Add(new ViewParameter(b.Pointer, b.Length));
                    break;
            }
        }
        device.Stream.Launch(fn, grid, group, 0, ka);
    }
}

/// <summary>Every ILGPU kernel of the engine (the static <see cref="IlgpuKernel"/> fields of this
/// assembly), for the PTX compile check and the `kernels ptx` listing.</summary>
public static class IlgpuKernels
{
    private static readonly Lazy<IReadOnlyList<IlgpuKernel>> s_all = new(() =>
        typeof(IlgpuKernel).Assembly.GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public))
            .Where(f => f.FieldType == typeof(IlgpuKernel))
            .Select(f => (IlgpuKernel)f.GetValue(null)!)
            .OrderBy(k => k.Name, StringComparer.Ordinal)
            .ToList());

    public static IReadOnlyList<IlgpuKernel> All => s_all.Value;
}
