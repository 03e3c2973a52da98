namespace Kernels.Nets;

/// <summary>The one seeded generator (xoshiro256**) behind every random choice: initialisation,
/// dropout seeds, data order and augmentation. Same seed, same run on the CPU. Its state is
/// four words that a training checkpoint saves and restores.</summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private readonly Lock _lock = new();

    public Rng(ulong seed) => Reseed(seed);

    /// <summary>The process-wide generator. Seed it once at the start of a run.</summary>
    public static Rng Global { get; } = new(0x5EED);

    public static void Seed(ulong seed) => Global.Reseed(seed);

    public void Reseed(ulong seed)
    {
        lock (_lock)
        {
            ulong x = seed;
            _s0 = SplitMix(ref x);
            _s1 = SplitMix(ref x);
            _s2 = SplitMix(ref x);
            _s3 = SplitMix(ref x);
        }
    }

    public ulong[] GetState()
    {
        lock (_lock) return [_s0, _s1, _s2, _s3];
    }

    public void SetState(ReadOnlySpan<ulong> state)
    {
        if (state.Length != 4) throw new ArgumentException($"Rng state has 4 words, got {state.Length}");
        if (state[0] == 0 && state[1] == 0 && state[2] == 0 && state[3] == 0)
            throw new ArgumentException("Rng state of all zeros is invalid");
        lock (_lock) (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
    }

    public ulong NextUInt64()
    {
        lock (_lock) return Next();
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        return (int)((NextUInt64() >> 33) * (ulong)n >> 31);
    }

    public double NextNormal()
    {
        // Box–Muller; one of the pair is dropped to keep the stream position simple to reason about.
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public void FillUniform(Span<double> dst, double low, double high)
    {
        lock (_lock)
            for (int i = 0; i < dst.Length; i++)
                dst[i] = low + (high - low) * ((Next() >> 11) * (1.0 / (1UL << 53)));
    }

    public void FillNormal(Span<double> dst, double mean, double std)
    {
        lock (_lock)
            for (int i = 0; i < dst.Length; i += 2)
            {
                double u1 = 1.0 - (Next() >> 11) * (1.0 / (1UL << 53));
                double u2 = (Next() >> 11) * (1.0 / (1UL << 53));
                double r = Math.Sqrt(-2.0 * Math.Log(u1));
                dst[i] = mean + std * r * Math.Cos(2.0 * Math.PI * u2);
                if (i + 1 < dst.Length) dst[i + 1] = mean + std * r * Math.Sin(2.0 * Math.PI * u2);
            }
    }

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private ulong Next()
    {
        ulong result = RotL(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotL(_s3, 45);
        return result;
    }

    private static ulong RotL(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
