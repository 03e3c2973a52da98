using Kernels.Bindings.Emu;
using Kernels.Registry;

namespace Kernels.Ops.Activation;

/// <summary>native/activation.cu. On the emu device it runs in libkernels_emu.so; the CUDA device
/// will load the same source's PTX later. float32 only: float64 (gradient checks) stays on the cpu.</summary>
[KernelImplementation("native", 20, DeviceKind.Emu)]
public sealed unsafe class ActivationNative : IActivation
{
    public void Forward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y)
    {
        RequireF32(y.DType, "Forward");
        EmuNative.Check(EmuNative.ActivationForwardF32((int)kind, (float)alpha, Ptr(x), Ptr(y), n, 0),
            "activation_forward_f32");
    }

    public void Backward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dy,
        DeviceBuffer dx)
    {
        RequireF32(dx.DType, "Backward");
        EmuNative.Check(
            EmuNative.ActivationBackwardF32((int)kind, (float)alpha, Ptr(x), Ptr(y), Ptr(dy), Ptr(dx), n, 0),
            "activation_backward_f32");
    }

    private static void RequireF32(DType dtype, string pass)
    {
        if (dtype != DType.F32)
            throw new NotSupportedException(
                $"Activation.{pass}: the native kernels are float32 only, got {dtype.Name()}; run float64 on the cpu device");
    }

    private static float* Ptr(DeviceBuffer b)
    {
        var e = EmuBuffer.Of(b);
        if (e.DType != DType.F32)
            throw new ArgumentException($"Activation: a {e.DType.Name()} buffer was passed where float32 was expected");
        return (float*)e.Pointer;
    }
}
