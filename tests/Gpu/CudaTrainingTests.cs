using Kernels.Nets;
using Kernels.Nets.Benchmarking;

namespace Kernels.Tests.Gpu;

/// <summary>Whole training steps on the GPU: the same model, data and optimizer on cuda and on
/// the cpu end in the same weights (up to float32 rounding across different kernels), and a long
/// loop holds device memory flat (Ignored where there is no GPU).</summary>
[Category("Gpu")]
public class CudaTrainingTests
{
    private static Dictionary<string, float[]> Weights(BenchCases.TrainStepWorkload w) =>
        w.Model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray<float>());

    [TestCase("cnn"), TestCase("mlp")]
    public void StepsOnCudaMatchStepsOnTheCpu(string model)
    {
        var cuda = GpuSupport.RequireCuda();
        Func<Device, BenchCases.TrainStepWorkload> make = model == "cnn" ? BenchCases.TrainStepWorkload.Cnn : BenchCases.TrainStepWorkload.Mlp;
        using var onCpu = make(Device.Cpu);
        using var onGpu = make(cuda);
        var before = Weights(onCpu);
        for (int s = 0; s < 5; s++)
        {
            onCpu.Run();
            onGpu.Run();
        }
        var cpuW = Weights(onCpu);
        var gpuW = Weights(onGpu);
        foreach (var (name, c) in cpuW)
        {
            var g = gpuW[name];
            double maxDiff = 0, maxMove = 0;
            for (int i = 0; i < c.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(c[i] - g[i]));
                maxMove = Math.Max(maxMove, Math.Abs(c[i] - before[name][i]));
            }
            TestContext.Out.WriteLine($"{name}: moved {maxMove:0.0e0}, cpu vs cuda {maxDiff:0.0e0}");
            Assert.That(maxMove, Is.GreaterThan(0), $"{name} did not train");
            // Five steps of different (but correct) float32 kernels stay within a few percent of the move.
            Assert.That(maxDiff, Is.LessThanOrEqualTo(1e-4 + 0.05 * maxMove), $"{name}: cpu and cuda weights differ");
        }
    }

    [Test]
    public void DeviceMemoryStaysFlatOverTrainingSteps()
    {
        var cuda = GpuSupport.RequireCuda();
        using var w = BenchCases.TrainStepWorkload.Cnn(cuda);
        for (int s = 0; s < 5; s++) w.Run();
        cuda.Synchronize();
        long allocated = cuda.Allocator.AllocatedBytes, reserved = cuda.Allocator.ReservedBytes, driver = cuda.Allocator.DriverAllocations;
        for (int s = 0; s < 100; s++) w.Run();
        cuda.Synchronize();
        Assert.That(cuda.Allocator.AllocatedBytes, Is.EqualTo(allocated), "live bytes grew");
        Assert.That(cuda.Allocator.ReservedBytes, Is.EqualTo(reserved), "reserved bytes grew");
        Assert.That(cuda.Allocator.DriverAllocations, Is.EqualTo(driver), "steady steps still call cuMemAlloc");
    }
}
