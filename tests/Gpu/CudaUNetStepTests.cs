using Kernels.Nets;
using Kernels.Nets.Benchmarking;
using Kernels.Nets.Models.Lits;

namespace Kernels.Tests.Gpu;

/// <summary>The "train step unet3d" bench workload on cuda against the cpu (smaller patch, same
/// model, loss and optimizer): the same initial weights give the same Dice + CE loss, and a few
/// steps lower it alike (Ignored where there is no GPU). Losses, not weights, are compared: the
/// conv biases before instance norm get (numerically) zero gradients whose sign noise Adam turns
/// into lr-sized moves that differ between devices but cannot change the output.</summary>
[Category("Gpu")]
public class CudaUNetStepTests
{
    [Test]
    public void UNetStepsOnCudaMatchStepsOnTheCpu()
    {
        var cuda = GpuSupport.RequireCuda();
        StepsAgree(Device.Cpu, cuda);
    }

    internal static void StepsAgree(Device reference, Device device)
    {
        var o = new UNetTrainOptions { Patch = [16, 32, 32], Batch = 2 };
        using var a = new BenchCases.UNetStepWorkload(reference, o);
        using var b = new BenchCases.UNetStepWorkload(device, o);
        var loss = new DiceCeLoss(o.BatchDice);
        double Loss(BenchCases.UNetStepWorkload w)
        {
            using var scope = TensorScope.Begin();
            return loss.Forward(w.Model.Forward(w.Input), w.Labels).Item();
        }
        double a0 = Loss(a), b0 = Loss(b);
        for (int s = 0; s < 3; s++)
        {
            a.Run();
            b.Run();
        }
        double a1 = Loss(a), b1 = Loss(b);
        TestContext.Out.WriteLine($"loss {reference.Name} {a0:0.000000} -> {a1:0.000000}, {device.Name} {b0:0.000000} -> {b1:0.000000}");
        Assert.That(b0, Is.EqualTo(a0).Within(1e-3 * Math.Abs(a0)), "same weights, same loss");
        Assert.That(a1, Is.LessThan(a0), $"{reference.Name}: steps on a fixed batch lower its loss");
        Assert.That(b1, Is.LessThan(b0), $"{device.Name}: steps on a fixed batch lower its loss");
        // Three steps of different (but correct) float32 kernels: the drops agree within a fifth.
        Assert.That(b0 - b1, Is.EqualTo(a0 - a1).Within(0.2 * (a0 - a1)), "the loss drops alike");
    }
}
