using System.Globalization;
using Kernels.Ops.Elementwise;
using Kernels.Nets.IO;
using Kernels.Ops.Optim;

namespace Kernels.Nets.Optim;

/// <summary>Base of the optimizers: parameter groups, per-parameter state tensors (outside any
/// scope, updated in place by fused kernels) and checkpointing of both.</summary>
public abstract class Optimizer : IDisposable
{
    private readonly List<ParamGroup> _groups;
    private readonly Dictionary<int, Dictionary<string, Tensor>> _state = new();
    private readonly Dictionary<int, long> _steps = new();

    protected Optimizer(IEnumerable<ParamGroup> groups)
    {
        _groups = groups.ToList();
        if (_groups.Count == 0) throw new ArgumentException($"{GetType().Name}: no parameter groups given");
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var g in _groups)
            foreach (var p in g.Parameters)
            {
                if (!p.DType.IsFloat()) throw new ArgumentException($"{GetType().Name}: {p.Describe()} is not floating point");
                if (!seen.Add(p)) throw new ArgumentException($"{GetType().Name}: {p.Describe()} appears in more than one group");
            }
    }

    public IReadOnlyList<ParamGroup> Groups => _groups;

    /// <summary>Whether a momentum schedule should cycle Beta1 (Adam family) instead of Momentum (SGD).</summary>
    public abstract bool UsesBetas { get; }

    /// <summary>The learning rate of the first group (the common single-group case).</summary>
    public double Lr
    {
        get => _groups[0].Lr;
        set
        {
            foreach (var g in _groups) g.Lr = value;
        }
    }

    /// <summary>Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).</summary>
    public void ZeroGrad()
    {
        foreach (var g in _groups)
            foreach (var p in g.Parameters)
                if (p.Grad is { } grad)
                {
                    p.Grad = null;
                    grad.Dispose();
                }
    }

    /// <summary>One update of every parameter that has a gradient; parameters without one are skipped.</summary>
    public void Step()
    {
        using var _ = Autograd.NoGrad();
        int index = 0;
        foreach (var g in _groups)
            foreach (var p in g.Parameters)
            {
                int i = index++;
                if (p.Grad is not { } grad) continue;
                if (grad.Shape != p.Shape)
                    throw new InvalidOperationException($"{GetType().Name}.Step: gradient {grad.Shape} for parameter {p.Describe()}");
                long step = _steps.TryGetValue(i, out var s) ? s + 1 : 1;
                _steps[i] = step;
                Update(g, i, p, grad, step);
            }
    }

    /// <summary>Applies one update to parameter <paramref name="index"/>; <paramref name="step"/> counts from 1.</summary>
    protected abstract void Update(ParamGroup group, int index, Tensor param, Tensor grad, long step);

    /// <summary>The named state tensor of a parameter, created zero-filled (outside any scope) on first use.</summary>
    protected Tensor State(int index, string name, Tensor like, out bool created)
    {
        if (!_state.TryGetValue(index, out var dict)) _state[index] = dict = new Dictionary<string, Tensor>();
        created = false;
        if (dict.TryGetValue(name, out var t)) return t;
        using (TensorScope.Suspend()) t = Tensor.Zeros(like.Shape, like.DType, like.Device);
        dict[name] = t;
        created = true;
        return t;
    }

    protected static IOptimizerUpdate Kernel(Tensor p) => p.Device.Kernels.Get<IOptimizerUpdate>();

    /// <summary>The number of updates parameter <paramref name="index"/> has had.</summary>
    public long StepCount(int index) => _steps.TryGetValue(index, out var s) ? s : 0;

    // ---- checkpoints ----------------------------------------------------------------------------

    /// <summary>The optimizer's checkpoint state (a <see cref="TrainingState"/>, as
    /// <see cref="TrainingCheckpoint.Optimizer"/> takes it): state tensors named
    /// "state.&lt;param index&gt;.&lt;name&gt;" (the index runs over all groups' parameters in order, as
    /// PyTorch numbers them; the tensors are the live ones) and string metadata
    /// "state.&lt;i&gt;.step" and "param_groups.&lt;g&gt;.&lt;hyperparameter&gt;".</summary>
    public TrainingState StateDict()
    {
        var tensors = new SortedDictionary<string, Tensor>(StringComparer.Ordinal);
        var meta = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["type"] = GetType().Name,
            ["param_groups"] = Format(_groups.Count),
        };
        foreach (var (i, dict) in _state)
            foreach (var (name, t) in dict)
                tensors[$"state.{i}.{name}"] = t;
        foreach (var (i, step) in _steps) meta[$"state.{i}.step"] = Format(step);
        for (int g = 0; g < _groups.Count; g++)
            foreach (var (key, value) in Hyper(_groups[g]))
                meta[$"param_groups.{g}.{key}"] = value;
        return new TrainingState(tensors, meta);
    }

    /// <summary>Restores state tensors, step counts and hyperparameters. The optimizer must have
    /// been built over parameters of the same shapes in the same order.</summary>
    public void LoadStateDict(TrainingState state) => LoadStateDict(state.Tensors, state.Metadata);

    /// <summary>Same, from the two parts as a checkpoint reader returns them (the values are
    /// copied; the caller keeps ownership of <paramref name="tensors"/>).</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> meta)
    {
        string op = $"{GetType().Name}.LoadStateDict";
        if (meta.TryGetValue("type", out var type) && type != GetType().Name)
            throw new ArgumentException($"{op}: the state was saved by {type}");
        if (meta.TryGetValue("param_groups", out var gc) && int.Parse(gc, CultureInfo.InvariantCulture) != _groups.Count)
            throw new ArgumentException($"{op}: the state has {gc} parameter groups, this optimizer {_groups.Count}");
        var parameters = _groups.SelectMany(g => g.Parameters).ToList();
        // Validate everything before changing anything.
        foreach (var (key, t) in tensors)
        {
            var (index, _) = ParseStateKey(op, key, parameters.Count);
            if (t.Shape != parameters[index].Shape)
                throw new ArgumentException($"{op}: '{key}' has shape {t.Shape}, parameter {index} has shape {parameters[index].Shape}");
        }
        foreach (var dict in _state.Values)
            foreach (var t in dict.Values) t.Dispose();
        _state.Clear();
        _steps.Clear();
        foreach (var (key, t) in tensors)
        {
            var (index, name) = ParseStateKey(op, key, parameters.Count);
            var dst = State(index, name, parameters[index], out _);
            Modules.Module.CopyInto(key, t, dst);
        }
        foreach (var (key, value) in meta)
        {
            if (!key.StartsWith("state.", StringComparison.Ordinal) || !key.EndsWith(".step", StringComparison.Ordinal)) continue;
            var (index, _) = ParseStateKey(op, key, parameters.Count);
            _steps[index] = long.Parse(value, CultureInfo.InvariantCulture);
        }
        for (int g = 0; g < _groups.Count; g++)
        {
            var values = new Dictionary<string, string>();
            string prefix = $"param_groups.{g}.";
            foreach (var (key, value) in meta)
                if (key.StartsWith(prefix, StringComparison.Ordinal)) values[key[prefix.Length..]] = value;
            SetHyper(_groups[g], values);
        }
    }

    private static (int Index, string Name) ParseStateKey(string op, string key, int count)
    {
        var parts = key.Split('.', 3);
        if (parts.Length != 3 || parts[0] != "state" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            throw new ArgumentException($"{op}: '{key}' is not a state key (state.<index>.<name>)");
        if (index >= count)
            throw new ArgumentException($"{op}: '{key}' refers to parameter {index}, the optimizer has {count}");
        return (index, parts[2]);
    }

    private static IEnumerable<(string Key, string Value)> Hyper(ParamGroup g)
    {
        yield return ("lr", Format(g.Lr));
        yield return ("initial_lr", Format(g.InitialLr));
        yield return ("weight_decay", Format(g.WeightDecay));
        yield return ("momentum", Format(g.Momentum));
        yield return ("dampening", Format(g.Dampening));
        yield return ("nesterov", g.Nesterov ? "true" : "false");
        yield return ("beta1", Format(g.Beta1));
        yield return ("beta2", Format(g.Beta2));
        yield return ("eps", Format(g.Eps));
    }

    private static void SetHyper(ParamGroup g, Dictionary<string, string> v)
    {
        double D(string k, double current) => v.TryGetValue(k, out var s) ? double.Parse(s, CultureInfo.InvariantCulture) : current;
        g.Lr = D("lr", g.Lr);
        g.InitialLr = D("initial_lr", g.InitialLr);
        g.WeightDecay = D("weight_decay", g.WeightDecay);
        g.Momentum = D("momentum", g.Momentum);
        g.Dampening = D("dampening", g.Dampening);
        if (v.TryGetValue("nesterov", out var n)) g.Nesterov = n == "true";
        g.Beta1 = D("beta1", g.Beta1);
        g.Beta2 = D("beta2", g.Beta2);
        g.Eps = D("eps", g.Eps);
    }

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    private static string Format(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Releases the state tensors (not the parameters).</summary>
    public void Dispose()
    {
        foreach (var dict in _state.Values)
            foreach (var t in dict.Values) t.Dispose();
        _state.Clear();
        GC.SuppressFinalize(this);
    }
}
