using System.Runtime.InteropServices;

namespace Kernels.Bindings.Emu;

public static unsafe partial class EmuNative
{
    // AttentionDecode (native/attention_decode.cu). Dropout: keys and threshold of
    // Kernels.Ops.Dropout.DropoutMask, keepScale = 1/(1 − p); probs may be null in the forward.
    [LibraryImport(Lib, EntryPoint = "kernels_attention_decode_forward_f32")]
    public static partial int AttentionDecodeForwardF32(int batch, int queries, int tokens, int heads, int headDim,
        float scale, uint threshold, uint keyA, uint keyB, float keepScale, float* q, float* k, float* v, float* o,
        float* probs, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_attention_decode_backward_f32")]
    public static partial int AttentionDecodeBackwardF32(int batch, int queries, int tokens, int heads, int headDim,
        float scale, uint threshold, uint keyA, uint keyB, float keepScale, float* q, float* k, float* v, float* probs,
        float* dO, float* dq, float* dk, float* dv, nint stream);
}
