using Kernels.Nets;
using Kernels.Nets.Optim;
using Kernels.Tests.Support;

namespace Kernels.Tests.Networks;

public class OptimTests
{
    private static Optimizer Make(string name, Tensor[] ps) => name switch
    {
        "sgd" => new Sgd(ps, lr: 0.1),
        "sgd_momentum" => new Sgd(ps, lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01),
        "sgd_nesterov" => new Sgd(ps, lr: 0.05, momentum: 0.8, weightDecay: 1e-3, nesterov: true),
        "adam" => new Adam(ps, lr: 1e-2),
        "adam_wd" => new Adam(ps, lr: 2e-2, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1),
        "adamw" => new AdamW(ps, lr: 2e-2, beta1: 0.85, beta2: 0.995, weightDecay: 0.1),
        _ => throw new ArgumentException(name),
    };

    private static readonly string[] Cases = ["sgd", "sgd_momentum", "sgd_nesterov", "adam", "adam_wd", "adamw"];

    [TestCase(DType.F64), TestCase(DType.F32)]
    public void StepsMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("optim");
        int steps = v.Shape("gp")[0];
        double tol = dtype == DType.F64 ? 1e-12 : 2e-5;
        long liveBefore = TensorStats.LiveTensors;
        foreach (var name in Cases)
        {
            using var p = v.Tensor("p0", dtype).AsParameter();
            using var q = v.Tensor("q0", dtype).AsParameter();
            using var opt = Make(name, [p, q]);
            var gp = v.Doubles("gp");
            var gq = v.Doubles("gq");
            var expectP = v.Doubles(name + ".p");
            var expectQ = v.Doubles(name + ".q");
            int np = (int)p.Numel, nq = (int)q.Numel;
            for (int s = 0; s < steps; s++)
            {
                using (TensorScope.Suspend())
                {
                    p.Grad = Tensor.FromHost(gp[(s * np)..((s + 1) * np)], p.Shape, dtype);
                    q.Grad = Tensor.FromHost(gq[(s * nq)..((s + 1) * nq)], q.Shape, dtype);
                }
                opt.Step();
                Approx.Equal(expectP[(s * np)..((s + 1) * np)], p, tol, tol, $"{name} p after step {s + 1}");
                Approx.Equal(expectQ[(s * nq)..((s + 1) * nq)], q, tol, tol, $"{name} q after step {s + 1}");
                opt.ZeroGrad();
                Assert.That(p.Grad, Is.Null);
            }
            var state = opt.StateDict();
            foreach (var key in new[] { "momentum_buffer", "exp_avg", "exp_avg_sq" })
                if (v.Names.Contains($"{name}.state.{key}"))
                    Approx.Equal(v.Doubles($"{name}.state.{key}"), state.Tensors[$"state.0.{key}"], tol, tol, $"{name} {key}");
            Assert.That(state.Metadata["state.1.step"], Is.EqualTo(steps.ToString()));
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(liveBefore), "optimizer state and parameters released");
    }

    [Test]
    public void StateDictRoundTripContinuesIdentically()
    {
        foreach (var name in new[] { "sgd_momentum", "adamw" })
        {
            var v = new VectorFile("optim");
            using var p = v.Tensor("p0", DType.F64).AsParameter();
            using var q = v.Tensor("q0", DType.F64).AsParameter();
            using var p2 = v.Tensor("p0", DType.F64).AsParameter();
            using var q2 = v.Tensor("q0", DType.F64).AsParameter();
            using var a = Make(name, [p, q]);
            using var b = Make(name, [p2, q2]);
            void Grads(Tensor x, Tensor y, int s)
            {
                using (TensorScope.Suspend())
                {
                    x.Grad = Tensor.FromHost(v.Doubles("gp")[(s * 12)..((s + 1) * 12)], x.Shape, DType.F64);
                    y.Grad = Tensor.FromHost(v.Doubles("gq")[(s * 3)..((s + 1) * 3)], y.Shape, DType.F64);
                }
            }
            for (int s = 0; s < 3; s++) { Grads(p, q, s); a.Step(); a.ZeroGrad(); }
            // b gets a's parameters and state, with a different lr that the state must overwrite.
            Modules_CopyValues(p, p2);
            Modules_CopyValues(q, q2);
            b.Groups[0].Lr = 123;
            b.LoadStateDict(a.StateDict());
            Assert.That(b.Groups[0].Lr, Is.EqualTo(a.Groups[0].Lr));
            for (int s = 3; s < 6; s++)
            {
                Grads(p, q, s); a.Step(); a.ZeroGrad();
                Grads(p2, q2, s); b.Step(); b.ZeroGrad();
            }
            Approx.Equal(p, p2, 0, 0, name + " resumed p");
            Approx.Equal(q, q2, 0, 0, name + " resumed q");
        }
    }

    private static void Modules_CopyValues(Tensor from, Tensor to) =>
        to.Device.Upload<double>(from.ToArray<double>(), to.Buffer);

    [Test]
    public void LoadStateDictRejectsMismatchedShapes()
    {
        using var p = Tensor.Zeros([4, 3], DType.F64).AsParameter();
        using var other = Tensor.Zeros([5], DType.F64).AsParameter();
        using var a = new Adam([p]);
        using var b = new Adam([other]);
        using (TensorScope.Suspend()) p.Grad = Tensor.Ones([4, 3], DType.F64);
        a.Step();
        var ex = Assert.Throws<ArgumentException>(() => b.LoadStateDict(a.StateDict()));
        Assert.That(ex!.Message, Does.Contain("state.0.exp_avg").And.Contain("[4, 3]").And.Contain("[5]"));
    }

    [Test]
    public void DecayAndNoDecaySplitsBiasesAndVectors()
    {
        using var m = new TinyModule();
        var groups = ParamGroup.DecayAndNoDecay(m, 0.05);
        Assert.That(groups[0].Parameters, Is.EquivalentTo(new[] { m.W }));
        Assert.That(groups[1].Parameters, Is.EquivalentTo(new[] { m.B, m.Gamma }));
        using var opt = new AdamW(groups, lr: 1e-3);
        Assert.That(opt.Groups[0].WeightDecay, Is.EqualTo(0.05));
        Assert.That(opt.Groups[1].WeightDecay, Is.EqualTo(0.0));
        Assert.That(opt.Groups[1].Lr, Is.EqualTo(1e-3));
    }

    [Test]
    public void ParameterGroupsKeepTheirOwnHyperparameters()
    {
        // Group 1 has lr 0 so it must not move; group 0 moves by exactly lr·g (plain SGD).
        using var a = Tensor.Ones([3], DType.F64).AsParameter();
        using var b = Tensor.Ones([3], DType.F64).AsParameter();
        using var opt = new Sgd([new ParamGroup([a]), new ParamGroup([b], lr: 0.0)], lr: 0.5);
        using (TensorScope.Suspend())
        {
            a.Grad = Tensor.Full([3], 2.0, DType.F64);
            b.Grad = Tensor.Full([3], 2.0, DType.F64);
        }
        opt.Step();
        Approx.Equal(new[] { 0.0, 0.0, 0.0 }, a, 0, 1e-15, "group 0");
        Approx.Equal(new[] { 1.0, 1.0, 1.0 }, b, 0, 0, "group 1");
        opt.ZeroGrad();
    }

    [Test]
    public void WholeTrainingStepsMatchPyTorch()
    {
        var v = new VectorFile("optim");
        using var net = new Kernels.Nets.Modules.Sequential(new Kernels.Nets.Modules.Linear(3, 5, dtype: DType.F64),
            new Kernels.Nets.Modules.Tanh(), new Kernels.Nets.Modules.Linear(5, 2, dtype: DType.F64));
        using (var scope = TensorScope.Begin())
            net.LoadStateDict(net.StateDict().Keys.ToDictionary(k => k, k => v.Tensor("net.init." + k, DType.F64)));
        using var opt = new AdamW(ParamGroup.DecayAndNoDecay(net, 0.1), lr: 0.05);
        using var x = v.Tensor("net.x", DType.F64);
        using var y = v.Tensor("net.y", DType.I32);
        var losses = new List<double>();
        for (int s = 0; s < 3; s++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            var loss = Kernels.Nets.Functional.CrossEntropy(net.Forward(x), y, 0.1);
            loss.Backward();
            opt.Step();
            losses.Add(loss.Item());
        }
        Approx.Equal(v.Doubles("net.losses"), losses.ToArray(), 1e-12, 1e-14, "losses");
        foreach (var (name, t) in net.StateDict())
            Approx.Equal(v.Doubles("net.final." + name), t, 1e-10, 1e-12, name + " after 3 steps");
    }

    [Test]
    public void ClipGradNormScalesToTheLimit()
    {
        using var a = Tensor.Zeros([2], DType.F64).AsParameter();
        using var b = Tensor.Zeros([1], DType.F64).AsParameter();
        using (TensorScope.Suspend())
        {
            a.Grad = Tensor.FromArray(new[] { 3.0, 4.0 }, [2]);
            b.Grad = Tensor.FromArray(new[] { 12.0 }, [1]);
        }
        Assert.That(GradClip.ClipGradNorm([a, b], 100), Is.EqualTo(13).Within(1e-12));
        Approx.Equal(new[] { 3.0, 4.0 }, a.Grad!, 0, 0, "no clipping under the limit");
        Assert.That(GradClip.ClipGradNorm([a, b], 6.5), Is.EqualTo(13).Within(1e-12));
        double f = 6.5 / (13 + 1e-6);
        Approx.Equal(new[] { 3 * f, 4 * f }, a.Grad!, 1e-14, 0, "a clipped");
        Approx.Equal(new[] { 12 * f }, b.Grad!, 1e-14, 0, "b clipped");
    }

    /// <summary>The float32 kernels run a vector body, a scalar tail and several parallel chunks;
    /// on a long odd-length tensor every element must round exactly as a plain scalar float loop in
    /// PyTorch's order does (no lane, tail or chunk boundary may differ).</summary>
    [TestCase("adamw"), TestCase("adam_wd"), TestCase("sgd_momentum"), TestCase("sgd_nesterov")]
    public void LongFloat32UpdatesRoundLikeTheScalarLoop(string name)
    {
        const int n = 70_001;
        var rnd = new Random(7);
        float[] p0 = new float[n];
        for (int i = 0; i < n; i++) p0[i] = (float)(rnd.NextDouble() * 2 - 1);
        float[][] grads = new float[3][];
        for (int s = 0; s < 3; s++)
        {
            grads[s] = new float[n];
            for (int i = 0; i < n; i++) grads[s][i] = (float)(rnd.NextDouble() * 0.2 - 0.1);
        }
        using var p = Tensor.FromArray((float[])p0.Clone(), [n]).AsParameter();
        using var opt = Make(name, [p]);
        float[] rp = (float[])p0.Clone(), ra = new float[n], rb = new float[n];
        for (int s = 0; s < 3; s++)
        {
            using (TensorScope.Suspend()) p.Grad = Tensor.FromArray((float[])grads[s].Clone(), [n]);
            opt.Step();
            opt.ZeroGrad();
            if (name.StartsWith("adam")) ScalarAdam(name, s + 1, rp, grads[s], ra, rb);
            else ScalarSgd(name, s == 0, rp, grads[s], ra);
        }
        Approx.Equal(Array.ConvertAll(rp, f => (double)f), p, 0, 0, name + " bit-exact after 3 steps");
    }

    // Same hyperparameters as Make; float arithmetic, one operation at a time, no fusing.
    private static void ScalarAdam(string name, int step, float[] p, float[] g, float[] m, float[] v)
    {
        bool decoupled = name == "adamw";
        double lr = 2e-2, beta1 = decoupled ? 0.85 : 0.8, beta2 = decoupled ? 0.995 : 0.99;
        double eps = decoupled ? 1e-8 : 1e-6, wd = 0.1;
        float b1 = (float)beta1, b2 = (float)beta2, omb1 = (float)(1 - beta1), omb2 = (float)(1 - beta2);
        float stepSize = (float)(lr / (1 - Math.Pow(beta1, step))), bc2Sqrt = (float)Math.Sqrt(1 - Math.Pow(beta2, step));
        float decay = (float)(1 - lr * wd), fwd = (float)wd, feps = (float)eps;
        for (int i = 0; i < p.Length; i++)
        {
            float gi = g[i];
            if (decoupled) p[i] *= decay;
            else gi += fwd * p[i];
            m[i] = m[i] * b1 + omb1 * gi;
            v[i] = v[i] * b2 + omb2 * gi * gi;
            float denom = MathF.Sqrt(v[i]) / bc2Sqrt + feps;
            p[i] += -stepSize * (m[i] / denom);
        }
    }

    private static void ScalarSgd(string name, bool first, float[] p, float[] g, float[] buf)
    {
        bool nesterov = name == "sgd_nesterov";
        float lr = nesterov ? 0.05f : 0.1f, mom = nesterov ? 0.8f : 0.9f, keep = (float)(1 - (nesterov ? 0 : 0.1));
        float wd = nesterov ? (float)1e-3 : 0.01f;
        for (int i = 0; i < p.Length; i++)
        {
            float d = g[i] + wd * p[i];
            float b = first ? d : buf[i] * mom + keep * d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
            p[i] += -lr * d;
        }
    }

    /// <summary>A module with a matrix, a bias and a norm-like vector, registered by hand.</summary>
    internal sealed class TinyModule : Kernels.Nets.Modules.Module
    {
        public TinyModule()
        {
            W = RegisterParameter("weight", Tensor.Ones([2, 3]));
            B = RegisterParameter("bias", Tensor.Zeros([2]));
            Gamma = RegisterParameter("gamma", Tensor.Ones([2]));
        }

        public Tensor W { get; }
        public Tensor B { get; }
        public Tensor Gamma { get; }
    }
}
