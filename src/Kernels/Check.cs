namespace Kernels;

/// <summary>Argument checks at an op's public entry. Messages name the op, the argument and
/// both shapes so a user can find the bad call without a debugger.</summary>
public static class Check
{
    public static void Shape(string op, string arg, Shape expected, Shape actual)
    {
        if (expected != actual)
            throw new ArgumentException($"{op}: {arg} has shape {actual}, expected {expected}");
    }

    public static void Rank(string op, string arg, Shape actual, params int[] ranks)
    {
        if (Array.IndexOf(ranks, actual.Rank) < 0)
            throw new ArgumentException(
                $"{op}: {arg} has shape {actual} (rank {actual.Rank}), expected rank {string.Join(" or ", ranks)}");
    }

    public static void That(bool condition, string op, string message)
    {
        if (!condition) throw new ArgumentException($"{op}: {message}");
    }

    public static void SameDevice(string op, string arg, Device expected, Device actual)
    {
        if (!ReferenceEquals(expected, actual))
            throw new ArgumentException(
                $"{op}: {arg} is on device {actual.Name} but the op runs on {expected.Name}; move it with .To(device) first");
    }

    public static void SameDType(string op, string arg, DType expected, DType actual)
    {
        if (expected != actual)
            throw new ArgumentException($"{op}: {arg} has dtype {actual.Name()}, expected {expected.Name()}");
    }

    public static void Length(string op, string arg, DeviceBuffer buffer, long needed)
    {
        if (buffer.Length < needed)
            throw new ArgumentException($"{op}: buffer {arg} holds {buffer.Length} elements, the shape needs {needed}");
    }
}
