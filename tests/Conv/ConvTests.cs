using System.Text.Json;
using Kernels.Nets;
using Kernels.Ops.Conv;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Conv;

public class ConvTests
{
    private sealed record Case(string Name, string Op, int[] Stride, int[] Padding, int[] Dilation, int Groups, int[] OutputPadding);

    private static List<Case> Cases(VectorFile v)
    {
        using var doc = JsonDocument.Parse(v.Meta("cases"));
        int[] Ints(JsonElement e) => e.EnumerateArray().Select(i => i.GetInt32()).ToArray();
        return doc.RootElement.EnumerateObject().Select(p => new Case(p.Name, p.Value.GetProperty("op").GetString()!,
            Ints(p.Value.GetProperty("stride")), Ints(p.Value.GetProperty("padding")), Ints(p.Value.GetProperty("dilation")),
            p.Value.GetProperty("groups").GetInt32(), Ints(p.Value.GetProperty("output_padding")))).ToList();
    }

    private static Tensor Run(Case c, Tensor x, Tensor w, Tensor? b) => c.Op switch
    {
        "conv2d" => F.Conv2d(x, w, b, c.Stride, c.Padding, c.Dilation, c.Groups),
        "conv3d" => F.Conv3d(x, w, b, c.Stride, c.Padding, c.Dilation, c.Groups),
        "conv_transpose2d" => F.ConvTranspose2d(x, w, b, c.Stride, c.Padding, c.OutputPadding, c.Dilation, c.Groups),
        "conv_transpose3d" => F.ConvTranspose3d(x, w, b, c.Stride, c.Padding, c.OutputPadding, c.Dilation, c.Groups),
        _ => throw new ArgumentException(c.Op),
    };

    private static void CheckAgainstPyTorch(DType dtype, double tol)
    {
        var v = new VectorFile("conv");
        var cases = Cases(v);
        Assert.That(cases, Has.Count.GreaterThanOrEqualTo(20));
        foreach (var c in cases)
        {
            using var scope = TensorScope.Begin();
            var x = v.Tensor(c.Name + ".x", dtype);
            var w = v.Tensor(c.Name + ".w", dtype);
            bool hasBias = v.Names.Contains(c.Name + ".b");
            var b = hasBias ? v.Tensor(c.Name + ".b", dtype) : null;
            x.RequiresGrad = w.RequiresGrad = true;
            if (b is not null) b.RequiresGrad = true;
            var y = Run(c, x, w, b);
            Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(c.Name + ".y")), c.Name + " output shape");
            Approx.Equal(v.Doubles(c.Name + ".y"), y, tol, tol, c.Name + " forward");
            y.Backward(v.Tensor(c.Name + ".g", dtype));
            Approx.Equal(v.Doubles(c.Name + ".dx"), x.Grad!, tol, tol, c.Name + " dx");
            Approx.Equal(v.Doubles(c.Name + ".dw"), w.Grad!, tol, tol, c.Name + " dw");
            if (b is not null) Approx.Equal(v.Doubles(c.Name + ".db"), b.Grad!, tol, tol, c.Name + " db");
            x.Grad!.Dispose();
            w.Grad!.Dispose();
            b?.Grad!.Dispose();
        }
    }

    [TestCase(DType.F32, 1e-4), TestCase(DType.F64, 1e-10)]
    public void ForwardAndBackwardMatchPyTorch(DType dtype, double tol) => CheckAgainstPyTorch(dtype, tol);

    /// <summary>Small column budgets force blocks of output positions that start and end inside a
    /// row (and a single position per block); a large one puts several images in one block.
    /// The unit-stride shifted path is switched off, or forced on every unit-stride case with
    /// small position blocks.</summary>
    [TestCase(1L, false), TestCase(100L, false), TestCase(1L << 24, false), TestCase(1L << 21, true)]
    public void BlockingAndPathChoiceDoNotChangeResults(long budget, bool forceShifted)
    {
        long keepBudget = ConvCpu.ColumnBudget;
        int keepMin = PaddedGrid.MinInPerGroup, keepBlock = PaddedGrid.BlockPositions;
        try
        {
            ConvCpu.ColumnBudget = budget;
            PaddedGrid.MinInPerGroup = forceShifted ? 1 : int.MaxValue;
            PaddedGrid.BlockPositions = forceShifted ? 7 : keepBlock;
            CheckAgainstPyTorch(DType.F64, 1e-10);
            if (forceShifted) CheckAgainstPyTorch(DType.F32, 1e-4);
        }
        finally
        {
            ConvCpu.ColumnBudget = keepBudget;
            PaddedGrid.MinInPerGroup = keepMin;
            PaddedGrid.BlockPositions = keepBlock;
        }
    }

    /// <summary>Many channels make the per-tap GEMMs big enough that the padded-grid path runs its
    /// blocks one after another (the GEMM parallelises instead); it must agree with im2col.</summary>
    [TestCase(DType.F64, 1e-10), TestCase(DType.F32, 1e-4)]
    public void PaddedGridMatchesIm2ColWithWideChannels(DType dtype, double tol)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn([2, 80, 5, 6], dtype: dtype);
        var w = Tensor.Randn([96, 80, 3, 3], std: 0.1, dtype: dtype);
        var b = Tensor.Randn([96], dtype: dtype);
        var g = Tensor.Randn([2, 96, 5, 6], dtype: dtype);
        (Tensor Y, Tensor Dx, Tensor Dw, Tensor Db) Run()
        {
            var xl = x.Clone();
            var wl = w.Clone();
            var bl = b.Clone();
            xl.RequiresGrad = wl.RequiresGrad = bl.RequiresGrad = true;
            var y = F.Conv2d(xl, wl, bl, padding: 1);
            y.Backward(g);
            return (y.Detach(), xl.Grad!, wl.Grad!, bl.Grad!);
        }
        var grid = Run();
        int keep = PaddedGrid.MinInPerGroup;
        try
        {
            // The GEMM form of the padded grid (float32 normally takes the direct tiles), then im2col.
            PaddedGrid.DirectTiles = false;
            var gemmForm = Run();
            PaddedGrid.MinInPerGroup = int.MaxValue;
            var cols = Run();
            foreach (var (other, what) in new[] { (gemmForm, "gemm form"), (cols, "im2col") })
            {
                Approx.Equal(other.Y, grid.Y, tol, tol, what + " y");
                Approx.Equal(other.Dx, grid.Dx, tol, tol, what + " dx");
                Approx.Equal(other.Dw, grid.Dw, tol, tol, what + " dw");
                Approx.Equal(other.Db, grid.Db, tol, tol, what + " db");
            }
        }
        finally
        {
            PaddedGrid.MinInPerGroup = keep;
            PaddedGrid.DirectTiles = true;
        }
    }

    /// <summary>Small images (16×16: one 286-position block each, whose last partial tile reruns
    /// a whole tile) are padded several at a time and their blocks shared out across the cores.
    /// One image per chunk, uneven chunks (2 + 2 + 1), the whole batch, the GEMM form and im2col
    /// must all agree, output channels a multiple of 4 or not.</summary>
    [TestCase(DType.F32, 12, 1e-4), TestCase(DType.F32, 10, 1e-4), TestCase(DType.F64, 12, 1e-10)]
    public void PaddedGridImageChunksMatchIm2Col(DType dtype, int cout, double tol)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn([5, 8, 16, 16], dtype: dtype);
        var w = Tensor.Randn([cout, 8, 3, 3], std: 0.2, dtype: dtype);
        var b = Tensor.Randn([cout], dtype: dtype);
        var g = Tensor.Randn([5, cout, 16, 16], dtype: dtype);
        (Tensor Y, Tensor Dx, Tensor Dw, Tensor Db) Run()
        {
            var xl = x.Clone();
            var wl = w.Clone();
            var bl = b.Clone();
            xl.RequiresGrad = wl.RequiresGrad = bl.RequiresGrad = true;
            var y = F.Conv2d(xl, wl, bl, padding: 1);
            y.Backward(g);
            return (y.Detach(), xl.Grad!, wl.Grad!, bl.Grad!);
        }
        long keepBudget = PaddedGrid.ImageBudget;
        int keepMin = PaddedGrid.MinInPerGroup;
        try
        {
            var whole = Run();
            PaddedGrid.ImageBudget = 1;
            var single = Run();
            // 7000 elements hold two padded images (8·18·18) and two grid dy (cout·286).
            PaddedGrid.ImageBudget = 7000;
            var pairs = Run();
            PaddedGrid.ImageBudget = keepBudget;
            PaddedGrid.DirectTiles = false;
            var gemmForm = Run();
            PaddedGrid.DirectTiles = true;
            PaddedGrid.MinInPerGroup = int.MaxValue;
            var cols = Run();
            foreach (var (other, what) in new[] { (whole, "whole batch"), (single, "one image"), (pairs, "pairs"), (gemmForm, "gemm form") })
            {
                Approx.Equal(cols.Y, other.Y, tol, tol, what + " y");
                Approx.Equal(cols.Dx, other.Dx, tol, tol, what + " dx");
                Approx.Equal(cols.Dw, other.Dw, tol, tol, what + " dw");
                Approx.Equal(cols.Db, other.Db, tol, tol, what + " db");
            }
        }
        finally
        {
            PaddedGrid.ImageBudget = keepBudget;
            PaddedGrid.MinInPerGroup = keepMin;
            PaddedGrid.DirectTiles = true;
        }
    }

    [Test]
    public void Conv2dGradients()
    {
        GradCheck.Check(t => F.Conv2d(t[0], t[1], t[2], stride: 2, padding: 1),
            [GradCheck.Input([2, 3, 5, 4], seed: 1), GradCheck.Input([2, 3, 3, 2], seed: 2), GradCheck.Input([2], seed: 3)], what: "stride 2");
        GradCheck.Check(t => F.Conv2d(t[0], t[1], t[2], [1, 2], [2, 0], [2, 1], groups: 2),
            [GradCheck.Input([1, 4, 5, 6], seed: 4), GradCheck.Input([4, 2, 2, 3], seed: 5), GradCheck.Input([4], seed: 6)], what: "axes, groups");
        GradCheck.Check(t => F.Conv2d(t[0], t[1], null, padding: 1, groups: 3),
            [GradCheck.Input([1, 3, 4, 3], seed: 7), GradCheck.Input([3, 1, 3, 3], seed: 8)], what: "depthwise");
        GradCheck.Check(t => F.Conv2d(t[0], t[1], t[2]),
            [GradCheck.Input([2, 3, 2, 3], seed: 9), GradCheck.Input([5, 3, 1, 1], seed: 10), GradCheck.Input([5], seed: 11)], what: "1x1");
        // Eight channels per group: the unit-stride padded-grid path for all three passes.
        GradCheck.Check(t => F.Conv2d(t[0], t[1], t[2], padding: 1),
            [GradCheck.Input([1, 8, 3, 4], seed: 28), GradCheck.Input([8, 8, 2, 3], seed: 29), GradCheck.Input([8], seed: 30)], what: "wide");
    }

    [Test]
    public void Conv3dGradients()
    {
        GradCheck.Check(t => F.Conv3d(t[0], t[1], t[2], stride: 2, padding: 1),
            [GradCheck.Input([1, 2, 3, 4, 3], seed: 12), GradCheck.Input([3, 2, 2, 3, 2], seed: 13), GradCheck.Input([3], seed: 14)], what: "stride 2");
        GradCheck.Check(t => F.Conv3d(t[0], t[1], null, [1, 1, 2], [1, 0, 1], [2, 1, 1], groups: 2),
            [GradCheck.Input([2, 2, 4, 3, 3], seed: 15), GradCheck.Input([2, 1, 2, 2, 2], seed: 16)], what: "axes, groups");
    }

    [Test]
    public void ConvTranspose2dGradients()
    {
        GradCheck.Check(t => F.ConvTranspose2d(t[0], t[1], t[2], stride: 2, padding: 1, outputPadding: 1),
            [GradCheck.Input([2, 3, 3, 2], seed: 17), GradCheck.Input([3, 2, 3, 3], seed: 18), GradCheck.Input([2], seed: 19)], what: "stride 2");
        GradCheck.Check(t => F.ConvTranspose2d(t[0], t[1], t[2], [1, 2], [0, 1], [0, 1], [2, 1], groups: 2),
            [GradCheck.Input([1, 4, 3, 3], seed: 20), GradCheck.Input([4, 1, 2, 3], seed: 21), GradCheck.Input([2], seed: 22)], what: "axes, groups");
    }

    [Test]
    public void ConvTranspose3dGradients()
    {
        GradCheck.Check(t => F.ConvTranspose3d(t[0], t[1], t[2], stride: 2, padding: 1, outputPadding: 1),
            [GradCheck.Input([1, 2, 2, 3, 2], seed: 23), GradCheck.Input([2, 3, 3, 2, 3], seed: 24), GradCheck.Input([3], seed: 25)], what: "stride 2");
        GradCheck.Check(t => F.ConvTranspose3d(t[0], t[1], null, dilation: 2, groups: 2),
            [GradCheck.Input([2, 2, 2, 2, 3], seed: 26), GradCheck.Input([2, 1, 2, 2, 2], seed: 27)], what: "dilation, groups");
        GradCheck.Check(t => F.ConvTranspose3d(t[0], t[1], t[2]),
            [GradCheck.Input([1, 8, 2, 2, 2], seed: 31), GradCheck.Input([8, 8, 2, 2, 2], seed: 32), GradCheck.Input([8], seed: 33)], what: "wide");
    }

    [Test]
    public void GradientOnlyForBias()
    {
        // Weight frozen: the bias gradient must still be the per-channel sum of dy.
        var x = Tensor.Randn([2, 3, 4, 4], dtype: DType.F64);
        var w = Tensor.Randn([2, 3, 3, 3], dtype: DType.F64);
        var b = GradCheck.Input([2]);
        var y = F.Conv2d(x, w, b, padding: 1);
        y.Backward(Tensor.Ones(y.Shape, DType.F64));
        Approx.Equal([32.0, 32.0], b.Grad!, 0, 1e-12, "db");
    }

    private static void Throws(TestDelegate call, params string[] parts)
    {
        var e = Assert.Throws<ArgumentException>(call)!;
        foreach (var p in parts) Assert.That(e.Message, Does.Contain(p));
    }

    [Test]
    public void BadShapesAreReported()
    {
        var x = Tensor.Zeros([1, 4, 5, 5]);
        Throws(() => F.Conv2d(x, Tensor.Zeros([2, 3, 3, 3]), null), "Conv2d", "[1, 4, 5, 5]", "[2, 3, 3, 3]", "channels");
        Throws(() => F.Conv2d(x, Tensor.Zeros([2, 4, 7, 3]), null), "Conv2d", "bigger than the padded input", "[2, 4, 7, 3]", "[1, 4, 5, 5]");
        Throws(() => F.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), null, dilation: 3), "Conv2d", "bigger than the padded input");
        Throws(() => F.Conv2d(x, Tensor.Zeros([3, 2, 3, 3]), null, groups: 2), "Conv2d", "groups 2", "[3, 2, 3, 3]");
        Throws(() => F.Conv2d(Tensor.Zeros([1, 3, 5, 5]), Tensor.Zeros([4, 1, 3, 3]), null, groups: 2), "Conv2d", "[1, 3, 5, 5]", "[4, 1, 3, 3]");
        Throws(() => F.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), Tensor.Zeros([3])), "Conv2d", "bias", "[3]", "[2]");
        Throws(() => F.Conv2d(Tensor.Zeros([4, 5, 5]), Tensor.Zeros([2, 4, 3, 3]), null), "Conv2d", "input", "[4, 5, 5]");
        Throws(() => F.Conv3d(x, Tensor.Zeros([2, 4, 3, 3]), null), "Conv3d", "input", "[1, 4, 5, 5]");
        Throws(() => F.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), null, stride: 0), "Conv2d", "stride");
        Throws(() => F.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), null, [1, 1, 1], [0, 0], [1, 1]), "Conv2d", "stride", "[1, 1, 1]");
        Throws(() => F.Conv2d(x, Tensor.Zeros([2, 4, 3, 3], DType.F64), null), "Conv2d", "weight", "float64");
        Throws(() => F.ConvTranspose2d(x, Tensor.Zeros([3, 2, 3, 3]), null), "ConvTranspose2d", "[1, 4, 5, 5]", "[3, 2, 3, 3]");
        Throws(() => F.ConvTranspose2d(x, Tensor.Zeros([4, 2, 3, 3]), null, stride: 2, outputPadding: 2), "ConvTranspose2d", "outputPadding");
        Throws(() => F.ConvTranspose3d(Tensor.Zeros([1, 3, 2, 2, 2]), Tensor.Zeros([3, 1, 2, 2, 2]), null, groups: 2), "ConvTranspose3d", "groups 2", "[1, 3, 2, 2, 2]");
        Throws(() => F.ConvTranspose2d(Tensor.Zeros([1, 4, 1, 1]), Tensor.Zeros([4, 2, 1, 1]), null, padding: 1), "ConvTranspose2d", "output size");
    }

    [Test]
    public void OutputSizeHelper()
    {
        Assert.That(ConvShape.OutputSize(32, 3, 1, 1, 1), Is.EqualTo(32));
        Assert.That(ConvShape.OutputSize(7, 3, 2, 0, 1), Is.EqualTo(3));
        Assert.That(ConvShape.OutputSize(9, 3, 1, 0, 2), Is.EqualTo(5));
        Assert.That(ConvShape.TransposedOutputSize(5, 3, 2, 1, 1, 1), Is.EqualTo(10));
        var s = ConvShape.Create(2, 32, 32, [32, 32, 32], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1);
        Assert.That(s.OutSize, Is.EqualTo(new[] { 32, 32, 32 }));
        Assert.That(s.Flops, Is.EqualTo(2.0 * 2 * 32 * 32 * 27 * 32768));
    }
}
