using Kernels.Nets;
using Kernels.Tests.Support;

namespace Kernels.Tests.Pool;

/// <summary>Runs one PyTorch reference case of the pool / upsample / norm vector files: inputs
/// "&lt;case&gt;.x" (and ".w", ".b" where stored), output ".y", upstream gradient ".g" and the
/// gradients ".dx", ".dw", ".db".</summary>
internal static class VectorCase
{
    public static double Tol(DType dtype) => dtype == DType.F32 ? 1e-4 : 1e-10;

    public static void Run(VectorFile v, string name, DType dtype, Func<Tensor, Tensor?, Tensor?, Tensor> op)
    {
        var names = v.Names.ToHashSet();
        double rtol = Tol(dtype), atol = dtype == DType.F32 ? 1e-5 : 1e-10;
        using var scope = TensorScope.Begin();
        var x = v.Tensor(name + ".x", dtype);
        x.RequiresGrad = true;
        Tensor? w = names.Contains(name + ".w") ? v.Tensor(name + ".w", dtype) : null;
        Tensor? b = names.Contains(name + ".b") ? v.Tensor(name + ".b", dtype) : null;
        if (w is not null) w.RequiresGrad = true;
        if (b is not null) b.RequiresGrad = true;
        var y = op(x, w, b);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(name + ".y")), $"{name}: output shape");
        Approx.Equal(v.Doubles(name + ".y"), y, rtol, atol, $"{name} forward ({dtype.Name()})");
        y.Backward(v.Tensor(name + ".g", dtype));
        Approx.Equal(v.Doubles(name + ".dx"), x.Grad!, rtol, atol, $"{name} dx ({dtype.Name()})");
        if (w is not null) Approx.Equal(v.Doubles(name + ".dw"), w.Grad!, rtol, atol, $"{name} dweight ({dtype.Name()})");
        if (b is not null) Approx.Equal(v.Doubles(name + ".db"), b.Grad!, rtol, atol, $"{name} dbias ({dtype.Name()})");
        foreach (var t in new[] { x, w, b }) t?.Dispose();
    }

    /// <summary>A float64 leaf whose values are distinct and at least <paramref name="gap"/> apart
    /// (a shuffled ramp), so that a max never ties and a small nudge never changes the winner.</summary>
    public static Tensor DistinctInput(Shape shape, double gap = 0.01, ulong seed = 11)
    {
        int n = (int)shape.Numel;
        var keys = new double[n];
        new Rng(seed).FillUniform(keys, 0, 1);
        var order = Enumerable.Range(0, n).OrderBy(i => keys[i]).ToArray();
        var host = new double[n];
        for (int i = 0; i < n; i++) host[order[i]] = (i - n / 2) * gap;
        var t = Tensor.FromArray(host, shape);
        t.RequiresGrad = true;
        return t;
    }
}
