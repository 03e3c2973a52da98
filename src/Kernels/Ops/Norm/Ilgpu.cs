using ILGPU;
using ILGPU.Algorithms;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Norm;

/// <summary>ILGPU normalisation (float32). Group norm with few large rows takes the chunked path
/// (Ilgpu.Chunked.cs); otherwise one group per reduced slice (a row for layer / group /
/// instance norm, a channel for batch norm, a parameter for the group-norm weight gradients),
/// grid-striding over slices; the group's threads stride over the slice, so any slice length
/// works. Statistics are float32 two-pass sums (mean, then squared deviations: no cancellation for
/// large means) reduced by warp shuffles and a 32-float shared array. Slice loops are uniform over
/// the group, so every thread reaches every barrier. The interface's "accumulate in double" is the
/// cpu reference's; float32 tree sums stay within the self-test's tolerance.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed partial class NormIlgpu(Device device) : INorm
{
    private const int Threads = IlgpuLaunch.Threads;

    private static readonly IlgpuKernel s_groupForward = new(GroupForwardKernel);
    private static readonly IlgpuKernel s_groupBackwardData = new(GroupBackwardDataKernel);
    private static readonly IlgpuKernel s_groupBackwardParams = new(GroupBackwardParamsKernel);
    private static readonly IlgpuKernel s_groupBackwardParamColumns = new(GroupBackwardParamColumnsKernel);
    private static readonly IlgpuKernel s_batchForward = new(BatchForwardKernel);
    private static readonly IlgpuKernel s_batchBackward = new(BatchBackwardKernel);

    private static Dim3 Groups(long slices) => new((uint)Math.Clamp(slices, 1, IlgpuLaunch.MaxGroups));

    /// <summary>Threads per group for slices of <paramref name="length"/> elements: a power of two
    /// from one warp to 256, so short slices do not leave most of a group idle (and ilgpu-cpu, which
    /// simulates every thread at every barrier, stays quick).</summary>
    private static Dim3 Block(long length)
    {
        int t = 32;
        while (t < Threads && t < length) t <<= 1;
        return new((uint)t);
    }

    public void GroupForward(in GroupNormShape s, double eps, DeviceBuffer x, DeviceBuffer? weight, DeviceBuffer? bias,
        DeviceBuffer y, DeviceBuffer mean, DeviceBuffer rstd)
    {
        IlgpuLaunch.RequireF32("Norm.GroupForward", x, y, mean, rstd);
        RequireOptional("Norm.GroupForward", weight, bias);
        if (s.Rows == 0) return;
        int chunks = Chunks(s.Rows, s.RowLength, out long chunkLen);
        if (chunks > 1)
        {
            GroupForwardChunked(s, chunks, chunkLen, (float)eps, x, weight, bias, y, mean, rstd);
            return;
        }
        // Absent optional buffers are replaced by x and switched off by a flag.
        s_groupForward.Launch(device, Groups(s.Rows), Block(s.RowLength), x, weight ?? x, bias ?? x, y, mean, rstd,
            s.Rows, s.GroupsPerSample, s.ChannelsPerGroup, s.Spatial, (float)eps, weight is null ? 0 : 1, bias is null ? 0 : 1);
    }

    public void GroupBackward(in GroupNormShape s, DeviceBuffer x, DeviceBuffer? weight, DeviceBuffer mean,
        DeviceBuffer rstd, DeviceBuffer dy, DeviceBuffer? dx, DeviceBuffer? dweight, DeviceBuffer? dbias)
    {
        IlgpuLaunch.RequireF32("Norm.GroupBackward", x, mean, rstd, dy);
        RequireOptional("Norm.GroupBackward", weight, dx, dweight, dbias);
        if (s.Rows == 0) return;
        int chunks = Chunks(s.Rows, s.RowLength, out long chunkLen);
        if (dx is not null && chunks > 1)
            GroupBackwardDataChunked(s, chunks, chunkLen, x, weight, mean, rstd, dy, dx);
        else if (dx is not null)
            s_groupBackwardData.Launch(device, Groups(s.Rows), Block(s.RowLength), x, weight ?? x, mean, rstd, dy, dx,
                s.Rows, s.GroupsPerSample, s.ChannelsPerGroup, s.Spatial, weight is null ? 0 : 1);
        if (dweight is null && dbias is null) return;
        if (s.Spatial == 1)
            // Layer norm (and group norm on [N, C]): parameter p is column p of a [rows, params] matrix: a group per
            // 32 columns, its warps splitting the samples (coalesced rows, a short walk per thread).
            s_groupBackwardParamColumns.Launch(device, Groups((s.Params + 31) / 32),
                new Dim3((uint)(32 * Math.Clamp(s.Samples, 1, ColumnWarps))), x, mean, rstd, dy,
                dweight ?? dy, dbias ?? dy, s.Samples, s.GroupsPerSample, s.ChannelsPerGroup, dweight is null ? 0 : 1,
                dbias is null ? 0 : 1);
        else if (s.Params < TargetGroups && (long)s.Samples * s.Spatial > MinChunk)
            // Few parameters over many elements each: split by sample and spatial chunk.
            GroupBackwardParamsChunked(s, x, mean, rstd, dy, dweight, dbias);
        else
            s_groupBackwardParams.Launch(device, Groups(s.Params), Block((long)s.Samples * s.Spatial), x, mean, rstd, dy, dweight ?? dy,
                dbias ?? dy, s.Samples, s.GroupsPerSample, s.ChannelsPerGroup, s.Spatial, dweight is null ? 0 : 1,
                dbias is null ? 0 : 1);
    }

    public void BatchForward(in BatchNormShape s, bool training, double momentum, double eps, DeviceBuffer x,
        DeviceBuffer? weight, DeviceBuffer? bias, DeviceBuffer? runningMean, DeviceBuffer? runningVar,
        DeviceBuffer y, DeviceBuffer saveMean, DeviceBuffer saveInvStd)
    {
        IlgpuLaunch.RequireF32("Norm.BatchForward", x, y, saveMean, saveInvStd);
        RequireOptional("Norm.BatchForward", weight, bias, runningMean, runningVar);
        if (!training && (runningMean is null || runningVar is null))
            throw new ArgumentException("Norm.BatchForward: inference needs the running mean and variance");
        if (s.C == 0) return;
        s_batchForward.Launch(device, Groups(s.C), Block(s.PerChannel), x, weight ?? x, bias ?? x, runningMean ?? x,
            runningVar ?? x, y, saveMean, saveInvStd, s.N, s.C, s.Spatial, training ? 1 : 0, (float)momentum, (float)eps,
            weight is null ? 0 : 1, bias is null ? 0 : 1, runningMean is null ? 0 : 1, runningVar is null ? 0 : 1);
    }

    public void BatchBackward(in BatchNormShape s, bool training, DeviceBuffer x, DeviceBuffer? weight,
        DeviceBuffer saveMean, DeviceBuffer saveInvStd, DeviceBuffer dy, DeviceBuffer? dx, DeviceBuffer? dweight,
        DeviceBuffer? dbias)
    {
        IlgpuLaunch.RequireF32("Norm.BatchBackward", x, saveMean, saveInvStd, dy);
        RequireOptional("Norm.BatchBackward", weight, dx, dweight, dbias);
        if (s.C == 0 || (dx is null && dweight is null && dbias is null)) return;
        s_batchBackward.Launch(device, Groups(s.C), Block(s.PerChannel), x, weight ?? x, saveMean, saveInvStd, dy, dx ?? dy,
            dweight ?? dy, dbias ?? dy, s.N, s.C, s.Spatial, training ? 1 : 0, weight is null ? 0 : 1, dx is null ? 0 : 1,
            dweight is null ? 0 : 1, dbias is null ? 0 : 1);
    }

    private static void RequireOptional(string op, params ReadOnlySpan<DeviceBuffer?> buffers)
    {
        foreach (var b in buffers)
            if (b is not null) IlgpuLaunch.RequireF32(op, b);
    }

    /// <summary>Sum of <paramref name="v"/> over the group, returned to every thread. Warp shuffles,
    /// then one partial per warp in <paramref name="scratch"/> (32 floats). The leading barrier
    /// keeps a previous call's readers ahead of this call's writers; every thread must call it.</summary>
    private static float GroupSum(float v, ArrayView<float> scratch)
    {
        for (int o = Warp.WarpSize >> 1; o > 0; o >>= 1) v += Warp.ShuffleXor(v, o);
        Group.Barrier();
        if (Warp.LaneIdx == 0) scratch[Warp.WarpIdx] = v;
        Group.Barrier();
        int warps = Group.DimX / Warp.WarpSize;
        v = Warp.LaneIdx < warps ? scratch[Warp.LaneIdx] : 0f;
        for (int o = Warp.WarpSize >> 1; o > 0; o >>= 1) v += Warp.ShuffleXor(v, o);
        return v;
    }
}
