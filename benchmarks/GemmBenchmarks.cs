using BenchmarkDotNet.Attributes;
using Kernels.Nets;
using Kernels.Ops.Gemm;

namespace Kernels.Benchmarks;

/// <summary>float32 GEMM C = A·B on the CPU kernel, row-major and contiguous, the output buffer
/// reused (PyTorch's peer uses torch.mm(a, b, out=c)). Descriptions are the join key with
/// benchmarks/peer/gemm.py.</summary>
[Config(typeof(QuickConfig))]
public class GemmBenchmarks
{
    private Operands _square = null!, _decoderIn = null!, _decoderOut = null!;

    private sealed class Operands(int m, int n, int k)
    {
        public readonly Tensor A = Tensor.Rand([m, k]).AsParameter();
        public readonly Tensor B = Tensor.Rand([k, n]).AsParameter();
        public readonly Tensor C = Tensor.Zeros([m, n]).AsParameter();
        public readonly GemmShape Shape = new(m, n, k);

        /// <summary>The managed kernel, named directly: the registry prefers OpenBLAS where present.</summary>
        public void Run() => Managed.Gemm(Shape, 1, A.Buffer, B.Buffer, 0, C.Buffer);

        public void RunOpenBlas() => Blas.Gemm(Shape, 1, A.Buffer, B.Buffer, 0, C.Buffer);
    }

    private static readonly GemmCpu Managed = new();
    private static readonly GemmOpenBlas Blas = new();

    [GlobalSetup]
    public void Setup()
    {
        _square = new Operands(1024, 1024, 1024);
        _decoderIn = new Operands(6272, 2048, 768);
        _decoderOut = new Operands(3200, 768, 2048);
    }

    [Benchmark(Description = "sgemm 1024x1024x1024")]
    public void Square() => _square.Run();

    /// <summary>ML-Decoder: 32 images × 196 tokens through a 768→2048 projection.</summary>
    [Benchmark(Description = "sgemm 6272x2048x768")]
    public void DecoderIn() => _decoderIn.Run();

    [Benchmark(Description = "sgemm 3200x768x2048")]
    public void DecoderOut() => _decoderOut.Run();

    /// <summary>The system OpenBLAS through P/Invoke (falls back to the managed kernel without it).</summary>
    [Benchmark(Description = "sgemm 1024x1024x1024 openblas")]
    public void SquareOpenBlas() => _square.RunOpenBlas();
}
