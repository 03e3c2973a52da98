using Kernels.Registry;

namespace Kernels.Ops.Dropout;

/// <summary>Inverted dropout with a counter-based mask: element i is kept when a hash of
/// (seed, i) clears the threshold p, so the mask depends on nothing but the seed and the
/// position (not on threads, chunking or device), and the backward regenerates it instead of
/// storing it.</summary>
public interface IDropout : IKernelFamily
{
    /// <summary>y[i] = keep(seed, i) ? x[i] / (1 − p) : 0, for 0 ≤ p &lt; 1. The backward is the
    /// same call on the output gradient with the same seed.</summary>
    void Apply(long n, double p, ulong seed, DeviceBuffer x, DeviceBuffer y);
}

/// <summary>The mask rule shared by every implementation (a GPU kernel must reproduce it bit for
/// bit). The 64-bit seed gives two keys a (low word) and b (high word); element i is kept when
/// h = fmix32(fmix32(i ^ a) + b) ≥ ⌊p·2³²⌋, fmix32 being MurmurHash3's 32-bit finaliser. All
/// arithmetic is 32-bit so that it vectorises (AVX2 has no 64-bit multiply) and is cheap on a GPU.</summary>
public static class DropoutMask
{
    public static uint Threshold(double p) => (uint)Math.Min(p * 4294967296.0, uint.MaxValue);

    public static (uint A, uint B) Keys(ulong seed) => ((uint)seed, (uint)(seed >> 32));

    public static uint Hash(uint a, uint b, uint i) => Fmix(Fmix(i ^ a) + b);

    public static bool Keep(uint a, uint b, uint i, uint threshold) => Hash(a, b, i) >= threshold;

    private static uint Fmix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6B;
        h ^= h >> 13;
        h *= 0xC2B2AE35;
        return h ^ (h >> 16);
    }
}
