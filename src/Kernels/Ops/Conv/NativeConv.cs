using Kernels.Ops.Activation;
using Kernels.Registry;

namespace Kernels.Ops.Conv;

/// <summary>native/conv3d.cu (and conv3d_tc.cu for the opt-in tensor-core kernels): the convolution as an implicit GEMM over channels-last data. The
/// engine's tensors are channels-first (NC[D]HW), so each pass transposes its inputs to NDHWC and
/// its output back with the .cu's own transpose kernel, and re-lays the weight out as the kernels
/// read it (the comment at the top of the .cu lists the layouts). Ranks 1 and 2 run as 3-D with
/// leading axes of size 1; any kernel size, stride, padding, dilation and group count. float32
/// only (float64 stays on the cpu). On emu it runs in libkernels_emu.so; on cuda the same
/// kernels are launched from <see cref="ConvNativeBase"/>'s cuda path with the geometry of the .cu's
/// host wrappers.</summary>
public abstract unsafe partial class ConvNativeBase : IConv
{
    private readonly Device _device;
    private readonly bool _tensorCores;

    private protected ConvNativeBase(Device device, bool tensorCores)
    {
        _device = device;
        _tensorCores = tensorCores;
        _cuda = device is CudaDevice c ? new NativeFunctions(c, "conv3d", CudaKernels) : null;
        _cudaTc = device is CudaDevice t && tensorCores ? new NativeFunctions(t, "conv3d_tc", TensorCoreKernels) : null;
    }

    public void Forward(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y) =>
        ForwardFused(shape, x, w, bias, y);

    /// <summary>y = act((conv(x, w) + bias[c]) · scale[c] + shift[c]) in one pass: the forward's
    /// epilogue applies the bias, an optional per-output-channel scale / shift (an inference-mode
    /// normalisation folded in) and ReLU / LeakyReLU (<paramref name="alpha"/> the negative slope),
    /// so no separate elementwise pass reads y again. Other activations are not fused
    /// (NotSupportedException, <see cref="ConvEpilogue.Code"/>).</summary>
    public void ForwardFused(in ConvShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y,
        ActivationKind? activation = null, double alpha = 0.01, DeviceBuffer? scale = null, DeviceBuffer? shift = null)
    {
        int act = ConvEpilogue.Code(activation);
        RequireF32(y.DType, "Forward");
        var p = Conv3dParams.Of(shape);
        long inPos = p.InPositions, outPos = p.OutPositions;
        if (shape.Batch == 0 || outPos == 0) return;
        int og = p.Cout / p.Groups, cg = p.Cin / p.Groups, taps = p.Taps;

        using var xT = Scratch((long)p.N * inPos * p.Cin);
        Transpose(x, xT, p.N, p.Cin, inPos);
        using var wd = Scratch(shape.WeightElements);
        Transpose(w, wd, p.Groups, (long)og * cg, taps); // [g][tap][co][ci]
        using var yT = Scratch((long)p.N * outPos * p.Cout);
        if (UseTensorCores(cg))
            ForwardTensorCores(p, xT, wd, bias, scale, shift, act, (float)alpha, yT);
        else
        {
            using var wt = Scratch(shape.WeightElements);
            Transpose(wd, wt, p.Groups * taps, og, cg); // [g][tap][ci][co]
            ForwardKernel(p, xT, wt, bias, scale, shift, act, (float)alpha, yT);
        }
        Transpose(yT, y, p.N, outPos, p.Cout);
    }

    public void BackwardData(in ConvShape shape, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx, DeviceBuffer? bias = null)
    {
        RequireF32(dx.DType, "BackwardData");
        var p = Conv3dParams.Of(shape);
        long inPos = p.InPositions, outPos = p.OutPositions;
        if (shape.Batch == 0 || inPos == 0) return;
        int og = p.Cout / p.Groups, cg = p.Cin / p.Groups;

        using var dyT = Scratch((long)p.N * outPos * p.Cout);
        Transpose(dy, dyT, p.N, p.Cout, outPos);
        using var wd = Scratch(shape.WeightElements);
        Transpose(w, wd, p.Groups, (long)og * cg, p.Taps); // [g][tap][co][ci]
        using var dxT = Scratch((long)p.N * inPos * p.Cin);
        if (UseTensorCores(og))
        {
            using var wt = Scratch(shape.WeightElements);
            Transpose(wd, wt, p.Groups * p.Taps, og, cg); // [g][tap][ci][co]
            BackwardDataTensorCores(p, dyT, wt, bias, dxT);
        }
        else BackwardDataKernel(p, dyT, wd, bias, dxT);
        Transpose(dxT, dx, p.N, inPos, p.Cin);
    }

    public void BackwardWeights(in ConvShape shape, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? db)
    {
        RequireF32(dw.DType, "BackwardWeights");
        var p = Conv3dParams.Of(shape);
        if (db is not null) ChannelSum(shape.Batch, shape.OutChannels, p.OutPositions, dy, db);
        if (shape.WeightElements == 0) return;
        long inPos = p.InPositions, outPos = p.OutPositions;

        using var xT = Scratch((long)p.N * inPos * p.Cin);
        Transpose(x, xT, p.N, p.Cin, inPos);
        using var dyT = Scratch((long)p.N * outPos * p.Cout);
        Transpose(dy, dyT, p.N, p.Cout, outPos);
        var (splits, chunk) = WeightSplits(p);
        using var part = Scratch(splits * shape.WeightElements);
        BackwardWeightsKernels(p, splits, chunk, xT, dyT, part, dw);
    }

    public void ChannelSum(int batch, int channels, long spatial, DeviceBuffer t, DeviceBuffer sum)
    {
        RequireF32(sum.DType, "ChannelSum");
        ChannelSumKernel(batch, channels, spatial, t, sum);
    }

    /// <summary>How the weight gradient's reduction over N·OD·OH·OW positions is split across
    /// blocks (then summed by conv3d_weights_reduce_f32): enough blocks to fill a GPU (about 2 per
    /// SM of an H100), at least 512 positions per split; on emu at most 2 splits (the path is
    /// exercised, every block costs barrier rounds of OS threads).</summary>
    private (int Splits, int Chunk) WeightSplits(in Conv3dParams p)
    {
        long k = (long)p.N * p.OutPositions;
        int og = p.Cout / p.Groups, cols = p.Taps * (p.Cin / p.Groups);
        long tiles = (long)Blocks(og, Tile) * Blocks(cols, Tile) * p.Groups;
        long wanted = _cuda is not null ? Math.Max(1, 264 / tiles) : 2;
        long byWork = Math.Max(1, k / 512);
        int splits = (int)Math.Clamp(Math.Min(wanted, byWork), 1, Math.Max(1, 65535 / p.Groups));
        long chunk = (k + splits - 1) / splits;
        chunk = Math.Max(ReductionStep, (chunk + ReductionStep - 1) / ReductionStep * ReductionStep);
        if (chunk > int.MaxValue) throw new NotSupportedException($"Conv: {k} output positions per image batch is too many for the native kernels");
        return (splits, (int)chunk);
    }

    /// <summary>The tensor-core kernels need the pass's reduction channels per tap (cg forward, og
    /// backward-data) a multiple of 16, and sm_80+.</summary>
    private bool UseTensorCores(int reductionChannels)
    {
        if (!_tensorCores || reductionChannels % 16 != 0) return false;
        // On emu only the test hook turns it on (a software mma runs the same kernel).
        return _cuda is null || _cuda.Device.ComputeCapability.Major >= 8;
    }

    /// <summary>A native convolution on emu whose forward and data gradient take the tensor-core
    /// kernels (emulated mma) where the channels allow: a test of their tiling without a GPU.</summary>
    internal static ConvNativeBase EmuTensorCoresForTests(Device emu) =>
        emu.Kind == DeviceKind.Emu ? new ConvNativeTensorCoreEmu(emu) : throw new ArgumentException("emu only", nameof(emu));

    private sealed class ConvNativeTensorCoreEmu(Device device) : ConvNativeBase(device, tensorCores: true);

    /// <summary>The tensor-core forward multiplies fp16 hi + lo splits (three products, about fp32
    /// accuracy) unless KERNELS_CONV_TC_PRECISION=fp16 asks for one fp16 product (cuDNN's fp16).</summary>
    public const string TensorCorePrecisionVariable = "KERNELS_CONV_TC_PRECISION";

    private static int TensorCoreSplit() =>
        string.Equals(Environment.GetEnvironmentVariable(TensorCorePrecisionVariable), "fp16", StringComparison.OrdinalIgnoreCase) ? 0 : 1;

    private DeviceBuffer Scratch(long n) => _device.Allocate(DType.F32, Math.Max(1, n));

    private static void RequireF32(DType dtype, string pass)
    {
        if (dtype != DType.F32)
            throw new NotSupportedException(
                $"Conv.{pass}: the native kernels are float32 only, got {dtype.Name()}; run float64 on the cpu device");
    }
}

/// <summary>The native convolution on the emu device (the only implementation there).</summary>
[KernelImplementation("native", 20, DeviceKind.Emu)]
public sealed class ConvNative(Device device) : ConvNativeBase(device, tensorCores: false);

/// <summary>The native fp32 convolution on cuda (`--impl conv=native`): second after the
/// tensor-core variant, above im2col and the direct ilgpu kernels. Promoted (decision 0011) after
/// the H100 device check of 2026-11-27 17:26 UTC passed its self-test (docs/gpu-results.md).</summary>
[KernelImplementation("native", 25, DeviceKind.Cuda)]
public sealed class ConvNativeCuda(Device device) : ConvNativeBase(device, tensorCores: false);

/// <summary>The native convolution with the tensor-core forward and data gradient (mma.sync
/// m16n8k16, fp16 operands, fp32 accumulation) where the device is sm_80+ and the reduction's
/// channels per group (input channels forward, output channels backward-data) are a multiple of
/// 16; other shapes and the weight gradient take the fp32 kernels. The cuda default since the
/// H100 device check of 2026-11-27 17:26 UTC passed its self-test at fp32 tolerances and timed it
/// fastest of the four (docs/gpu-results.md; decision 0011). Precision: see
/// <see cref="ConvNativeBase.TensorCorePrecisionVariable"/>.</summary>
[KernelImplementation("native-tc", 30, DeviceKind.Cuda)]
public sealed class ConvNativeTensorCore(Device device) : ConvNativeBase(device, tensorCores: true);
