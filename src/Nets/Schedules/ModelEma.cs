using Kernels.Nets.Modules;
using Kernels.Ops.Elementwise;

namespace Kernels.Nets.Schedules;

/// <summary>Exponential moving average of a model's weights: a shadow copy of every parameter
/// and buffer (the state dict), updated after each optimizer step as
/// shadow = d·shadow + (1−d)·value. Non-float buffers (counters) are copied. Evaluate with the
/// averaged weights by <see cref="CopyTo"/> into a model of the same architecture.</summary>
public sealed class ModelEma : IDisposable
{
    private readonly OrderedDictionary<string, Tensor> _shadow = new();

    /// <param name="warmup">when true the decay ramps up as min(decay, (1 + n)/(10 + n)) over
    /// the first updates n (off by default)</param>
    public ModelEma(Module model, double decay = 0.9999, bool warmup = false)
    {
        if (decay is < 0 or > 1) throw new ArgumentException($"ModelEma: decay must be in [0, 1], got {decay}");
        Decay = decay;
        Warmup = warmup;
        using var _ = TensorScope.Suspend();
        foreach (var (name, t) in model.StateDict()) _shadow[name] = t.Clone();
    }

    public double Decay { get; }
    public bool Warmup { get; }

    /// <summary>Updates done so far.</summary>
    public long Updates { get; private set; }

    /// <summary>The averaged tensors by state-dict name (owned by this object).</summary>
    public IReadOnlyDictionary<string, Tensor> State => _shadow;

    /// <summary>The decay the next update will use.</summary>
    public double CurrentDecay => Warmup ? Math.Min(Decay, (1.0 + Updates) / (10.0 + Updates)) : Decay;

    public void Update(Module model)
    {
        double d = CurrentDecay;
        var state = model.StateDict();
        if (state.Count != _shadow.Count)
            throw new ArgumentException($"ModelEma.Update: the model has {state.Count} state entries, the average {_shadow.Count}");
        foreach (var (name, t) in state)
        {
            if (!_shadow.TryGetValue(name, out var s))
                throw new ArgumentException($"ModelEma.Update: the model has '{name}', the average does not");
            Check.Shape("ModelEma.Update", name, s.Shape, t.Shape);
            var k = s.Device.Kernels.Get<IElementwise>();
            if (s.DType.IsFloat()) k.Axpby(1 - d, t.Buffer, d, s.Numel, s.Buffer);
            else k.Copy(s.Numel, t.Buffer, s.Buffer);
        }
        Updates++;
    }

    /// <summary>Restores the averaged values (e.g. from a checkpoint): names and shapes must match
    /// exactly. The values are copied; the caller keeps ownership of <paramref name="state"/>.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, long updates = 0)
    {
        var missing = _shadow.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !_shadow.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new ArgumentException($"ModelEma.LoadStateDict: missing keys: [{string.Join(", ", missing)}]; unexpected keys: [{string.Join(", ", unexpected)}]");
        foreach (var (name, s) in _shadow) Check.Shape("ModelEma.LoadStateDict", name, s.Shape, state[name].Shape);
        foreach (var (name, s) in _shadow) Module.CopyInto(name, state[name], s);
        Updates = updates;
    }

    /// <summary>Writes the averaged values into <paramref name="model"/>'s parameters and buffers.</summary>
    public void CopyTo(Module model) => model.LoadStateDict(_shadow);

    public void Dispose()
    {
        foreach (var t in _shadow.Values) t.Dispose();
        _shadow.Clear();
    }
}
