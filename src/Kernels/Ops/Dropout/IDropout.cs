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
/// bit): SplitMix64's finaliser over seed + (i + 1)·φ, whose high 32 bits are compared with
/// ⌊p·2³²⌋.</summary>
public static class DropoutMask
{
    public static uint Threshold(double p) => (uint)Math.Min(p * 4294967296.0, uint.MaxValue);

    public static ulong Hash(ulong seed, ulong i)
    {
        ulong z = seed + (i + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public static bool Keep(ulong seed, ulong i, uint threshold) => (uint)(Hash(seed, i) >> 32) >= threshold;
}
