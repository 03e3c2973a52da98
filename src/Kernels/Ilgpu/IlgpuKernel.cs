using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using Kernels.Bindings.Cuda;

namespace Kernels.Ilgpu;

/// <summary>An ILGPU kernel: a static, explicitly grouped C# method (Grid / Group indices,
/// barriers, static shared memory) whose parameters are ArrayView&lt;float|int|double&gt; and
/// int / long / float scalars. Written once, it runs on two devices:
/// <list type="bullet">
/// <item>ilgpu-cpu: loaded by ILGPU's CPU accelerator (warp 32), a correctness tool;</item>
/// <item>cuda:N: compiled by ILGPU's PTX backend (no GPU needed for that), loaded through our own
/// bindings into the engine's context and launched on the device's stream, where an ArrayView
/// travels as (pointer, 64-bit length) — decisions/0010.</item>
/// </list>
/// Declare one per kernel method as a static field: <c>static readonly IlgpuKernel s_relu = new(ReluKernel);</c></summary>
public sealed class IlgpuKernel
{
    private readonly ConcurrentDictionary<Accelerator, Kernel> _cpuKernels = new();
    // Loaded functions per cuda device: a launch is then one dictionary hit, no string keys.
    private readonly ConcurrentDictionary<CudaDevice, CudaFunction> _cudaFunctions = new();

    public IlgpuKernel(Delegate method)
    {
        Method = method.Method;
        if (!Method.IsStatic)
            throw new ArgumentException($"ILGPU kernel {Method.Name} must be a static method");
        Parameters = Method.GetParameters().Select(p => p.ParameterType).ToArray();
        Name = $"{Method.DeclaringType?.Name}.{Method.Name}";
    }

    public MethodInfo Method { get; }

    /// <summary>Parameter types, checked against the arguments of every launch.</summary>
    public IReadOnlyList<Type> Parameters { get; }

    /// <summary>DeclaringType.Method, e.g. ActivationIlgpu.ReluForward (built once: the profiler keys on it).</summary>
    public string Name { get; }

    /// <summary>Launches <paramref name="grid"/> groups of <paramref name="group"/> threads on the
    /// buffers' device. Arguments must match the method's parameters in order and type.</summary>
    public void Launch(Device device, Dim3 grid, Dim3 group, params ReadOnlySpan<KernelArg> args)
    {
        CheckArguments(device, args);
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0) return;
        using var profiled = KernelProfiler.Call(device, ProfiledKind.Kernel, Name);
        switch (device)
        {
            case IlgpuCpuDevice cpu: LaunchCpu(cpu, grid, group, args); break;
            case CudaDevice cuda: IlgpuCuda.Launch(this, cuda, grid, group, args); break;
            default:
                throw new NotSupportedException($"ILGPU kernel {Name} runs on ilgpu-cpu and cuda devices, not on {device.Name}");
        }
    }

    internal CudaFunction CudaFunctionFor(CudaDevice device) =>
        _cudaFunctions.TryGetValue(device, out var f) ? f : _cudaFunctions.GetOrAdd(device, d => IlgpuCuda.LoadFunction(this, d));

    private void LaunchCpu(IlgpuCpuDevice device, Dim3 grid, Dim3 group, ReadOnlySpan<KernelArg> args)
    {
        var kernel = _cpuKernels.GetOrAdd(device.Accelerator, a => a.LoadKernel(Method));
        var boxed = new object[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            boxed[i] = a.Kind switch
            {
                KernelArg.ArgKind.Int32 => a.AsInt32,
                KernelArg.ArgKind.Int64 => a.AsInt64,
                KernelArg.ArgKind.Float32 => a.AsFloat32,
                _ => IlgpuCpuBuffer.Of(a.Buffer!).BoxedView(),
            };
        }
        var config = new KernelConfig(new Index3D((int)grid.X, (int)grid.Y, (int)grid.Z),
            new Index3D((int)group.X, (int)group.Y, (int)group.Z));
        kernel.Launch(device.Accelerator.DefaultStream, config, boxed);
        device.Accelerator.Synchronize();
    }

    private void CheckArguments(Device device, ReadOnlySpan<KernelArg> args)
    {
        if (args.Length != Parameters.Count)
            throw new ArgumentException($"ILGPU kernel {Name} takes {Parameters.Count} arguments, {args.Length} were given");
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a.Kind == KernelArg.ArgKind.Buffer && !ReferenceEquals(a.Buffer!.Device, device))
                throw new ArgumentException(
                    $"ILGPU kernel {Name}, argument {i}: a buffer on {a.Buffer.Device.Name} was passed to a launch on {device.Name}");
            var t = a.ParameterType;
            if (t != Parameters[i])
                throw new ArgumentException(
                    $"ILGPU kernel {Name}, argument {i}: the method takes {Parameters[i].Name}, the launch passed {t.Name}");
        }
    }
}
