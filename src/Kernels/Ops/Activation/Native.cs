using Kernels.Bindings.Cuda;
using Kernels.Bindings.Emu;
using Kernels.Registry;

namespace Kernels.Ops.Activation;

/// <summary>native/activation.cu. On the emu device it runs in libkernels_emu.so; on a cuda device
/// the same source's module (prebuilt cubin/PTX or NVRTC: <see cref="NativeModules"/>) is launched
/// with the geometry of the .cu's host wrappers. float32 only: float64 (gradient checks) stays on
/// the cpu.</summary>
[KernelImplementation("native", 20, DeviceKind.Emu, DeviceKind.Cuda)]
public sealed unsafe class ActivationNative(Device device) : IActivation
{
    private const int ForwardFn = 0, BackwardFn = 1;

    private readonly NativeFunctions? _cuda = device is CudaDevice c
        ? new NativeFunctions(c, "activation", "activation_forward_f32", "activation_backward_f32")
        : null;

    public void Forward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y)
    {
        RequireF32(y.DType, "Forward");
        if (_cuda is not null)
        {
            ForwardCuda(_cuda, kind, (float)alpha, n, x, y);
            return;
        }
        EmuNative.Check(EmuNative.ActivationForwardF32((int)kind, (float)alpha, Ptr(x), Ptr(y), n, 0),
            "activation_forward_f32");
    }

    public void Backward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dy,
        DeviceBuffer dx)
    {
        RequireF32(dx.DType, "Backward");
        if (_cuda is not null)
        {
            BackwardCuda(_cuda, kind, (float)alpha, n, x, y, dy, dx);
            return;
        }
        EmuNative.Check(
            EmuNative.ActivationBackwardF32((int)kind, (float)alpha, Ptr(x), Ptr(y), Ptr(dy), Ptr(dx), n, 0),
            "activation_backward_f32");
    }

    // activation_forward_f32(int kind, float alpha, const float* x, float* y, long long n)
    private static void ForwardCuda(NativeFunctions fns, ActivationKind kind, float alpha, long n, DeviceBuffer x,
        DeviceBuffer y)
    {
        var cuda = fns.Device;
        ulong px = CudaF32(x, cuda), py = CudaF32(y, cuda);
        if (n <= 0) return;
        var fn = fns[ForwardFn];
        const int count = 5;
        byte* storage = stackalloc byte[KernelArguments.StorageFor(count)];
        nint* slots = stackalloc nint[count];
        var args = new KernelArguments(slots, count, storage, KernelArguments.StorageFor(count));
        args.Add((int)kind);
        args.Add(alpha);
        args.Add(px);
        args.Add(py);
        args.Add(n);
        cuda.Stream.Launch(fn, NativeModules.GridFor(n), NativeModules.Block, 0, args);
    }

    // activation_backward_f32(int kind, float alpha, const float* x, const float* y, const float* dy,
    //                         float* dx, long long n)
    private static void BackwardCuda(NativeFunctions fns, ActivationKind kind, float alpha, long n, DeviceBuffer x,
        DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx)
    {
        var cuda = fns.Device;
        ulong px = CudaF32(x, cuda), py = CudaF32(y, cuda), pdy = CudaF32(dy, cuda), pdx = CudaF32(dx, cuda);
        if (n <= 0) return;
        var fn = fns[BackwardFn];
        const int count = 7;
        byte* storage = stackalloc byte[KernelArguments.StorageFor(count)];
        nint* slots = stackalloc nint[count];
        var args = new KernelArguments(slots, count, storage, KernelArguments.StorageFor(count));
        args.Add((int)kind);
        args.Add(alpha);
        args.Add(px);
        args.Add(py);
        args.Add(pdy);
        args.Add(pdx);
        args.Add(n);
        cuda.Stream.Launch(fn, NativeModules.GridFor(n), NativeModules.Block, 0, args);
    }

    private static void RequireF32(DType dtype, string pass)
    {
        if (dtype != DType.F32)
            throw new NotSupportedException(
                $"Activation.{pass}: the native kernels are float32 only, got {dtype.Name()}; run float64 on the cpu device");
    }

    private static ulong CudaF32(DeviceBuffer b, CudaDevice device)
    {
        var c = CudaBuffer.Of(b, device);
        if (c.DType != DType.F32)
            throw new ArgumentException($"Activation: a {c.DType.Name()} buffer was passed where float32 was expected");
        return c.Pointer;
    }

    private static float* Ptr(DeviceBuffer b)
    {
        var e = EmuBuffer.Of(b);
        if (e.DType != DType.F32)
            throw new ArgumentException($"Activation: a {e.DType.Name()} buffer was passed where float32 was expected");
        return (float*)e.Pointer;
    }
}
