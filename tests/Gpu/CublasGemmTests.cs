using Kernels.Ops.Gemm;
using Kernels.Tests.Ilgpu;

namespace Kernels.Tests.Gpu;

/// <summary>cuBLAS GEMM (row-major through the operand swap) on cuda:0 against the cpu reference,
/// on awkward sizes, every transpose, batches, offsets and padded leading dimensions. Needs a GPU.</summary>
[Category("Gpu")]
public class CublasGemmTests
{
    [Test]
    public void AwkwardSizesEveryTransposeAndBatch()
    {
        var dev = GpuSupport.RequireCuda();
        var gemm = new GemmCublas(dev);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                GemmComparison.Check(gemm, dev, GemmComparison.Shape(65, 33, 17, ta, tb), 1, 0);
                GemmComparison.Check(gemm, dev, GemmComparison.Shape(65, 33, 17, ta, tb, batch: 3), 1, 0);
                GemmComparison.Check(gemm, dev, GemmComparison.Shape(65, 33, 17, ta, tb, pad: 3, off: 5, batch: 3), 0.5, -1.5);
                GemmComparison.Check(gemm, dev, GemmComparison.Shape(65, 33, 17, ta, tb, pad: 2, off: 1), 0.7, 0.3);
            }
    }

    [Test]
    public void AlphaZeroBetaZeroAndZeroDepth()
    {
        var dev = GpuSupport.RequireCuda();
        var gemm = new GemmCublas(dev);
        GemmComparison.Check(gemm, dev, GemmComparison.Shape(65, 33, 17, false, true), 1.25, 0, poisonC: true);
        GemmComparison.Check(gemm, dev, GemmComparison.Shape(65, 33, 17, true, false), 0, 0.5, poisonA: true);
        GemmComparison.Check(gemm, dev, GemmComparison.Shape(5, 9, 0, false, false), 1, 0.5);
        GemmComparison.Check(gemm, dev, GemmComparison.Shape(5, 9, 0, true, true, batch: 3), 1, 0, poisonC: true);
    }

    [Test]
    public void TheTiledIlgpuGemmAgreesOnCuda()
    {
        var dev = GpuSupport.RequireCuda();
        var gemm = new GemmIlgpu(dev);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                GemmComparison.Check(gemm, dev, GemmComparison.Shape(65, 33, 17, ta, tb, pad: 3, off: 5, batch: 3), 0.5, -1.5);
                GemmComparison.Check(gemm, dev, GemmComparison.Shape(130, 200, 300, ta, tb), 1, 0);
            }
    }
}
