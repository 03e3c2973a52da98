using System.Runtime.InteropServices;

namespace Kernels.Bindings.Emu;

public static unsafe partial class EmuNative
{
    // AsymmetricLoss (native/asymmetric_loss.cu): the blocks of the entry pass for n entries (the
    // partials scratch length; counts takes one more), and the fused loss + gradient. w and dx may
    // be null; mean 0 sums, 1 averages over the non-zero weights (all entries without weights).
    [LibraryImport(Lib, EntryPoint = "kernels_asymmetric_loss_groups")]
    public static partial int AsymmetricLossGroups(long n);

    [LibraryImport(Lib, EntryPoint = "kernels_asymmetric_loss_f32")]
    public static partial int AsymmetricLossF32(float* x, float* y, float* w, float* dx, float* loss, float* partials,
        int* counts, long n, float gammaPos, float gammaNeg, float clip, float eps, float alphaPos, float alphaNeg,
        float gammaUnannotated, float alphaUnannotated, int focusConstant, int mean, nint stream);
}
