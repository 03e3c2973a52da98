using Kernels.Ops.Elementwise;

namespace Kernels.Nets;

/// <summary>One recorded op: its inputs and a function from the output gradient to the input
/// gradients (null where an input needs none).</summary>
internal sealed class Node(string op, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
{
    public string Op { get; } = op;
    public Tensor[] Inputs { get; private set; } = inputs;
    public Func<Tensor, Tensor?[]>? BackwardFn { get; private set; } = backward;

    public void Release()
    {
        Inputs = [];
        BackwardFn = null;
    }
}

/// <summary>Define-by-run reverse-mode differentiation. Ops call <see cref="Record"/> after
/// computing their output; <see cref="Backward"/> walks the graph in reverse topological order,
/// accumulates gradients in the leaves and frees the graph.</summary>
public static class Autograd
{
    [ThreadStatic] private static int t_noGrad;

    /// <summary>False inside a <see cref="NoGrad"/> scope.</summary>
    public static bool IsEnabled => t_noGrad == 0;

    /// <summary>Turns recording off on this thread until the handle is disposed.</summary>
    public static NoGradScope NoGrad()
    {
        t_noGrad++;
        return new NoGradScope();
    }

    public readonly struct NoGradScope : IDisposable
    {
        public void Dispose() => t_noGrad--;
    }

    /// <summary>True when an op over these inputs must record a node.</summary>
    public static bool Needs(params ReadOnlySpan<Tensor?> inputs)
    {
        if (!IsEnabled) return false;
        foreach (var t in inputs)
            if (t is { RequiresGrad: true }) return true;
        return false;
    }

    /// <summary>Records that <paramref name="output"/> came from <paramref name="inputs"/>. The
    /// backward function returns one gradient per input (null where none is needed; it may return
    /// the incoming gradient itself). It runs with recording off.</summary>
    public static void Record(string op, Tensor output, Tensor?[] inputs, Func<Tensor, Tensor?[]> backward)
    {
        if (!Needs(inputs)) return;
        output.GradFn = new Node(op, inputs.Select(t => t!).ToArray(), backward);
        output.RequiresGrad = true;
    }

    internal static void Backward(Tensor root, Tensor? gradient)
    {
        if (root.GraphReleased)
            throw new InvalidOperationException($"Backward: the graph behind {root.Describe()} was freed by an earlier backward; run the forward again");
        if (!root.RequiresGrad)
            throw new InvalidOperationException($"Backward: {root.Describe()} does not require grad (no parameter or input with RequiresGrad led to it)");
        if (gradient is null && root.Numel != 1)
            throw new InvalidOperationException($"Backward: {root.Describe()} is not a scalar; pass a gradient of its shape");
        if (gradient is not null) Kernels.Check.Shape("Backward", "gradient", root.Shape, gradient.Shape);

        var order = TopologicalOrder(root);
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        var seed = gradient ?? Tensor.Ones(root.Shape, root.DType, root.Device);
        bool seedIsOurs = gradient is null;
        if (!seedIsOurs) seed = seed.Clone();
        grads[root] = seed;

        using (NoGrad())
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var t = order[i];
                if (!grads.Remove(t, out var g)) continue;
                var node = t.GradFn;
                if (node is null)
                {
                    if (!t.GraphReleased) AccumulateLeaf(t, g);
                    g.Dispose();
                    continue;
                }
                var inputGrads = node.BackwardFn!(g);
                if (inputGrads.Length != node.Inputs.Length)
                    throw new InvalidOperationException($"Backward of {node.Op} returned {inputGrads.Length} gradients for {node.Inputs.Length} inputs");
                bool gKept = false;
                var stored = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
                for (int k = 0; k < inputGrads.Length; k++)
                {
                    var x = inputGrads[k];
                    var input = node.Inputs[k];
                    if (x is null || !input.RequiresGrad) continue;
                    if (x.Shape != input.Shape)
                        throw new InvalidOperationException($"Backward of {node.Op}: gradient {x.Shape} for input {k} of shape {input.Shape}");
                    if (grads.TryGetValue(input, out var acc))
                    {
                        Accumulate(acc, x);
                        continue;
                    }
                    // Each stored gradient must be uniquely owned: it is accumulated into in place.
                    bool aliased = stored.Contains(x) || (ReferenceEquals(x, g) && gKept);
                    var own = aliased ? x.Clone() : x;
                    if (ReferenceEquals(own, g)) gKept = true;
                    stored.Add(own);
                    grads[input] = own;
                }
                for (int k = 0; k < inputGrads.Length; k++)
                {
                    var x = inputGrads[k];
                    if (x is not null && !ReferenceEquals(x, g) && !stored.Contains(x)) x.Dispose();
                }
                if (!gKept) g.Dispose();
                node.Release();
                t.GradFn = null;
                t.GraphReleased = true;
            }
        }
        foreach (var leftover in grads.Values) leftover.Dispose();
    }

    private static void Accumulate(Tensor into, Tensor x) =>
        into.Device.Kernels.Get<IElementwise>().Axpby(1.0, x.Buffer, 1.0, into.Numel, into.Buffer);

    private static void AccumulateLeaf(Tensor leaf, Tensor g)
    {
        if (leaf.Grad is null)
        {
            using (TensorScope.Suspend()) leaf.Grad = g.Clone();
            return;
        }
        Kernels.Check.Shape("Backward", "accumulated gradient", leaf.Grad.Shape, g.Shape);
        Accumulate(leaf.Grad, g);
    }

    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor T, bool Expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (t, expanded) = stack.Pop();
            if (expanded)
            {
                order.Add(t);
                continue;
            }
            if (!seen.Add(t)) continue;
            stack.Push((t, true));
            if (t.GradFn is { } node)
                foreach (var input in node.Inputs)
                    if (input.RequiresGrad && !seen.Contains(input))
                        stack.Push((input, false));
        }
        return order;
    }
}
