using Kernels.Nets;
using Kernels.Nets.Modules;
using Kernels.Tests.Support;

namespace Kernels.Tests.Audit;

/// <summary>Each layer, loaded with a PyTorch state dict, against PyTorch's output and the gradients
/// of its input and parameters on awkward shapes (batch 1, odd sizes, groups, dilation); batch-norm
/// layers also against the running statistics after one training step and the eval output.
/// Vectors: scripts/vectors/layers.py (constructor arguments mirrored here).</summary>
public class LayerAuditTests
{
    private static Module Build(string name) => name switch
    {
        "linear" => new Linear(5, 3, dtype: DType.F64),
        "linear3d" => new Linear(4, 3, bias: false, dtype: DType.F64),
        "conv2d" => new Conv2d(4, 6, 3, stride: 2, padding: 1, groups: 2, dtype: DType.F64),
        "conv2d_dw" => new Conv2d(3, 3, [3, 2], [1, 1], [1, 0], [2, 1], groups: 3, bias: false, dtype: DType.F64),
        "conv3d" => new Conv3d(2, 3, [2, 2, 2], [1, 2, 1], [1, 1, 1], [1, 1, 1], dtype: DType.F64),
        "convt2d" => new ConvTranspose2d(4, 2, 3, stride: 2, padding: 1, outputPadding: 1, groups: 2, dtype: DType.F64),
        "convt3d" => new ConvTranspose3d(2, 3, 2, stride: 2, bias: false, dtype: DType.F64),
        "convt2d_dw" => new ConvTranspose2d(3, 3, 3, stride: 2, padding: 1, outputPadding: 1, groups: 3, dilation: 2, dtype: DType.F64),
        "convt3d_gd" => new ConvTranspose3d(4, 2, [2, 3, 2], [1, 2, 1], [0, 1, 1], [0, 1, 0], 2, true, [2, 1, 1], DType.F64),
        "bn1d" => new BatchNorm1d(3, dtype: DType.F64),
        "bn1d_ncl" => new BatchNorm1d(2, momentum: 0.3, dtype: DType.F64),
        "bn2d" => new BatchNorm2d(3, dtype: DType.F64),
        "bn3d" => new BatchNorm3d(2, affine: false, dtype: DType.F64),
        "ln" => new LayerNorm([3, 5], dtype: DType.F64),
        "gn" => new GroupNorm(3, 6, dtype: DType.F64),
        "in2d" => new InstanceNorm2d(3, affine: true, dtype: DType.F64),
        "in3d" => new InstanceNorm3d(2, dtype: DType.F64),
        "seq" => new Sequential(new Linear(5, 7, dtype: DType.F64), new GELU(), new Linear(7, 3, dtype: DType.F64), new Tanh()),
        _ => throw new ArgumentException(name),
    };

    private static readonly string[] Layers =
        ["linear", "linear3d", "conv2d", "conv2d_dw", "conv3d", "convt2d", "convt3d", "convt2d_dw", "convt3d_gd", "bn1d", "bn1d_ncl", "bn2d", "bn3d",
         "ln", "gn", "in2d", "in3d", "seq"];

    private static void Load(Module m, VectorFile v, string name)
    {
        string prefix = name + ".state.";
        var state = new Dictionary<string, Tensor>();
        foreach (var key in v.Names.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var local = key[prefix.Length..];
            state[local] = v.Tensor(key, local.EndsWith("num_batches_tracked", StringComparison.Ordinal) ? DType.I32 : DType.F64);
        }
        m.LoadStateDict(state);
        foreach (var t in state.Values) t.Dispose();
    }

    [TestCaseSource(nameof(Layers))]
    public void ForwardAndGradientsMatchPyTorch(string name)
    {
        var v = new VectorFile("layers");
        using var m = Build(name);
        Load(m, v, name);
        using var scope = TensorScope.Begin();
        var x = v.Tensor(name + ".x", DType.F64);
        x.RequiresGrad = true;
        var y = m.Forward(x);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(v.Shape(name + ".y")), "output shape");
        Approx.Equal(v.Doubles(name + ".y"), y, 1e-10, 1e-12, name + " output");
        y.Backward(v.Tensor(name + ".g", DType.F64));
        Approx.Equal(v.Doubles(name + ".dx"), x.Grad!, 1e-10, 1e-12, name + " dx");
        int checkedParams = 0;
        foreach (var (pname, p) in m.NamedParameters())
        {
            Assert.That(p.Grad, Is.Not.Null, $"{name}.{pname} got no gradient");
            Approx.Equal(v.Doubles($"{name}.grad.{pname}"), p.Grad!, 1e-10, 1e-12, $"{name}.{pname} gradient");
            checkedParams++;
        }
        Assert.That(checkedParams, Is.EqualTo(v.Names.Count(k => k.StartsWith(name + ".grad.", StringComparison.Ordinal))),
            "every PyTorch parameter has an engine counterpart");
        if (m is BatchNormBase bn)
        {
            Approx.Equal(v.Doubles(name + ".running_mean"), bn.RunningMean!, 1e-12, 1e-12, name + " running_mean");
            Approx.Equal(v.Doubles(name + ".running_var"), bn.RunningVar!, 1e-12, 1e-12, name + " running_var");
            bn.Eval();
            Approx.Equal(v.Doubles(name + ".eval_y"), bn.Forward(v.Tensor(name + ".x", DType.F64)), 1e-10, 1e-12, name + " eval output");
        }
    }

    [Test]
    public void EmbeddingLayerMatchesPyTorch()
    {
        var v = new VectorFile("layers");
        using var m = new Embedding(7, 3, dtype: DType.F64);
        Load(m, v, "emb");
        using var scope = TensorScope.Begin();
        var y = m.Forward(v.Tensor("emb.index", DType.I32));
        Approx.Equal(v.Doubles("emb.y"), y, 0, 0, "lookup");
        y.Backward(v.Tensor("emb.g", DType.F64));
        Approx.Equal(v.Doubles("emb.grad.weight"), m.Weight.Grad!, 1e-12, 1e-12, "weight gradient (repeated indices)");
    }

    [Test]
    public void MultiheadAttentionInputAndParameterGradientsMatchPyTorch()
    {
        var v = new VectorFile("layers");
        using var m = new MultiheadAttention(6, 3, dtype: DType.F64);
        Load(m, v, "mha");
        using var scope = TensorScope.Begin();
        var q = v.Tensor("mha.q", DType.F64);
        var k = v.Tensor("mha.k", DType.F64);
        var val = v.Tensor("mha.v", DType.F64);
        q.RequiresGrad = k.RequiresGrad = val.RequiresGrad = true;
        var (y, w) = m.Forward(q, k, val, needWeights: false, attnMask: v.Tensor("mha.mask", DType.F64));
        Assert.That(w, Is.Null);
        Approx.Equal(v.Doubles("mha.y"), y, 1e-10, 1e-12, "output");
        y.Backward(v.Tensor("mha.g", DType.F64));
        Approx.Equal(v.Doubles("mha.dq"), q.Grad!, 1e-10, 1e-12, "d query");
        Approx.Equal(v.Doubles("mha.dk"), k.Grad!, 1e-10, 1e-12, "d key");
        Approx.Equal(v.Doubles("mha.dv"), val.Grad!, 1e-10, 1e-12, "d value");
        int n = 0;
        foreach (var (pname, p) in m.NamedParameters())
        {
            Approx.Equal(v.Doubles("mha.grad." + pname), p.Grad!, 1e-10, 1e-12, pname + " gradient");
            n++;
        }
        Assert.That(n, Is.EqualTo(4), "in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias");
    }

    [Test]
    public void LayersInFloat32MatchTheFloat64Reference()
    {
        // The same modules built in float32 and loaded from the float64 state, against PyTorch's float64 output.
        var v = new VectorFile("layers");
        foreach (var name in new[] { "conv2d", "convt3d", "bn2d", "gn", "seq" })
        {
            using var m64 = Build(name);
            Load(m64, v, name);
            using var scope = TensorScope.Begin();
            var state = m64.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.DType == DType.F64 ? kv.Value.To(DType.F32) : kv.Value.Clone());
            using var m32 = BuildF32(name);
            m32.LoadStateDict(state);
            var y = m32.Forward(v.Tensor(name + ".x", DType.F32));
            Assert.That(y.DType, Is.EqualTo(DType.F32));
            Approx.Equal(v.Doubles(name + ".y"), y, 1e-4, 1e-4, name + " float32 output");
        }
    }

    private static Module BuildF32(string name) => name switch
    {
        "conv2d" => new Conv2d(4, 6, 3, stride: 2, padding: 1, groups: 2),
        "convt3d" => new ConvTranspose3d(2, 3, 2, stride: 2, bias: false),
        "bn2d" => new BatchNorm2d(3),
        "gn" => new GroupNorm(3, 6),
        "seq" => new Sequential(new Linear(5, 7), new GELU(), new Linear(7, 3), new Tanh()),
        _ => throw new ArgumentException(name),
    };
}
