using Kernels.Ops.Elementwise;

namespace Kernels.Nets.Modules;

/// <summary>A network part that owns named parameters, named buffers (non-trained state such as
/// running statistics) and named child modules, in registration order. Names join with dots
/// ("layers.0.weight") as in PyTorch, so state dicts line up with PyTorch checkpoints.
/// Parameters and buffers live outside any <see cref="TensorScope"/>; <see cref="Dispose"/>
/// releases them.</summary>
public abstract class Module : IDisposable
{
    private readonly List<(string Name, Tensor Tensor)> _parameters = new();
    private readonly List<(string Name, Tensor Tensor)> _buffers = new();
    private readonly List<(string Name, Module Module)> _children = new();
    private bool _disposed;

    /// <summary>True in training mode (dropout active, batch norm uses batch statistics).</summary>
    public bool IsTraining { get; private set; } = true;

    /// <summary>Applies the module to one input. Modules with several inputs define their own
    /// overloads; this one then throws or picks the common case (see the module).</summary>
    public virtual Tensor Forward(Tensor x) =>
        throw new NotSupportedException($"{GetType().Name} has no single-input Forward");

    // ---- registration ---------------------------------------------------------------------------

    /// <summary>Registers a trainable parameter; the tensor leaves any scope and requires grad.</summary>
    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckName(name);
        value.AsParameter();
        _parameters.Add((name, value));
        return value;
    }

    /// <summary>Registers non-trained state that belongs in the state dict (e.g. running_mean).</summary>
    protected Tensor RegisterBuffer(string name, Tensor value)
    {
        CheckName(name);
        value.MoveToParentScope();
        while (value.Scope is not null) value.MoveToParentScope();
        _buffers.Add((name, value));
        return value;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _children.Add((name, module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{GetType().Name}: '{name}' is not a valid member name (non-empty, no dots)");
        if (_parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: a member named '{name}' is already registered");
    }

    // ---- traversal ------------------------------------------------------------------------------

    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children;

    /// <summary>This module ("" ) and every descendant, depth first, with dotted names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
            foreach (var m in child.NamedModules(Join(prefix, name)))
                yield return m;
    }

    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters()
    {
        // A tensor shared by two modules (weight tying) is listed once, as PyTorch does.
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, p) in m._parameters)
                if (seen.Add(p)) yield return (Join(prefix, name), p);
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter);

    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, b) in m._buffers)
                yield return (Join(prefix, name), b);
    }

    public IEnumerable<Tensor> Buffers() => NamedBuffers().Select(b => b.Buffer);

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount() => Parameters().Sum(p => p.Numel);

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    // ---- modes and gradients --------------------------------------------------------------------

    /// <summary>Sets training mode on this module and every descendant.</summary>
    public Module Train(bool mode = true)
    {
        foreach (var (_, m) in NamedModules()) m.IsTraining = mode;
        return this;
    }

    public Module Eval() => Train(false);

    /// <summary>Drops every parameter's gradient (PyTorch's set_to_none).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters())
            if (p.Grad is { } g)
            {
                p.Grad = null;
                g.Dispose();
            }
    }

    /// <summary>Turns gradients on or off for every parameter (freezing a part of a model).</summary>
    public void RequiresGrad(bool value)
    {
        foreach (var p in Parameters()) p.RequiresGrad = value;
    }

    // ---- state dict -----------------------------------------------------------------------------

    /// <summary>Parameters then buffers of each module, depth first: the ordered name → tensor map
    /// a checkpoint stores. The tensors are the live ones (not copies).</summary>
    public OrderedDictionary<string, Tensor> StateDict()
    {
        var dict = new OrderedDictionary<string, Tensor>();
        foreach (var (prefix, m) in NamedModules())
        {
            foreach (var (name, p) in m._parameters) dict.TryAdd(Join(prefix, name), p);
            foreach (var (name, b) in m._buffers) dict.TryAdd(Join(prefix, name), b);
        }
        return dict;
    }

    /// <summary>Copies values into this module's parameters and buffers. Shapes must match
    /// exactly; float values convert to the parameter's dtype. With <paramref name="strict"/>,
    /// any missing or unexpected name is an error (listing all of them); otherwise they are
    /// returned.</summary>
    public LoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new ArgumentException($"LoadStateDict ({GetType().Name}): " +
                (missing.Count > 0 ? $"missing keys: {string.Join(", ", missing)}" : "") +
                (missing.Count > 0 && unexpected.Count > 0 ? "; " : "") +
                (unexpected.Count > 0 ? $"unexpected keys: {string.Join(", ", unexpected)}" : ""));
        var mismatched = new List<string>();
        foreach (var (name, dst) in own)
            if (state.TryGetValue(name, out var src) && src.Shape != dst.Shape)
                mismatched.Add($"'{name}' has shape {src.Shape} in the state dict, the module expects {dst.Shape}");
        if (mismatched.Count > 0)
            throw new ArgumentException($"LoadStateDict ({GetType().Name}): size mismatch: {string.Join("; ", mismatched)}");
        foreach (var (name, dst) in own)
            if (state.TryGetValue(name, out var src)) CopyInto(name, src, dst);
        foreach (var (_, m) in NamedModules()) m.OnStateLoaded();
        return new LoadResult(missing, unexpected);
    }

    public sealed record LoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

    /// <summary>Called after <see cref="LoadStateDict"/> wrote new values (e.g. to resync host-side counters).</summary>
    protected virtual void OnStateLoaded() { }

    /// <summary>Writes src's values into dst in place (across devices and dtypes).</summary>
    internal static void CopyInto(string name, Tensor src, Tensor dst)
    {
        using var _ = Autograd.NoGrad();
        if (src.DType != dst.DType && !(src.DType.IsFloat() && dst.DType.IsFloat()) && !(src.DType == DType.I32 && dst.DType.IsFloat()))
            throw new ArgumentException($"LoadStateDict: '{name}' has dtype {src.DType.Name()}, cannot convert to {dst.DType.Name()}");
        using var scope = TensorScope.Begin();
        var s = ReferenceEquals(src.Device, dst.Device) ? src : src.To(dst.Device);
        var elementwise = dst.Device.Kernels.Get<IElementwise>();
        if (s.DType == dst.DType) elementwise.Copy(dst.Numel, s.Buffer, dst.Buffer);
        else elementwise.Cast(dst.Numel, s.Buffer, dst.Buffer);
    }

    /// <summary>Moves every parameter and buffer to <paramref name="device"/> in place (the same
    /// tensor objects, so layers' fields stay valid; gradients are dropped). Build the optimizer
    /// after the move: its state lives where the parameters were.</summary>
    public Module To(Device device)
    {
        foreach (var (_, m) in NamedModules())
        {
            foreach (var (_, p) in m._parameters) p.MoveTo(device);
            foreach (var (_, b) in m._buffers) b.MoveTo(device);
        }
        return this;
    }

    // ---- disposal -------------------------------------------------------------------------------

    /// <summary>Releases every parameter (with its gradient) and buffer of this module and its children.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var (_, p) in _parameters) p.Dispose();
        foreach (var (_, b) in _buffers) b.Dispose();
        foreach (var (_, c) in _children) c.Dispose();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"{GetType().Name}({ParameterCount()} parameters)";
}
