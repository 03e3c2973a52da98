using System.Runtime.InteropServices;

namespace Kernels.Bindings.Emu;

public static unsafe partial class EmuNative
{
    // Conv (native/conv3d.cu, and native/conv3d_tc.cu for the tensor-core kernels). p points to a struct Conv3dParams (native/include/kernels/conv3d.h:
    // 22 ints); tensors are channels-last (NDHWC) except the channel sum's (NCDHW); optional
    // pointers (bias, scale, shift) may be null.
    [LibraryImport(Lib, EntryPoint = "kernels_conv3d_transpose_f32")]
    public static partial int Conv3dTransposeF32(float* src, float* dst, int batch, long rows, long cols, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_conv3d_forward_f32")]
    public static partial int Conv3dForwardF32(int* p, float* x, float* wt, float* bias, float* scale, float* shift,
        int act, float alpha, float* y, nint stream);

    // The tensor-core forward and data gradient with a software mma on emu (tests of their tiling; slow).
    [LibraryImport(Lib, EntryPoint = "kernels_conv3d_tc_forward_f16")]
    public static partial int Conv3dTcForwardF16(int* p, float* x, float* wd, float* bias, float* scale, float* shift,
        int act, float alpha, int split, float* y, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_conv3d_tc_backward_data_f16")]
    public static partial int Conv3dTcBackwardDataF16(int* p, float* dy, float* wt, float* bias, int split, float* dx,
        nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_conv3d_backward_data_f32")]
    public static partial int Conv3dBackwardDataF32(int* p, float* dy, float* wd, float* bias, float* dx, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_conv3d_backward_weights_f32")]
    public static partial int Conv3dBackwardWeightsF32(int* p, int splits, int chunk, float* x, float* dy, float* part,
        float* dw, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_conv3d_channel_sum_f32")]
    public static partial int Conv3dChannelSumF32(int batch, int channels, long spatial, float* t, float* sum, nint stream);
}
