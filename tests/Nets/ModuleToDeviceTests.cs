using Kernels.Ilgpu;
using Kernels.Nets;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

/// <summary>Module.To moves parameters and buffers in place, and a model trains on another device
/// (ilgpu-cpu, which runs every family's ILGPU kernels: the same code as on cuda) to the same
/// weights as on the cpu.</summary>
public class ModuleToDeviceTests
{
    private static Sequential TinyCnn()
    {
        Rng.Seed(3);
        return new Sequential(
            new Conv2d(2, 4, 3, padding: 1), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2),
            new Conv2d(4, 5, 3, padding: 1), new ReLU(), new GlobalAvgPool(), new Linear(5, 3));
    }

    [Test]
    public void ToMovesTheSameTensorObjects()
    {
        using var model = TinyCnn();
        var conv = (Conv2d)model.NamedChildren().First().Module;
        var weight = conv.Weight;
        var before = weight.ToArray<float>();
        model.To(IlgpuCpuDevice.Instance);
        Assert.That(conv.Weight, Is.SameAs(weight), "the layer's field must still be its parameter");
        Assert.That(weight.Device, Is.SameAs(IlgpuCpuDevice.Instance));
        Assert.That(weight.ToArray<float>(), Is.EqualTo(before));
        Assert.That(model.Parameters().Concat(model.Buffers()).All(t => ReferenceEquals(t.Device, IlgpuCpuDevice.Instance)));
        Assert.That(weight.RequiresGrad, Is.True);
    }

    [Test]
    public void TrainingOnIlgpuCpuMatchesTheCpu()
    {
        using var onCpu = TinyCnn();
        using var onIlgpu = TinyCnn();
        onIlgpu.To(IlgpuCpuDevice.Instance);
        var rng = new Rng(9);
        var xs = new double[6 * 2 * 7 * 7];
        rng.FillNormal(xs, 0, 1);
        int[] labels = [0, 2, 1, 1, 0, 2];
        using var xCpu = Tensor.FromHost(xs, [6, 2, 7, 7]);
        using var yCpu = Tensor.FromArray(labels, [6]);
        using var xIl = xCpu.To(IlgpuCpuDevice.Instance);
        using var yIl = yCpu.To(IlgpuCpuDevice.Instance);
        using var optCpu = new Sgd(onCpu.Parameters(), lr: 0.1, momentum: 0.9);
        using var optIl = new Sgd(onIlgpu.Parameters(), lr: 0.1, momentum: 0.9);
        for (int s = 0; s < 3; s++)
            foreach (var (m, o, x, y) in new[] { (onCpu, optCpu, xCpu, yCpu), (onIlgpu, optIl, xIl, yIl) })
            {
                using var scope = TensorScope.Begin();
                var loss = F.CrossEntropy(m.Forward(x), y);
                o.ZeroGrad();
                loss.Backward();
                o.Step();
            }
        var cpuParams = onCpu.NamedParameters().ToList();
        var ilParams = onIlgpu.NamedParameters().ToList();
        for (int i = 0; i < cpuParams.Count; i++)
        {
            var c = cpuParams[i].Parameter.ToArray<float>();
            var g = ilParams[i].Parameter.ToArray<float>();
            for (int k = 0; k < c.Length; k++)
                Assert.That(g[k], Is.EqualTo(c[k]).Within(2e-4 + 2e-3 * Math.Abs(c[k])), $"{cpuParams[i].Name}[{k}]");
        }
    }
}
