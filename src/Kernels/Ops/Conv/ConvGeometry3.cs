namespace Kernels.Ops.Conv;

/// <summary>A convolution shape as 3-D, for the ILGPU kernels (direct and im2col): missing leading
/// axes get size 1, kernel 1, stride 1, padding 0, dilation 1 (which leaves the convolution
/// unchanged). Output sizes ≤ 0 become 0.</summary>
internal readonly record struct ConvGeometry3(
    int InD, int InH, int InW, int OutD, int OutH, int OutW, int KD, int KH, int KW,
    int SD, int SH, int SW, int PD, int PH, int PW, int DD, int DH, int DW)
{
    public long InPlane => (long)InD * InH * InW;

    public static ConvGeometry3 Of(in ConvShape s)
    {
        int r = s.SpatialRank;
        if (r is < 1 or > 3) throw new NotSupportedException($"Conv: {r} spatial axes; the ilgpu kernels take 1 to 3");
        Span<int> a = stackalloc int[18];
        for (int i = 0; i < 3; i++)
        {
            int j = i - (3 - r); // index into the shape's arrays, < 0 for an added axis
            bool real = j >= 0;
            a[i] = real ? s.InSize[j] : 1;
            a[3 + i] = real ? Math.Max(0, s.OutSize[j]) : 1;
            a[6 + i] = real ? s.Kernel[j] : 1;
            a[9 + i] = real ? s.Stride[j] : 1;
            a[12 + i] = real ? s.Padding[j] : 0;
            a[15 + i] = real ? s.Dilation[j] : 1;
        }
        return new ConvGeometry3(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8],
            a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17]);
    }
}
