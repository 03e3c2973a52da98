using Kernels.Ilgpu;
using Kernels.Ops.Softmax;

namespace Kernels.Tests.Ilgpu;

/// <summary>SoftmaxIlgpu on ilgpu-cpu against the Cpu reference: lanes longer than a group, the
/// column tile with inner not a multiple of 32, large inputs (the max must be subtracted: exp of
/// them overflows float32), −∞ entries and an all −∞ lane (NaN, as in PyTorch).</summary>
public class SoftmaxIlgpuTests
{
    private static SoftmaxIlgpu Kernels => new(IlgpuCpuDevice.Instance);

    private static void Check(SoftmaxShape s, double[] x, double atol = 1e-5, SoftmaxIlgpu? kernels = null)
    {
        var dy = IlgpuVersusCpu.Uniform(11, s.Numel);
        foreach (var log in new[] { false, true })
            IlgpuVersusCpu.Check<ISoftmax>(kernels ?? Kernels, $"{(log ? "log-" : "")}softmax {s}", (k, io) =>
            {
                var y = io.Out("y", s.Numel);
                k.Forward(s, log, io.In(x), y);
                k.Backward(s, log, y, io.In(dy), io.Out("dx", s.Numel));
            }, 1e-4, atol);
    }

    [TestCase(3, 700, 1), TestCase(2, 20, 45), TestCase(1, 3, 70)]
    public void ForwardAndBackwardMatchTheReference(long o, int a, long i)
    {
        var s = new SoftmaxShape(o, a, i);
        Check(s, IlgpuVersusCpu.Uniform(10, s.Numel, -6, 6));
    }

    /// <summary>The 256-thread groups cuda uses (8 warps, 8 column slices), run on ilgpu-cpu.</summary>
    [TestCase(1, 600, 1), TestCase(1, 30, 40)]
    public void CudaGroupSizeGivesTheSameResults(long o, int a, long i)
    {
        var s = new SoftmaxShape(o, a, i);
        Check(s, IlgpuVersusCpu.Uniform(16, s.Numel, -6, 6), kernels: new SoftmaxIlgpu(IlgpuCpuDevice.Instance) { Threads = 256 });
    }

    [TestCase(1), TestCase(5)]
    public void LargeInputsStayFinite(long inner)
    {
        var s = new SoftmaxShape(2, 50, inner);
        // exp(100) overflows float32; float32 spacing near 100 (7.6e-6) bounds what can match.
        var x = IlgpuVersusCpu.Uniform(12, s.Numel, 100, 106);
        Check(s, x, 1e-4);
    }

    [TestCase(1), TestCase(3)]
    public void MinusInfinityEntriesAndAnAllMinusInfinityLane(long inner)
    {
        var s = new SoftmaxShape(2, 9, inner);
        var x = IlgpuVersusCpu.Uniform(13, s.Numel);
        for (long j = 0; j < 9 * inner; j++) x[j] = double.NegativeInfinity; // lane(s) of outer 0
        x[9 * inner + 4 * inner] = double.NegativeInfinity; // one entry of outer 1
        Check(s, x);
    }
}
