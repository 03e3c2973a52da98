using System.Runtime.InteropServices;

namespace Kernels.Bindings.Emu;

/// <summary>native/include/kernels/asl.h's KernelsAslParams (same field order and types).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EmuAslParams
{
    public float GammaPos, GammaNeg, Clip, Eps, AlphaPos, AlphaNeg, GammaUnannotated, AlphaUnannotated;
    public int FocusConstant, Mean;
}

public static unsafe partial class EmuNative
{
    // GroupDecode (native/group_decode.cu). Optional pointers (bias, weights, dx, dw, dbias, scale) may be null.
    [LibraryImport(Lib, EntryPoint = "kernels_group_decode_forward_f32")]
    public static partial int GroupDecodeForwardF32(float* x, float* w, float* bias, float* y, int batch, int groups,
        int dim, int g, int n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_group_decode_backward_f32")]
    public static partial int GroupDecodeBackwardF32(float* x, float* w, float* dy, float* dx, float* dw, float* dbias,
        float* scale, int batch, int groups, int dim, int g, int n, nint stream);

    /// <summary>grads: a [B·N] scratch, part: a [2T + 1] scratch, T = B·⌈N / 256⌉.</summary>
    [LibraryImport(Lib, EntryPoint = "kernels_group_decode_asl_f32")]
    public static partial int GroupDecodeAslF32(float* x, float* w, float* bias, float* targets, float* weights,
        float* loss, float* dx, float* dw, float* dbias, float* grads, float* part, int batch, int groups, int dim, int g,
        int n, EmuAslParams* options, nint stream);
}
