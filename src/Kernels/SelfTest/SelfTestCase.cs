namespace Kernels.SelfTesting;

/// <summary>One self-test case: a body that calls the implementation on buffers it gets from a
/// <see cref="CaseIo"/> (run twice: reference and implementation under test), the tolerance on
/// the mixed relative error, and optionally outputs computed on the host instead of by the
/// reference implementation (dropout's documented mask rule). A reference output that is not
/// finite fails the case unless <see cref="AllowNonFinite"/> is set (cases that feed NaN or ±inf
/// on purpose): otherwise a bug shared by the reference and the kernel (NaN = NaN) would pass.</summary>
public sealed record SelfTestCase(string Description, Action<object, CaseIo> Body, double Tolerance = SelfTestCase.Fp32Tolerance,
    Func<double[][]>? Expected = null)
{
    /// <summary>The case expects NaN or ±inf in its outputs (matched exactly).</summary>
    public bool AllowNonFinite { get; init; }

    /// <summary>Float32 against the float64 reference.</summary>
    public const double Fp32Tolerance = 1e-4;

    /// <summary>Long float32 reductions (GEMM with K ≥ 512, conv backward-weights).</summary>
    public const double Fp32LongReduction = 1e-3;

    /// <summary>A case whose body is typed on the family interface.</summary>
    public static SelfTestCase Of<T>(string description, Action<T, CaseIo> body, double tolerance = Fp32Tolerance)
        where T : class => new(description, (impl, io) => body((T)impl, io), tolerance);
}

/// <summary>Seeded input generator. Float inputs are rounded to float32 so that the float64
/// reference and the float32 run see identical values.</summary>
public sealed class CaseRandom(int seed)
{
    private readonly Random _r = new(seed);

    public int Seed { get; } = seed;

    public double[] Uniform(long n, double lo = -2, double hi = 2)
    {
        var a = new double[n];
        for (long i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * _r.NextDouble());
        return a;
    }

    /// <summary>Magnitudes in [lo, hi] with random signs (kept away from zero, for divisors).</summary>
    public double[] AwayFromZero(long n, double lo = 0.5, double hi = 2)
    {
        var a = Uniform(n, lo, hi);
        for (long i = 0; i < n; i++) if (_r.Next(2) == 0) a[i] = -a[i];
        return a;
    }

    public int[] Ints(long n, int lo, int hi)
    {
        var a = new int[n];
        for (long i = 0; i < n; i++) a[i] = _r.Next(lo, hi);
        return a;
    }

    public int Int(int lo, int hi) => _r.Next(lo, hi);

    public ulong Seed64() => (ulong)_r.NextInt64() ^ ((ulong)_r.Next() << 63);
}

/// <summary>Buffers for one run of a case, on one device and float dtype. Outputs are poisoned
/// (NaN, int.MinValue) before the kernel runs, so an element the kernel forgets to write shows up.
/// Every output (and in-place buffer) is downloaded and compared in the order it was requested.</summary>
public sealed class CaseIo : IDisposable
{
    private readonly List<DeviceBuffer> _owned = [];
    private readonly List<(string Name, DeviceBuffer? Buffer, double[]? Host)> _outputs = [];

    internal CaseIo(Device device, DType dtype)
    {
        Device = device;
        DType = dtype;
    }

    public Device Device { get; }

    /// <summary>The float dtype of this run (float64 for the reference, float32 under test).</summary>
    public DType DType { get; }

    /// <summary>A float input holding <paramref name="data"/>.</summary>
    public DeviceBuffer In(double[] data) => Upload(data);

    public DeviceBuffer Int(int[] data)
    {
        var b = Own(Device.Allocate(DType.I32, data.Length));
        Device.Upload<int>(data, b);
        return b;
    }

    /// <summary>The NaN outputs are filled with: a quiet NaN with a payload no arithmetic produces,
    /// so an untouched element (bit for bit this value, in the float64 reference) is told apart
    /// from a NaN the reference computed.</summary>
    public static readonly double Poison = BitConverter.Int64BitsToDouble(0x7FF8_DEAD_0000_0001);

    public static bool IsPoison(double v) => BitConverter.DoubleToInt64Bits(v) == 0x7FF8_DEAD_0000_0001;

    /// <summary>A float output of <paramref name="n"/> elements, filled with NaN (<see cref="Poison"/>).</summary>
    public DeviceBuffer Out(string name, long n)
    {
        var poison = new double[n];
        Array.Fill(poison, Poison);
        var b = Upload(poison);
        _outputs.Add((name, b, null));
        return b;
    }

    /// <summary>An int32 output filled with int.MinValue.</summary>
    public DeviceBuffer IntOut(string name, long n)
    {
        var poison = new int[n];
        Array.Fill(poison, int.MinValue);
        var b = Int(poison);
        _outputs.Add((name, b, null));
        return b;
    }

    /// <summary>A float buffer updated in place: starts as <paramref name="data"/>, compared after.</summary>
    public DeviceBuffer InOut(string name, double[] data)
    {
        var b = Upload(data);
        _outputs.Add((name, b, null));
        return b;
    }

    /// <summary>A value the kernel returned to the host, compared like an output.</summary>
    public void Value(string name, double value) => _outputs.Add((name, null, [value]));

    internal (string[] Names, double[][] Values) Collect()
    {
        var names = new string[_outputs.Count];
        var values = new double[_outputs.Count][];
        for (int i = 0; i < _outputs.Count; i++)
        {
            var (name, buffer, host) = _outputs[i];
            names[i] = name;
            values[i] = host ?? Download(buffer!);
        }
        return (names, values);
    }

    private double[] Download(DeviceBuffer b)
    {
        var result = new double[b.Length];
        switch (b.DType)
        {
            case DType.F64:
                Device.Download<double>(b, result);
                break;
            case DType.F32:
            {
                var f = new float[b.Length];
                Device.Download<float>(b, f);
                for (long i = 0; i < f.Length; i++) result[i] = f[i];
                break;
            }
            case DType.I32:
            {
                var n = new int[b.Length];
                Device.Download<int>(b, n);
                for (long i = 0; i < n.Length; i++) result[i] = n[i];
                break;
            }
            default: throw new NotSupportedException($"SelfTest: cannot compare a {b.DType.Name()} buffer");
        }
        return result;
    }

    private DeviceBuffer Upload(double[] data)
    {
        var b = Own(Device.Allocate(DType, data.Length));
        if (DType == DType.F64) Device.Upload<double>(data, b);
        else Device.Upload<float>(Array.ConvertAll(data, v => (float)v), b);
        return b;
    }

    private DeviceBuffer Own(DeviceBuffer b)
    {
        _owned.Add(b);
        return b;
    }

    public void Dispose()
    {
        foreach (var b in _owned) b.Dispose();
        _owned.Clear();
    }
}
