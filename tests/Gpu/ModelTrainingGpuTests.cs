using Kernels.Nets.Models.Lits;
using Kernels.Tests.Networks;

namespace Kernels.Tests.Gpu;

/// <summary>The two real systems take training steps on cuda to the cpu's losses, gradients and
/// weights (the ML-Decoder with the trainer's ASL, Adam decay groups, OneCycle and EMA; the 3-D
/// and 2-D U-Nets with Dice + CE and AdamW), and hold live device bytes flat from step 3 to
/// step 10 (Ignored where there is no GPU). The same checks run on ilgpu-cpu in
/// tests/Nets/DeviceTrainingTests.cs.</summary>
[Category("Gpu")]
public class ModelTrainingGpuTests
{
    [TestCase("ml-decoder"), TestCase("gap")]
    public void MlDecoderStepsOnCudaMatchTheCpu(string head)
    {
        var cuda = GpuSupport.RequireCuda();
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.MlDecoderSteps(d, head, batch: 3), cuda, 3);
    }

    [TestCase(UNetNorm.Instance, UNetDownsampling.StridedConv)]
    [TestCase(UNetNorm.Instance, UNetDownsampling.MaxPool)]
    [TestCase(UNetNorm.Batch, UNetDownsampling.StridedConv)]
    [TestCase(UNetNorm.Batch, UNetDownsampling.MaxPool)]
    public void UNet3dStepsOnCudaMatchTheCpu(UNetNorm norm, UNetDownsampling down)
    {
        var cuda = GpuSupport.RequireCuda();
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.UNetSteps(d, norm, down), cuda, 3, resync: true);
    }

    [TestCase(UNetNorm.Instance, UNetDownsampling.StridedConv)]
    [TestCase(UNetNorm.Batch, UNetDownsampling.MaxPool)]
    public void UNet2dStepsOnCudaMatchTheCpu(UNetNorm norm, UNetDownsampling down)
    {
        var cuda = GpuSupport.RequireCuda();
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.UNetSteps(d, norm, down, dims: 2), cuda, 3, resync: true);
    }

    [Test]
    public void MlDecoderHoldsCudaMemoryFlatFromStep3ToStep10()
    {
        var cuda = GpuSupport.RequireCuda();
        using var steps = new DeviceTraining.MlDecoderSteps(cuda, totalSteps: 10);
        AssertFlat(cuda, steps);
    }

    [Test]
    public void UNetHoldsCudaMemoryFlatFromStep3ToStep10()
    {
        var cuda = GpuSupport.RequireCuda();
        using var steps = new DeviceTraining.UNetSteps(cuda, UNetNorm.Instance, UNetDownsampling.StridedConv, totalSteps: 10);
        AssertFlat(cuda, steps);
    }

    /// <summary>Live bytes (the engine's count and the caching allocator's) and buffers equal after
    /// step 3 and step 10, and steady steps no longer call cuMemAlloc.</summary>
    private static void AssertFlat(CudaDevice cuda, DeviceTraining.ISteps steps)
    {
        for (int s = 0; s < 3; s++) steps.Step();
        cuda.Synchronize();
        long live = cuda.Memory.AllocatedBytes, buffers = cuda.Memory.LiveBuffers;
        long allocated = cuda.Allocator.AllocatedBytes, driver = cuda.Allocator.DriverAllocations;
        for (int s = 3; s < 10; s++) steps.Step();
        cuda.Synchronize();
        TestContext.Out.WriteLine($"cuda live after step 3: {live} B in {buffers} buffers (allocator {allocated} B); " +
                                  $"after step 10: {cuda.Memory.AllocatedBytes} B in {cuda.Memory.LiveBuffers} (allocator {cuda.Allocator.AllocatedBytes} B)");
        Assert.That(cuda.Memory.AllocatedBytes, Is.EqualTo(live), "live device bytes grew");
        Assert.That(cuda.Memory.LiveBuffers, Is.EqualTo(buffers), "live device buffers grew");
        Assert.That(cuda.Allocator.AllocatedBytes, Is.EqualTo(allocated), "the allocator's live bytes grew");
        Assert.That(cuda.Allocator.DriverAllocations, Is.EqualTo(driver), "steady steps still call cuMemAlloc");
    }
}

/// <summary>The tiny `kernels train ml-decoder | unet3d | unet2d` runs of
/// <see cref="DeviceTrainingCommandTests"/> with --device cuda (Ignored where there is no GPU).</summary>
[Category("Gpu")]
public class ModelTrainingGpuCommandTests : Kernels.Tests.IO.TempFolderTest
{
    [TestCase("ml-decoder"), TestCase("gap"), TestCase("unet3d"), TestCase("unet2d")]
    public void TrainsOnCuda(string what)
    {
        GpuSupport.RequireCuda();
        DeviceTrainingCommandTests.RunAndCheck(what, "cuda", Dir);
    }
}
