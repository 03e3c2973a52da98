using Kernels.Bindings.Cuda;
using Kernels.Bindings.Emu;
using Kernels.Registry;

namespace Kernels.Ops.AsymmetricLoss;

/// <summary>native/asymmetric_loss.cu (float32). On the emu device its host wrapper runs in
/// libkernels_emu.so; on a cuda device the same kernels are launched here with the wrapper's
/// geometry and launch order (count pre-pass for a weighted mean, entry pass, final sum). The
/// scratch (one partial per block, block counts + total) is allocated per call.</summary>
[KernelImplementation("native", 20, DeviceKind.Emu, DeviceKind.Cuda)]
public sealed unsafe class AsymmetricLossNative(Device device) : IAsymmetricLoss
{
    private const int FnCount = 0, FnCountTotal = 1, FnEntries = 2, FnFinal = 3;

    internal static readonly string[] CudaKernels =
        ["asymmetric_loss_count_f32", "asymmetric_loss_count_total", "asymmetric_loss_entries_f32", "asymmetric_loss_final_f32"];

    /// <summary>KERNELS_ASL_BLOCK of the .cu.</summary>
    private const uint Block = 256;

    private readonly NativeFunctions? _cuda = device is CudaDevice c ? new NativeFunctions(c, "asymmetric_loss", CudaKernels) : null;

    public void ForwardBackward(long rows, long cols, in AslOptions options, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dLogits)
    {
        RequireF32(logits, targets, loss);
        if (weights is not null) RequireF32(weights);
        if (dLogits is not null) RequireF32(dLogits);
        long n = rows * cols;
        if (_cuda is not null)
        {
            Cuda(_cuda, n, options, logits, targets, weights, loss, dLogits);
            return;
        }
        int groups = EmuNative.AsymmetricLossGroups(n);
        using var partials = device.Allocate(DType.F32, groups);
        using var counts = device.Allocate(DType.I32, groups + 1);
        var o = options;
        EmuNative.Check(EmuNative.AsymmetricLossF32(Ptr(logits), Ptr(targets), weights is null ? null : Ptr(weights),
            dLogits is null ? null : Ptr(dLogits), Ptr(loss), Ptr(partials), (int*)EmuBuffer.Of(counts).Pointer, n,
            (float)o.GammaPos, (float)o.GammaNeg, (float)o.Clip, (float)o.Eps, (float)o.AlphaPos, (float)o.AlphaNeg,
            (float)o.GammaUnannotated, (float)o.AlphaUnannotated, o.FocusingWeightConstant ? 1 : 0, o.Mean ? 1 : 0, 0),
            "asymmetric_loss_f32");
    }

    private void Cuda(NativeFunctions fns, long n, in AslOptions o, DeviceBuffer logits, DeviceBuffer targets,
        DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dLogits)
    {
        var cuda = fns.Device;
        ulong px = Cuda(logits, cuda), py = Cuda(targets, cuda), pl = Cuda(loss, cuda);
        ulong pw = weights is null ? 0 : Cuda(weights, cuda), pdx = dLogits is null ? 0 : Cuda(dLogits, cuda);
        uint groups = NativeModules.GridFor(n, Block);
        using var partials = device.Allocate(DType.F32, groups);
        using var counts = device.Allocate(DType.I32, groups + 1);
        ulong pp = Cuda(partials, cuda), pc = CudaBuffer.Of(counts, cuda).Pointer;
        int countSlot = -1;
        float hostScale = 1f;
        const int max = 18;
        byte* storage = stackalloc byte[KernelArguments.StorageFor(max)];
        nint* slots = stackalloc nint[max];
        if (o.Mean && weights is not null)
        {
            countSlot = (int)groups;
            // asymmetric_loss_count_f32(const float* w, int* counts, long long n)
            var a = new KernelArguments(slots, 3, storage, KernelArguments.StorageFor(3));
            a.Add(pw);
            a.Add(pc);
            a.Add(n);
            cuda.Stream.Launch(fns[FnCount], new(groups), new(Block), 0, a);
            // asymmetric_loss_count_total(int* counts, int groups)
            var b = new KernelArguments(slots, 2, storage, KernelArguments.StorageFor(2));
            b.Add(pc);
            b.Add((int)groups);
            cuda.Stream.Launch(fns[FnCountTotal], new(1), new(Block), 0, b);
        }
        else if (o.Mean) hostScale = (float)(1.0 / Math.Max(n, 1));
        // asymmetric_loss_entries_f32(x, y, w, dx, partials, counts, long long n, 8 floats, int focus_constant,
        //                             int count_slot, float host_scale)
        var e = new KernelArguments(slots, max, storage, KernelArguments.StorageFor(max));
        e.Add(px);
        e.Add(py);
        e.Add(pw);
        e.Add(pdx);
        e.Add(pp);
        e.Add(pc);
        e.Add(n);
        e.Add((float)o.GammaPos);
        e.Add((float)o.GammaNeg);
        e.Add((float)o.Clip);
        e.Add((float)o.Eps);
        e.Add((float)o.AlphaPos);
        e.Add((float)o.AlphaNeg);
        e.Add((float)o.GammaUnannotated);
        e.Add((float)o.AlphaUnannotated);
        e.Add(o.FocusingWeightConstant ? 1 : 0);
        e.Add(countSlot);
        e.Add(hostScale);
        cuda.Stream.Launch(fns[FnEntries], new(groups), new(Block), 0, e);
        // asymmetric_loss_final_f32(const float* partials, const int* counts, float* loss, int groups,
        //                           int count_slot, float host_scale)
        var f = new KernelArguments(slots, 6, storage, KernelArguments.StorageFor(6));
        f.Add(pp);
        f.Add(pc);
        f.Add(pl);
        f.Add((int)groups);
        f.Add(countSlot);
        f.Add(hostScale);
        cuda.Stream.Launch(fns[FnFinal], new(1), new(Block), 0, f);
    }

    private static void RequireF32(params ReadOnlySpan<DeviceBuffer> buffers)
    {
        foreach (var b in buffers)
            if (b.DType != DType.F32)
                throw new NotSupportedException(
                    $"AsymmetricLoss.ForwardBackward: the native kernels are float32 only, got {b.DType.Name()}; run float64 on the cpu device");
    }

    private static ulong Cuda(DeviceBuffer b, CudaDevice device) => CudaBuffer.Of(b, device).Pointer;

    private static float* Ptr(DeviceBuffer b) => (float*)EmuBuffer.Of(b).Pointer;
}
