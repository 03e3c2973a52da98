using Kernels.Ilgpu;
using Kernels.Ops.Reduce;

namespace Kernels.Tests.Ilgpu;

/// <summary>ReduceIlgpu on ilgpu-cpu against the Cpu reference: first-maximum ties spread across
/// warps and slices, NaN and −∞ rows, the value-only / index-only outputs, the column tile with
/// inner not a multiple of 32, and Expand with more outer axes than the kernel takes.</summary>
public class ReduceIlgpuTests
{
    private static ReduceIlgpu Kernels => new(IlgpuCpuDevice.Instance);

    private static double[] WithTies(long outer, int red, long inner, int seed)
    {
        // Small integers: many ties, so the first-index rule decides most lanes.
        var r = new Random(seed);
        var x = new double[outer * red * inner];
        for (int i = 0; i < x.Length; i++) x[i] = r.Next(0, 4);
        return x;
    }

    [TestCase(2, 300, 1), TestCase(3, 20, 3), TestCase(1, 70, 45), TestCase(2, 1, 33)]
    public void MaxFindsTheFirstMaximum(long o, int red, long i) => CheckMax(Kernels, o, red, i);

    /// <summary>The 256-thread groups cuda uses (8 warps, 8 column slices), run on ilgpu-cpu.</summary>
    [TestCase(1, 600, 1), TestCase(1, 30, 40)]
    public void CudaGroupSizeGivesTheSameResults(long o, int red, long i)
    {
        var k = new ReduceIlgpu(IlgpuCpuDevice.Instance) { Threads = 256 };
        CheckMax(k, o, red, i);
        var s = new ReduceShape(o, red, i);
        var x = IlgpuVersusCpu.Uniform(15, s.InputNumel);
        IlgpuVersusCpu.Check<IReduce>(k, $"sum {s}", (k, io) => k.Sum(s, 1, io.In(x), io.Out("y", s.OutputNumel)), 1e-5, 1e-4);
    }

    private static void CheckMax(ReduceIlgpu kernels, long o, int red, long i)
    {
        var s = new ReduceShape(o, red, i);
        var x = WithTies(o, red, i, red);
        var dy = IlgpuVersusCpu.Uniform(7, s.OutputNumel);
        IlgpuVersusCpu.Check<IReduce>(kernels, $"max {s}", (k, io) =>
            k.Max(s, io.In(x), io.Out("values", s.OutputNumel), io.IntOut("indices", s.OutputNumel)));
        IlgpuVersusCpu.Check<IReduce>(kernels, $"values only {s}", (k, io) =>
            k.Max(s, io.In(x), io.Out("values", s.OutputNumel), null));
        IlgpuVersusCpu.Check<IReduce>(kernels, $"indices only {s}", (k, io) =>
            k.Max(s, io.In(x), null, io.IntOut("indices", s.OutputNumel)));
        IlgpuVersusCpu.Check<IReduce>(kernels, $"max backward {s}", (k, io) =>
            k.MaxBackward(s, io.In(x), io.In(dy), io.Out("dx", s.InputNumel)));
    }

    [TestCase(1), TestCase(3)]
    public void NaNWinsAndAnAllMinusInfinityLaneGivesItsFirstIndex(long inner)
    {
        const int red = 40;
        var x = new double[2 * red * inner];
        Array.Fill(x, double.NegativeInfinity); // outer 0: all −∞
        for (long j = red * inner; j < x.Length; j++) x[j] = 1;
        for (long c = 0; c < inner; c++)
        {
            x[(red + 35) * inner + c] = double.NaN; // outer 1: NaN at 35 and 37, max values before
            x[(red + 37) * inner + c] = double.NaN;
            x[(red + 2) * inner + c] = 9;
        }
        var s = new ReduceShape(2, red, inner);
        IlgpuVersusCpu.Check<IReduce>(Kernels, "nan / −∞", (k, io) =>
            k.Max(s, io.In(x), io.Out("values", s.OutputNumel), io.IntOut("indices", s.OutputNumel)));
    }

    [TestCase(1, 5000, 1), TestCase(2, 40, 70), TestCase(3, 1, 33), TestCase(2, 0, 1)]
    public void SumMatchesTheReference(long o, int red, long i)
    {
        var s = new ReduceShape(o, red, i);
        var x = IlgpuVersusCpu.Uniform(8, s.InputNumel);
        IlgpuVersusCpu.Check<IReduce>(Kernels, $"sum {s}", (k, io) =>
            k.Sum(s, 0.25, io.In(x), io.Out("y", s.OutputNumel)), 1e-5, 1e-4);
    }

    [Test]
    public void ExpandWithMoreOuterAxesThanTheKernelTakes()
    {
        var kept = new Shape(2, 1, 3, 1, 2, 1, 3);
        var full = new Shape(2, 2, 3, 3, 2, 2, 3);
        var dy = IlgpuVersusCpu.Uniform(9, kept.Numel);
        IlgpuVersusCpu.Check<IReduce>(Kernels, "expand", (k, io) =>
            k.Expand(kept, full, -1.5, io.In(dy), io.Out("dx", full.Numel)));
    }
}
