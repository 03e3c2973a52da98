using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Pool;

/// <summary>The float32 batch norm has its own SIMD kernel. Its statistics, (x − mean) and outputs
/// are formed in double, so on the same stored values it must agree with the float64 kernel up to
/// the final rounding, even when a large common offset dwarfs the spread.</summary>
public class NormFastPathTests
{
    // Planes of 1003 run vector blocks plus a scalar tail; planes of 5 the tail only. The backward
    // reads the mean saved in float32 (as PyTorch does), whose rounding is a visible fraction of a
    // spread of 0.05 at an offset of 10000, so gradients are compared at a moderate offset.
    [TestCase(3, 2, 1003, 10000.0, 0.05, false)]
    [TestCase(2, 3, 5, 10000.0, 0.05, false)]
    [TestCase(3, 2, 1003, 3.0, 1.0, true)]
    [TestCase(2, 3, 5, 3.0, 1.0, true)]
    public void BatchNormFloat32MatchesFloat64(int n, int c, int spatial, double offset, double spread, bool gradients)
    {
        using var scope = TensorScope.Begin();
        var rng = new Random(11);
        double[] Host(int len, double offset, double spread) =>
            Enumerable.Range(0, len).Select(_ => offset + spread * (rng.NextDouble() * 2 - 1)).ToArray();
        var x32 = Tensor.FromHost(Host(n * c * spatial, offset, spread), [n, c, spatial]);
        var w32 = Tensor.FromHost(Host(c, 1, 0.5), [c]);
        var b32 = Tensor.FromHost(Host(c, 0, 0.5), [c]);
        var dy32 = Tensor.FromHost(Host(n * c * spatial, 0, 1), [n, c, spatial]);
        Tensor x64 = x32.To(DType.F64), w64 = w32.To(DType.F64), b64 = b32.To(DType.F64), dy64 = dy32.To(DType.F64);
        var rm32 = Tensor.Zeros([c]);
        var rv32 = Tensor.Ones([c]);
        var rm64 = Tensor.Zeros([c], DType.F64);
        var rv64 = Tensor.Ones([c], DType.F64);
        foreach (var t in new[] { x32, w32, b32, x64, w64, b64 }) t.RequiresGrad = true;

        var y32 = F.BatchNorm(x32, w32, b32, rm32, rv32, training: true);
        var y64 = F.BatchNorm(x64, w64, b64, rm64, rv64, training: true);
        Approx.Equal(y64.ToDoubles(), y32, 1e-5, 1e-5, "y");
        Approx.Equal(rm64.ToDoubles(), rm32, 1e-6, 1e-6, "running mean");
        Approx.Equal(rv64.ToDoubles(), rv32, 1e-5, 1e-9, "running var");

        if (gradients)
        {
            y32.Backward(dy32);
            y64.Backward(dy64);
            Approx.Equal(x64.Grad!.ToDoubles(), x32.Grad!, 1e-4, 1e-4, "dx");
            Approx.Equal(w64.Grad!.ToDoubles(), w32.Grad!, 1e-4, 1e-4, "dweight");
            Approx.Equal(b64.Grad!.ToDoubles(), b32.Grad!, 1e-5, 1e-5, "dbias");
        }

        // Inference with the running statistics just updated.
        var e32 = F.BatchNorm(x32.Detach(), w32.Detach(), b32.Detach(), rm32, rv32, training: false);
        var e64 = F.BatchNorm(x64.Detach(), w64.Detach(), b64.Detach(), rm32.To(DType.F64), rv32.To(DType.F64), training: false);
        Approx.Equal(e64.ToDoubles(), e32, 1e-4, 1e-4, "inference y");
    }
}
