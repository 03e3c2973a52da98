using Kernels.Ops.Elementwise;
using Kernels.Ops.Gemm;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Matrix product. a [M,K] × b [K,N] → [M,N]; a [..., M,K] × b [K,N] → [..., M,N]
    /// (a's batch dims kept, b shared); a [..., M,K] × b [..., K,N] with equal batch dims →
    /// [..., M,N] (one GEMM per batch entry).</summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        const string op = "MatMul";
        SameDevice(op, a, ("b", b));
        Check.That(a.Rank >= 2, op, $"a has shape {a.Shape}, b has shape {b.Shape}: a needs rank 2 or more");
        Check.That(b.Rank >= 2, op, $"a has shape {a.Shape}, b has shape {b.Shape}: b needs rank 2 or more");
        int m = a.Shape.Dims[^2], k = a.Shape.Dims[^1], n = b.Shape.Dims[^1];
        Check.That(b.Shape.Dims[^2] == k, op,
            $"a has shape {a.Shape}, b has shape {b.Shape}: a's last dim ({k}) must equal b's second-to-last ({b.Shape.Dims[^2]})");
        var outDims = a.Shape.ToArray();
        outDims[^1] = n;
        var y = NewLike(a, outDims);

        if (b.Rank == 2)
        {
            // Shared b: a's leading dims fold into M, so this is one large GEMM.
            int rows = checked((int)a.Shape.Prod(0, a.Rank - 1));
            K<IGemm>(a).Gemm(new GemmShape(rows, n, k), 1, a.Buffer, b.Buffer, 0, y.Buffer);
            if (Autograd.Needs(a, b))
                Autograd.Record(op, y, [a, b], g =>
                {
                    Tensor? da = null, db = null;
                    if (a.RequiresGrad)
                    {
                        // dA = g·Bᵀ: B is stored K×N, so op(B) = Bᵀ is TransB.
                        da = NewLike(g, a.Shape);
                        K<IGemm>(g).Gemm(new GemmShape(rows, k, n, TransB: true), 1, g.Buffer, b.Buffer, 0, da.Buffer);
                    }
                    if (b.RequiresGrad)
                    {
                        // dB = Aᵀ·g over all folded rows: A is stored rows×K, TransA.
                        db = NewLike(g, b.Shape);
                        K<IGemm>(g).Gemm(new GemmShape(k, n, rows, TransA: true), 1, a.Buffer, g.Buffer, 0, db.Buffer);
                    }
                    return [da, db];
                });
            return y;
        }

        Check.That(a.Rank == b.Rank && a.Shape.Dims[..^2].SequenceEqual(b.Shape.Dims[..^2]), op,
            $"a has shape {a.Shape}, b has shape {b.Shape}: batched operands need equal batch dims (or b of rank 2)");
        int batch = (int)a.Shape.Prod(0, a.Rank - 2);
        long sa = (long)m * k, sb = (long)k * n, sc = (long)m * n;
        K<IGemm>(a).Gemm(new GemmShape(m, n, k, Batch: batch, StrideA: sa, StrideB: sb, StrideC: sc),
            1, a.Buffer, b.Buffer, 0, y.Buffer);
        if (Autograd.Needs(a, b))
            Autograd.Record(op, y, [a, b], g =>
            {
                Tensor? da = null, db = null;
                if (a.RequiresGrad)
                {
                    da = NewLike(g, a.Shape);
                    K<IGemm>(g).Gemm(new GemmShape(m, k, n, TransB: true, Batch: batch, StrideA: sc, StrideB: sb, StrideC: sa),
                        1, g.Buffer, b.Buffer, 0, da.Buffer);
                }
                if (b.RequiresGrad)
                {
                    db = NewLike(g, b.Shape);
                    K<IGemm>(g).Gemm(new GemmShape(k, n, m, TransA: true, Batch: batch, StrideA: sa, StrideB: sc, StrideC: sb),
                        1, a.Buffer, g.Buffer, 0, db.Buffer);
                }
                return [da, db];
            });
        return y;
    }

    /// <summary>Fully connected layer y = x·Wᵀ + bias with PyTorch's layout: x [..., in],
    /// weight [out, in], bias [out] or null → y [..., out].</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        const string op = "Linear";
        SameDevice(op, x, ("weight", weight), ("bias", bias));
        Check.That(weight.Rank == 2, op, $"weight has shape {weight.Shape}, expected [out, in] (x has shape {x.Shape})");
        Check.That(x.Rank >= 1, op, $"x has shape {x.Shape}, expected [..., in] (weight has shape {weight.Shape})");
        int outF = weight.Shape[0], inF = weight.Shape[1];
        Check.That(x.Shape.Dims[^1] == inF, op,
            $"x has shape {x.Shape}, weight has shape {weight.Shape}: x's last dim ({x.Shape.Dims[^1]}) must equal weight's in ({inF})");
        if (bias is not null)
            Check.That(bias.Rank == 1 && bias.Shape[0] == outF, op,
                $"bias has shape {bias.Shape}, weight has shape {weight.Shape}: expected bias [{outF}]");
        int rows = (int)x.Shape.Prod(0, x.Rank - 1);
        var outDims = x.Shape.ToArray();
        outDims[^1] = outF;
        var y = NewLike(x, outDims);
        var gemm = K<IGemm>(x);
        double beta = 0;
        if (bias is not null && rows > 0)
        {
            // Broadcast the bias into y as a rank-1 GEMM (ones[rows]·bias), then accumulate onto it.
            using var ones = NewLike(x, [rows]);
            K<IElementwise>(x).Fill(1.0, rows, ones.Buffer);
            gemm.Gemm(new GemmShape(rows, outF, 1), 1, ones.Buffer, bias.Buffer, 0, y.Buffer);
            beta = 1;
        }
        // W is stored [out, in] = N×K, so op(B) = Wᵀ is TransB.
        gemm.Gemm(new GemmShape(rows, outF, inF, TransB: true), 1, x.Buffer, weight.Buffer, beta, y.Buffer);
        if (Autograd.Needs(x, weight, bias))
            // Autograd wants no null inputs: without a bias the node has two.
            Autograd.Record(op, y, bias is null ? [x, weight] : [x, weight, bias], g =>
            {
                Tensor? dx = null, dw = null, db = null;
                if (x.RequiresGrad)
                {
                    // dx = g·W ([rows,out]·[out,in]).
                    dx = NewLike(g, x.Shape);
                    K<IGemm>(g).Gemm(new GemmShape(rows, inF, outF), 1, g.Buffer, weight.Buffer, 0, dx.Buffer);
                }
                if (weight.RequiresGrad)
                {
                    // dW = gᵀ·x: g is stored rows×out, TransA.
                    dw = NewLike(g, weight.Shape);
                    K<IGemm>(g).Gemm(new GemmShape(outF, inF, rows, TransA: true), 1, g.Buffer, x.Buffer, 0, dw.Buffer);
                }
                if (bias is { RequiresGrad: true })
                {
                    // db = onesᵀ·g ([1, rows]·[rows, out]) on the GEMM path, as the forward broadcasts
                    // the bias: a sum down each column of g one thread per column is latency-bound
                    // on a GPU (1280 dependent loads per thread for the ML-Decoder head).
                    db = NewLike(g, bias.Shape);
                    if (rows == 0)
                        K<IElementwise>(g).Fill(0.0, outF, db.Buffer);
                    else
                    {
                        using var ones = NewLike(g, [rows]);
                        K<IElementwise>(g).Fill(1.0, rows, ones.Buffer);
                        K<IGemm>(g).Gemm(new GemmShape(1, outF, rows), 1, ones.Buffer, g.Buffer, 0, db.Buffer);
                    }
                }
                return bias is null ? [dx, dw] : [dx, dw, db];
            });
        return y;
    }
}
