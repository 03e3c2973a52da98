using Kernels.Ilgpu;
using Kernels.Ops.AttentionDecode;

namespace Kernels.Tests.Ilgpu;

/// <summary>AttentionDecodeIlgpu on ilgpu-cpu against the Cpu reference, on what the self-test's
/// shapes do not reach: head dims over one 128-column block, more than 32 queries (several query
/// chunks in the dk/dv gather), the cuda group sizes (several warps per group, rows not a multiple
/// of the warps), and scores large enough that exp overflows float32 without the max shift.</summary>
public class AttentionDecodeIlgpuTests
{
    private static void Check(AttentionDecodeShape s, AttentionDecodeIlgpu kernels, double qScale = 1, double atol = 1e-5)
    {
        long qn = (long)s.Batch * s.Queries * s.Dim, kn = (long)s.Batch * s.Tokens * s.Dim;
        var q = IlgpuVersusCpu.Uniform(1, qn, -qScale, qScale);
        var k = IlgpuVersusCpu.Uniform(2, kn);
        var v = IlgpuVersusCpu.Uniform(3, kn);
        var g = IlgpuVersusCpu.Uniform(4, qn);
        IlgpuVersusCpu.Check<IAttentionDecode>(kernels, $"attention {s}", (impl, io) =>
        {
            DeviceBuffer qb = io.In(q), kb = io.In(k), vb = io.In(v);
            var probs = io.Out("probs", s.ProbsLength);
            impl.Forward(s, qb, kb, vb, io.Out("o", qn), probs);
            impl.Backward(s, qb, kb, vb, probs, io.In(g), io.Out("dq", qn), io.Out("dk", kn), io.Out("dv", kn));
        }, 1e-4, atol);
    }

    [TestCase(0.0), TestCase(0.2)]
    public void WideHeadsAndManyQueriesMatchTheReference(double p)
    {
        // Head dim 130: two column blocks, the second one 2 columns wide; 35 queries: two query chunks.
        Check(AttentionDecodeShape.Create(1, 35, 6, 1, 130, p, 0x9E3779B97F4A7C15UL), new AttentionDecodeIlgpu(IlgpuCpuDevice.Instance));
    }

    [TestCase(128), TestCase(256)]
    public void CudaGroupSizesGiveTheSameResults(int threads)
    {
        // 3·2·5 = 30 query rows and 3·2·13 = 78 token rows: neither a multiple of 4 or 8 warps.
        Check(AttentionDecodeShape.Create(3, 5, 13, 2, 9, 0.1, 42),
            new AttentionDecodeIlgpu(IlgpuCpuDevice.Instance) { Threads = threads });
    }

    [Test]
    public void LargeScoresStayFinite()
    {
        // |q·k|·scale up to ~200: exp would overflow float32 without subtracting the maximum.
        Check(AttentionDecodeShape.Create(1, 3, 70, 1, 16), new AttentionDecodeIlgpu(IlgpuCpuDevice.Instance), qScale: 25,
            atol: 1e-4);
    }
}
