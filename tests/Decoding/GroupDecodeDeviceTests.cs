using Kernels.Ilgpu;
using Kernels.Nets;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Tests.Native;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Decoding;

/// <summary>F.GroupDecode and F.GroupDecodeAsl with autograd on the emu (native kernels) and
/// ilgpu-cpu devices give the cpu's results, the upstream scaling of the fused loss included.</summary>
public class GroupDecodeDeviceTests
{
    [TestCase("emu")]
    [TestCase("ilgpu-cpu")]
    public void FunctionalOpsMatchTheCpu(string deviceName)
    {
        Device device;
        if (deviceName == "emu")
        {
            EmuSupport.RequireLibrary();
            device = EmuDevice.Instance;
        }
        else device = IlgpuCpuDevice.Instance;
        const int b = 2, k = 3, d = 9, n = 8; // g = 3: one padding column
        var x = Tensor.Rand([b, k, d], -1, 1);
        var w = Tensor.Rand([k, d, 3], -1, 1);
        var bias = Tensor.Rand([n], -1, 1);
        var targets = Tensor.FromArray(new float[] { 1, 0, 0, -1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, -1 }, [b, n]);
        var weights = Tensor.FromArray(new float[] { 1, 1, 0, 1, 2, 1, 1, 1, 1, 0.5f, 1, 1, 0, 1, 1, 1 }, [b, n]);
        var g = Tensor.Rand([b, n], -1, 1);
        var o = new AslOptions(GammaPos: 1, Mean: true);

        (double[] Y, double[] Loss, double[][] Grads) Run(Device dev)
        {
            var xs = x.To(dev);
            var ws = w.To(dev);
            var bs = bias.To(dev);
            foreach (var t in new[] { xs, ws, bs }) t.RequiresGrad = true;
            var y = F.GroupDecode(xs, ws, bs, n);
            y.Backward(g.To(dev));
            var loss = F.GroupDecodeAsl(xs, ws, bs, targets.To(dev), o, weights.To(dev));
            F.MulScalar(loss, 2.5).Backward(); // accumulates onto the decode's gradients
            return (y.ToDoubles(), loss.ToDoubles(), [xs.Grad!.ToDoubles(), ws.Grad!.ToDoubles(), bs.Grad!.ToDoubles()]);
        }

        var cpu = Run(Device.Cpu);
        var other = Run(device);
        Approx.Equal(cpu.Y, other.Y, 1e-5, 1e-5, "logits");
        Approx.Equal(cpu.Loss, other.Loss, 1e-5, 1e-6, "loss");
        string[] names = ["dx", "dw", "dbias"];
        for (int i = 0; i < 3; i++) Approx.Equal(cpu.Grads[i], other.Grads[i], 1e-5, 1e-5, names[i]);
    }
}
