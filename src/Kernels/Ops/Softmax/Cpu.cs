using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Softmax;

/// <summary>Reference softmax. With inner = 1 each lane is a contiguous row handled by
/// TensorPrimitives; otherwise a block of inner lanes is processed at once, row by row, with the
/// per-lane max and sum kept in small scratch rows.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class SoftmaxCpu : ISoftmax
{
    private const int InnerChunk = 512;

    public void Forward(in SoftmaxShape shape, bool log, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Forward(shape, log, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: Forward(shape, log, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            default: throw new NotSupportedException($"Softmax: dtype {y.DType.Name()} is not supported on the cpu");
        }
    }

    public void Backward(in SoftmaxShape shape, bool log, DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx)
    {
        switch (dx.DType)
        {
            case DType.F32:
                Backward(shape, log, CpuBuffer.Array<float>(y), CpuBuffer.Array<float>(dy), CpuBuffer.Array<float>(dx));
                break;
            case DType.F64:
                Backward(shape, log, CpuBuffer.Array<double>(y), CpuBuffer.Array<double>(dy), CpuBuffer.Array<double>(dx));
                break;
            default: throw new NotSupportedException($"Softmax: dtype {dx.DType.Name()} is not supported on the cpu");
        }
    }

    private static void Forward<T>(SoftmaxShape s, bool log, T[] x, T[] y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = s.Axis;
        long inner = s.Inner;
        if (s.Numel == 0) return;
        if (inner == 1)
        {
            CpuParallel.For(s.Outer, 8L * n, (o0, o1) =>
            {
                for (long o = o0; o < o1; o++)
                {
                    var xr = x.AsSpan((int)(o * n), n);
                    var yr = y.AsSpan((int)(o * n), n);
                    T m = TensorPrimitives.Max<T>(xr);
                    TensorPrimitives.Subtract(xr, m, yr); // all −∞: −∞ − (−∞) = NaN, PyTorch's answer
                    if (log)
                    {
                        // log Σ exp(x − m) without a scratch row: exp into y, sum, then redo the shift.
                        TensorPrimitives.Exp(yr, yr);
                        T lse = T.Log(TensorPrimitives.Sum<T>(yr));
                        TensorPrimitives.Subtract(xr, m + lse, yr);
                    }
                    else
                    {
                        TensorPrimitives.Exp(yr, yr);
                        TensorPrimitives.Multiply(yr, T.One / TensorPrimitives.Sum<T>(yr), yr);
                    }
                }
            });
            return;
        }
        long chunks = (inner + InnerChunk - 1) / InnerChunk;
        CpuParallel.For(s.Outer * chunks, 8L * n * Math.Min(inner, InnerChunk), (u0, u1) =>
        {
            Span<T> max = stackalloc T[InnerChunk];
            Span<T> sum = stackalloc T[InnerChunk];
            for (long u = u0; u < u1; u++)
            {
                long o = u / chunks;
                long i0 = (u - o * chunks) * InnerChunk;
                int len = (int)Math.Min(InnerChunk, inner - i0);
                long b = o * n * inner + i0;
                var m = max[..len];
                var z = sum[..len];
                x.AsSpan((int)b, len).CopyTo(m);
                for (int r = 1; r < n; r++) TensorPrimitives.Max(m, x.AsSpan((int)(b + r * inner), len), m);
                z.Clear();
                for (int r = 0; r < n; r++)
                {
                    var yr = y.AsSpan((int)(b + r * inner), len);
                    TensorPrimitives.Subtract(x.AsSpan((int)(b + r * inner), len), m, yr);
                    TensorPrimitives.Exp(yr, yr);
                    TensorPrimitives.Add(z, yr, z);
                }
                if (log)
                {
                    TensorPrimitives.Log(z, z);
                    TensorPrimitives.Add(m, z, m); // m + log Σ
                    for (int r = 0; r < n; r++)
                        TensorPrimitives.Subtract(x.AsSpan((int)(b + r * inner), len), m, y.AsSpan((int)(b + r * inner), len));
                }
                else
                {
                    TensorPrimitives.Reciprocal(z, z);
                    for (int r = 0; r < n; r++)
                    {
                        var yr = y.AsSpan((int)(b + r * inner), len);
                        TensorPrimitives.Multiply(yr, z, yr);
                    }
                }
            }
        });
    }

    private static void Backward<T>(SoftmaxShape s, bool log, T[] y, T[] dy, T[] dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = s.Axis;
        long inner = s.Inner;
        if (s.Numel == 0) return;
        if (inner == 1)
        {
            CpuParallel.For(s.Outer, 6L * n, (o0, o1) =>
            {
                for (long o = o0; o < o1; o++)
                {
                    var yr = y.AsSpan((int)(o * n), n);
                    var gr = dy.AsSpan((int)(o * n), n);
                    var dr = dx.AsSpan((int)(o * n), n);
                    if (log)
                    {
                        T gs = TensorPrimitives.Sum<T>(gr);
                        TensorPrimitives.Exp(yr, dr);
                        // dx = g − softmax·Σg, as −Σg·softmax + g in one fused pass
                        TensorPrimitives.MultiplyAdd(dr, -gs, gr, dr);
                    }
                    else
                    {
                        T dot = TensorPrimitives.Dot(gr, yr);
                        TensorPrimitives.Subtract(gr, dot, dr);
                        TensorPrimitives.Multiply(dr, yr, dr);
                    }
                }
            });
            return;
        }
        long chunks = (inner + InnerChunk - 1) / InnerChunk;
        CpuParallel.For(s.Outer * chunks, 6L * n * Math.Min(inner, InnerChunk), (u0, u1) =>
        {
            Span<T> acc = stackalloc T[InnerChunk];
            Span<T> tmp = stackalloc T[InnerChunk];
            for (long u = u0; u < u1; u++)
            {
                long o = u / chunks;
                long i0 = (u - o * chunks) * InnerChunk;
                int len = (int)Math.Min(InnerChunk, inner - i0);
                long b = o * n * inner + i0;
                var a = acc[..len];
                var t = tmp[..len];
                a.Clear();
                for (int r = 0; r < n; r++)
                {
                    var gr = dy.AsSpan((int)(b + r * inner), len);
                    if (log) TensorPrimitives.Add(a, gr, a);
                    else TensorPrimitives.MultiplyAdd(gr, y.AsSpan((int)(b + r * inner), len), a, a);
                }
                for (int r = 0; r < n; r++)
                {
                    var yr = y.AsSpan((int)(b + r * inner), len);
                    var gr = dy.AsSpan((int)(b + r * inner), len);
                    var dr = dx.AsSpan((int)(b + r * inner), len);
                    if (log)
                    {
                        TensorPrimitives.Exp(yr, t);
                        TensorPrimitives.Multiply(t, a, t);
                        TensorPrimitives.Subtract(gr, t, dr);
                    }
                    else
                    {
                        TensorPrimitives.Subtract(gr, a, dr);
                        TensorPrimitives.Multiply(dr, yr, dr);
                    }
                }
            }
        });
    }
}
