using Kernels.Nets;
using Kernels.Ops.Norm;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Pool;

public class NormTests
{
    // Mirrors scripts/vectors/norm.py: (case, training, momentum, eps).
    private static readonly (string Name, bool Training, double Momentum, double Eps)[] BatchCases =
    [
        ("bn2d_train", true, 0.1, 1e-5), ("bn2d_eval", false, 0.1, 1e-5), ("bn2d_plain", true, 0.3, 1e-3),
        ("bn1d_nc", true, 0.1, 1e-5), ("bn1d_ncl", true, 0.1, 1e-5), ("bn3d_train", true, 0.1, 1e-5),
    ];

    private static readonly (string Name, Func<Tensor, Tensor?, Tensor?, Tensor> Op)[] RowCases =
    [
        ("ln_last", (x, w, b) => F.LayerNorm(x, [7], w, b)),
        ("ln_two", (x, w, b) => F.LayerNorm(x, [5, 7], w, b)),
        ("ln_plain", (x, w, b) => F.LayerNorm(x, [9], w, b, 1e-3)),
        ("gn_3", (x, w, b) => F.GroupNorm(x, 3, w, b)),
        ("gn_1", (x, w, b) => F.GroupNorm(x, 1, w, b)),
        ("gn_all", (x, w, b) => F.GroupNorm(x, 4, w, b)),
        ("gn_3d", (x, w, b) => F.GroupNorm(x, 2, w, b)),
        ("in_2d", (x, w, b) => F.InstanceNorm(x, w, b)),
        ("in_3d", (x, w, b) => F.InstanceNorm(x, w, b)),
        ("in_1d", (x, w, b) => F.InstanceNorm(x, w, b, 1e-3)),
    ];

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void BatchNormMatchesPyTorchIncludingRunningStats(DType dtype)
    {
        var v = new VectorFile("norm");
        double tol = VectorCase.Tol(dtype);
        foreach (var (name, training, momentum, eps) in BatchCases)
        {
            var rm = v.Tensor(name + ".rm0", dtype);
            var rv = v.Tensor(name + ".rv0", dtype);
            VectorCase.Run(v, name, dtype, (x, w, b) => F.BatchNorm(x, w, b, rm, rv, training, momentum, eps));
            // Training updates the running statistics in place; inference leaves them alone.
            Approx.Equal(v.Doubles(name + ".rm"), rm, tol, tol, name + " running mean");
            Approx.Equal(v.Doubles(name + ".rv"), rv, tol, tol, name + " running var");
        }
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void LayerGroupInstanceNormMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("norm");
        foreach (var (name, op) in RowCases) VectorCase.Run(v, name, dtype, op);
    }

    [Test]
    public void BatchNormTrainingGradientsMatchCentralDifferences()
    {
        var rm = Tensor.Zeros([3], DType.F64);
        var rv = Tensor.Ones([3], DType.F64);
        GradCheck.Check(t => F.BatchNorm(t[0], t[1], t[2], rm, rv, training: true),
            [GradCheck.Input([2, 3, 4, 5]), GradCheck.Input([3], 0.5, 1.5, seed: 2), GradCheck.Input([3], seed: 3)],
            what: "BatchNorm2d training");
        GradCheck.Check(t => F.BatchNorm(t[0], t[1], t[2], null, null, training: true),
            [GradCheck.Input([5, 4]), GradCheck.Input([4], 0.5, 1.5, seed: 4), GradCheck.Input([4], seed: 5)],
            what: "BatchNorm1d [N, C] training");
        GradCheck.Check(t => F.BatchNorm(t[0], null, null, null, null, training: true),
            [GradCheck.Input([1, 2, 3, 2, 3])], what: "BatchNorm3d training, no affine");
        GradCheck.Check(t => F.BatchNorm(t[0], null, t[1], null, null, training: true),
            [GradCheck.Input([3, 2, 4]), GradCheck.Input([2], seed: 6)], what: "BatchNorm1d [N, C, L] bias only");
    }

    [Test]
    public void BatchNormInferenceGradientsMatchCentralDifferences()
    {
        var rm = Tensor.FromArray(new[] { 0.1, -0.2, 0.3 }, [3]);
        var rv = Tensor.FromArray(new[] { 0.5, 1.5, 2.0 }, [3]);
        GradCheck.Check(t => F.BatchNorm(t[0], t[1], t[2], rm, rv, training: false),
            [GradCheck.Input([2, 3, 5]), GradCheck.Input([3], seed: 2), GradCheck.Input([3], seed: 3)],
            what: "BatchNorm1d [N, C, L] inference");
    }

    [Test]
    public void LayerNormGradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.LayerNorm(t[0], [7], t[1], t[2]),
            [GradCheck.Input([3, 5, 7]), GradCheck.Input([7], seed: 2), GradCheck.Input([7], seed: 3)], what: "LayerNorm last axis");
        GradCheck.Check(t => F.LayerNorm(t[0], [3, 5], t[1], t[2]),
            [GradCheck.Input([2, 3, 5]), GradCheck.Input([3, 5], seed: 2), GradCheck.Input([3, 5], seed: 3)], what: "LayerNorm two axes");
        GradCheck.Check(t => F.LayerNorm(t[0], [6], null, null), [GradCheck.Input([1, 6])], what: "LayerNorm no affine");
        GradCheck.Check(t => F.LayerNorm(t[0], [5], t[1], null),
            [GradCheck.Input([3, 5]), GradCheck.Input([5], seed: 2)], what: "LayerNorm weight only");
    }

    [Test]
    public void GroupNormGradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.GroupNorm(t[0], 3, t[1], t[2]),
            [GradCheck.Input([2, 6, 3, 4]), GradCheck.Input([6], seed: 2), GradCheck.Input([6], seed: 3)], what: "GroupNorm 3 groups");
        GradCheck.Check(t => F.GroupNorm(t[0], 2, t[1], t[2]),
            [GradCheck.Input([1, 4, 2, 3, 2]), GradCheck.Input([4], seed: 2), GradCheck.Input([4], seed: 3)], what: "GroupNorm 3-D");
        GradCheck.Check(t => F.GroupNorm(t[0], 1, null, null), [GradCheck.Input([3, 4, 5])], what: "GroupNorm 1 group, no affine");
    }

    [Test]
    public void InstanceNormGradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.InstanceNorm(t[0], t[1], t[2]),
            [GradCheck.Input([2, 3, 4, 5]), GradCheck.Input([3], seed: 2), GradCheck.Input([3], seed: 3)], what: "InstanceNorm 2-D");
        GradCheck.Check(t => F.InstanceNorm(t[0], null, null), [GradCheck.Input([1, 2, 3, 2, 3])], what: "InstanceNorm 3-D");
    }

    [Test]
    public void OnlyTheRequestedGradientsAreComputed()
    {
        // A frozen affine: x gets its gradient, weight and bias none.
        var x = GradCheck.Input([2, 4, 3]);
        var w = Tensor.Ones([4], DType.F64);
        var b = Tensor.Zeros([4], DType.F64);
        var y = F.GroupNorm(x, 2, w, b);
        y.Backward(Tensor.Ones(y.Shape, DType.F64));
        Assert.That(x.Grad, Is.Not.Null);
        Assert.That(w.Grad, Is.Null);
        Assert.That(b.Grad, Is.Null);
        // Normalisation is invariant to a constant shift, so a uniform upstream gradient gives dx = 0.
        Approx.Equal(new double[24], x.Grad!, 0, 1e-12, "dx of a uniform upstream gradient");
    }

    [Test]
    public void StatisticsAccumulateInDoubleForFloat32()
    {
        // A large common offset: float32 single-pass sums would lose the small spread entirely.
        var host = Enumerable.Range(0, 4096).Select(i => 10000.0 + (i % 7) * 0.01).ToArray();
        var x = Tensor.FromHost(host, [1, 1, 4096]);
        var y = F.LayerNorm(x, [4096], null, null).ToDoubles();
        var stored = host.Select(h => (double)(float)h).ToArray(); // what the float32 tensor holds
        double mean = stored.Average(), sd = Math.Sqrt(stored.Select(h => (h - mean) * (h - mean)).Average() + 1e-5);
        var expected = stored.Select(h => (h - mean) / sd).ToArray();
        Approx.Equal(expected, y, 1e-4, 1e-4, "layer norm with a large offset");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void KernelsWriteEveryOutputElement(DType dtype)
    {
        using var scope = TensorScope.Begin();
        var k = Device.Cpu.Kernels.Get<INorm>();
        var x = Tensor.Randn([2, 6, 5], dtype: dtype);
        var dy = Tensor.Randn(x.Shape, dtype: dtype);
        var w = Tensor.Randn([6], dtype: dtype);
        Tensor Nan(params int[] shape) => Tensor.Full(shape, double.NaN, dtype);

        var gs = new GroupNormShape(4, 2, 3, 5);
        Tensor y = Nan(2, 6, 5), mean = Nan(4), rstd = Nan(4), dx = Nan(2, 6, 5), dw = Nan(6), db = Nan(6);
        k.GroupForward(gs, 1e-5, x.Buffer, w.Buffer, w.Buffer, y.Buffer, mean.Buffer, rstd.Buffer);
        k.GroupBackward(gs, x.Buffer, w.Buffer, mean.Buffer, rstd.Buffer, dy.Buffer, dx.Buffer, dw.Buffer, db.Buffer);
        foreach (var (t, what) in new[] { (y, "y"), (mean, "mean"), (rstd, "rstd"), (dx, "dx"), (dw, "dw"), (db, "db") })
            PoolTests.AssertFinite(t, "group norm " + what);

        foreach (bool training in new[] { true, false })
        {
            var bs = new BatchNormShape(2, 6, 5);
            var rm = Tensor.Zeros([6], dtype);
            var rv = Tensor.Ones([6], dtype);
            Tensor by = Nan(2, 6, 5), sm = Nan(6), si = Nan(6), bdx = Nan(2, 6, 5), bdw = Nan(6), bdb = Nan(6);
            k.BatchForward(bs, training, 0.1, 1e-5, x.Buffer, w.Buffer, w.Buffer, rm.Buffer, rv.Buffer, by.Buffer, sm.Buffer, si.Buffer);
            k.BatchBackward(bs, training, x.Buffer, w.Buffer, sm.Buffer, si.Buffer, dy.Buffer, bdx.Buffer, bdw.Buffer, bdb.Buffer);
            foreach (var (t, what) in new[] { (by, "y"), (sm, "mean"), (si, "invstd"), (bdx, "dx"), (bdw, "dw"), (bdb, "db") })
                PoolTests.AssertFinite(t, $"batch norm ({(training ? "training" : "inference")}) {what}");
        }
    }

    [Test]
    public void BadArgumentsAreRejectedWithClearMessages()
    {
        var x = Tensor.Zeros([2, 6, 3, 3]);
        var c6 = Tensor.Zeros([6]);
        var c5 = Tensor.Zeros([5]);
        PoolTests.Expect(() => F.BatchNorm(Tensor.Zeros([6]), null, null, null, null, true), "BatchNorm", "[6]", "rank 1");
        PoolTests.Expect(() => F.BatchNorm(x, c6, c6, c5, c6, true), "BatchNorm", "runningMean", "[5]", "[6]");
        PoolTests.Expect(() => F.BatchNorm(x, c6, c6, c6, c5, true), "BatchNorm", "runningVar", "[5]");
        PoolTests.Expect(() => F.BatchNorm(x, c5, null, null, null, true), "BatchNorm", "weight", "[5]");
        PoolTests.Expect(() => F.BatchNorm(x, null, null, null, null, false), "BatchNorm", "runningMean");
        PoolTests.Expect(() => F.BatchNorm(Tensor.Zeros([1, 6]), null, null, null, null, true), "BatchNorm", "more than 1 value");
        PoolTests.Expect(() => F.BatchNorm(x, Tensor.Zeros([6], DType.F64), null, null, null, true), "BatchNorm", "weight", "float64");
        PoolTests.Expect(() => F.GroupNorm(x, 4, null, null), "GroupNorm", "6 channels", "4 groups");
        PoolTests.Expect(() => F.GroupNorm(Tensor.Zeros([6]), 2, null, null), "GroupNorm", "rank 1");
        PoolTests.Expect(() => F.GroupNorm(x, 3, c5, null), "GroupNorm", "weight", "[5]");
        PoolTests.Expect(() => F.InstanceNorm(Tensor.Zeros([2, 6]), null, null), "InstanceNorm", "[2, 6]");
        PoolTests.Expect(() => F.InstanceNorm(Tensor.Zeros([2, 6, 1]), null, null), "InstanceNorm", "more than 1 spatial");
        PoolTests.Expect(() => F.InstanceNorm(x, null, c5), "InstanceNorm", "bias", "[5]");
        PoolTests.Expect(() => F.LayerNorm(x, [4], null, null), "LayerNorm", "[4]", "[2, 6, 3, 3]");
        PoolTests.Expect(() => F.LayerNorm(x, [3, 3], Tensor.Zeros([9]), null), "LayerNorm", "weight", "[9]", "[3, 3]");
    }
}
