using Kernels.Registry;

namespace Kernels.Ops.Activation;

public enum ActivationKind
{
    Relu,
    /// <summary>x for x ≥ 0, alpha·x below.</summary>
    LeakyRelu,
    /// <summary>The exact form x·Φ(x) (PyTorch's default, approximate='none').</summary>
    Gelu,
    Sigmoid,
    Tanh,
}

/// <summary>Pointwise activations. Backward takes the forward input x (and output y, which the
/// sigmoid and tanh gradients read) and the output gradient dy, and writes dx.</summary>
public interface IActivation : IKernelFamily
{
    void Forward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y);

    void Backward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dy,
        DeviceBuffer dx);
}
