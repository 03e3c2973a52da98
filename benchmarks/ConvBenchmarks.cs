using BenchmarkDotNet.Attributes;
using Kernels.Nets;
using Kernels.Nets.Benchmarking;

namespace Kernels.Benchmarks;

/// <summary>float32 convolution on the CPU kernels, outputs reused (workloads shared with `kernels
/// bench`: <see cref="BenchCases"/>). Descriptions are the join key with benchmarks/peer/conv.py
/// (PyTorch / oneDNN on the same shapes). FLOPs per call: conv2d 1.85e9, conv3d forward 3.62e9,
/// conv3d backward (dx + dw) 7.25e9. Check: python3 benchmarks/compare.py --filter '*Conv*' --peers conv</summary>
[Config(typeof(QuickConfig))]
public class ConvBenchmarks
{
    private IBenchWorkload _conv2d = null!, _conv3d = null!, _conv3dBackward = null!, _layerUnfused = null!, _layerFused = null!;

    [GlobalSetup]
    public void Setup()
    {
        Rng.Seed(0);
        _conv2d = Create("conv2d fwd b8 64->64 56^2 k3");
        _conv3d = Create("conv3d fwd b2 32->32 32^3 k3");
        _conv3dBackward = Create("conv3d bwd b2 32->32 32^3 k3");
        _layerUnfused = Create("conv3d+bn+lrelu unfused b2 32->32 32^3 k3");
        _layerFused = Create("conv3d+bn+lrelu fused b2 32->32 32^3 k3");
    }

    private static IBenchWorkload Create(string name) => BenchCases.All.Single(c => c.Name == name).Create(Device.Cpu);

    [Benchmark(Description = "conv2d fwd b8 64->64 56^2 k3")]
    public void Conv2dForward() => _conv2d.Run();

    [Benchmark(Description = "conv3d fwd b2 32->32 32^3 k3")]
    public void Conv3dForward() => _conv3d.Run();

    /// <summary>Both GEMM-sized backward passes (dx and dw), as the peer times autograd.grad.</summary>
    [Benchmark(Description = "conv3d bwd b2 32->32 32^3 k3")]
    public void Conv3dBackward() => _conv3dBackward.Run();

    /// <summary>The U-Net's inference layer (conv → batch norm → LeakyReLU) as three kernels, and
    /// as one forward with the norm folded into the epilogue (decision 0019).</summary>
    [Benchmark(Description = "conv3d+bn+lrelu unfused b2 32->32 32^3 k3")]
    public void Conv3dBnLeakyReluUnfused() => _layerUnfused.Run();

    [Benchmark(Description = "conv3d+bn+lrelu fused b2 32->32 32^3 k3")]
    public void Conv3dBnLeakyReluFused() => _layerFused.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        _conv2d.Dispose();
        _conv3d.Dispose();
        _conv3dBackward.Dispose();
        _layerUnfused.Dispose();
        _layerFused.Dispose();
    }
}
