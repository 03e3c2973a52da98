using BenchmarkDotNet.Attributes;
using Kernels.Nets;
using Kernels.Ops.Conv;

namespace Kernels.Benchmarks;

/// <summary>float32 convolution on the CPU kernels, outputs reused. Descriptions are the join key
/// with benchmarks/peer/conv.py (PyTorch / oneDNN on the same shapes). FLOPs per call:
/// conv2d 1.85e9, conv3d forward 3.62e9, conv3d backward (dx + dw) 7.25e9.
/// Check: python3 benchmarks/compare.py --filter '*Conv*' --peers conv</summary>
[Config(typeof(QuickConfig))]
public class ConvBenchmarks
{
    private Tensor _x2 = null!, _w2 = null!, _y2 = null!;
    private Tensor _x3 = null!, _w3 = null!, _y3 = null!, _dy3 = null!, _dx3 = null!, _dw3 = null!;
    private ConvShape _s2, _s3;
    private IConv _conv = null!;

    [GlobalSetup]
    public void Setup()
    {
        Rng.Seed(0);
        _s2 = ConvShape.Create(8, 64, 64, [56, 56], [3, 3], [1, 1], [1, 1], [1, 1], 1);
        _x2 = Tensor.Randn([8, 64, 56, 56]).AsParameter();
        _w2 = Tensor.Randn([64, 64, 3, 3], std: 0.05).AsParameter();
        _y2 = Tensor.Zeros([8, 64, 56, 56]).AsParameter();
        _s3 = ConvShape.Create(2, 32, 32, [32, 32, 32], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1);
        _x3 = Tensor.Randn([2, 32, 32, 32, 32]).AsParameter();
        _w3 = Tensor.Randn([32, 32, 3, 3, 3], std: 0.05).AsParameter();
        _y3 = Tensor.Zeros([2, 32, 32, 32, 32]).AsParameter();
        _dy3 = Tensor.Randn([2, 32, 32, 32, 32]).AsParameter();
        _dx3 = Tensor.Zeros(_x3.Shape).AsParameter();
        _dw3 = Tensor.Zeros(_w3.Shape).AsParameter();
        _conv = Device.Cpu.Kernels.Get<IConv>();
    }

    [Benchmark(Description = "conv2d fwd b8 64->64 56^2 k3")]
    public void Conv2dForward() => _conv.Forward(_s2, _x2.Buffer, _w2.Buffer, null, _y2.Buffer);

    [Benchmark(Description = "conv3d fwd b2 32->32 32^3 k3")]
    public void Conv3dForward() => _conv.Forward(_s3, _x3.Buffer, _w3.Buffer, null, _y3.Buffer);

    /// <summary>Both GEMM-sized backward passes (dx and dw), as the peer times autograd.grad.</summary>
    [Benchmark(Description = "conv3d bwd b2 32->32 32^3 k3")]
    public void Conv3dBackward()
    {
        _conv.BackwardData(_s3, _dy3.Buffer, _w3.Buffer, _dx3.Buffer);
        _conv.BackwardWeights(_s3, _x3.Buffer, _dy3.Buffer, _dw3.Buffer, null);
    }
}
