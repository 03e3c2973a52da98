using ILGPU;
using Kernels.Ilgpu;
using static Kernels.Ops.Reduce.IlgpuGroupReduce;

namespace Kernels.Ops.Elementwise;

/// <summary>The pointwise kernels: grid-stride loops, the op a launch-uniform switch. Max and min
/// propagate NaN (PyTorch's maximum / minimum; PTX max.f32 would drop it).</summary>
public sealed partial class ElementwiseIlgpu
{
    private static readonly IlgpuKernel s_binary = new(BinaryKernel);
    private static readonly IlgpuKernel s_unary = new(UnaryKernel);
    private static readonly IlgpuKernel s_scalar = new(ScalarKernel);
    private static readonly IlgpuKernel s_fill = new(FillKernel);
    private static readonly IlgpuKernel s_fillInt = new(FillIntKernel);
    private static readonly IlgpuKernel s_copy = new(CopyKernel);
    private static readonly IlgpuKernel s_copyInt = new(CopyIntKernel);
    private static readonly IlgpuKernel s_axpby = new(AxpbyKernel);
    private static readonly IlgpuKernel s_castIntToFloat = new(CastIntToFloatKernel);

    private static float ApplyBinary(int op, float a, float b) => op switch
    {
        0 => a + b,
        1 => a - b,
        2 => a * b,
        3 => a / b,
        4 => NanMax(a, b),
        5 => NanMin(a, b),
        _ => MathF.Pow(a, b),
    };

    /// <summary>y[yOff + i] = a ∘ b over one launch of a broadcast: i splits into a row of four
    /// outer axes (extents d0 implicit, d1..d3; a/b strides sa*, sb*) and an inner index whose
    /// stride is aIn / bIn (0 or 1) in each operand.</summary>
    private static void BinaryKernel(int op, ArrayView<float> a, long aOff, ArrayView<float> b, long bOff,
        ArrayView<float> y, long yOff, long n, int inner, int aIn, int bIn, int d1, int d2, int d3,
        long sa0, long sa1, long sa2, long sa3, long sb0, long sb1, long sb2, long sb3)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        bool oneRow = n == inner; // same shapes or a scalar operand: no index division at all
        bool fits32 = n <= int.MaxValue;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            long row = oneRow ? 0 : Div(i, inner, fits32);
            long j = i - row * inner;
            long ao = aOff + j * aIn, bo = bOff + j * bIn;
            if (!oneRow)
            {
                long q = Div(row, d3, fits32);
                long r = row - q * d3;
                ao += r * sa3;
                bo += r * sb3;
                row = q;
                q = Div(row, d2, fits32);
                r = row - q * d2;
                ao += r * sa2;
                bo += r * sb2;
                row = q;
                q = Div(row, d1, fits32);
                r = row - q * d1;
                ao += r * sa1 + q * sa0;
                bo += r * sb1 + q * sb0;
            }
            y[yOff + i] = ApplyBinary(op, a[ao], b[bo]);
        }
    }

    private static float ApplyUnary(int op, float v) => op switch
    {
        0 => -v,
        1 => MathF.Exp(v),
        2 => MathF.Log(v),
        3 => MathF.Sqrt(v),
        4 => 1f / MathF.Sqrt(v),
        5 => v < 0f ? -v : v == 0f ? 0f : v,
        6 => v * v,
        7 => 1f / v,
        8 => v > 0f ? 1f : v < 0f ? -1f : 0f, // NaN gives 0, as in PyTorch
        9 => MathF.Sin(IntoPlusMinusPi(v)),
        _ => MathF.Cos(IntoPlusMinusPi(v)),
    };

    /// <summary>v − 2πk, k = round(v / 2π), with 2π split in two floats (Cody–Waite): PTX's
    /// sin/cos.approx, which ILGPU emits, are only accurate on [−π, π].</summary>
    private static float IntoPlusMinusPi(float v)
    {
        float k = MathF.Round(v * 0.159154943f);
        return v - k * 6.28318548f + k * 1.74845553e-7f;
    }

    private static void UnaryKernel(int op, ArrayView<float> x, ArrayView<float> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = ApplyUnary(op, x[i]);
    }

    private static float ApplyScalar(int op, float v, float s) => op switch
    {
        0 => v + s,
        1 => v * s,
        2 => s - v,
        3 => s / v,
        4 => MathF.Pow(v, s),
        5 => NanMax(v, s),
        _ => NanMin(v, s),
    };

    private static void ScalarKernel(int op, float s, ArrayView<float> x, ArrayView<float> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = ApplyScalar(op, x[i], s);
    }

    private static void FillKernel(float value, ArrayView<float> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = value;
    }

    private static void FillIntKernel(int value, ArrayView<int> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = value;
    }

    private static void CopyKernel(ArrayView<float> x, ArrayView<float> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = x[i];
    }

    private static void CopyIntKernel(ArrayView<int> x, ArrayView<int> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = x[i];
    }

    private static void AxpbyKernel(float alpha, ArrayView<float> x, float beta, int readY, ArrayView<float> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
            y[i] = readY != 0 ? alpha * x[i] + beta * y[i] : alpha * x[i];
    }

    private static void CastIntToFloatKernel(ArrayView<int> x, ArrayView<float> y, long n)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = x[i];
    }
}
