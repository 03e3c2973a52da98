using Kernels.Ops.AsymmetricLoss;
using Kernels.Registry;

namespace Kernels.Ops.GroupDecode;

/// <summary>Group decoding ("group fully connected") of the ML-Decoder: x [Batch, Groups, Dim],
/// w [Groups, Dim, PerGroup], bias [Classes]; logits y [Batch, Classes] with
/// y[b, j] = Σ_d x[b, j / PerGroup, d] · w[j / PerGroup, d, j % PerGroup] + bias[j], for the first
/// Classes of the Groups·PerGroup columns (Classes ≤ Groups·PerGroup).</summary>
public readonly record struct GroupDecodeShape(int Batch, int Groups, int Dim, int PerGroup, int Classes)
{
    /// <summary>The reference's g = ceil(Classes / Groups).</summary>
    public static GroupDecodeShape Create(int batch, int groups, int dim, int classes) =>
        new(batch, groups, dim, (classes + groups - 1) / groups, classes);
}

/// <summary>Group decoding in one launch per pass, and the fused decode + bias + asymmetric loss
/// that never writes the logits. Implementations: Cpu, Ilgpu, Native (native/group_decode.cu).</summary>
public interface IGroupDecode : IKernelFamily
{
    /// <summary>y = group-decode(x, w) + bias (bias may be null).</summary>
    void Forward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y);

    /// <summary>dx, dw, dbias from dy (each overwritten; any may be null when not wanted).</summary>
    void Backward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer dy,
        DeviceBuffer? dx, DeviceBuffer? dw, DeviceBuffer? dbias);

    /// <summary>The logits of <see cref="Forward"/> go straight into the asymmetric loss: writes
    /// loss[0] and (when not null) dx, dw, dbias of the loss, without materialising the logits in
    /// memory (targets / weights as in <see cref="IAsymmetricLoss.ForwardBackward"/>).</summary>
    void ForwardAsl(in GroupDecodeShape shape, in AslOptions options, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias,
        DeviceBuffer targets, DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dx, DeviceBuffer? dw, DeviceBuffer? dbias);
}
