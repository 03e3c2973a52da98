using Kernels.Ops.Activation;
using Kernels.Ops.Conv;

namespace Kernels.SelfTesting;

internal static class ConvCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        var shapes = new List<ConvShape>
        {
            // batch, in, out, input size, kernel, stride, padding, dilation, groups
            ConvShape.Create(1, 3, 5, [7, 9], [3, 3], [1, 1], [1, 1], [1, 1], 1),
            ConvShape.Create(2, 4, 6, [11, 6], [3, 2], [2, 1], [1, 0], [2, 1], 2),
            ConvShape.Create(2, 5, 3, [5, 7], [1, 1], [1, 1], [0, 0], [1, 1], 1),
            ConvShape.Create(1, 4, 4, [9, 5], [3, 3], [1, 2], [1, 1], [1, 1], 4),
            ConvShape.Create(3, 2, 3, [13], [5], [3], [2], [1], 1),
            ConvShape.Create(1, 2, 3, [5, 4, 6], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
            ConvShape.Create(2, 3, 2, [4, 7, 5], [2, 3, 1], [2, 1, 1], [0, 1, 0], [1, 1, 1], 1),
            // ≥ 8 channels per group at unit stride: the padded-grid path and its float32 direct
            // tiles (the float64 reference takes the padded-grid GEMM form).
            ConvShape.Create(1, 9, 10, [6, 7], [3, 3], [1, 1], [1, 1], [1, 1], 1),
            ConvShape.Create(2, 16, 18, [5, 9], [3, 2], [1, 1], [2, 0], [2, 1], 2),
            ConvShape.Create(1, 8, 9, [3, 5, 4], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
            // batch × output positions ≥ 1024: the ilgpu weight gradient's warp-per-element path
            // (shorter reductions take its thread-per-element path).
            ConvShape.Create(3, 4, 6, [27, 29], [3, 3], [2, 1], [1, 1], [1, 2], 2),
            // 3-D shapes for the implicit-GEMM kernels (native): kernel 1×3×2 with padding 0 / above
            // k/2 and stride 2; stride 2 with dilation 2; the U-Net's 2×2×2 stride-2 down / up
            // sampling (its backward-data is the transposed convolution); three groups of odd width;
            // 16 input channels (the tensor-core forward's shape class on cuda).
            ConvShape.Create(1, 3, 5, [5, 6, 7], [1, 3, 2], [2, 1, 2], [0, 2, 1], [1, 2, 1], 1),
            ConvShape.Create(2, 7, 3, [6, 5, 7], [3, 3, 3], [2, 2, 1], [3, 0, 1], [2, 1, 2], 1),
            ConvShape.Create(1, 5, 4, [4, 6, 5], [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], 1),
            ConvShape.Create(1, 6, 9, [3, 5, 4], [2, 3, 3], [1, 2, 1], [1, 1, 0], [1, 1, 2], 3),
            ConvShape.Create(1, 16, 24, [3, 4, 5], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
        };
        if (sizes == SelfTestSizes.Full)
        {
            shapes.Add(ConvShape.Create(2, 16, 24, [17, 19], [3, 3], [1, 1], [1, 1], [1, 1], 1));
            shapes.Add(ConvShape.Create(1, 32, 33, [31, 29], [5, 5], [2, 2], [2, 2], [1, 1], 1));
            shapes.Add(ConvShape.Create(2, 8, 8, [9, 10, 11], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 2));
        }
        foreach (var c in Plain(r, shapes)) yield return c;
        // The fused forward (bias / scale / shift / activation epilogue) on every shape above plus
        // channel counts that are not multiples of 8 or 32; inputs drawn after the plain cases'.
        var fused = new List<ConvShape>(shapes)
        {
            ConvShape.Create(1, 12, 37, [4, 5, 6], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
            ConvShape.Create(2, 33, 17, [3, 4, 5], [3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], 1),
            ConvShape.Create(1, 10, 15, [5, 4, 6], [3, 3, 3], [1, 1, 1], [2, 2, 2], [2, 2, 2], 5),
        };
        for (int i = 0; i < fused.Count; i++)
        {
            // Two of the five epilogue variants per shape, rotating, so each variant meets several
            // geometries (and every implementation's paths: direct, padded grid, GEMM).
            yield return Fused(r, fused[i], i % Variants.Length);
            yield return Fused(r, fused[i], (i + 2) % Variants.Length);
        }
        // Channel sums longer than the native kernel's 4096-element chunk per block: batch × spatial
        // not a multiple of it, chunks that straddle images, batch 1 with one element over a chunk.
        foreach (var (batch, channels, spatial) in new[] { (3, 3, 5000L), (1, 2, 4097L), (2, 5, 1L) })
        {
            var t = r.Uniform(batch * channels * spatial);
            double tol = batch * spatial >= 512 ? SelfTestCase.Fp32LongReduction : SelfTestCase.Fp32Tolerance;
            yield return SelfTestCase.Of<IConv>($"channel-sum N={batch} C={channels} spatial={spatial}", (k, io) =>
                k.ChannelSum(batch, channels, spatial, io.In(t), io.Out("sum", channels)), tol);
        }
    }

    /// <summary>(activation, bias, scale, shift) of the fused cases.</summary>
    private static readonly (ActivationKind? Act, bool Bias, bool Scale, bool Shift)[] Variants =
    [
        (ActivationKind.LeakyRelu, true, true, true),  // conv → batch norm → LeakyReLU (the U-Net's)
        (ActivationKind.Relu, false, true, false),
        (null, true, false, true),
        (ActivationKind.LeakyRelu, true, false, false),
        (ActivationKind.Relu, false, true, true),
    ];

    private static SelfTestCase Fused(CaseRandom r, ConvShape s, int variant)
    {
        var (act, hasBias, hasScale, hasShift) = Variants[variant];
        var x = r.Uniform(s.InputElements);
        var w = r.Uniform(s.WeightElements);
        double[]? bias = hasBias ? r.Uniform(s.OutChannels) : null;
        // A folded norm's scale γ/√(var + ε) takes either sign; keep it away from zero.
        double[]? scale = hasScale ? r.AwayFromZero(s.OutChannels, 0.25, 2) : null;
        double[]? shift = hasShift ? r.Uniform(s.OutChannels) : null;
        double alpha = act == ActivationKind.LeakyRelu ? 0.01 + 0.3 * r.Int(0, 2) : 0;
        double tol = s.InPerGroup * s.KernelVolume >= 512 ? SelfTestCase.Fp32LongReduction : SelfTestCase.Fp32Tolerance;
        string d = $"{Describe(s)} forward-fused act={(act is null ? "none" : act.ToString())}" +
                   (act == ActivationKind.LeakyRelu ? $"({alpha})" : "") +
                   $" bias={(hasBias ? 1 : 0)} scale={(hasScale ? 1 : 0)} shift={(hasShift ? 1 : 0)}";
        return SelfTestCase.Of<IConv>(d, (k, io) => k.ForwardFused(s, io.In(x), io.In(w), bias is null ? null : io.In(bias),
            io.Out("y", s.OutputElements), act, alpha, scale is null ? null : io.In(scale), shift is null ? null : io.In(shift)), tol);
    }

    private static string Describe(ConvShape s) =>
        $"N={s.Batch} C={s.InChannels}→{s.OutChannels} in={string.Join('x', s.InSize)} " +
        $"k={string.Join('x', s.Kernel)} s={string.Join('x', s.Stride)} p={string.Join('x', s.Padding)} " +
        $"d={string.Join('x', s.Dilation)} g={s.Groups}";

    private static IEnumerable<SelfTestCase> Plain(CaseRandom r, List<ConvShape> shapes)
    {
        foreach (var s in shapes)
        {
            string d = Describe(s);
            var x = r.Uniform(s.InputElements);
            var w = r.Uniform(s.WeightElements);
            var bias = r.Uniform(s.OutChannels);
            var inBias = r.Uniform(s.InChannels);
            var dy = r.Uniform(s.OutputElements);
            // Long reductions: the weight gradient sums over batch × output positions.
            double wTol = s.Batch * s.OutSpatial >= 512 ? SelfTestCase.Fp32LongReduction : SelfTestCase.Fp32Tolerance;
            double fTol = s.InPerGroup * s.KernelVolume >= 512 ? SelfTestCase.Fp32LongReduction : SelfTestCase.Fp32Tolerance;
            yield return SelfTestCase.Of<IConv>($"{d} forward", (k, io) =>
                k.Forward(s, io.In(x), io.In(w), null, io.Out("y", s.OutputElements)), fTol);
            yield return SelfTestCase.Of<IConv>($"{d} forward+bias", (k, io) =>
                k.Forward(s, io.In(x), io.In(w), io.In(bias), io.Out("y", s.OutputElements)), fTol);
            yield return SelfTestCase.Of<IConv>($"{d} backward-data", (k, io) =>
                k.BackwardData(s, io.In(dy), io.In(w), io.Out("dx", s.InputElements)), fTol);
            yield return SelfTestCase.Of<IConv>($"{d} backward-data+bias", (k, io) =>
                k.BackwardData(s, io.In(dy), io.In(w), io.Out("dx", s.InputElements), io.In(inBias)), fTol);
            yield return SelfTestCase.Of<IConv>($"{d} backward-weights", (k, io) =>
                k.BackwardWeights(s, io.In(x), io.In(dy), io.Out("dw", s.WeightElements), io.Out("db", s.OutChannels)),
                SelfTestCase.Fp32LongReduction);
            yield return SelfTestCase.Of<IConv>($"{d} channel-sum", (k, io) =>
                k.ChannelSum(s.Batch, s.OutChannels, s.OutSpatial, io.In(dy), io.Out("sum", s.OutChannels)), wTol);
        }
    }
}
