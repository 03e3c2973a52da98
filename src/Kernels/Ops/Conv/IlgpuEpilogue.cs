using ILGPU;
using Kernels.Ilgpu;

namespace Kernels.Ops.Conv;

/// <summary>The fused forward epilogue for the ILGPU kernels, y = act((v + bias[c]) · scale[c] +
/// shift[c]) in the native kernels' order (conv3d.h conv3d_epilogue). Which of bias / scale / shift
/// are present travels as one int of bits (kernel parameters cannot be bool or nullable; an absent
/// buffer is passed as any other float view and never read). <see cref="Apply(float, int, ArrayView{float}, ArrayView{float}, ArrayView{float}, int, int, float)"/>
/// is called inside kernels (the direct forward); <see cref="Run"/> is a separate in-place pass for
/// forwards whose output comes from a GEMM (im2col + cuBLAS).</summary>
internal static class IlgpuEpilogue
{
    public const int HasBias = 1, HasScale = 2, HasShift = 4;

    private static readonly IlgpuKernel s_epilogue = new(EpilogueKernel);

    public static int Parts(DeviceBuffer? bias, DeviceBuffer? scale, DeviceBuffer? shift) =>
        (bias is null ? 0 : HasBias) | (scale is null ? 0 : HasScale) | (shift is null ? 0 : HasShift);

    public static float Apply(float v, int c, ArrayView<float> bias, ArrayView<float> scale, ArrayView<float> shift,
        int parts, int act, float alpha)
    {
        if ((parts & HasBias) != 0) v += bias[c];
        if ((parts & HasScale) != 0) v *= scale[c];
        if ((parts & HasShift) != 0) v += shift[c];
        if (act == ConvEpilogue.Relu) v = v > 0f ? v : 0f;
        else if (act == ConvEpilogue.LeakyRelu) v = v > 0f ? v : alpha * v;
        return v;
    }

    /// <summary>t = epilogue(t) in place over [total / (channels·spatial), channels, spatial].</summary>
    public static void Run(Device device, DeviceBuffer t, DeviceBuffer? bias, DeviceBuffer? scale, DeviceBuffer? shift,
        int act, double alpha, long total, int channels, long spatial)
    {
        int parts = Parts(bias, scale, shift);
        if (total <= 0 || (parts == 0 && act == ConvEpilogue.None)) return;
        s_epilogue.Launch(device, IlgpuLaunch.Grid1D(total), IlgpuLaunch.Block1D, t, bias ?? t, scale ?? t, shift ?? t,
            parts, act, (float)alpha, total, channels, Math.Max(1, spatial));
    }

    private static void EpilogueKernel(ArrayView<float> t, ArrayView<float> bias, ArrayView<float> scale,
        ArrayView<float> shift, int parts, int act, float alpha, long total, int channels, long spatial)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < total; i += stride)
            t[i] = Apply(t[i], (int)(i / spatial % channels), bias, scale, shift, parts, act, alpha);
    }
}
