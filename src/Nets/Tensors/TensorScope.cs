namespace Kernels.Nets;

/// <summary>Collects every tensor created on this thread while it is the innermost scope and
/// disposes them when it ends. What must outlive it (parameters, results) is moved out with
/// <see cref="Keep"/> or <see cref="Tensor.MoveToParentScope"/>.</summary>
/// <example><code>
/// using (var scope = TensorScope.Begin())
/// {
///     var loss = model.Forward(x);
///     loss.Backward();
///     optimizer.Step();
/// }   // every intermediate of the step is released here
/// </code></example>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? t_current;
    [ThreadStatic] private static int t_suspended;

    private readonly List<Tensor> _tensors = new();
    private readonly TensorScope? _parent;
    private bool _disposed;

    private TensorScope(TensorScope? parent) => _parent = parent;

    public static TensorScope Begin() => t_current = new TensorScope(t_current);

    /// <summary>The innermost open scope on this thread, or null.</summary>
    public static TensorScope? Current => t_suspended > 0 ? null : t_current;

    /// <summary>While the returned handle lives, new tensors join no scope (their creator owns them).</summary>
    public static SuspendHandle Suspend()
    {
        t_suspended++;
        return new SuspendHandle();
    }

    public readonly struct SuspendHandle : IDisposable
    {
        public void Dispose() => t_suspended--;
    }

    public int Count => _tensors.Count;

    internal void Add(Tensor t)
    {
        _tensors.Add(t);
        t.Scope = this;
    }

    /// <summary>Moves a tensor out of this scope into the enclosing one (or to its caller's
    /// ownership when there is none), and returns it.</summary>
    public static Tensor Keep(Tensor t)
    {
        var scope = t.Scope;
        if (scope is null) return t;
        t.Scope = null;
        scope._parent?.Add(t);
        return t;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _tensors)
            if (ReferenceEquals(t.Scope, this)) t.Dispose();
        _tensors.Clear();
        if (ReferenceEquals(t_current, this)) t_current = _parent;
        else throw new InvalidOperationException("tensor scopes must be disposed in the reverse order of Begin");
    }
}
