using BenchmarkDotNet.Attributes;
using Kernels.Nets;
using Kernels.Ops.Conv;
using F = Kernels.Nets.Functional;

namespace Kernels.Benchmarks;

/// <summary>Convolution on the CPU, float32. Descriptions match the names printed by
/// benchmarks/peer/conv.py (PyTorch / oneDNN on the same shapes) so the two line up.
/// FLOPs per call: conv2d 1.85e9, conv3d 3.62e9 (forward), 7.25e9 (backward: dx + dw).
/// Run: dotnet run -c Release --project benchmarks -- --filter '*ConvBenchmarks*'</summary>
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 7)]
public class ConvBenchmarks
{
    private Tensor _x2 = null!, _w2 = null!, _x3 = null!, _w3 = null!, _dy3 = null!, _dx3 = null!, _dw3 = null!;
    private ConvShape _s3;
    private IConv _conv = null!;

    [GlobalSetup]
    public void Setup()
    {
        Rng.Seed(0);
        _x2 = Tensor.Randn([8, 64, 56, 56]);
        _w2 = Tensor.Randn([64, 64, 3, 3], std: 0.05);
        _x3 = Tensor.Randn([2, 32, 32, 32, 32]);
        _w3 = Tensor.Randn([32, 32, 3, 3, 3], std: 0.05);
        _dy3 = Tensor.Randn([2, 32, 32, 32, 32]);
        _dx3 = Tensor.Empty(_x3.Shape);
        _dw3 = Tensor.Empty(_w3.Shape);
        _s3 = ConvShape.Create(2, 32, 32, [32, 32, 32], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1);
        _conv = Device.Cpu.Kernels.Get<IConv>();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { _x2, _w2, _x3, _w3, _dy3, _dx3, _dw3 }) t.Dispose();
    }

    [Benchmark(Description = "conv2d fwd b8 64->64 56^2 k3")]
    public void Conv2dForward()
    {
        using var y = F.Conv2d(_x2, _w2, null, padding: 1);
    }

    [Benchmark(Description = "conv3d fwd b2 32->32 32^3 k3")]
    public void Conv3dForward()
    {
        using var y = F.Conv3d(_x3, _w3, null, padding: 1);
    }

    /// <summary>Both GEMM-sized backward passes (dx and dw), as the PyTorch peer times them.</summary>
    [Benchmark(Description = "conv3d bwd b2 32->32 32^3 k3")]
    public void Conv3dBackward()
    {
        _conv.BackwardData(_s3, _dy3.Buffer, _w3.Buffer, _dx3.Buffer);
        _conv.BackwardWeights(_s3, _x3.Buffer, _dy3.Buffer, _dw3.Buffer, null);
    }
}
