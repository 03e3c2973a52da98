namespace Kernels.Tests.Support;

/// <summary>Host arrays to and from device buffers, for the kernel-family tests that call an
/// implementation directly (no Tensor layer).</summary>
public static class DeviceArrays
{
    public static double[] D(float[] a) => Array.ConvertAll(a, v => (double)v);

    public static float[] Uniform(Random r, int n, float lo, float hi)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (float)r.NextDouble() * (hi - lo);
        return a;
    }

    /// <summary>An output buffer's starting content: NaN, so an entry the kernel never writes shows.</summary>
    public static float[] Nan(int n)
    {
        var a = new float[n];
        Array.Fill(a, float.NaN);
        return a;
    }

    public static DeviceBuffer F32(Device d, float[] v)
    {
        var b = d.Allocate(DType.F32, v.Length);
        d.Upload<float>(v, b);
        return b;
    }

    public static DeviceBuffer I32(Device d, int[] v)
    {
        var b = d.Allocate(DType.I32, v.Length);
        d.Upload<int>(v, b);
        return b;
    }

    public static float[] Get(DeviceBuffer b)
    {
        var a = new float[b.Length];
        b.Device.Download<float>(b, a);
        return a;
    }
}
