using Kernels.Registry;

namespace Kernels.Ops.Pool;

/// <summary>Geometry of a 2-D or 3-D pooling over NC(D)HW planes. A 2-D pooling is the 3-D one
/// with depth 1, kernel 1, stride 1 and padding 0 on the D axis, so one kernel serves both.</summary>
public readonly record struct PoolShape(
    int N, int C,
    int InD, int InH, int InW,
    int OutD, int OutH, int OutW,
    int KD, int KH, int KW,
    int SD, int SH, int SW,
    int PD, int PH, int PW)
{
    /// <summary>Number of (n, c) planes; the unit of parallel work.</summary>
    public long Planes => (long)N * C;
    public long InPlane => (long)InD * InH * InW;
    public long OutPlane => (long)OutD * OutH * OutW;

    /// <summary>floor((in + 2·pad − kernel) / stride) + 1, PyTorch's size without ceil mode.</summary>
    public static int OutSize(int input, int kernel, int stride, int padding) => (input + 2 * padding - kernel) / stride + 1;
}

/// <summary>Max and average pooling (NCHW / NCDHW) and global average pooling.
/// Max pooling records, for every output, the flat index of the chosen element inside its input
/// plane (int32); the backward scatters the gradient there. Padding never wins a max. Average
/// pooling divides by the full window size including padding (count_include_pad = true).</summary>
public interface IPool : IKernelFamily
{
    void MaxForward(in PoolShape s, DeviceBuffer x, DeviceBuffer y, DeviceBuffer argmax);

    /// <summary>dx (overwritten) from dy and the argmax of the forward.</summary>
    void MaxBackward(in PoolShape s, DeviceBuffer dy, DeviceBuffer argmax, DeviceBuffer dx);

    void AvgForward(in PoolShape s, DeviceBuffer x, DeviceBuffer y);

    /// <summary>dx (overwritten) from dy.</summary>
    void AvgBackward(in PoolShape s, DeviceBuffer dy, DeviceBuffer dx);

    /// <summary>y[p] = mean of x[p, 0 .. planeSize) for each of <paramref name="planes"/> planes.</summary>
    void GlobalAvgForward(long planes, long planeSize, DeviceBuffer x, DeviceBuffer y);

    /// <summary>dx[p, i] = dy[p] / planeSize.</summary>
    void GlobalAvgBackward(long planes, long planeSize, DeviceBuffer dy, DeviceBuffer dx);
}
