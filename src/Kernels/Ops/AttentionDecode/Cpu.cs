using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Ops.Dropout;
using Kernels.Registry;

namespace Kernels.Ops.AttentionDecode;

/// <summary>Reference attention decoding, parallel over (image, head). Each work item copies its
/// head's slices of q, k, v into contiguous scratch rows so that every dot product is a
/// TensorPrimitives call on contiguous spans.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class AttentionDecodeCpu : IAttentionDecode
{
    public void Forward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer o,
        DeviceBuffer? probs)
    {
        switch (o.DType)
        {
            case DType.F32:
                Forward(shape, CpuBuffer.Array<float>(q), CpuBuffer.Array<float>(k), CpuBuffer.Array<float>(v),
                    CpuBuffer.Array<float>(o), probs is null ? null : CpuBuffer.Array<float>(probs));
                break;
            case DType.F64:
                Forward(shape, CpuBuffer.Array<double>(q), CpuBuffer.Array<double>(k), CpuBuffer.Array<double>(v),
                    CpuBuffer.Array<double>(o), probs is null ? null : CpuBuffer.Array<double>(probs));
                break;
            default: throw new NotSupportedException($"AttentionDecode: dtype {o.DType.Name()} is not supported on the cpu");
        }
    }

    public void Backward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer probs,
        DeviceBuffer dO, DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv)
    {
        switch (dq.DType)
        {
            case DType.F32:
                Backward(shape, CpuBuffer.Array<float>(q), CpuBuffer.Array<float>(k), CpuBuffer.Array<float>(v),
                    CpuBuffer.Array<float>(probs), CpuBuffer.Array<float>(dO), CpuBuffer.Array<float>(dq),
                    CpuBuffer.Array<float>(dk), CpuBuffer.Array<float>(dv));
                break;
            case DType.F64:
                Backward(shape, CpuBuffer.Array<double>(q), CpuBuffer.Array<double>(k), CpuBuffer.Array<double>(v),
                    CpuBuffer.Array<double>(probs), CpuBuffer.Array<double>(dO), CpuBuffer.Array<double>(dq),
                    CpuBuffer.Array<double>(dk), CpuBuffer.Array<double>(dv));
                break;
            default: throw new NotSupportedException($"AttentionDecode: dtype {dq.DType.Name()} is not supported on the cpu");
        }
    }

    /// <summary>Copies head h of rows [row0, row0+rows) of a [*, dim] matrix into dst [rows, hd].</summary>
    private static void Gather<T>(T[] src, long row0, int rows, int dim, int h, int hd, T[] dst)
    {
        for (int r = 0; r < rows; r++)
            Array.Copy(src, (row0 + r) * dim + (long)h * hd, dst, (long)r * hd, hd);
    }

    private static void Scatter<T>(T[] src, T[] dst, long row0, int rows, int dim, int h, int hd)
    {
        for (int r = 0; r < rows; r++)
            Array.Copy(src, (long)r * hd, dst, (row0 + r) * dim + (long)h * hd, hd);
    }

    private static void Forward<T>(AttentionDecodeShape s, T[] q, T[] k, T[] v, T[] o, T[]? probs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nq = s.Queries, nt = s.Tokens, hd = s.HeadDim, heads = s.Heads, dim = s.Dim;
        T scale = T.CreateTruncating(s.Scale);
        bool drop = s.DropoutP > 0;
        uint threshold = DropoutMask.Threshold(s.DropoutP);
        var (ka, kb) = DropoutMask.Keys(s.Seed);
        T keepScale = T.CreateTruncating(1.0 / (1.0 - s.DropoutP));
        CpuParallel.For((long)s.Batch * heads, 4L * nq * nt * hd, (u0, u1) =>
        {
            var qs = new T[(long)nq * hd];
            var ks = new T[(long)nt * hd];
            var vs = new T[(long)nt * hd];
            var os = new T[(long)nq * hd];
            var p = new T[nt];
            for (long u = u0; u < u1; u++)
            {
                int b = (int)(u / heads), h = (int)(u % heads);
                Gather(q, (long)b * nq, nq, dim, h, hd, qs);
                Gather(k, (long)b * nt, nt, dim, h, hd, ks);
                Gather(v, (long)b * nt, nt, dim, h, hd, vs);
                Array.Clear(os);
                for (int i = 0; i < nq; i++)
                {
                    var qi = qs.AsSpan(i * hd, hd);
                    for (int j = 0; j < nt; j++) p[j] = TensorPrimitives.Dot<T>(qi, ks.AsSpan(j * hd, hd)) * scale;
                    T m = TensorPrimitives.Max<T>(p);
                    TensorPrimitives.Subtract(p, m, p);
                    TensorPrimitives.Exp<T>(p, p);
                    TensorPrimitives.Multiply(p, T.One / TensorPrimitives.Sum<T>(p), p);
                    long row = (u * nq + i) * nt; // probs row of (b, h, i): the dropout index base
                    if (probs is not null) p.CopyTo(probs.AsSpan((int)row, nt));
                    var oi = os.AsSpan(i * hd, hd);
                    for (int j = 0; j < nt; j++)
                    {
                        T w = p[j];
                        if (drop) w = DropoutMask.Keep(ka, kb, (uint)(row + j), threshold) ? w * keepScale : T.Zero;
                        if (w != T.Zero) TensorPrimitives.MultiplyAdd(vs.AsSpan(j * hd, hd), w, oi, oi);
                    }
                }
                Scatter(os, o, (long)b * nq, nq, dim, h, hd);
            }
        });
    }

    private static void Backward<T>(AttentionDecodeShape s, T[] q, T[] k, T[] v, T[] probs, T[] dO, T[] dq, T[] dk, T[] dv)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nq = s.Queries, nt = s.Tokens, hd = s.HeadDim, heads = s.Heads, dim = s.Dim;
        T scale = T.CreateTruncating(s.Scale);
        bool drop = s.DropoutP > 0;
        uint threshold = DropoutMask.Threshold(s.DropoutP);
        var (ka, kb) = DropoutMask.Keys(s.Seed);
        T keepScale = T.CreateTruncating(1.0 / (1.0 - s.DropoutP));
        CpuParallel.For((long)s.Batch * heads, 8L * nq * nt * hd, (u0, u1) =>
        {
            var qs = new T[(long)nq * hd];
            var ks = new T[(long)nt * hd];
            var vs = new T[(long)nt * hd];
            var gs = new T[(long)nq * hd];
            var dqs = new T[(long)nq * hd];
            var dks = new T[(long)nt * hd];
            var dvs = new T[(long)nt * hd];
            var dp = new T[nt];
            for (long u = u0; u < u1; u++)
            {
                int b = (int)(u / heads), h = (int)(u % heads);
                Gather(q, (long)b * nq, nq, dim, h, hd, qs);
                Gather(k, (long)b * nt, nt, dim, h, hd, ks);
                Gather(v, (long)b * nt, nt, dim, h, hd, vs);
                Gather(dO, (long)b * nq, nq, dim, h, hd, gs);
                Array.Clear(dks);
                Array.Clear(dvs);
                for (int i = 0; i < nq; i++)
                {
                    var gi = gs.AsSpan(i * hd, hd);
                    var qi = qs.AsSpan(i * hd, hd);
                    long row = (u * nq + i) * nt;
                    var p = probs.AsSpan((int)row, nt);
                    // dP' = dO·vᵀ; through the mask: dP = keep ? dP'/(1−p) : 0, and dv += P'ᵀ·dO.
                    for (int j = 0; j < nt; j++)
                    {
                        T g = TensorPrimitives.Dot<T>(gi, vs.AsSpan(j * hd, hd));
                        T w = p[j];
                        if (drop)
                        {
                            bool keep = DropoutMask.Keep(ka, kb, (uint)(row + j), threshold);
                            g = keep ? g * keepScale : T.Zero;
                            w = keep ? w * keepScale : T.Zero;
                        }
                        dp[j] = g;
                        if (w != T.Zero) TensorPrimitives.MultiplyAdd(gi, w, dvs.AsSpan(j * hd, hd), dvs.AsSpan(j * hd, hd));
                    }
                    // Softmax backward: dS = P ⊙ (dP − Σ dP ⊙ P), then the scaled products with k and q.
                    T dot = TensorPrimitives.Dot<T>(dp, p);
                    var dqi = dqs.AsSpan(i * hd, hd);
                    dqi.Clear();
                    for (int j = 0; j < nt; j++)
                    {
                        T ds = p[j] * (dp[j] - dot) * scale;
                        if (ds == T.Zero) continue;
                        TensorPrimitives.MultiplyAdd(ks.AsSpan(j * hd, hd), ds, dqi, dqi);
                        TensorPrimitives.MultiplyAdd(qi, ds, dks.AsSpan(j * hd, hd), dks.AsSpan(j * hd, hd));
                    }
                }
                Scatter(dqs, dq, (long)b * nq, nq, dim, h, hd);
                Scatter(dks, dk, (long)b * nt, nt, dim, h, hd);
                Scatter(dvs, dv, (long)b * nt, nt, dim, h, hd);
            }
        });
    }
}
