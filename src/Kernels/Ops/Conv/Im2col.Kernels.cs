using ILGPU;

namespace Kernels.Ops.Conv;

/// <summary>The ILGPU kernels of the im2col convolution: column gathering (im2col), its adjoint as
/// a gather per input element (col2im, deterministic, no atomics) and a per-channel bias / fill.
/// All are 1-D grid-stride loops; every rank runs as 3-D with size-1 leading axes.</summary>
public abstract partial class ConvIm2col
{
    /// <summary>cols[row·pc + j] = x at kernel tap kk of output position p0 + j of plane bc, where
    /// row = bc·kVol + kk and bc = b·cin + ci counts planes of x from xBase (zero in the padding).
    /// One group per row (grid-stride), threads over its positions: the row's tap and plane are
    /// split once, stores are coalesced, and the per-element index math stays in 32 bits.</summary>
    private static void Im2colKernel(ArrayView<float> x, ArrayView<float> cols, long rows, long xBase, int pc, int p0,
        int inD, int inH, int inW, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW, int dD, int dH, int dW)
    {
        int kVol = kD * kH * kW;
        long inPlane = (long)inD * inH * inW;
        for (long row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            int kk = (int)(row % kVol);
            long plane = xBase + row / kVol * inPlane;
            int kw = kk % kW, r = kk / kW;
            int kh = r % kH, kd = r / kH;
            int offD = kd * dD - pD, offH = kh * dH - pH, offW = kw * dW - pW;
            long cRow = row * pc;
            for (int j = Group.IdxX; j < pc; j += Group.DimX)
            {
                int p = p0 + j;
                int ow = p % outW, q = p / outW;
                int oh = q % outH, od = q / outH;
                int id = od * sD + offD, ih = oh * sH + offH, iw = ow * sW + offW;
                float v = 0f;
                if (id >= 0 && id < inD && ih >= 0 && ih < inH && iw >= 0 && iw < inW)
                    v = x[plane + ((long)id * inH + ih) * inW + iw];
                cols[cRow + j] = v;
            }
        }
    }

    /// <summary>dx at one input element of plane bc = b·cin + ci (planes counted from dxBase): the
    /// column entries of output positions p0 ≤ p &lt; p0 + pc that read it, summed; added to dx when
    /// accumulate (a later position block), else to the channel's bias (or zero). One group per
    /// plane (grid-stride), threads over its positions.</summary>
    private static void Col2imKernel(ArrayView<float> cols, ArrayView<float> bias, int hasBias, int accumulate,
        ArrayView<float> dx, long planes, long dxBase, int cin, int pc, int p0,
        int inD, int inH, int inW, int outD, int outH, int outW, int kD, int kH, int kW,
        int sD, int sH, int sW, int pD, int pH, int pW, int dD, int dH, int dW)
    {
        int kVol = kD * kH * kW;
        int inPlane = inD * inH * inW; // the host checks it fits
        for (long bc = Grid.IdxX; bc < planes; bc += Grid.DimX)
        {
            int ci = (int)(bc % cin);
            float b0 = accumulate == 0 && hasBias != 0 ? bias[ci] : 0f;
            long colPlane = bc * kVol;
            long dxPlane = dxBase + bc * inPlane;
            for (int e = Group.IdxX; e < inPlane; e += Group.DimX)
            {
                int iw = e % inW, q = e / inW;
                int ih = q % inH, id = q / inH;
                float acc = 0f;
                for (int kd = 0; kd < kD; kd++)
                {
                    int td = id + pD - kd * dD;
                    if (td < 0 || td % sD != 0 || td / sD >= outD) continue;
                    for (int kh = 0; kh < kH; kh++)
                    {
                        int th = ih + pH - kh * dH;
                        if (th < 0 || th % sH != 0 || th / sH >= outH) continue;
                        for (int kw = 0; kw < kW; kw++)
                        {
                            int tw = iw + pW - kw * dW;
                            if (tw < 0 || tw % sW != 0 || tw / sW >= outW) continue;
                            int j = ((td / sD) * outH + th / sH) * outW + tw / sW - p0;
                            if (j < 0 || j >= pc) continue;
                            acc += cols[(colPlane + (kd * kH + kh) * kW + kw) * pc + j];
                        }
                    }
                }
                long o = dxPlane + e;
                dx[o] = (accumulate != 0 ? dx[o] : b0) + acc;
            }
        }
    }

    /// <summary>t[i] = (overwrite ? 0 : t[i]) + (hasBias ? bias[(i / spatial) % channels] : 0):
    /// the forward bias, the transposed convolution's bias, or a fill with zeros.</summary>
    private static void ChannelBiasKernel(ArrayView<float> t, ArrayView<float> bias, int hasBias, int overwrite,
        long total, int channels, long spatial)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
        {
            float v = overwrite != 0 ? 0f : t[i];
            if (hasBias != 0) v += bias[(int)(i / spatial % channels)];
            t[i] = v;
        }
    }

    /// <summary>dw[e] = (accumulate ? dw[e] : 0) + Σ over images i in order of part[i·n + e].</summary>
    private static void SumImagesKernel(ArrayView<float> part, ArrayView<float> dw, long n, int images, int accumulate)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float acc = accumulate != 0 ? dw[e] : 0f;
            for (int i = 0; i < images; i++) acc += part[i * n + e];
            dw[e] = acc;
        }
    }
}
