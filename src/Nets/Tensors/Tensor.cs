using Kernels.Ops.Elementwise;

namespace Kernels.Nets;

/// <summary>A contiguous row-major array on one device, with an optional gradient and the
/// autograd node that produced it. Owns its storage: dispose it, or let a
/// <see cref="TensorScope"/> do so. Views (Reshape, Detach) share storage.</summary>
public sealed partial class Tensor : IDisposable
{
    private Storage _storage;
    private int _disposed;

    internal Tensor(Storage storage, Shape shape)
    {
        if (shape.Numel > storage.Buffer.Length)
            throw new ArgumentException($"shape {shape} needs {shape.Numel} elements, the storage holds {storage.Buffer.Length}");
        _storage = storage;
        Shape = shape;
        TensorStats.OnTensorCreated();
        TensorScope.Current?.Add(this);
    }

    public Shape Shape { get; }
    public int Rank => Shape.Rank;
    public long Numel => Shape.Numel;
    public DType DType => _storage.Buffer.DType;
    public Device Device => _storage.Buffer.Device;
    public string? Name { get; set; }

    /// <summary>The raw buffer. Unsafe in the sense that nothing stops a caller from writing it
    /// behind autograd's back; it is public so other kernels can run on the same memory.</summary>
    public DeviceBuffer Buffer
    {
        get
        {
            if (IsDisposed) throw new ObjectDisposedException(Describe());
            return _storage.Buffer;
        }
    }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    internal TensorScope? Scope { get; set; }

    // ---- autograd state ---------------------------------------------------------------------

    private bool _requiresGrad;

    /// <summary>Whether gradients flow to (and, for a leaf, accumulate in) this tensor.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (value && !DType.IsFloat())
                throw new InvalidOperationException($"{Describe()}: only floating-point tensors can require gradients");
            if (!value && GradFn is not null)
                throw new InvalidOperationException($"{Describe()}: a non-leaf tensor always requires grad; use Detach()");
            _requiresGrad = value;
        }
    }

    /// <summary>Accumulated gradient of a leaf (owned by this tensor, outside any scope).</summary>
    public Tensor? Grad { get; set; }

    internal Node? GradFn { get; set; }

    /// <summary>Set once a backward pass has run through this (non-leaf) tensor and freed its node.</summary>
    internal bool GraphReleased { get; set; }

    public bool IsLeaf => GradFn is null;

    /// <summary>Runs reverse-mode differentiation from this tensor. A non-scalar output needs an
    /// explicit <paramref name="gradient"/> of its shape.</summary>
    public void Backward(Tensor? gradient = null) => Autograd.Backward(this, gradient);

    // ---- factories ----------------------------------------------------------------------------

    /// <summary>A tensor with undefined contents.</summary>
    public static Tensor Empty(Shape shape, DType dtype = DType.F32, Device? device = null)
    {
        device ??= Device.Cpu;
        return new Tensor(new Storage(device.Allocate(dtype, shape.Numel)), shape);
    }

    public static Tensor Zeros(Shape shape, DType dtype = DType.F32, Device? device = null)
    {
        device ??= Device.Cpu;
        return new Tensor(new Storage(device.Allocate(dtype, shape.Numel, zero: true)), shape);
    }

    public static Tensor Full(Shape shape, double value, DType dtype = DType.F32, Device? device = null)
    {
        var t = Empty(shape, dtype, device);
        t.Device.Kernels.Get<IElementwise>().Fill(value, t.Numel, t.Buffer);
        return t;
    }

    public static Tensor Ones(Shape shape, DType dtype = DType.F32, Device? device = null) =>
        Full(shape, 1.0, dtype, device);

    public static Tensor Scalar(double value, DType dtype = DType.F32, Device? device = null) =>
        Full(Shape.Scalar, value, dtype, device);

    public static Tensor FromArray(float[] data, Shape shape, Device? device = null) =>
        From<float>(data, shape, device);

    public static Tensor FromArray(double[] data, Shape shape, Device? device = null) =>
        From<double>(data, shape, device);

    public static Tensor FromArray(int[] data, Shape shape, Device? device = null) =>
        From<int>(data, shape, device);

    public static Tensor From<T>(ReadOnlySpan<T> data, Shape shape, Device? device = null) where T : unmanaged
    {
        if (data.Length != shape.Numel)
            throw new ArgumentException($"Tensor.From: {data.Length} values given for shape {shape} ({shape.Numel} elements)");
        var t = Empty(shape, DTypeExtensions.Of<T>(), device);
        t.Device.Upload(data, t.Buffer);
        return t;
    }

    /// <summary>Uniform in [low, high) from the global seeded generator.</summary>
    public static Tensor Rand(Shape shape, double low = 0, double high = 1, DType dtype = DType.F32, Device? device = null)
    {
        var host = new double[shape.Numel];
        Rng.Global.FillUniform(host, low, high);
        return FromHost(host, shape, dtype, device);
    }

    /// <summary>Normal(mean, std) from the global seeded generator.</summary>
    public static Tensor Randn(Shape shape, double mean = 0, double std = 1, DType dtype = DType.F32, Device? device = null)
    {
        var host = new double[shape.Numel];
        Rng.Global.FillNormal(host, mean, std);
        return FromHost(host, shape, dtype, device);
    }

    /// <summary>Builds a tensor of <paramref name="dtype"/> from double host values.</summary>
    public static Tensor FromHost(double[] host, Shape shape, DType dtype = DType.F32, Device? device = null) => dtype switch
    {
        DType.F64 => From<double>(host, shape, device),
        DType.F32 => From<float>(Array.ConvertAll(host, v => (float)v), shape, device),
        _ => throw new NotSupportedException($"FromHost: dtype {dtype.Name()}"),
    };

    // ---- host access -------------------------------------------------------------------------

    public T[] ToArray<T>() where T : unmanaged
    {
        if (DTypeExtensions.Of<T>() != DType)
            throw new InvalidOperationException($"{Describe()} holds {DType.Name()}, not {typeof(T).Name}; cast it first");
        var host = new T[Numel];
        Device.Download<T>(Buffer, host);
        return host;
    }

    /// <summary>The values as doubles, whatever the float dtype.</summary>
    public double[] ToDoubles() => DType switch
    {
        DType.F64 => ToArray<double>(),
        DType.F32 => Array.ConvertAll(ToArray<float>(), v => (double)v),
        DType.I32 => Array.ConvertAll(ToArray<int>(), v => (double)v),
        _ => throw new NotSupportedException($"ToDoubles: dtype {DType.Name()}"),
    };

    public float[] ToFloats() => DType == DType.F32 ? ToArray<float>() : Array.ConvertAll(ToDoubles(), v => (float)v);

    /// <summary>The value of a one-element tensor.</summary>
    public double Item()
    {
        if (Numel != 1) throw new InvalidOperationException($"Item: {Describe()} has {Numel} elements, expected 1");
        return ToDoubles()[0];
    }

    // ---- views and copies --------------------------------------------------------------------

    /// <summary>A view of the same storage with another shape; -1 infers one dimension.</summary>
    public Tensor Reshape(params int[] dims)
    {
        var shape = InferShape(dims);
        var view = View(shape);
        if (RequiresGrad && Autograd.IsEnabled)
        {
            var from = Shape;
            Autograd.Record("Reshape", view, [this], g => [g.Reshape(from.ToArray())]);
        }
        return view;
    }

    /// <summary>A view that shares storage but is cut from the graph.</summary>
    public Tensor Detach() => View(Shape);

    private Tensor View(Shape shape)
    {
        ThrowIfDisposed();
        _storage.AddRef();
        return new Tensor(_storage, shape);
    }

    private Shape InferShape(int[] dims)
    {
        int infer = Array.IndexOf(dims, -1);
        long known = 1;
        for (int i = 0; i < dims.Length; i++)
            if (i != infer)
            {
                if (dims[i] < 0) throw new ArgumentException($"Reshape: bad dimension {dims[i]} in {Shape.Format(dims)}");
                known *= dims[i];
            }
        var result = (int[])dims.Clone();
        if (infer >= 0)
        {
            if (Array.LastIndexOf(dims, -1) != infer)
                throw new ArgumentException($"Reshape: only one dimension can be -1 in {Shape.Format(dims)}");
            if (known == 0 || Numel % known != 0)
                throw new ArgumentException($"Reshape: cannot reshape {Shape} into {Shape.Format(dims)}");
            result[infer] = (int)(Numel / known);
        }
        var s = new Shape(result);
        if (s.Numel != Numel) throw new ArgumentException($"Reshape: cannot reshape {Shape} ({Numel} elements) into {s}");
        return s;
    }

    /// <summary>A copy with its own storage, outside the graph.</summary>
    public Tensor Clone()
    {
        var t = Empty(Shape, DType, Device);
        Device.Kernels.Get<IElementwise>().Copy(Numel, Buffer, t.Buffer);
        return t;
    }

    /// <summary>Converts to another dtype (a new tensor; differentiable between float types).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return Clone();
        var t = Empty(Shape, dtype, Device);
        Device.Kernels.Get<IElementwise>().Cast(Numel, Buffer, t.Buffer);
        if (RequiresGrad && Autograd.IsEnabled && dtype.IsFloat())
        {
            var back = DType;
            Autograd.Record("Cast", t, [this], g => [g.To(back)]);
        }
        return t;
    }

    /// <summary>Copies to another device (through the host for now).</summary>
    public Tensor To(Device device)
    {
        if (ReferenceEquals(device, Device)) return Clone();
        var t = Empty(Shape, DType, device);
        switch (DType)
        {
            case DType.F32: device.Upload<float>(ToArray<float>(), t.Buffer); break;
            case DType.F64: device.Upload<double>(ToArray<double>(), t.Buffer); break;
            case DType.I32: device.Upload<int>(ToArray<int>(), t.Buffer); break;
            default: throw new NotSupportedException($"To(device): dtype {DType.Name()}");
        }
        return t;
    }

    /// <summary>Moves this tensor's data to <paramref name="device"/> in place: the same object
    /// (so modules' fields and optimizers' parameter lists stay valid) with new storage there; its
    /// gradient is dropped. Views made before the move keep the old storage.</summary>
    internal void MoveTo(Device device)
    {
        ThrowIfDisposed();
        if (ReferenceEquals(device, Device)) return;
        var buffer = device.Allocate(DType, Numel);
        try
        {
            switch (DType)
            {
                case DType.F32: device.Upload<float>(ToArray<float>(), buffer); break;
                case DType.F64: device.Upload<double>(ToArray<double>(), buffer); break;
                case DType.I32: device.Upload<int>(ToArray<int>(), buffer); break;
                default: throw new NotSupportedException($"MoveTo(device): dtype {DType.Name()}");
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
        var old = _storage;
        _storage = new Storage(buffer);
        old.Release();
        Grad?.Dispose();
        Grad = null;
    }

    /// <summary>Makes this tensor a trainable leaf owned by the caller: it leaves any scope and
    /// requires gradients.</summary>
    public Tensor AsParameter()
    {
        TensorScope.Keep(this);
        while (Scope is not null) TensorScope.Keep(this);
        RequiresGrad = true;
        return this;
    }

    /// <summary>Moves this tensor out of its scope to the enclosing one (see <see cref="TensorScope.Keep"/>).</summary>
    public Tensor MoveToParentScope() => TensorScope.Keep(this);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        GradFn = null;
        Scope = null;
        _storage.Release();
        TensorStats.OnTensorDisposed();
        if (Grad is { } g)
        {
            Grad = null;
            g.Dispose();
        }
    }

    internal void ThrowIfDisposed()
    {
        if (IsDisposed) throw new ObjectDisposedException(Describe(), "the tensor was disposed (by its scope?); keep it with TensorScope.Keep");
    }

    public string Describe() => $"{(Name is null ? "tensor" : $"tensor '{Name}'")} {Shape} {DType.Name()} on {Device.Name}";

    public override string ToString()
    {
        if (IsDisposed) return Describe() + " (disposed)";
        var vals = Numel <= 8 ? ToDoubles() : ToDoubles()[..8];
        return $"{Describe()} [{string.Join(", ", vals.Select(v => v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture)))}{(Numel > 8 ? ", …" : "")}]";
    }
}
