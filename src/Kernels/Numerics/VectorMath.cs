using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Numerics;

/// <summary>float32 exp, log and sigmoid on eight lanes at once (Vector256), for fused CPU loops that
/// keep a whole element's math in registers. Written with the cross-platform Vector256 API, so the
/// results are the same bits with or without AVX2 / FMA (without them the JIT emulates the vectors,
/// slowly: callers check <see cref="IsAccelerated"/> and take a scalar path instead).
/// Accuracy (tests/Kernels/VectorMathTests.cs): exp and log within 2 ulp of the correctly rounded
/// result over the whole float range, subnormal inputs and outputs included. Special values as
/// MathF: exp(+inf) = +inf, exp(−inf) = 0, exp overflows to +inf and underflows to 0 / subnormals;
/// log(0) = −inf, log(x &lt; 0) = NaN, log(+inf) = +inf; NaN in gives NaN out.
/// The polynomial coefficients are weighted least-squares fits made for this file (relative error
/// about 4e-9 for exp on [−ln2/2, ln2/2] and 7e-9 for log1p on [√½ − 1, √2 − 1]), below float32
/// rounding, so the remaining error is the rounding of the few float32 operations.</summary>
public static class VectorMath
{
    /// <summary>True when Vector256 maps to AVX2 + FMA instructions (the fast path is worth taking).</summary>
    public static bool IsAccelerated => Avx2.IsSupported && Fma.IsSupported;

    // exp: x = n·ln2 + r with n = round(x / ln2); ln2 split so that n·Ln2Hi is exact for |n| ≤ 256.
    private const float Log2E = 1.44269502f;
    private const float ExpLn2Hi = 0.693145751953125f;
    private const float ExpLn2Lo = 1.42860677e-6f;
    // exp(r) = 1 + r + r²·(E0 + E1·r + … + E4·r⁴)
    private const float E0 = 0.49999997f, E1 = 0.16666521f, E2 = 0.041667227f, E3 = 0.0083686942f, E4 = 0.0013879685f;
    // Beyond these exp is +inf (above 88.73) or rounds to 0 (below −103.98); clamping keeps 2^n representable as two factors.
    private const float ExpMax = 89f, ExpMin = -104f;

    // log: x = 2^e · m, m ∈ [√½, √2), log x = e·ln2 + log1p(f), f = m − 1 = f − f²/2 + f³·Q(f).
    private const float LogLn2Hi = 0.693359375f;
    private const float LogLn2Lo = -2.12194442e-4f;
    private const float Sqrt2 = 1.41421354f;
    private const float L0 = 0.33333310f, L1 = -0.25000802f, L2 = 0.20002493f, L3 = -0.16624886f,
        L4 = 0.14179158f, L5 = -0.13125239f, L6 = 0.12886487f, L7 = -0.078677773f;
    private const float MinNormal = 1.17549435e-38f;

    /// <summary>e^x per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        // MinNative/MaxNative turn NaN into a bound; the NaN is put back at the end.
        var xc = Vector256.MinNative(Vector256.MaxNative(x, Vector256.Create(ExpMin)), Vector256.Create(ExpMax));
        var n = Vector256.Round(xc * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-ExpLn2Hi), xc);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-ExpLn2Lo), r);
        var poly = Vector256.FusedMultiplyAdd(Vector256.Create(E4), r, Vector256.Create(E3));
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(E2));
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(E1));
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(E0));
        var em1 = Vector256.FusedMultiplyAdd(poly, r * r, r);
        var y = em1 + Vector256<float>.One;
        // 2^n as two normal factors 2^n1 · 2^n2 (n ∈ [−150, 129]): results in the subnormal range are
        // rounded once, at the last multiply, and n = 128 overflows to +inf as it should.
        var ni = Vector256.ConvertToInt32Native(n);
        var n1 = Vector256.ShiftRightArithmetic(ni, 1);
        var n2 = ni - n1;
        var bias = Vector256.Create(127);
        var s1 = Vector256.ShiftLeft(n1 + bias, 23).AsSingle();
        var s2 = Vector256.ShiftLeft(n2 + bias, 23).AsSingle();
        y = y * s1 * s2;
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), y, x);
    }

    /// <summary>Natural log per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log(Vector256<float> x)
    {
        // Subnormals: scale by 2^23 into the normal range first, and take 23 off the exponent.
        var tiny = Vector256.LessThan(x, Vector256.Create(MinNormal));
        var xs = Vector256.ConditionalSelect(tiny, x * Vector256.Create(8388608f), x);
        var y = LogCore(xs, tiny.AsInt32() & Vector256.Create(23));
        // Special values: x < 0 or NaN → NaN, 0 → −inf, +inf → +inf.
        var bad = ~Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero);
        y = Vector256.ConditionalSelect(bad, Vector256.Create(float.NaN), y);
        y = Vector256.ConditionalSelect(Vector256.Equals(x, Vector256<float>.Zero), Vector256.Create(float.NegativeInfinity), y);
        return Vector256.ConditionalSelect(Vector256.Equals(x, Vector256.Create(float.PositiveInfinity)), x, y);
    }

    /// <summary>Natural log for lanes known to hold positive, normal, finite values (the same
    /// result as <see cref="Log"/> there; anything else gives garbage, not NaN). For callers that
    /// clamp their argument first, as the asymmetric loss does at eps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LogPositiveNormal(Vector256<float> x) => LogCore(x, Vector256<int>.Zero);

    /// <summary>log(x) − exponentShift·ln2 for positive normal x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LogCore(Vector256<float> x, Vector256<int> exponentShift)
    {
        var bits = x.AsInt32();
        var e = Vector256.ShiftRightArithmetic(bits, 23) - Vector256.Create(127) - exponentShift;
        var m = ((bits & Vector256.Create(0x007FFFFF)) | Vector256.Create(0x3F800000)).AsSingle(); // [1, 2)
        var big = Vector256.GreaterThan(m, Vector256.Create(Sqrt2));
        m = Vector256.ConditionalSelect(big, m * Vector256.Create(0.5f), m);
        e -= big.AsInt32(); // the mask is −1 where true
        var f = m - Vector256<float>.One; // exact (Sterbenz)
        var f2 = f * f;
        var q = Vector256.FusedMultiplyAdd(Vector256.Create(L7), f, Vector256.Create(L6));
        q = Vector256.FusedMultiplyAdd(q, f, Vector256.Create(L5));
        q = Vector256.FusedMultiplyAdd(q, f, Vector256.Create(L4));
        q = Vector256.FusedMultiplyAdd(q, f, Vector256.Create(L3));
        q = Vector256.FusedMultiplyAdd(q, f, Vector256.Create(L2));
        q = Vector256.FusedMultiplyAdd(q, f, Vector256.Create(L1));
        q = Vector256.FusedMultiplyAdd(q, f, Vector256.Create(L0));
        // y = f³·Q − f²/2, then e·ln2 added in two parts around f so the large terms stay exact.
        var y = f2 * Vector256.FusedMultiplyAdd(f, q, Vector256.Create(-0.5f));
        var ef = Vector256.ConvertToSingle(e);
        y = Vector256.FusedMultiplyAdd(ef, Vector256.Create(LogLn2Lo), y);
        y += f;
        return Vector256.FusedMultiplyAdd(ef, Vector256.Create(LogLn2Hi), y);
    }

    /// <summary>The logistic sigmoid and its complement, p = 1 / (1 + e^−x) and q = 1 − p, both from
    /// e = e^−|x| ∈ [0, 1], so neither overflows nor cancels for any x (as
    /// <see cref="Kernels.Ops.AsymmetricLoss.AslMath.Entry"/> does in scalar). NaN gives NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x, out Vector256<float> q)
    {
        var e = Exp(-Vector256.Abs(x));
        var inv = Vector256<float>.One / (Vector256<float>.One + e);
        var einv = e * inv;
        var nonNeg = Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero);
        q = Vector256.ConditionalSelect(nonNeg, einv, inv);
        return Vector256.ConditionalSelect(nonNeg, inv, einv);
    }

    /// <summary>b^k for a small whole exponent k ≥ 0 (b^0 = 1), by squaring: b⁴ is two multiplies.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> PowInt(Vector256<float> b, int k)
    {
        switch (k)
        {
            case 0: return Vector256<float>.One;
            case 1: return b;
            case 2: return b * b;
            case 3: return b * b * b;
            case 4: { var b2 = b * b; return b2 * b2; }
        }
        var r = Vector256<float>.One;
        var s = b;
        while (true)
        {
            if ((k & 1) != 0) r *= s;
            k >>= 1;
            if (k == 0) return r;
            s *= s;
        }
    }
}
