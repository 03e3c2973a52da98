using Kernels.Nets;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Pool;

/// <summary>The float32 2×2 / stride-2 max pooling has its own vectorised kernel; it must pick the
/// same value and the same cell as a plain scan: the first strict maximum, the first NaN outright.</summary>
public class PoolFastPathTests
{
    [TestCase(2, 3, 1, 6, 38)]  // 19 outputs per row: two vector blocks of 8 and a scalar tail of 3
    [TestCase(1, 2, 1, 4, 32)]  // rows of exactly 16 outputs
    [TestCase(1, 1, 1, 5, 7)]   // odd sizes: the last row and column are dropped; tail only
    [TestCase(2, 2, 3, 4, 34)]  // 3-D with kernel 1 along D: the fast path runs per depth slice
    public void TwoByTwoMaxPoolMatchesAPlainScan(int n, int c, int d, int h, int w)
    {
        using var scope = TensorScope.Begin();
        var rng = new Random(7 + w);
        // Few distinct values, so ties are everywhere, plus NaNs and infinities.
        float[] pick = [-1, 0, 1, 2, float.NegativeInfinity, float.PositiveInfinity];
        var data = new float[n * c * d * h * w];
        for (int i = 0; i < data.Length; i++)
        {
            int r = rng.Next(40);
            data[i] = r == 0 ? float.NaN : r < 4 ? pick[4 + (r & 1)] : pick[r % 4];
        }
        var k = Device.Cpu.Kernels.Get<Kernels.Ops.Pool.IPool>();
        var s = d == 1
            ? F.PoolGeometry("test", new Shape(n, c, h, w), 2, [2, 2], [2, 2], [0, 0])
            : F.PoolGeometry("test", new Shape(n, c, d, h, w), 3, [1, 2, 2], [1, 2, 2], [0, 0, 0]);
        var x = Tensor.FromArray(data, d == 1 ? new Shape(n, c, h, w) : new Shape(n, c, d, h, w));
        int oh = h / 2, ow = w / 2;
        var y = Tensor.Full([n * c * d * oh * ow], -7, DType.F32);
        var argmax = Tensor.Full([n * c * d * oh * ow], -1, DType.I32);
        k.MaxForward(s, x.Buffer, y.Buffer, argmax.Buffer);
        float[] got = y.ToArray<float>();
        int[] gotIdx = argmax.ToArray<int>();

        int o = 0, plane = d * h * w;
        for (int p = 0; p < n * c; p++)
            for (int z = 0; z < d; z++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++, o++)
                    {
                        float best = float.NegativeInfinity;
                        int bestIdx = z * h * w + 2 * i * w + 2 * j;
                        foreach (int cell in new[] { bestIdx, bestIdx + 1, bestIdx + w, bestIdx + w + 1 })
                        {
                            float v = data[p * plane + cell];
                            if (v > best || float.IsNaN(v))
                            {
                                best = v;
                                bestIdx = cell;
                                if (float.IsNaN(v)) break;
                            }
                        }
                        string at = $"output {o} (plane {p}, depth {z}, row {i}, column {j})";
                        Assert.That(gotIdx[o], Is.EqualTo(bestIdx), at + " argmax");
                        Assert.That(BitConverter.SingleToInt32Bits(got[o]), Is.EqualTo(BitConverter.SingleToInt32Bits(best)),
                            $"{at} value {got[o]} vs {best}");
                    }
    }
}
