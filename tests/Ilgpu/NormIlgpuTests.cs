using Kernels.Ops.Norm;
using Kernels.Tests.Support;
using static Kernels.Tests.Support.DeviceArrays;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ILGPU norms on ilgpu-cpu against the cpu device on slices longer than a group
/// (256 threads, 8 warps, several strides per thread), with a mean far from zero (the two-pass
/// variance must not cancel), and with optional buffers left out.</summary>
public class NormIlgpuTests
{
    private static readonly Device Cpu = Device.Cpu;
    private static readonly Device Gpu = Devices.Get("ilgpu-cpu");

    [TestCase(2, 1, 300, 1, true, 0f), TestCase(1, 1, 257, 1, false, 100f), TestCase(4, 2, 3, 50, true, 5f),
     TestCase(6, 3, 4, 1, true, -2f)]
    public void GroupNormMatchesTheCpuDevice(int rows, int groupsPerSample, int channelsPerGroup, int spatial, bool affine,
        float offset)
    {
        var s = new GroupNormShape(rows, groupsPerSample, channelsPerGroup, spatial);
        int n = (int)(rows * s.RowLength);
        var r = new Random(n);
        var x = Uniform(r, n, offset - 1, offset + 1);
        var w = Uniform(r, s.Params, 0.5f, 1.5f);
        var b = Uniform(r, s.Params, -1, 1);
        var dy = Uniform(r, n, -1, 1);

        // Only the bias gradient when not affine: the weight-gradient flag must switch off alone.
        float[][] Run(Device d, INorm k) => RunGroupNorm(d, k, s, x, affine ? w : null, affine ? b : null, dy, weightGrad: affine);

        var expected = Run(Cpu, Cpu.Kernels.Get<INorm>());
        var got = Run(Gpu, new NormIlgpu(Gpu));
        string[] names = ["y", "mean", "rstd", "dx", "dweight", "dbias"];
        for (int i = 0; i < names.Length; i++)
            Approx.Equal(D(expected[i]), D(got[i]), 1e-4, 1e-4, $"{names[i]} {s} offset {offset}");
    }

    /// <summary>Group-norm forward then backward on <paramref name="d"/> with NaN-filled outputs:
    /// y, mean, rstd, dx, dweight (empty without <paramref name="weightGrad"/>), dbias.</summary>
    internal static float[][] RunGroupNorm(Device d, INorm k, GroupNormShape s, float[] x, float[]? w, float[]? b,
        float[] dy, bool weightGrad)
    {
        int n = x.Length, rows = s.Rows;
        using var xb = F32(d, x);
        using var wb = w is null ? null : F32(d, w);
        using var bb = b is null ? null : F32(d, b);
        using var y = F32(d, Nan(n));
        using var mean = F32(d, Nan(rows));
        using var rstd = F32(d, Nan(rows));
        using var dyb = F32(d, dy);
        using var dx = F32(d, Nan(n));
        using var dw = F32(d, Nan(s.Params));
        using var db = F32(d, Nan(s.Params));
        k.GroupForward(s, 1e-5, xb, wb, bb, y, mean, rstd);
        k.GroupBackward(s, xb, wb, mean, rstd, dyb, dx, weightGrad ? dw : null, db);
        return [Get(y), Get(mean), Get(rstd), Get(dx), weightGrad ? Get(dw) : [], Get(db)];
    }

    [TestCase(3, 2, 100, true), TestCase(3, 2, 100, false), TestCase(1, 3, 301, true)]
    public void BatchNormMatchesTheCpuDevice(int batch, int channels, int spatial, bool training)
    {
        var s = new BatchNormShape(batch, channels, spatial);
        int n = batch * channels * spatial;
        var r = new Random(n + (training ? 1 : 0));
        var x = Uniform(r, n, 2, 5);
        var w = Uniform(r, channels, 0.5f, 1.5f);
        var b = Uniform(r, channels, -1, 1);
        var rm = Uniform(r, channels, 2, 4);
        var rv = Uniform(r, channels, 0.5f, 2);
        var dy = Uniform(r, n, -1, 1);

        float[][] Run(Device d, INorm k)
        {
            using var xb = F32(d, x);
            using var wb = F32(d, w);
            using var bb = F32(d, b);
            using var rmb = F32(d, rm);
            using var rvb = F32(d, rv);
            using var y = F32(d, Nan(n));
            using var mean = F32(d, Nan(channels));
            using var inv = F32(d, Nan(channels));
            using var dyb = F32(d, dy);
            using var dx = F32(d, Nan(n));
            using var dw = F32(d, Nan(channels));
            using var db = F32(d, Nan(channels));
            k.BatchForward(s, training, 0.1, 1e-5, xb, wb, bb, rmb, rvb, y, mean, inv);
            k.BatchBackward(s, training, xb, wb, mean, inv, dyb, dx, dw, db);
            return [Get(y), Get(mean), Get(inv), Get(rmb), Get(rvb), Get(dx), Get(dw), Get(db)];
        }

        var expected = Run(Cpu, Cpu.Kernels.Get<INorm>());
        var got = Run(Gpu, new NormIlgpu(Gpu));
        string[] names = ["y", "save-mean", "save-invstd", "running-mean", "running-var", "dx", "dweight", "dbias"];
        for (int i = 0; i < names.Length; i++)
            Approx.Equal(D(expected[i]), D(got[i]), 1e-4, 1e-4, $"{names[i]} {s} training={training}");
    }
}
