using Kernels.Bindings.Cuda;
using Kernels.Bindings.Emu;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Registry;

namespace Kernels.Ops.GroupDecode;

/// <summary>native/group_decode.cu (design and the scratch trade-off: see the .cu's header and
/// <see cref="GroupDecodeIlgpu"/>). On emu the .cu's host wrappers run in libkernels_emu.so; on
/// cuda the same kernels are launched here with the wrappers' geometry. Absent optional buffers are
/// null pointers. float32 only.</summary>
[KernelImplementation("native", 20, DeviceKind.Emu, DeviceKind.Cuda)]
public sealed unsafe class GroupDecodeNative(Device device) : IGroupDecode
{
    private const int ForwardFn = 0, BackwardFn = 1, AslRowsFn = 2, AslFinishFn = 3, GemmFn = 4;
    private const uint RowThreads = 256;

    // GROUP_DECODE_GEMM_MIN_G, GD_TILE, GD_THREADS of native/group_decode.cu: from this g on, the
    // forward, dx and dw are per-group register-tiled GEMMs (group_decode_gemm_f32, modes 0, 1, 2).
    private const int GemmMinG = 8, GemmTile = 64;
    private const uint GemmThreads = 256;

    private readonly NativeFunctions? _cuda = device is CudaDevice c
        ? new NativeFunctions(c, "group_decode", "group_decode_forward_f32", "group_decode_backward_f32",
            "group_decode_asl_rows_f32", "group_decode_asl_finish_f32", "group_decode_gemm_f32")
        : null;

    public void Forward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        RequireF32(y.DType, "Forward");
        var s = shape;
        if (_cuda is not null)
        {
            long total = (long)s.Batch * s.Classes;
            ulong px = Cuda(x), pw = Cuda(w), pb = Cuda(bias), py = Cuda(y);
            if (total <= 0) return;
            if (s.PerGroup >= GemmMinG)
            {
                Gemm(_cuda, s, 0, px, pw, 0, pb, 0, py);
                return;
            }
            const int count = 9;
            byte* storage = stackalloc byte[KernelArguments.StorageFor(count)];
            nint* slots = stackalloc nint[count];
            var args = new KernelArguments(slots, count, storage, KernelArguments.StorageFor(count));
            args.Add(px);
            args.Add(pw);
            args.Add(pb);
            args.Add(py);
            AddShape(ref args, s);
            // A warp per logit (group_decode_forward_f32).
            _cuda.Device.Stream.Launch(_cuda[ForwardFn], NativeModules.GridFor(total * 32), NativeModules.Block, 0, args);
            return;
        }
        EmuNative.Check(EmuNative.GroupDecodeForwardF32(Ptr(x), Ptr(w), Ptr(bias), Ptr(y), s.Batch, s.Groups, s.Dim,
            s.PerGroup, s.Classes, 0), "group_decode_forward_f32");
    }

    public void Backward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer dy,
        DeviceBuffer? dx, DeviceBuffer? dw, DeviceBuffer? dbias)
    {
        RequireF32(dy.DType, "Backward");
        var s = shape;
        if (_cuda is not null)
        {
            BackwardCuda(_cuda, s, Cuda(x), Cuda(w), Cuda(dy), Cuda(dx), Cuda(dw), Cuda(dbias), 0);
            return;
        }
        EmuNative.Check(EmuNative.GroupDecodeBackwardF32(Ptr(x), Ptr(w), Ptr(dy), Ptr(dx), Ptr(dw), Ptr(dbias), null,
            s.Batch, s.Groups, s.Dim, s.PerGroup, s.Classes, 0), "group_decode_backward_f32");
    }

    public void ForwardAsl(in GroupDecodeShape shape, in AslOptions options, DeviceBuffer x, DeviceBuffer w,
        DeviceBuffer? bias, DeviceBuffer targets, DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dx,
        DeviceBuffer? dw, DeviceBuffer? dbias)
    {
        RequireF32(loss.DType, "ForwardAsl");
        var s = shape;
        var o = options;
        var p = new EmuAslParams
        {
            GammaPos = (float)o.GammaPos, GammaNeg = (float)o.GammaNeg, Clip = (float)o.Clip, Eps = (float)o.Eps,
            AlphaPos = (float)o.AlphaPos, AlphaNeg = (float)o.AlphaNeg, GammaUnannotated = (float)o.GammaUnannotated,
            AlphaUnannotated = (float)o.AlphaUnannotated, FocusConstant = o.FocusingWeightConstant ? 1 : 0,
            Mean = o.Mean ? 1 : 0,
        };
        if (s.Batch <= 0 || s.Classes <= 0) return;
        // Scratch: the weighted logit gradients [B, N], and per-tile loss and count plus the scale [2T + 1].
        long tiles = (long)s.Batch * ((s.Classes + RowThreads - 1) / RowThreads);
        using var grads = device.Allocate(DType.F32, (long)s.Batch * s.Classes);
        using var part = device.Allocate(DType.F32, 2 * tiles + 1);
        if (_cuda is not null)
        {
            AslCuda(_cuda, s, tiles, p, Cuda(x), Cuda(w), Cuda(bias), Cuda(targets), Cuda(weights), Cuda(loss),
                Cuda(grads), Cuda(part));
            BackwardCuda(_cuda, s, Cuda(x), Cuda(w), Cuda(grads), Cuda(dx), Cuda(dw), Cuda(dbias),
                Cuda(part) + (ulong)(2 * tiles * sizeof(float)));
            return;
        }
        EmuNative.Check(EmuNative.GroupDecodeAslF32(Ptr(x), Ptr(w), Ptr(bias), Ptr(targets), Ptr(weights), Ptr(loss),
            Ptr(dx), Ptr(dw), Ptr(dbias), Ptr(grads), Ptr(part), s.Batch, s.Groups, s.Dim, s.PerGroup, s.Classes, &p, 0),
            "group_decode_asl_f32");
    }

    private static void AddShape(ref KernelArguments args, in GroupDecodeShape s)
    {
        args.Add(s.Batch);
        args.Add(s.Groups);
        args.Add(s.Dim);
        args.Add(s.PerGroup);
        args.Add(s.Classes);
    }

    // g >= GemmMinG: dx, dw by group_decode_gemm_f32 (modes 1, 2), dbias alone by group_decode_backward_f32;
    // smaller g all in group_decode_backward_f32(x, w, dy, dx, dw, dbias, scale, batch, groups, dim, g, n, nx, nw, nb).
    private static void BackwardCuda(NativeFunctions fns, in GroupDecodeShape s, ulong px, ulong pw, ulong pdy, ulong pdx,
        ulong pdw, ulong pdb, ulong pscale)
    {
        bool gemm = s.PerGroup >= GemmMinG;
        if (gemm)
        {
            if (pdx != 0) Gemm(fns, s, 1, px, pw, pdy, 0, pscale, pdx);
            if (pdw != 0) Gemm(fns, s, 2, px, pw, pdy, 0, pscale, pdw);
        }
        long nx = pdx == 0 || gemm ? 0 : (long)s.Batch * s.Groups * s.Dim;
        long nw = pdw == 0 || gemm ? 0 : (long)s.Groups * s.Dim * s.PerGroup;
        long nb = pdb == 0 ? 0 : s.Classes;
        long total = nx + nw + nb;
        if (total <= 0) return;
        const int count = 15;
        byte* storage = stackalloc byte[KernelArguments.StorageFor(count)];
        nint* slots = stackalloc nint[count];
        var args = new KernelArguments(slots, count, storage, KernelArguments.StorageFor(count));
        args.Add(px);
        args.Add(pw);
        args.Add(pdy);
        args.Add(pdx);
        args.Add(pdw);
        args.Add(pdb);
        args.Add(pscale);
        AddShape(ref args, s);
        args.Add(nx);
        args.Add(nw);
        args.Add(nb);
        fns.Device.Stream.Launch(fns[BackwardFn], NativeModules.GridFor(total), NativeModules.Block, 0, args);
    }

    // group_decode_gemm_f32(x, w, dy, bias, scale, out, int mode, batch, groups, dim, g, n): grid (column tiles,
    // row tiles, groups capped at MaxBlocks) of 64×64 tiles, as the .cu's group_decode_gemm wrapper.
    private static void Gemm(NativeFunctions fns, in GroupDecodeShape s, int mode, ulong px, ulong pw, ulong pdy,
        ulong pbias, ulong pscale, ulong pout)
    {
        int rows = mode == 2 ? s.Dim : s.Batch, cols = mode == 1 ? s.Dim : s.PerGroup;
        if (rows <= 0 || cols <= 0 || s.Groups <= 0) return;
        const int count = 12;
        byte* storage = stackalloc byte[KernelArguments.StorageFor(count)];
        nint* slots = stackalloc nint[count];
        var args = new KernelArguments(slots, count, storage, KernelArguments.StorageFor(count));
        args.Add(px);
        args.Add(pw);
        args.Add(pdy);
        args.Add(pbias);
        args.Add(pscale);
        args.Add(pout);
        args.Add(mode);
        AddShape(ref args, s);
        var grid = new Dim3((uint)((cols + GemmTile - 1) / GemmTile), (uint)((rows + GemmTile - 1) / GemmTile),
            (uint)Math.Min(s.Groups, NativeModules.MaxBlocks));
        fns.Device.Stream.Launch(fns[GemmFn], grid, new Dim3(GemmThreads), 0, args);
    }

    // group_decode_asl_rows_f32(x, w, bias, targets, weights, grads, part, batch, groups, dim, g, n, 8 floats, focus)
    // then group_decode_asl_finish_f32(part, loss, long long tiles, mean).
    private static void AslCuda(NativeFunctions fns, in GroupDecodeShape s, long tiles, in EmuAslParams p, ulong px, ulong pw,
        ulong pb, ulong pt, ulong pwt, ulong ploss, ulong pgrads, ulong ppart)
    {
        var stream = fns.Device.Stream;
        {
            const int count = 21;
            byte* storage = stackalloc byte[KernelArguments.StorageFor(count)];
            nint* slots = stackalloc nint[count];
            var args = new KernelArguments(slots, count, storage, KernelArguments.StorageFor(count));
            args.Add(px);
            args.Add(pw);
            args.Add(pb);
            args.Add(pt);
            args.Add(pwt);
            args.Add(pgrads);
            args.Add(ppart);
            AddShape(ref args, s);
            args.Add(p.GammaPos);
            args.Add(p.GammaNeg);
            args.Add(p.Clip);
            args.Add(p.Eps);
            args.Add(p.AlphaPos);
            args.Add(p.AlphaNeg);
            args.Add(p.GammaUnannotated);
            args.Add(p.AlphaUnannotated);
            args.Add(p.FocusConstant);
            stream.Launch(fns[AslRowsFn], new Dim3((uint)Math.Min(tiles, NativeModules.MaxBlocks)), new Dim3(RowThreads), 0,
                args);
        }
        {
            const int count = 4;
            byte* storage = stackalloc byte[KernelArguments.StorageFor(count)];
            nint* slots = stackalloc nint[count];
            var args = new KernelArguments(slots, count, storage, KernelArguments.StorageFor(count));
            args.Add(ppart);
            args.Add(ploss);
            args.Add(tiles);
            args.Add(p.Mean);
            stream.Launch(fns[AslFinishFn], new Dim3(1), new Dim3(32), 0, args);
        }
    }

    private static void RequireF32(DType dtype, string pass)
    {
        if (dtype != DType.F32)
            throw new NotSupportedException(
                $"GroupDecode.{pass}: the native kernels are float32 only, got {dtype.Name()}; run float64 on the cpu device");
    }

    private ulong Cuda(DeviceBuffer? b)
    {
        if (b is null) return 0;
        var c = CudaBuffer.Of(b, (CudaDevice)device);
        if (c.DType != DType.F32)
            throw new ArgumentException($"GroupDecode: a {c.DType.Name()} buffer was passed where float32 was expected");
        return c.Pointer;
    }

    private static float* Ptr(DeviceBuffer? b)
    {
        if (b is null) return null;
        var e = EmuBuffer.Of(b);
        if (e.DType != DType.F32)
            throw new ArgumentException($"GroupDecode: a {e.DType.Name()} buffer was passed where float32 was expected");
        return (float*)e.Pointer;
    }
}
