using System.Runtime.InteropServices;
using Kernels.Bindings.Cuda;
using Kernels.Bindings.Emu;

namespace Kernels.Ops.Conv;

/// <summary>struct Conv3dParams of native/include/kernels/conv3d.h: 22 ints in this order, 88
/// bytes, passed by value to the kernels (by pointer to the emu wrappers). Ranks 1 and 2 get
/// leading axes of size 1 (kernel 1, stride 1, padding 0, dilation 1).</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct Conv3dParams(
    int N, int Cin, int Cout, int Groups, int ID, int IH, int IW, int OD, int OH, int OW,
    int KD, int KH, int KW, int SD, int SH, int SW, int PD, int PH, int PW, int DD, int DH, int DW)
{
    public long InPositions => (long)ID * IH * IW;
    public long OutPositions => (long)OD * OH * OW;
    public int Taps => KD * KH * KW;

    public static Conv3dParams Of(in ConvShape s)
    {
        if (s.SpatialRank is < 1 or > 3)
            throw new NotSupportedException($"Conv: {s.SpatialRank} spatial axes; the native kernels take 1 to 3");
        var g = ConvGeometry3.Of(s);
        return new(s.Batch, s.InChannels, s.OutChannels, s.Groups, g.InD, g.InH, g.InW, g.OutD, g.OutH, g.OutW,
            g.KD, g.KH, g.KW, g.SD, g.SH, g.SW, g.PD, g.PH, g.PW, g.DD, g.DH, g.DW);
    }
}

/// <summary>The launches: through libkernels_emu.so's wrappers on emu, or the kernels of the
/// conv3d module on cuda with the wrappers' geometry (kernel parameter types exactly: int, float,
/// long long as long, pointers as ulong, the parameter struct by value).</summary>
public abstract unsafe partial class ConvNativeBase
{
    // Tile constants of native/include/kernels/conv3d.h.
    private const int Tile = 64, ReductionStep = 16, GemmThreads = 256, TensorCoreThreads = 128, TransposeTile = 32,
        TransposeRows = 8;

    // Indices into _cuda (native/conv3d.cu) and _cudaTc (native/conv3d_tc.cu), in the order of the names.
    private const int FnForward = 0, FnBackwardData = 1, FnBackwardWeights = 2, FnWeightsReduce = 3, FnTranspose = 4,
        FnChannelSum = 5, FnTransposeNarrow = 6, FnChannelSumFinish = 7;

    // CONV3D_SUM_CHUNK of native/conv3d.cu: elements of one channel per conv3d_channel_sum_f32 block.
    private const long SumChunk = 4096;

    private const int TcForward = 0, TcBackwardData = 1;

    internal static readonly string[] CudaKernels =
    [
        "conv3d_forward_f32", "conv3d_backward_data_f32", "conv3d_backward_weights_f32", "conv3d_weights_reduce_f32",
        "conv3d_transpose_f32", "conv3d_channel_sum_f32", "conv3d_transpose_narrow_f32",
        "conv3d_channel_sum_finish_f32",
    ];

    internal static readonly string[] TensorCoreKernels = ["conv3d_tc_forward_f16", "conv3d_tc_backward_data_f16"];

    /// <summary>Bytes of the parameter struct as passed (tests compare with the PTX .param size).</summary>
    internal static int ParamsBytes => sizeof(Conv3dParams);

    private const int MaxArgs = 12, StorageBytes = 512;

    private readonly NativeFunctions? _cuda, _cudaTc;

    private static uint Blocks(long n, int tile) => (uint)((n + tile - 1) / tile);

    // conv3d_transpose_f32 / conv3d_transpose_narrow_f32 (the latter when a side is under a tile)
    //     (const float* src, float* dst, int batch, long long rows, long long cols)
    private void Transpose(DeviceBuffer src, DeviceBuffer dst, int batch, long rows, long cols)
    {
        if (_cuda is null)
        {
            float* ps = Ptr(src), pd = Ptr(dst);
            if (batch <= 0 || rows <= 0 || cols <= 0) return;
            EmuNative.Check(EmuNative.Conv3dTransposeF32(ps, pd, batch, rows, cols, 0), "conv3d_transpose_f32");
            return;
        }
        ulong s = CudaF32(src), d = CudaF32(dst);
        if (batch <= 0 || rows <= 0 || cols <= 0) return;
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(s);
        args.Add(d);
        args.Add(batch);
        args.Add(rows);
        args.Add(cols);
        if (rows < TransposeTile || cols < TransposeTile)
        {
            _cuda.Device.Stream.Launch(_cuda[FnTransposeNarrow], NativeModules.GridFor(rows * cols * batch, GemmThreads),
                GemmThreads, 0, args);
            return;
        }
        long rowTiles = (rows + TransposeTile - 1) / TransposeTile;
        var grid = new Dim3(Blocks(cols, TransposeTile), (uint)Math.Min(rowTiles, 65535), (uint)Math.Min(batch, 65535));
        _cuda.Device.Stream.Launch(_cuda[FnTranspose], grid, new Dim3(TransposeTile, TransposeRows), 0, args);
    }

    // conv3d_forward_f32(Conv3dParams p, x, wt, bias, scale, shift, int act, float alpha, y)
    private void ForwardKernel(in Conv3dParams p, DeviceBuffer x, DeviceBuffer wt, DeviceBuffer? bias,
        DeviceBuffer? scale, DeviceBuffer? shift, int act, float alpha, DeviceBuffer y)
    {
        long m = p.N * p.OutPositions;
        int og = p.Cout / p.Groups;
        if (_cuda is null)
        {
            var local = p;
            EmuNative.Check(EmuNative.Conv3dForwardF32((int*)&local, Ptr(x), Ptr(wt), Opt(bias), Opt(scale), Opt(shift),
                act, alpha, Ptr(y), 0), "conv3d_forward_f32");
            return;
        }
        if (m <= 0 || og <= 0) return;
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(p);
        args.Add(CudaF32(x));
        args.Add(CudaF32(wt));
        args.Add(CudaOpt(bias));
        args.Add(CudaOpt(scale));
        args.Add(CudaOpt(shift));
        args.Add(act);
        args.Add(alpha);
        args.Add(CudaF32(y));
        var grid = new Dim3(Blocks(m, Tile), Blocks(og, Tile), (uint)p.Groups);
        _cuda.Device.Stream.Launch(_cuda[FnForward], grid, GemmThreads, 0, args);
    }

    // conv3d_tc_forward_f16(Conv3dParams p, x, wd, bias, scale, shift, int act, float alpha, int split, y)
    private void ForwardTensorCores(in Conv3dParams p, DeviceBuffer x, DeviceBuffer wd, DeviceBuffer? bias,
        DeviceBuffer? scale, DeviceBuffer? shift, int act, float alpha, DeviceBuffer y)
    {
        long m = p.N * p.OutPositions;
        int og = p.Cout / p.Groups;
        if (_cuda is null)
        {
            var local = p;
            EmuNative.Check(EmuNative.Conv3dTcForwardF16((int*)&local, Ptr(x), Ptr(wd), Opt(bias), Opt(scale),
                Opt(shift), act, alpha, TensorCoreSplit(), Ptr(y), 0), "conv3d_tc_forward_f16");
            return;
        }
        var cuda = _cudaTc!;
        if (m <= 0 || og <= 0) return;
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(p);
        args.Add(CudaF32(x));
        args.Add(CudaF32(wd));
        args.Add(CudaOpt(bias));
        args.Add(CudaOpt(scale));
        args.Add(CudaOpt(shift));
        args.Add(act);
        args.Add(alpha);
        args.Add(TensorCoreSplit());
        args.Add(CudaF32(y));
        var grid = new Dim3(Blocks(m, Tile), Blocks(og, Tile), (uint)p.Groups);
        cuda.Device.Stream.Launch(cuda[TcForward], grid, TensorCoreThreads, 0, args);
    }

    // conv3d_backward_data_f32(Conv3dParams p, dy, wd, bias, dx)
    private void BackwardDataKernel(in Conv3dParams p, DeviceBuffer dy, DeviceBuffer wd, DeviceBuffer? bias, DeviceBuffer dx)
    {
        long m = p.N * p.InPositions;
        int cg = p.Cin / p.Groups;
        if (_cuda is null)
        {
            var local = p;
            EmuNative.Check(EmuNative.Conv3dBackwardDataF32((int*)&local, Ptr(dy), Ptr(wd), Opt(bias), Ptr(dx), 0),
                "conv3d_backward_data_f32");
            return;
        }
        if (m <= 0 || cg <= 0) return;
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(p);
        args.Add(CudaF32(dy));
        args.Add(CudaF32(wd));
        args.Add(CudaOpt(bias));
        args.Add(CudaF32(dx));
        var grid = new Dim3(Blocks(m, Tile), Blocks(cg, Tile), (uint)p.Groups);
        _cuda.Device.Stream.Launch(_cuda[FnBackwardData], grid, GemmThreads, 0, args);
    }

    // conv3d_tc_backward_data_f16(Conv3dParams p, dy, wt, bias, int split, dx)
    private void BackwardDataTensorCores(in Conv3dParams p, DeviceBuffer dy, DeviceBuffer wt, DeviceBuffer? bias,
        DeviceBuffer dx)
    {
        long m = p.N * p.InPositions;
        int cg = p.Cin / p.Groups;
        if (_cuda is null)
        {
            var local = p;
            EmuNative.Check(EmuNative.Conv3dTcBackwardDataF16((int*)&local, Ptr(dy), Ptr(wt), Opt(bias),
                TensorCoreSplit(), Ptr(dx), 0), "conv3d_tc_backward_data_f16");
            return;
        }
        if (m <= 0 || cg <= 0) return;
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(p);
        args.Add(CudaF32(dy));
        args.Add(CudaF32(wt));
        args.Add(CudaOpt(bias));
        args.Add(TensorCoreSplit());
        args.Add(CudaF32(dx));
        var grid = new Dim3(Blocks(m, Tile), Blocks(cg, Tile), (uint)p.Groups);
        _cudaTc!.Device.Stream.Launch(_cudaTc[TcBackwardData], grid, TensorCoreThreads, 0, args);
    }

    // conv3d_backward_weights_f32(Conv3dParams p, int chunk, x, dy, part), then
    // conv3d_weights_reduce_f32(Conv3dParams p, int splits, part, dw)
    private void BackwardWeightsKernels(in Conv3dParams p, int splits, int chunk, DeviceBuffer x, DeviceBuffer dy,
        DeviceBuffer part, DeviceBuffer dw)
    {
        int cg = p.Cin / p.Groups, og = p.Cout / p.Groups, taps = p.Taps;
        if (_cuda is null)
        {
            var local = p;
            EmuNative.Check(EmuNative.Conv3dBackwardWeightsF32((int*)&local, splits, chunk, Ptr(x), Ptr(dy), Ptr(part),
                Ptr(dw), 0), "conv3d_backward_weights_f32");
            return;
        }
        if (og <= 0 || cg <= 0 || taps <= 0) return;
        ulong px = CudaF32(x), pdy = CudaF32(dy), ppart = CudaF32(part), pdw = CudaF32(dw);
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var gemm = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        gemm.Add(p);
        gemm.Add(chunk);
        gemm.Add(px);
        gemm.Add(pdy);
        gemm.Add(ppart);
        var grid = new Dim3(Blocks(og, Tile), Blocks((long)taps * cg, Tile), (uint)(p.Groups * splits));
        _cuda.Device.Stream.Launch(_cuda[FnBackwardWeights], grid, GemmThreads, 0, gemm);

        var reduce = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        reduce.Add(p);
        reduce.Add(splits);
        reduce.Add(ppart);
        reduce.Add(pdw);
        long total = (long)p.Cout * cg * taps;
        _cuda.Device.Stream.Launch(_cuda[FnWeightsReduce], NativeModules.GridFor(total, GemmThreads), GemmThreads, 0,
            reduce);
    }

    // conv3d_channel_sum_f32(int batch, int channels, long long spatial, t, part) on a (chunks, channels) grid,
    // then conv3d_channel_sum_finish_f32(int channels, int chunks, part, sum), a warp per channel.
    private void ChannelSumKernel(int batch, int channels, long spatial, DeviceBuffer t, DeviceBuffer sum)
    {
        if (_cuda is null)
        {
            float* pt = Ptr(t), ps = Ptr(sum);
            if (channels <= 0) return;
            EmuNative.Check(EmuNative.Conv3dChannelSumF32(batch, channels, spatial, pt, ps, 0), "conv3d_channel_sum_f32");
            return;
        }
        ulong a = CudaF32(t), b = CudaF32(sum);
        if (channels <= 0) return;
        long count = (long)batch * spatial;
        long chunks = count > 0 ? (count + SumChunk - 1) / SumChunk : 1;
        using var part = Scratch(chunks * channels);
        ulong pp = CudaF32(part);
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(batch);
        args.Add(channels);
        args.Add(spatial);
        args.Add(a);
        args.Add(pp);
        var grid = new Dim3((uint)chunks, (uint)Math.Min(channels, 65535));
        _cuda.Device.Stream.Launch(_cuda[FnChannelSum], grid, GemmThreads, 0, args);

        var finish = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        finish.Add(channels);
        finish.Add((int)chunks);
        finish.Add(pp);
        finish.Add(b);
        _cuda.Device.Stream.Launch(_cuda[FnChannelSumFinish], NativeModules.GridFor(32L * channels, GemmThreads),
            GemmThreads, 0, finish);
    }

    private ulong CudaF32(DeviceBuffer b)
    {
        var c = CudaBuffer.Of(b, _cuda!.Device);
        if (c.DType != DType.F32)
            throw new ArgumentException($"Conv: a {c.DType.Name()} buffer was passed where float32 was expected");
        return c.Pointer;
    }

    private ulong CudaOpt(DeviceBuffer? b) => b is null ? 0UL : CudaF32(b);

    private static float* Ptr(DeviceBuffer b)
    {
        var e = EmuBuffer.Of(b);
        if (e.DType != DType.F32)
            throw new ArgumentException($"Conv: a {e.DType.Name()} buffer was passed where float32 was expected");
        return (float*)e.Pointer;
    }

    private static float* Opt(DeviceBuffer? b) => b is null ? null : Ptr(b);
}
