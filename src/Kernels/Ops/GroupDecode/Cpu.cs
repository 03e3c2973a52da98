using System.Numerics;
using Kernels.Cpu;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Registry;

namespace Kernels.Ops.GroupDecode;

/// <summary>The reference group decoding, float32 and float64 (gradient checks). Every output
/// element is one ordered sum, so results do not depend on the thread count. ForwardAsl is the
/// composition Forward → <see cref="AslMath.EntryF64"/> → Backward (the logits do go to memory
/// here: the reference favours plainness); float32 takes the loss through the vectorised
/// <see cref="AslCpuFast"/> where it applies.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class GroupDecodeCpu : IGroupDecode
{
    public void Forward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32:
                Forward(shape, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(w), Arr<float>(bias), CpuBuffer.Array<float>(y));
                break;
            case DType.F64:
                Forward(shape, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(w), Arr<double>(bias), CpuBuffer.Array<double>(y));
                break;
            default: throw Unsupported(y.DType);
        }
    }

    public void Backward(in GroupDecodeShape shape, DeviceBuffer x, DeviceBuffer w, DeviceBuffer dy,
        DeviceBuffer? dx, DeviceBuffer? dw, DeviceBuffer? dbias)
    {
        switch (dy.DType)
        {
            case DType.F32:
                Backward(shape, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(w), CpuBuffer.Array<float>(dy),
                    Arr<float>(dx), Arr<float>(dw), Arr<float>(dbias));
                break;
            case DType.F64:
                Backward(shape, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(w), CpuBuffer.Array<double>(dy),
                    Arr<double>(dx), Arr<double>(dw), Arr<double>(dbias));
                break;
            default: throw Unsupported(dy.DType);
        }
    }

    public void ForwardAsl(in GroupDecodeShape shape, in AslOptions options, DeviceBuffer x, DeviceBuffer w,
        DeviceBuffer? bias, DeviceBuffer targets, DeviceBuffer? weights, DeviceBuffer loss, DeviceBuffer? dx,
        DeviceBuffer? dw, DeviceBuffer? dbias)
    {
        switch (loss.DType)
        {
            case DType.F32:
                ForwardAsl(shape, options, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(w), Arr<float>(bias),
                    CpuBuffer.Array<float>(targets), Arr<float>(weights), CpuBuffer.Array<float>(loss), Arr<float>(dx),
                    Arr<float>(dw), Arr<float>(dbias));
                break;
            case DType.F64:
                ForwardAsl(shape, options, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(w), Arr<double>(bias),
                    CpuBuffer.Array<double>(targets), Arr<double>(weights), CpuBuffer.Array<double>(loss), Arr<double>(dx),
                    Arr<double>(dw), Arr<double>(dbias));
                break;
            default: throw Unsupported(loss.DType);
        }
    }

    private static T[]? Arr<T>(DeviceBuffer? b) where T : unmanaged => b is null ? null : CpuBuffer.Array<T>(b);

    private static NotSupportedException Unsupported(DType dtype) =>
        new($"GroupDecode: dtype {dtype.Name()} is not supported on the cpu");

    private static void Forward<T>(GroupDecodeShape s, T[] x, T[] w, T[]? bias, T[] y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = s.Classes, g = s.PerGroup, d = s.Dim, k = s.Groups;
        CpuParallel.For((long)s.Batch * n, d, (start, end) =>
        {
            for (long i = start; i < end; i++)
            {
                long b = i / n;
                int j = (int)(i % n), grp = j / g, c = j % g;
                long xo = (b * k + grp) * d, wo = (long)grp * d * g + c;
                T acc = T.Zero;
                for (int t = 0; t < d; t++) acc += x[xo + t] * w[wo + (long)t * g];
                y[i] = bias is null ? acc : acc + bias[j];
            }
        });
    }

    private static void Backward<T>(GroupDecodeShape s, T[] x, T[] w, T[] dy, T[]? dx, T[]? dw, T[]? dbias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = s.Classes, g = s.PerGroup, d = s.Dim, k = s.Groups, batch = s.Batch;
        if (dx is not null)
            CpuParallel.For((long)batch * k * d, g, (start, end) =>
            {
                for (long i = start; i < end; i++)
                {
                    long b = i / ((long)k * d);
                    int grp = (int)(i / d % k), t = (int)(i % d);
                    int cols = Math.Min(g, n - grp * g);
                    T acc = T.Zero;
                    for (int c = 0; c < cols; c++) acc += dy[b * n + grp * g + c] * w[((long)grp * d + t) * g + c];
                    dx[i] = acc;
                }
            });
        if (dw is not null)
            CpuParallel.For((long)k * d * g, batch, (start, end) =>
            {
                for (long i = start; i < end; i++)
                {
                    int c = (int)(i % g), t = (int)(i / g % d), grp = (int)(i / ((long)g * d));
                    int j = grp * g + c;
                    T acc = T.Zero;
                    if (j < n)
                        for (int b = 0; b < batch; b++) acc += x[((long)b * k + grp) * d + t] * dy[(long)b * n + j];
                    dw[i] = acc;
                }
            });
        if (dbias is not null)
            for (int j = 0; j < n; j++)
            {
                T acc = T.Zero;
                for (int b = 0; b < batch; b++) acc += dy[(long)b * n + j];
                dbias[j] = acc;
            }
    }

    private static void ForwardAsl<T>(GroupDecodeShape s, AslOptions o, T[] x, T[] w, T[]? bias, T[] targets,
        T[]? weights, T[] loss, T[]? dx, T[]? dw, T[]? dbias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long count = (long)s.Batch * s.Classes;
        var logits = new T[count];
        Forward(s, x, w, bias, logits);
        bool wantGrad = dx is not null || dw is not null || dbias is not null;
        if (typeof(T) == typeof(float) && AslCpuFast.IsUsable(o))
        {
            // float32: the vectorised one-pass loss, its (mean-scaled) gradients written over the logits.
            var lf = (float[])(object)logits;
            loss[0] = T.CreateTruncating(AslCpuFast.Run(count, o, lf, (float[])(object)targets, (float[]?)(object?)weights,
                wantGrad ? lf : null));
            if (wantGrad) Backward(s, x, w, logits, dx, dw, dbias);
            return;
        }
        double sum = 0;
        long nonZero = 0;
        var dl = logits; // the gradients overwrite the logits in place
        for (long i = 0; i < count; i++)
        {
            double wt = weights is null ? 1 : double.CreateTruncating(weights[i]);
            if (wt != 0) nonZero++;
            double l = AslMath.EntryF64(double.CreateTruncating(logits[i]), double.CreateTruncating(targets[i]), o, out double gr);
            sum += wt * l;
            dl[i] = T.CreateTruncating(wt * gr);
        }
        double scale = o.Mean ? 1.0 / Math.Max(nonZero, 1) : 1.0;
        loss[0] = T.CreateTruncating(sum * scale);
        if (!wantGrad) return;
        if (o.Mean)
            for (long i = 0; i < count; i++) dl[i] = T.CreateTruncating(double.CreateTruncating(dl[i]) * scale);
        Backward(s, x, w, dl, dx, dw, dbias);
    }
}
