using Kernels.Registry;

namespace Kernels.Ops.Elementwise;

public enum BinaryOp { Add, Sub, Mul, Div, Max, Min, Pow }

public enum UnaryOp { Neg, Exp, Log, Sqrt, Rsqrt, Abs, Square, Reciprocal, Sign, Sin, Cos }

/// <summary>y = f(x, s) with a scalar s; RSub is s − x and RDiv is s / x.</summary>
public enum ScalarOp { Add, Mul, RSub, RDiv, Pow, Max, Min }

/// <summary>Shapes of a broadcasting binary op. Out is the broadcast of A and B (NumPy rules).</summary>
public readonly record struct BroadcastShape(Shape A, Shape B, Shape Out)
{
    /// <summary>Broadcasts two shapes, naming the op in the error.</summary>
    public static BroadcastShape Of(string op, Shape a, Shape b)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        var outDims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Rank) >= 0 ? a[i - (rank - a.Rank)] : 1;
            int db = i - (rank - b.Rank) >= 0 ? b[i - (rank - b.Rank)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {a} and {b} do not broadcast (axis {i}: {da} vs {db})");
            outDims[i] = da == 1 ? db : da;
        }
        return new BroadcastShape(a, b, new Shape(outDims));
    }
}

/// <summary>Elementwise arithmetic, math, fills, copies and the sum that undoes a broadcast.
/// Every method works on float32 and float64 buffers (int32 for Fill and Copy).</summary>
public interface IElementwise : IKernelFamily
{
    void Binary(BinaryOp op, in BroadcastShape shape, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y);

    void Unary(UnaryOp op, long n, DeviceBuffer x, DeviceBuffer y);

    void Scalar(ScalarOp op, double scalar, long n, DeviceBuffer x, DeviceBuffer y);

    void Fill(double value, long n, DeviceBuffer y);

    void Copy(long n, DeviceBuffer x, DeviceBuffer y);

    /// <summary>y = alpha·x + beta·y.</summary>
    void Axpby(double alpha, DeviceBuffer x, double beta, long n, DeviceBuffer y);

    /// <summary>y (shape <paramref name="to"/>) = sum of x (shape <paramref name="from"/>) over the
    /// axes that broadcasting expanded. <paramref name="to"/> must broadcast to <paramref name="from"/>.</summary>
    void SumToShape(Shape from, Shape to, DeviceBuffer x, DeviceBuffer y);

    /// <summary>Converts between dtypes (float32 ↔ float64, int32 → float).</summary>
    void Cast(long n, DeviceBuffer x, DeviceBuffer y);
}
