using Kernels.Cpu;
using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Reduce;

public class LayoutTests
{
    private static double Tol(DType d) => d == DType.F32 ? 1e-6 : 1e-14;

    /// <summary>Runs op over named inputs and compares output and every input gradient.</summary>
    private static void Run(VectorFile v, DType dtype, string name, string[] inputs, Func<Tensor[], Tensor> op)
    {
        var xs = inputs.Select(n => v.Tensor(n, dtype)).ToArray();
        foreach (var x in xs) x.RequiresGrad = true;
        var y = op(xs);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(name)), name + " shape");
        Approx.Equal(v.Doubles(name), y, Tol(dtype), Tol(dtype), name);
        y.Backward(v.Tensor(name + ".g", dtype));
        for (int i = 0; i < xs.Length; i++)
            Approx.Equal(v.Doubles($"{name}.dx{i}"), xs[i].Grad!, Tol(dtype), Tol(dtype), $"{name} d/d input {i}");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ConcatSlicePadMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("layout");
        Run(v, dtype, "concat_1", ["a", "b", "c"], t => F.Concat(t, 1));
        Run(v, dtype, "concat_0", ["a", "d"], t => F.Concat(t, 0));
        Run(v, dtype, "concat_m1", ["a", "e"], t => F.Concat(t, -1));
        Run(v, dtype, "slice_1", ["x"], t => F.Slice(t[0], 1, 2, 4));
        Run(v, dtype, "slice_m1", ["x"], t => F.Slice(t[0], -1, 4, 1));
        Run(v, dtype, "pad_2", ["p"], t => F.Pad(t[0], [1, 2, 0, 3], 0.5));
        Run(v, dtype, "pad_4", ["p"], t => F.Pad(t[0], [0, 1, 2, 0, 1, 1, 0, 2]));
        Run(v, dtype, "pad_1", ["p"], t => F.Pad(t[0], [3, 0], -2));
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void PermuteAndTransposeMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("layout");
        foreach (var perm in new[] { new[] { 0, 2, 1, 3 }, [3, 1, 0, 2], [0, 1, 3, 2], [1, 0, 2, 3], [2, 3, 0, 1] })
            Run(v, dtype, "permute_" + string.Concat(perm), ["p"], t => F.Permute(t[0], perm));
        Approx.Equal(v.Doubles("transpose_m"), F.Transpose(v.Tensor("m", dtype), 0, 1), Tol(dtype), 0, "transpose 37x45");
        var bm = F.Transpose(v.Tensor("bm", dtype), 1, -1);
        Assert.That(bm.Shape.ToArray(), Is.EqualTo(v.Shape("transpose_bm")));
        Approx.Equal(v.Doubles("transpose_bm"), bm, Tol(dtype), 0, "batched transpose");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void GatherAndIndexSelectMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("layout");
        foreach (var (name, axis) in new[] { ("gather_1", 1), ("gather_2", 2), ("gather_0", 0) })
        {
            var index = v.Tensor(name + ".index", DType.I32);
            Run(v, dtype, name, ["gx"], t => F.Gather(t[0], axis, index));
        }
        foreach (var (name, axis) in new[] { ("isel_1", 1), ("isel_0", 0), ("isel_2", -1) })
        {
            var index = v.Tensor(name + ".index", DType.I32);
            Run(v, dtype, name, ["gx"], t => F.IndexSelect(t[0], axis, index));
        }
    }

    [Test]
    public void GradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.Concat([t[0], t[1], t[2]], 1),
            [GradCheck.Input([2, 3, 5]), GradCheck.Input([2, 1, 5], seed: 8), GradCheck.Input([2, 4, 5], seed: 9)], what: "concat");
        var frozen = GradCheck.Input([1, 3], seed: 10);
        frozen.RequiresGrad = false;
        GradCheck.Check(t => F.Concat([t[0], t[1]], 0), [GradCheck.Input([2, 3]), frozen], what: "concat with a constant");
        GradCheck.Check(t => F.Slice(t[0], 1, 1, 3), [GradCheck.Input([3, 5, 2])], what: "slice");
        GradCheck.Check(t => F.Slice(t[0], 0, 0, 1), [GradCheck.Input([1, 7])], what: "slice batch 1");
        GradCheck.Check(t => F.Pad(t[0], [1, 0, 2, 1], 3.0), [GradCheck.Input([2, 3, 4])], what: "pad");
        GradCheck.Check(t => F.Permute(t[0], 2, 0, 3, 1), [GradCheck.Input([2, 3, 1, 5])], what: "permute");
        GradCheck.Check(t => F.Permute(t[0], 0, 2, 1), [GradCheck.Input([1, 35, 33])], what: "permute tiled");
        GradCheck.Check(t => F.Transpose(t[0], 0, -1), [GradCheck.Input([3, 2, 5])], what: "transpose");
        var gi = Tensor.FromArray(new[] { 0, 2, 2, 1, 0, 0, 1, 2 }, [2, 4]); // repeats accumulate
        GradCheck.Check(t => F.Gather(t[0], 1, gi), [GradCheck.Input([3, 3])], what: "gather axis 1");
        var g0 = Tensor.FromArray(new[] { 2, 0, 2, 1, 2, 2 }, [2, 3, 1]);
        GradCheck.Check(t => F.Gather(t[0], 0, g0), [GradCheck.Input([3, 4, 2])], what: "gather axis 0");
        var si = Tensor.FromArray(new[] { 1, 1, 0, 3 }, [4]);
        GradCheck.Check(t => F.IndexSelect(t[0], 1, si), [GradCheck.Input([2, 4, 3])], what: "index-select");
        GradCheck.Check(t => F.IndexSelect(t[0], 0, si), [GradCheck.Input([5, 1100])], what: "index-select wide rows");
    }

    [Test]
    public void PermuteIsCorrectForEveryOrderOfFourAxes()
    {
        // Checked against index arithmetic, so every coalescing / tiling path is covered.
        var shape = new Shape(3, 1, 4, 5);
        var x = Tensor.FromArray(Enumerable.Range(0, (int)shape.Numel).ToArray(), shape);
        foreach (var perm in Permutations([0, 1, 2, 3]))
        {
            var y = F.Permute(x, perm).ToArray<int>();
            var od = perm.Select(a => shape[a]).ToArray();
            int k = 0;
            var c = new int[4];
            for (c[0] = 0; c[0] < od[0]; c[0]++)
                for (c[1] = 0; c[1] < od[1]; c[1]++)
                    for (c[2] = 0; c[2] < od[2]; c[2]++)
                        for (c[3] = 0; c[3] < od[3]; c[3]++)
                        {
                            var src = new int[4];
                            for (int i = 0; i < 4; i++) src[perm[i]] = c[i];
                            int expected = ((src[0] * 1 + src[1]) * 4 + src[2]) * 5 + src[3];
                            Assert.That(y[k++], Is.EqualTo(expected), $"perm {string.Join(",", perm)}");
                        }
        }
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
            foreach (var rest in Permutations(items.Where((_, j) => j != i).ToArray()))
                yield return [items[i], .. rest];
    }

    [Test]
    public void LargeTransposeDoesNotDependOnTheThreadCount()
    {
        var x = Tensor.Rand([3, 130, 257]);
        int keep = CpuParallel.Threads;
        try
        {
            CpuParallel.Threads = 1;
            var a = F.Transpose(x, 1, 2).ToFloats();
            CpuParallel.Threads = 3;
            var b = F.Transpose(x, 1, 2).ToFloats();
            Assert.That(b, Is.EqualTo(a));
            var xs = x.ToFloats();
            Assert.That(a[(2 * 257 + 7) * 130 + 100], Is.EqualTo(xs[(2 * 130 + 100) * 257 + 7]));
        }
        finally
        {
            CpuParallel.Threads = keep;
        }
    }

    [Test]
    public void IntTensorsCanBeMoved()
    {
        var i = Tensor.FromArray(new[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        Assert.That(F.Transpose(i, 0, 1).ToArray<int>(), Is.EqualTo(new[] { 1, 4, 2, 5, 3, 6 }));
        Assert.That(F.Concat([i, i], 0).ToArray<int>(), Has.Length.EqualTo(12));
        Assert.That(F.Slice(i, 1, 1, 1).ToArray<int>(), Is.EqualTo(new[] { 2, 5 }));
        Assert.That(F.Pad(i, [1, 0], -1).ToArray<int>(), Is.EqualTo(new[] { -1, 1, 2, 3, -1, 4, 5, 6 }));
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        var x = Tensor.Zeros([2, 3]);
        string Msg(TestDelegate d) => Assert.Throws<ArgumentException>(d)!.Message;
        Assert.That(Msg(() => F.Concat([x, Tensor.Zeros([3, 3])], 1)), Does.Contain("Concat").And.Contain("[3, 3]").And.Contain("axis 0"));
        Assert.That(Msg(() => F.Concat([x, Tensor.Zeros([2])], 0)), Does.Contain("ranks differ"));
        Assert.That(Msg(() => F.Concat([x, Tensor.Zeros([2, 3], DType.F64)], 0)), Does.Contain("float64"));
        Assert.That(Msg(() => F.Concat([], 0)), Does.Contain("empty"));
        Assert.That(Msg(() => F.Slice(x, 1, 2, 2)), Does.Contain("Slice").And.Contain("start 2, length 2"));
        Assert.That(Msg(() => F.Slice(x, 2, 0, 1)), Does.Contain("axis 2"));
        Assert.That(Msg(() => F.Pad(x, [1])), Does.Contain("Pad").And.Contain("pairs"));
        Assert.That(Msg(() => F.Pad(x, [1, 1, 1, 1, 1, 1])), Does.Contain("Pad"));
        Assert.That(Msg(() => F.Pad(x, [0, -1])), Does.Contain("negative"));
        Assert.That(Msg(() => F.Permute(x, 0, 0)), Does.Contain("Permute").And.Contain("not a permutation"));
        Assert.That(Msg(() => F.Permute(x, 1)), Does.Contain("Permute"));
        Assert.That(Msg(() => F.Transpose(x, 0, 5)), Does.Contain("Transpose").And.Contain("axis 5"));

        var bad = Tensor.FromArray(new[] { 0, 3, 1 }, [1, 3]);
        Assert.That(Msg(() => F.Gather(x, 1, bad)), Does.Contain("Gather").And.Contain("index 3 at position 1").And.Contain("[0, 3)"));
        var neg = Tensor.FromArray(new[] { 0, -1 }, [2]);
        Assert.That(Msg(() => F.IndexSelect(x, 0, neg)), Does.Contain("IndexSelect").And.Contain("index -1"));
        Assert.That(Msg(() => F.Gather(x, 1, Tensor.FromArray(new[] { 0, 1 }, [2]))), Does.Contain("ranks differ"));
        Assert.That(Msg(() => F.Gather(x, 1, Tensor.Zeros([3, 1], DType.I32))), Does.Contain("larger than x"));
        Assert.That(Msg(() => F.Gather(x, 1, Tensor.Zeros([1, 1]))), Does.Contain("int32"));
        Assert.That(Msg(() => F.IndexSelect(x, 0, Tensor.Zeros([1, 1], DType.I32))), Does.Contain("1-D"));
    }
}
