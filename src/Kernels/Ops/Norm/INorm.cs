using Kernels.Registry;

namespace Kernels.Ops.Norm;

/// <summary>Rows of contiguous elements, each normalised on its own (layer, group and instance
/// norm are this computation with different groupings). A row holds ChannelsPerGroup·Spatial
/// elements; element e of row r uses the affine parameter
/// p = (r mod GroupsPerSample)·ChannelsPerGroup + e / Spatial.
/// Layer norm: GroupsPerSample 1, ChannelsPerGroup = row length, Spatial 1 (p = e).
/// Group norm on [N, C, S] with G groups: Rows N·G, GroupsPerSample G, ChannelsPerGroup C/G.
/// Instance norm: group norm with G = C.</summary>
public readonly record struct GroupNormShape(int Rows, int GroupsPerSample, int ChannelsPerGroup, int Spatial)
{
    public long RowLength => (long)ChannelsPerGroup * Spatial;
    public int Params => GroupsPerSample * ChannelsPerGroup;
    /// <summary>Rows that share one parameter set (the batch size for group norm).</summary>
    public int Samples => Rows / GroupsPerSample;
}

/// <summary>Batch norm over [N, C, Spatial]: one statistic per channel, over N and Spatial.</summary>
public readonly record struct BatchNormShape(int N, int C, int Spatial)
{
    public long PerChannel => (long)N * Spatial;
}

/// <summary>Normalisation forward and closed-form backward passes. Statistics accumulate in
/// double whatever the dtype. Weight and bias are optional (null: 1 and 0); the backward writes
/// only the gradients whose buffers are given.</summary>
public interface INorm : IKernelFamily
{
    /// <summary>y = (x − mean)·rstd·w + b per row; saves each row's mean and rstd = 1/√(var + eps)
    /// (biased variance) for the backward.</summary>
    void GroupForward(in GroupNormShape s, double eps, DeviceBuffer x, DeviceBuffer? weight, DeviceBuffer? bias,
        DeviceBuffer y, DeviceBuffer mean, DeviceBuffer rstd);

    void GroupBackward(in GroupNormShape s, DeviceBuffer x, DeviceBuffer? weight, DeviceBuffer mean, DeviceBuffer rstd,
        DeviceBuffer dy, DeviceBuffer? dx, DeviceBuffer? dweight, DeviceBuffer? dbias);

    /// <summary>Training: normalises with the batch statistics (biased variance) and, where the
    /// running buffers are given, updates them in place: r = (1 − momentum)·r + momentum·stat, with the
    /// unbiased variance. Inference: normalises with the running statistics (required).
    /// Either way saveMean and saveInvStd receive the mean and 1/√(var + eps) that were used.</summary>
    void BatchForward(in BatchNormShape s, bool training, double momentum, double eps, DeviceBuffer x,
        DeviceBuffer? weight, DeviceBuffer? bias, DeviceBuffer? runningMean, DeviceBuffer? runningVar,
        DeviceBuffer y, DeviceBuffer saveMean, DeviceBuffer saveInvStd);

    /// <summary>Training: the statistics depend on x, so dx has the full closed form. Inference:
    /// they are constants and dx = dy·w·invstd.</summary>
    void BatchBackward(in BatchNormShape s, bool training, DeviceBuffer x, DeviceBuffer? weight,
        DeviceBuffer saveMean, DeviceBuffer saveInvStd, DeviceBuffer dy,
        DeviceBuffer? dx, DeviceBuffer? dweight, DeviceBuffer? dbias);
}
