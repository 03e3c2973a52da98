using Kernels.Bindings.Cuda;

namespace Kernels;

/// <summary>Modules loaded into one cuda device's context, by key ("native:activation",
/// "ilgpu:Kernels.Ops.Activation.ActivationIlgpu.Forward"), each loaded once. Functions are
/// looked up once and cached too.</summary>
public sealed class CudaModuleCache : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CudaModule> _modules = [];
    private readonly Dictionary<(string, string), CudaFunction> _functions = [];

    /// <summary>The module under <paramref name="key"/>, loading it with <paramref name="load"/> the first time.</summary>
    public CudaModule GetOrLoad(string key, Func<CudaModule> load)
    {
        lock (_gate)
        {
            if (!_modules.TryGetValue(key, out var m)) _modules[key] = m = load();
            return m;
        }
    }

    /// <summary>A function of the module under <paramref name="key"/>.</summary>
    public CudaFunction Function(string key, string name, Func<CudaModule> load)
    {
        lock (_gate)
        {
            if (_functions.TryGetValue((key, name), out var f)) return f;
            if (!_modules.TryGetValue(key, out var m)) _modules[key] = m = load();
            f = m.GetFunction(name);
            _functions[(key, name)] = f;
            return f;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var m in _modules.Values) m.Dispose();
            _modules.Clear();
            _functions.Clear();
        }
    }
}
