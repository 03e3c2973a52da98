using Kernels.Registry;

namespace Kernels.Ops.Upsample;

public enum UpsampleMode
{
    /// <summary>PyTorch's 'nearest': src = min(floor(dst · in / out), in − 1), the scale in float32.</summary>
    Nearest,
    /// <summary>Linear along each spatial axis (linear, bilinear, trilinear).</summary>
    Linear,
}

/// <summary>Resizing of NC(D)HW planes to a given output size. Lower ranks use size 1 on the
/// leading spatial axes (1 → 1 is the identity in both modes).</summary>
public readonly record struct UpsampleShape(
    int N, int C,
    int InD, int InH, int InW,
    int OutD, int OutH, int OutW,
    UpsampleMode Mode, bool AlignCorners)
{
    public long Planes => (long)N * C;
    public long InPlane => (long)InD * InH * InW;
    public long OutPlane => (long)OutD * OutH * OutW;
}

public interface IUpsample : IKernelFamily
{
    void Forward(in UpsampleShape s, DeviceBuffer x, DeviceBuffer y);

    /// <summary>dx (overwritten): each output's gradient scattered back with its forward weights.</summary>
    void Backward(in UpsampleShape s, DeviceBuffer dy, DeviceBuffer dx);
}
