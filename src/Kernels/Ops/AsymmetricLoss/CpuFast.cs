using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Kernels.Cpu;
using Kernels.Numerics;

namespace Kernels.Ops.AsymmetricLoss;

/// <summary>The float32 asymmetric loss on the CPU in one pass per element block: eight entries at a
/// time in AVX2 registers (sigmoid, the clipped negative probability, one log per entry, the
/// focusing weight by multiplications (b⁴ by squaring), the gradient), the loss summed in float64 lanes.
/// The math is <see cref="AslMath.Entry"/> lane by lane, with <see cref="VectorMath"/>'s exp and
/// log (a few ulp from MathF's), including its handling of ±inf and NaN logits.
/// Work is cut into fixed blocks of <see cref="Block"/> entries, each block's float64 sum kept and
/// the blocks added in order, so the loss does not depend on the thread count.
/// Taken when <see cref="IsUsable"/>: AVX2 + FMA present and the three γ small whole numbers
/// (the recipe's 0 and 4); other cases use the scalar paths of <see cref="AsymmetricLossCpu"/>.</summary>
internal static class AslCpuFast
{
    /// <summary>Entries per block (a multiple of 8); about 100 µs of work, enough to amortise the hand-off.</summary>
    public const int Block = 8192;
    private const int MaxGamma = 16;

    public static bool IsUsable(in AslOptions o) =>
        VectorMath.IsAccelerated && SmallInt(o.GammaPos) && SmallInt(o.GammaNeg) && SmallInt(o.GammaUnannotated)
        && (float)o.Eps >= 1.17549435e-38f; // eps must be a normal float32 (the clamped log assumes one)

    private static bool SmallInt(double g) => g >= 0 && g <= MaxGamma && g == Math.Floor(g);

    /// <summary>loss (sum, or mean over the non-zero weights) of x [n] against targets y, with an
    /// optional weight mask w; writes the (mean-scaled) gradients to dx when not null. dx may be x
    /// itself (each block is read before it is written).</summary>
    public static double Run(long n, in AslOptions o, float[] x, float[] y, float[]? w, float[]? dx)
    {
        if (n <= 0) return 0;
        // The loop loads without bounds checks: make sure every buffer holds n entries.
        if (x.Length < n || y.Length < n || (w is not null && w.Length < n) || (dx is not null && dx.Length < n))
            throw new ArgumentException($"AsymmetricLoss: a buffer holds fewer than the {n} entries of the logits");
        double scale = 1;
        if (o.Mean)
        {
            long count = n;
            if (w is not null)
            {
                count = 0;
                for (long i = 0; i < n; i++)
                    if (w[i] != 0) count++;
            }
            scale = 1.0 / Math.Max(count, 1);
        }
        var p = new Params(o, (float)scale);
        int blocks = (int)((n + Block - 1) / Block);
        var partial = new double[blocks];
        int threads = CpuParallel.Threads;
        if (threads <= 1 || blocks == 1)
        {
            for (int b = 0; b < blocks; b++) partial[b] = RunBlock(p, x, y, w, dx, b, n);
        }
        else
        {
            // Blocks handed out dynamically (a descheduled thread on a shared machine does not hold
            // back half the work); each block's sum lands in its own slot, added in order below.
            var po = new ParallelOptions { MaxDegreeOfParallelism = threads };
            Parallel.For(0, blocks, po, b => partial[b] = RunBlock(p, x, y, w, dx, b, n));
        }
        double total = 0;
        foreach (double s in partial) total += s;
        return scale * total;
    }

    /// <summary>The options as float32 lanes, fixed for a call.</summary>
    private readonly struct Params
    {
        public readonly int Gp, Gn, Gu;
        public readonly bool FocusConstant, ClipZero;
        public readonly float GradScale;
        public readonly Vector256<float> Clip, Eps, Ap, An, Au, GpV, GnV, GuV;

        public Params(in AslOptions o, float gradScale)
        {
            Gp = (int)o.GammaPos; Gn = (int)o.GammaNeg; Gu = (int)o.GammaUnannotated;
            FocusConstant = o.FocusingWeightConstant;
            ClipZero = (float)o.Clip == 0f;
            GradScale = gradScale;
            Clip = Vector256.Create((float)o.Clip);
            Eps = Vector256.Create((float)o.Eps);
            Ap = Vector256.Create((float)o.AlphaPos);
            An = Vector256.Create((float)o.AlphaNeg);
            Au = Vector256.Create((float)o.AlphaUnannotated);
            GpV = Vector256.Create((float)Gp);
            GnV = Vector256.Create((float)Gn);
            GuV = Vector256.Create((float)Gu);
        }
    }

    // Fully optimised from the first call: at tier 0 the Vector256 helpers would not be inlined
    // (each lane operation a call), and a hot loop of 1024 iterations per call rarely reaches OSR.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double RunBlock(in Params p, float[] x, float[] y, float[]? w, float[]? dx, int block, long n)
    {
        int start = block * Block, end = (int)Math.Min(n, (long)start + Block);
        var acc0 = Vector256<double>.Zero;
        var acc1 = Vector256<double>.Zero;
        var gs = Vector256.Create(p.GradScale);
        int i = start;
        ref float xr = ref MemoryMarshal.GetArrayDataReference(x);
        ref float yr = ref MemoryMarshal.GetArrayDataReference(y);
        ref float wr = ref w is null ? ref Unsafe.NullRef<float>() : ref MemoryMarshal.GetArrayDataReference(w);
        ref float dr = ref dx is null ? ref Unsafe.NullRef<float>() : ref MemoryMarshal.GetArrayDataReference(dx);
        for (; i + 8 <= end; i += 8)
        {
            var xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            var yv = Vector256.LoadUnsafe(ref yr, (nuint)i);
            var loss = Entry(p, xv, yv, out var grad);
            if (w is not null)
            {
                var wv = Vector256.LoadUnsafe(ref wr, (nuint)i);
                loss *= wv;
                grad *= wv;
            }
            if (dx is not null) (grad * gs).StoreUnsafe(ref dr, (nuint)i);
            var (lo, hi) = Vector256.Widen(loss);
            acc0 += lo;
            acc1 += hi;
        }
        // The tail (fewer than 8 entries) in its own method, so the accumulators above stay in registers.
        double tailSum = i < end ? Tail(p, x, y, w, dx, i, end) : 0;
        var sum = acc0 + acc1;
        return (sum.GetElement(0) + sum.GetElement(1)) + (sum.GetElement(2) + sum.GetElement(3)) + tailSum;
    }

    /// <summary>The last entries of a block through the same vector math on a padded copy; padded lanes are dropped.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double Tail(in Params p, float[] x, float[] y, float[]? w, float[]? dx, int i, int end)
    {
        int rest = end - i;
        Span<float> xt = stackalloc float[8], yt = stackalloc float[8], lt = stackalloc float[8], gt = stackalloc float[8];
        xt.Clear(); yt.Clear();
        x.AsSpan(i, rest).CopyTo(xt);
        y.AsSpan(i, rest).CopyTo(yt);
        var loss = Entry(p, Vector256.Create<float>(xt), Vector256.Create<float>(yt), out var grad);
        if (w is not null)
        {
            Span<float> wt = stackalloc float[8];
            wt.Clear();
            w.AsSpan(i, rest).CopyTo(wt);
            var wv = Vector256.Create<float>(wt);
            loss *= wv;
            grad *= wv;
        }
        loss.CopyTo(lt);
        (grad * Vector256.Create(p.GradScale)).CopyTo(gt);
        if (dx is not null) gt[..rest].CopyTo(dx.AsSpan(i, rest));
        double s = 0;
        for (int k = 0; k < rest; k++) s += lt[k];
        return s;
    }

    /// <summary><see cref="AslMath.Entry"/> on eight lanes: returns the loss, grad = d loss / dx (unscaled, unweighted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Entry(in Params p, Vector256<float> x, Vector256<float> y, out Vector256<float> grad)
    {
        var prob = VectorMath.Sigmoid(x, out var q);
        var pos = Vector256.GreaterThan(y, Vector256.Create(0.5f));
        var un = Vector256.LessThan(y, Vector256.Create(-0.5f));
        var dp = prob * q;
        // Negatives: p_m = max(p − clip, 0), 1 − p_m = q + clip where shifted (NaN p: not shifted, as in scalar).
        var shifted = Vector256.GreaterThan(prob, p.Clip);
        var pm = (prob - p.Clip) & shifted;
        var oneMinusPm = Vector256.ConditionalSelect(shifted, q + p.Clip, Vector256<float>.One);
        var dpm = dp & shifted;
        // One log per entry: of p for positives, of 1 − p_m otherwise, clamped at eps.
        var arg = Vector256.ConditionalSelect(pos, prob, oneMinusPm);
        var argOk = Vector256.GreaterThan(arg, p.Eps);
        // The clamped argument is a positive normal number (NaN → eps, as the scalar p > eps test does).
        var logArg = VectorMath.LogPositiveNormal(Vector256.ConditionalSelect(argOk, arg, p.Eps));
        // d log(arg) / dx: q for positives, −dp_m / (1 − p_m) for the others; 0 where clamped.
        var dLog = Vector256.ConditionalSelect(pos, q, -(dpm / oneMinusPm)) & argOk;
        // Focusing weights: (1 − p)^γ+ for positives, p_m^γ (γ− or γu) for the others.
        var wPos = VectorMath.PowInt(q, p.Gp);
        var wNeg = VectorMath.PowInt(pm, p.Gn);
        if (p.Gu != p.Gn) wNeg = Vector256.ConditionalSelect(un, VectorMath.PowInt(pm, p.Gu), wNeg);
        var wgt = Vector256.ConditionalSelect(pos, wPos, wNeg);
        var alpha = Vector256.ConditionalSelect(pos, p.Ap, Vector256.ConditionalSelect(un, p.Au, p.An));
        var negAlpha = -alpha;
        var loss = negAlpha * wgt * logArg;
        var inner = wgt * dLog;
        if (!p.FocusConstant)
        {
            // d(q^γ+)/dx = −γ+·p·q^γ+ ; d(p_m^γ)/dx = γ·p_m^γ·(dp/dx)/p_m, = γ·p_m^γ·q when clip = 0.
            var dwPos = p.Gp == 0 ? Vector256<float>.Zero : -(p.GpV * prob * wPos);
            var gNeg = p.Gu != p.Gn ? Vector256.ConditionalSelect(un, p.GuV, p.GnV) : p.GnV;
            var ratio = p.ClipZero ? q : dpm / pm;
            var dwNeg = (gNeg * wNeg * ratio) & Vector256.GreaterThan(pm, Vector256<float>.Zero);
            var dw = Vector256.ConditionalSelect(pos, dwPos, dwNeg);
            inner = Vector256.FusedMultiplyAdd(dw, logArg, inner);
        }
        grad = negAlpha * inner;
        return loss;
    }
}
