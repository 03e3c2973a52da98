using Kernels.Ops.Pool;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>2-D max pooling of [N, C, H, W]; stride 0 means stride = kernel. Padding never wins
    /// the max; the gradient goes to the first maximum of each window.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride = 0, int padding = 0) =>
        Pool("MaxPool2d", x, 2, [kernel, kernel], [stride, stride], [padding, padding], max: true);

    public static Tensor MaxPool2d(Tensor x, int[] kernel, int[]? stride = null, int[]? padding = null) =>
        Pool("MaxPool2d", x, 2, kernel, stride, padding, max: true);

    /// <summary>3-D max pooling of [N, C, D, H, W].</summary>
    public static Tensor MaxPool3d(Tensor x, int kernel, int stride = 0, int padding = 0) =>
        Pool("MaxPool3d", x, 3, [kernel, kernel, kernel], [stride, stride, stride], [padding, padding, padding], max: true);

    public static Tensor MaxPool3d(Tensor x, int[] kernel, int[]? stride = null, int[]? padding = null) =>
        Pool("MaxPool3d", x, 3, kernel, stride, padding, max: true);

    /// <summary>2-D average pooling of [N, C, H, W]; padded cells count in the divisor
    /// (PyTorch's count_include_pad = true).</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int stride = 0, int padding = 0) =>
        Pool("AvgPool2d", x, 2, [kernel, kernel], [stride, stride], [padding, padding], max: false);

    public static Tensor AvgPool2d(Tensor x, int[] kernel, int[]? stride = null, int[]? padding = null) =>
        Pool("AvgPool2d", x, 2, kernel, stride, padding, max: false);

    /// <summary>3-D average pooling of [N, C, D, H, W].</summary>
    public static Tensor AvgPool3d(Tensor x, int kernel, int stride = 0, int padding = 0) =>
        Pool("AvgPool3d", x, 3, [kernel, kernel, kernel], [stride, stride, stride], [padding, padding, padding], max: false);

    public static Tensor AvgPool3d(Tensor x, int[] kernel, int[]? stride = null, int[]? padding = null) =>
        Pool("AvgPool3d", x, 3, kernel, stride, padding, max: false);

    /// <summary>Mean over every spatial axis: [N, C, ...] → [N, C].</summary>
    public static Tensor GlobalAvgPool(Tensor x)
    {
        const string op = "GlobalAvgPool";
        x.ThrowIfDisposed();
        FloatInput(op, "x", x);
        Check.That(x.Rank >= 3, op, $"x has shape {x.Shape} (rank {x.Rank}), expected [N, C, spatial...] of rank 3 or more");
        long planes = (long)x.Shape[0] * x.Shape[1], size = x.Shape.Prod(2, x.Rank);
        Check.That(size > 0, op, $"x has shape {x.Shape}, which has no spatial elements to average");
        var y = NewLike(x, [x.Shape[0], x.Shape[1]]);
        K<IPool>(x).GlobalAvgForward(planes, size, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<IPool>(g).GlobalAvgBackward(planes, size, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    private static Tensor Pool(string op, Tensor x, int dims, int[] kernel, int[]? stride, int[]? padding, bool max)
    {
        x.ThrowIfDisposed();
        FloatInput(op, "x", x);
        var s = PoolGeometry(op, x.Shape, dims, kernel, stride, padding);
        var y = NewLike(x, dims == 2 ? [s.N, s.C, s.OutH, s.OutW] : [s.N, s.C, s.OutD, s.OutH, s.OutW]);
        var k = K<IPool>(x);
        if (max)
        {
            var argmax = Tensor.Empty(y.Shape, DType.I32, x.Device);
            k.MaxForward(s, x.Buffer, y.Buffer, argmax.Buffer);
            if (Autograd.Needs(x))
                Autograd.Record(op, y, [x], g =>
                {
                    var dx = NewLike(g, x.Shape);
                    K<IPool>(g).MaxBackward(s, g.Buffer, argmax.Buffer, dx.Buffer);
                    argmax.Dispose(); // the graph is freed after one backward, so it is not needed again
                    return [dx];
                });
            else
                argmax.Dispose();
        }
        else
        {
            k.AvgForward(s, x.Buffer, y.Buffer);
            if (Autograd.Needs(x))
                Autograd.Record(op, y, [x], g =>
                {
                    var dx = NewLike(g, x.Shape);
                    K<IPool>(g).AvgBackward(s, g.Buffer, dx.Buffer);
                    return [dx];
                });
        }
        return y;
    }

    /// <summary>Checks a pooling's arguments the way PyTorch does and returns its geometry.</summary>
    internal static PoolShape PoolGeometry(string op, Shape x, int dims, int[] kernel, int[]? stride, int[]? padding)
    {
        Check.That(x.Rank == dims + 2, op,
            $"x has shape {x} (rank {x.Rank}), expected rank {dims + 2} ([N, C, {(dims == 2 ? "H, W" : "D, H, W")}])");
        stride ??= new int[dims];
        padding ??= new int[dims];
        Check.That(kernel.Length == dims, op, $"kernel {Shape.Format(kernel)} must have {dims} entries");
        Check.That(stride.Length == dims, op, $"stride {Shape.Format(stride)} must have {dims} entries");
        Check.That(padding.Length == dims, op, $"padding {Shape.Format(padding)} must have {dims} entries");
        var k = new int[3];
        var st = new int[3];
        var pd = new int[3];
        var o = new int[3];
        var inSize = new int[3];
        int off = 3 - dims;
        k[0] = st[0] = inSize[0] = o[0] = 1;
        for (int i = 0; i < dims; i++)
        {
            int a = off + i, input = x[2 + i];
            Check.That(kernel[i] > 0, op, $"kernel {Shape.Format(kernel)} must be positive");
            Check.That(stride[i] >= 0, op, $"stride {Shape.Format(stride)} must be positive (0 means the kernel size)");
            Check.That(padding[i] >= 0, op, $"padding {Shape.Format(padding)} must not be negative");
            Check.That(padding[i] <= kernel[i] / 2, op,
                $"padding {Shape.Format(padding)} should be at most half the kernel size {Shape.Format(kernel)}");
            k[a] = kernel[i];
            st[a] = stride[i] == 0 ? kernel[i] : stride[i];
            pd[a] = padding[i];
            inSize[a] = input;
            o[a] = input + 2 * pd[a] >= k[a] ? PoolShape.OutSize(input, k[a], st[a], pd[a]) : 0;
            Check.That(o[a] > 0, op,
                $"x has shape {x}: input size {input} on axis {2 + i} with padding {pd[a]} is smaller than kernel {k[a]}");
        }
        return new PoolShape(x[0], x[1], inSize[0], inSize[1], inSize[2], o[0], o[1], o[2],
            k[0], k[1], k[2], st[0], st[1], st[2], pd[0], pd[1], pd[2]);
    }
}
