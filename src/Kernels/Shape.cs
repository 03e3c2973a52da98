using System.Runtime.CompilerServices;

namespace Kernels;

/// <summary>An immutable tensor shape. Contiguous row-major layout is implied everywhere.</summary>
[CollectionBuilder(typeof(Shape), nameof(Create))]
public readonly struct Shape : IEquatable<Shape>
{
    private readonly int[]? _dims;

    public Shape(params int[] dims)
    {
        foreach (var d in dims)
            if (d < 0) throw new ArgumentException($"shape {Format(dims)} has a negative dimension");
        _dims = (int[])dims.Clone();
    }

    public Shape(ReadOnlySpan<int> dims) : this(dims.ToArray()) { }

    public static Shape Create(ReadOnlySpan<int> dims) => new(dims);

    public ReadOnlySpan<int>.Enumerator GetEnumerator() => Dims.GetEnumerator();

    public static readonly Shape Scalar = new(Array.Empty<int>());

    public int Rank => _dims?.Length ?? 0;

    public int this[int axis]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _dims![axis < 0 ? axis + Rank : axis];
    }

    public ReadOnlySpan<int> Dims => _dims ?? Array.Empty<int>();

    public long Numel
    {
        get
        {
            long n = 1;
            foreach (var d in Dims) n *= d;
            return n;
        }
    }

    /// <summary>Normalises a possibly negative axis, naming the op in the error.</summary>
    public int Axis(int axis, string op)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank)
            throw new ArgumentException($"{op}: axis {axis} is out of range for a tensor of shape {this}");
        return a;
    }

    /// <summary>Product of the dimensions in [from, to).</summary>
    public long Prod(int from, int to)
    {
        long n = 1;
        for (int i = from; i < to; i++) n *= this[i];
        return n;
    }

    public int[] ToArray() => Dims.ToArray();

    public Shape With(int axis, int value)
    {
        var d = ToArray();
        d[axis < 0 ? axis + Rank : axis] = value;
        return new Shape(d);
    }

    public bool Equals(Shape other) => Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in Dims) h.Add(d);
        return h.ToHashCode();
    }

    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);
    public static implicit operator Shape(int[] dims) => new(dims);

    public override string ToString() => Format(Dims);

    public static string Format(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";
}
