namespace Kernels.Nets.Modules;

/// <summary>Weight initialisers with PyTorch's formulas (torch.nn.init), drawing from
/// <see cref="Rng.Global"/> unless a generator is given. They write in place, outside autograd.</summary>
public static class Init
{
    public enum FanMode { FanIn, FanOut }

    /// <summary>fan_in / fan_out as torch.nn.init._calculate_fan_in_and_fan_out: dims 1 and 0
    /// times the receptive field (the product of the dims after the second).</summary>
    public static (int FanIn, int FanOut) Fans(Shape shape)
    {
        if (shape.Rank < 2)
            throw new ArgumentException($"Init: fan in and fan out need at least 2 dimensions, got {shape}");
        int receptive = (int)shape.Prod(2, shape.Rank);
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>torch.nn.init.calculate_gain for the nonlinearities used here.</summary>
    public static double Gain(string nonlinearity, double param = 0.01) => nonlinearity switch
    {
        "linear" or "identity" or "sigmoid" or "conv1d" or "conv2d" or "conv3d" => 1.0,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2.0),
        "leaky_relu" => Math.Sqrt(2.0 / (1 + param * param)),
        "selu" => 3.0 / 4,
        _ => throw new ArgumentException($"Init.Gain: unknown nonlinearity '{nonlinearity}'"),
    };

    public static void Uniform(Tensor t, double low, double high, Rng? rng = null)
    {
        var host = new double[t.Numel];
        (rng ?? Rng.Global).FillUniform(host, low, high);
        Write(t, host);
    }

    public static void Normal(Tensor t, double mean = 0, double std = 1, Rng? rng = null)
    {
        var host = new double[t.Numel];
        (rng ?? Rng.Global).FillNormal(host, mean, std);
        Write(t, host);
    }

    public static void Constant(Tensor t, double value)
    {
        var host = new double[t.Numel];
        Array.Fill(host, value);
        Write(t, host);
    }

    public static void Zeros(Tensor t) => Constant(t, 0);

    public static void Ones(Tensor t) => Constant(t, 1);

    /// <summary>U(−b, b) with b = gain·√(6 / (fan_in + fan_out)).</summary>
    public static void XavierUniform(Tensor t, double gain = 1, Rng? rng = null)
    {
        var (fi, fo) = Fans(t.Shape);
        double bound = gain * Math.Sqrt(6.0 / (fi + fo));
        Uniform(t, -bound, bound, rng);
    }

    /// <summary>N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out)).</summary>
    public static void XavierNormal(Tensor t, double gain = 1, Rng? rng = null)
    {
        var (fi, fo) = Fans(t.Shape);
        Normal(t, 0, gain * Math.Sqrt(2.0 / (fi + fo)), rng);
    }

    /// <summary>U(−b, b) with b = gain·√(3 / fan), gain from the nonlinearity and slope a.
    /// PyTorch's Linear / Conv default is a = √5 with leaky_relu: b = 1/√fan_in.</summary>
    public static void KaimingUniform(Tensor t, double a = 0, FanMode mode = FanMode.FanIn,
        string nonlinearity = "leaky_relu", Rng? rng = null)
    {
        double std = Gain(nonlinearity, a) / Math.Sqrt(Fan(t.Shape, mode));
        double bound = Math.Sqrt(3.0) * std;
        Uniform(t, -bound, bound, rng);
    }

    /// <summary>N(0, σ²) with σ = gain / √fan.</summary>
    public static void KaimingNormal(Tensor t, double a = 0, FanMode mode = FanMode.FanIn,
        string nonlinearity = "leaky_relu", Rng? rng = null) =>
        Normal(t, 0, Gain(nonlinearity, a) / Math.Sqrt(Fan(t.Shape, mode)), rng);

    private static int Fan(Shape shape, FanMode mode)
    {
        var (fi, fo) = Fans(shape);
        return mode == FanMode.FanIn ? fi : fo;
    }

    /// <summary>Writes host values into a tensor of any float dtype, in place.</summary>
    internal static void Write(Tensor t, double[] host)
    {
        switch (t.DType)
        {
            case DType.F32: t.Device.Upload<float>(Array.ConvertAll(host, v => (float)v), t.Buffer); break;
            case DType.F64: t.Device.Upload<double>(host, t.Buffer); break;
            default: throw new NotSupportedException($"Init: dtype {t.DType.Name()} cannot be initialised");
        }
    }

    /// <summary>A fresh parameter-to-be of the given shape, initialised by <paramref name="init"/>.</summary>
    internal static Tensor Create(Shape shape, DType dtype, Device? device, Action<Tensor> init)
    {
        Tensor t;
        using (TensorScope.Suspend()) t = Tensor.Empty(shape, dtype, device);
        init(t);
        return t;
    }

    /// <summary>PyTorch's default for a Linear / Conv weight and bias: kaiming-uniform (a = √5) and
    /// a bias uniform in ±1/√fan_in.</summary>
    internal static (Tensor Weight, Tensor? Bias) DefaultLayer(Shape weightShape, int biasSize, bool bias, DType dtype, Device? device)
    {
        var w = Create(weightShape, dtype, device, t => KaimingUniform(t, Math.Sqrt(5)));
        if (!bias) return (w, null);
        int fanIn = Fans(weightShape).FanIn;
        double bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
        var b = Create([biasSize], dtype, device, t => Uniform(t, -bound, bound));
        return (w, b);
    }
}
