using Kernels.Bindings.Cuda;
using Kernels.Bindings.Emu;
using Kernels.Ops.Dropout;
using Kernels.Registry;

namespace Kernels.Ops.AttentionDecode;

/// <summary>native/attention_decode.cu. On the emu device it runs in libkernels_emu.so; on a cuda
/// device the same source's module is launched with the geometry of the .cu's host wrappers:
/// blocks of 128 threads; forward, row sums and dq over (query tiles of 16, heads, images), dk/dv
/// over (token tiles of 16, heads, images). Head dim up to 128; float32 only.</summary>
[KernelImplementation("native", 20, DeviceKind.Emu, DeviceKind.Cuda)]
public sealed unsafe class AttentionDecodeNative(Device device) : IAttentionDecode
{
    /// <summary>AD_DMAX of the .cu: a lane holds 4 head-dim elements.</summary>
    public const int MaxHeadDim = 128;

    // Tile sizes of the .cu (AD_THREADS, AD_QT, AD_TT).
    private const uint Threads = 128;
    private const int QueryTile = 16, TokenTile = 16;

    private const int FnForward = 0, FnRowSum = 1, FnDkDv = 2, FnDq = 3;

    internal static readonly string[] CudaKernels =
    [
        "attention_decode_forward_f32", "attention_decode_rowsum_f32", "attention_decode_dkdv_f32",
        "attention_decode_dq_f32",
    ];

    private const int MaxArgs = 16;

    private readonly NativeFunctions? _cuda = device is CudaDevice c
        ? new NativeFunctions(c, "attention_decode", CudaKernels)
        : null;

    public void Forward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer o,
        DeviceBuffer? probs)
    {
        RequireF32(o.DType, "Forward");
        var p = Params.Of(shape);
        if (_cuda is not null)
        {
            ForwardCuda(_cuda, shape, p, q, k, v, o, probs);
            return;
        }
        float* pProbs = probs is null ? null : Ptr(probs);
        EmuNative.Check(EmuNative.AttentionDecodeForwardF32(shape.Batch, shape.Queries, shape.Tokens, shape.Heads,
            shape.HeadDim, p.Scale, p.Threshold, p.KeyA, p.KeyB, p.KeepScale, Ptr(q), Ptr(k), Ptr(v), Ptr(o), pProbs, 0),
            "attention_decode_forward_f32");
    }

    public void Backward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v,
        DeviceBuffer probs, DeviceBuffer dO, DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv)
    {
        RequireF32(dq.DType, "Backward");
        var p = Params.Of(shape);
        if (_cuda is not null)
        {
            BackwardCuda(_cuda, shape, p, q, k, v, probs, dO, dq, dk, dv);
            return;
        }
        EmuNative.Check(EmuNative.AttentionDecodeBackwardF32(shape.Batch, shape.Queries, shape.Tokens, shape.Heads,
            shape.HeadDim, p.Scale, p.Threshold, p.KeyA, p.KeyB, p.KeepScale, Ptr(q), Ptr(k), Ptr(v), Ptr(probs),
            Ptr(dO), Ptr(dq), Ptr(dk), Ptr(dv), 0), "attention_decode_backward_f32");
    }

    /// <summary>The scalar kernel arguments shared by every launch; also checks what the kernels
    /// cannot do.</summary>
    private readonly record struct Params(float Scale, uint Threshold, uint KeyA, uint KeyB, float KeepScale)
    {
        public static Params Of(in AttentionDecodeShape s)
        {
            if (s.HeadDim > MaxHeadDim)
                throw new NotSupportedException(
                    $"AttentionDecode: the native kernels take head dim up to {MaxHeadDim}, got {s.HeadDim}; use the ilgpu or cpu implementation");
            if (s.Tokens <= 0 && s.Batch > 0 && s.Queries > 0 && s.Heads > 0 && s.HeadDim > 0)
                throw new ArgumentException($"AttentionDecode: softmax over zero tokens (shape {s})");
            var (a, b) = DropoutMask.Keys(s.Seed);
            return new((float)s.Scale, DropoutMask.Threshold(s.DropoutP), a, b, (float)(1.0 / (1.0 - s.DropoutP)));
        }
    }

    private static bool Empty(in AttentionDecodeShape s) => s.Batch <= 0 || s.Queries <= 0 || s.Heads <= 0 || s.HeadDim <= 0;

    private static Dim3 RowGrid(in AttentionDecodeShape s) =>
        new((uint)((s.Queries + QueryTile - 1) / QueryTile), (uint)s.Heads, (uint)s.Batch);

    private static void AddCommon(ref KernelArguments args, in AttentionDecodeShape s, in Params p, bool withScale)
    {
        args.Add(s.Queries);
        args.Add(s.Tokens);
        args.Add(s.Heads);
        args.Add(s.HeadDim);
        if (withScale) args.Add(p.Scale);
        args.Add(p.Threshold);
        args.Add(p.KeyA);
        args.Add(p.KeyB);
        args.Add(p.KeepScale);
    }

    // attention_decode_forward_f32(int nq, int nt, int nh, int hd, float scale, unsigned threshold,
    //     unsigned key_a, unsigned key_b, float keep_scale, q, k, v, o, probs)
    private static void ForwardCuda(NativeFunctions fns, in AttentionDecodeShape s, in Params p, DeviceBuffer q,
        DeviceBuffer k, DeviceBuffer v, DeviceBuffer o, DeviceBuffer? probs)
    {
        var cuda = fns.Device;
        ulong pq = CudaF32(q, cuda), pk = CudaF32(k, cuda), pv = CudaF32(v, cuda), po = CudaF32(o, cuda);
        ulong pp = probs is null ? 0UL : CudaF32(probs, cuda);
        if (Empty(s)) return;
        byte* storage = stackalloc byte[KernelArguments.StorageFor(MaxArgs)];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, KernelArguments.StorageFor(MaxArgs));
        AddCommon(ref args, s, p, withScale: true);
        args.Add(pq);
        args.Add(pk);
        args.Add(pv);
        args.Add(po);
        args.Add(pp);
        cuda.Stream.Launch(fns[FnForward], RowGrid(s), Threads, 0, args);
    }

    // The three launches of kernels_attention_decode_backward_f32, in its order (dq holds the row
    // sums between the first and the last).
    private static void BackwardCuda(NativeFunctions fns, in AttentionDecodeShape s, in Params p, DeviceBuffer q,
        DeviceBuffer k, DeviceBuffer v, DeviceBuffer probs, DeviceBuffer dO, DeviceBuffer dq, DeviceBuffer dk,
        DeviceBuffer dv)
    {
        var cuda = fns.Device;
        ulong pq = CudaF32(q, cuda), pk = CudaF32(k, cuda), pv = CudaF32(v, cuda), pp = CudaF32(probs, cuda),
            pdo = CudaF32(dO, cuda), pdq = CudaF32(dq, cuda), pdk = CudaF32(dk, cuda), pdv = CudaF32(dv, cuda);
        if (Empty(s)) return;
        int bytes = KernelArguments.StorageFor(MaxArgs);
        byte* storage = stackalloc byte[bytes];
        nint* slots = stackalloc nint[MaxArgs];

        // attention_decode_rowsum_f32(int nq, int nt, int nh, int hd, unsigned threshold, unsigned key_a,
        //     unsigned key_b, float keep_scale, v, probs, dout, dq)
        var rowsum = new KernelArguments(slots, MaxArgs, storage, bytes);
        AddCommon(ref rowsum, s, p, withScale: false);
        rowsum.Add(pv);
        rowsum.Add(pp);
        rowsum.Add(pdo);
        rowsum.Add(pdq);
        cuda.Stream.Launch(fns[FnRowSum], RowGrid(s), Threads, 0, rowsum);

        // attention_decode_dkdv_f32(int nq, int nt, int nh, int hd, float scale, unsigned threshold,
        //     unsigned key_a, unsigned key_b, float keep_scale, q, v, probs, dout, dq, dk, dv)
        var dkdv = new KernelArguments(slots, MaxArgs, storage, bytes);
        AddCommon(ref dkdv, s, p, withScale: true);
        dkdv.Add(pq);
        dkdv.Add(pv);
        dkdv.Add(pp);
        dkdv.Add(pdo);
        dkdv.Add(pdq);
        dkdv.Add(pdk);
        dkdv.Add(pdv);
        var tokenGrid = new Dim3((uint)((s.Tokens + TokenTile - 1) / TokenTile), (uint)s.Heads, (uint)s.Batch);
        cuda.Stream.Launch(fns[FnDkDv], tokenGrid, Threads, 0, dkdv);

        // attention_decode_dq_f32(int nq, int nt, int nh, int hd, float scale, unsigned threshold,
        //     unsigned key_a, unsigned key_b, float keep_scale, k, v, probs, dout, dq)
        var dqArgs = new KernelArguments(slots, MaxArgs, storage, bytes);
        AddCommon(ref dqArgs, s, p, withScale: true);
        dqArgs.Add(pk);
        dqArgs.Add(pv);
        dqArgs.Add(pp);
        dqArgs.Add(pdo);
        dqArgs.Add(pdq);
        cuda.Stream.Launch(fns[FnDq], RowGrid(s), Threads, 0, dqArgs);
    }

    private static void RequireF32(DType dtype, string pass)
    {
        if (dtype != DType.F32)
            throw new NotSupportedException(
                $"AttentionDecode.{pass}: the native kernels are float32 only, got {dtype.Name()}; run float64 on the cpu device");
    }

    private static ulong CudaF32(DeviceBuffer b, CudaDevice device)
    {
        var c = CudaBuffer.Of(b, device);
        if (c.DType != DType.F32)
            throw new ArgumentException($"AttentionDecode: a {c.DType.Name()} buffer was passed where float32 was expected");
        return c.Pointer;
    }

    private static float* Ptr(DeviceBuffer b)
    {
        var e = EmuBuffer.Of(b);
        if (e.DType != DType.F32)
            throw new ArgumentException($"AttentionDecode: a {e.DType.Name()} buffer was passed where float32 was expected");
        return (float*)e.Pointer;
    }
}
