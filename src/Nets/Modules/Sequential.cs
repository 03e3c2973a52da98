namespace Kernels.Nets.Modules;

/// <summary>Children named "0", "1", … applied in order (PyTorch's nn.Sequential naming).</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    public Sequential(params Module[] layers)
    {
        foreach (var l in layers) Add(l);
    }

    public Sequential Add(Module layer)
    {
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    public int Count => _layers.Count;

    public Module this[int index] => _layers[index];

    public override Tensor Forward(Tensor x)
    {
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }
}

/// <summary>Children named "0", "1", … with no forward of their own (PyTorch's nn.ModuleList).</summary>
public sealed class ModuleList<T> : Module where T : Module
{
    private readonly List<T> _items = new();

    public ModuleList(params T[] items)
    {
        foreach (var m in items) Add(m);
    }

    public ModuleList<T> Add(T module)
    {
        RegisterModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        _items.Add(module);
        return this;
    }

    public int Count => _items.Count;

    public T this[int index] => _items[index];

    public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();
}
