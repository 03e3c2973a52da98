using System.Collections.Concurrent;
using System.Reflection;

namespace Kernels.Registry;

/// <summary>Marker for a kernel family: an interface with one method per pass over buffers and a
/// shape struct. Implementations (Cpu, Ilgpu, Native) sit side by side in src/Kernels/Ops/&lt;Family&gt;/.</summary>
public interface IKernelFamily;

/// <summary>Declares a class as an implementation of the kernel families it implements, on the
/// given device kinds. Higher priority wins when several are available; the Cpu reference is 0.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class KernelImplementationAttribute(string name, int priority, params DeviceKind[] devices) : Attribute
{
    public string Name { get; } = name;
    public int Priority { get; } = priority;
    public DeviceKind[] Devices { get; } = devices;
}

public sealed record KernelImplementationInfo(string Family, Type FamilyType, string Name, int Priority,
    IReadOnlyList<DeviceKind> Devices, Type ImplementationType);

/// <summary>Finds every kernel implementation in this assembly by its attribute and chooses one per
/// (device, family): the highest priority, unless forced in code, by --impl, or by the environment
/// variable KERNELS_IMPL ("conv=native,gemm=cpu" or "all=ilgpu").</summary>
public static class KernelRegistry
{
    public const string EnvironmentVariable = "KERNELS_IMPL";

    private static readonly Lazy<IReadOnlyList<KernelImplementationInfo>> s_all = new(Discover);
    private static readonly ConcurrentDictionary<string, string> s_forced = new(StringComparer.OrdinalIgnoreCase);
    private static int s_version;

    static KernelRegistry()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env)) ForceFromSpec(env);
    }

    public static IReadOnlyList<KernelImplementationInfo> All => s_all.Value;

    /// <summary>Family names ("Gemm", "Conv", ...), sorted.</summary>
    public static IReadOnlyList<string> Families =>
        All.Select(i => i.Family).Distinct().Order(StringComparer.Ordinal).ToList();

    public static IEnumerable<KernelImplementationInfo> For(string family, DeviceKind kind) =>
        All.Where(i => i.Family.Equals(family, StringComparison.OrdinalIgnoreCase) && i.Devices.Contains(kind))
           .OrderByDescending(i => i.Priority);

    /// <summary>Forces an implementation by name for one family, or for every family with "all".</summary>
    public static void Force(string family, string implementation)
    {
        if (!family.Equals("all", StringComparison.OrdinalIgnoreCase) &&
            !Families.Contains(family, StringComparer.OrdinalIgnoreCase))
            throw new ArgumentException($"unknown kernel family '{family}'; known: {string.Join(", ", Families)}");
        if (!All.Any(i => i.Name.Equals(implementation, StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException(
                $"unknown implementation '{implementation}'; known: {string.Join(", ", All.Select(i => i.Name).Distinct())}");
        s_forced[family] = implementation;
        Interlocked.Increment(ref s_version);
    }

    /// <summary>Parses "family=impl,family=impl" (the --impl flag and KERNELS_IMPL).</summary>
    public static void ForceFromSpec(string spec)
    {
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', StringSplitOptions.TrimEntries);
            if (kv.Length == 1) Force("all", kv[0]);
            else if (kv.Length == 2) Force(kv[0], kv[1]);
            else throw new ArgumentException($"bad implementation spec '{part}': expected family=implementation");
        }
    }

    public static void ClearForced()
    {
        s_forced.Clear();
        Interlocked.Increment(ref s_version);
    }

    internal static int Version => Volatile.Read(ref s_version);

    internal static KernelImplementationInfo Choose(string family, DeviceKind kind)
    {
        var candidates = For(family, kind).ToList();
        if (candidates.Count == 0)
            throw new NotSupportedException($"no implementation of kernel family {family} runs on a {kind} device");
        if (s_forced.TryGetValue(family, out var forced) || s_forced.TryGetValue("all", out forced))
        {
            var hit = candidates.FirstOrDefault(c => c.Name.Equals(forced, StringComparison.OrdinalIgnoreCase));
            if (hit is not null) return hit;
            if (s_forced.ContainsKey(family))
                throw new NotSupportedException(
                    $"kernel family {family} has no '{forced}' implementation on a {kind} device; available: {string.Join(", ", candidates.Select(c => c.Name))}");
        }
        return candidates[0];
    }

    public static string FamilyName(Type familyInterface)
    {
        var n = familyInterface.Name;
        return n.Length > 1 && n[0] == 'I' && char.IsUpper(n[1]) ? n[1..] : n;
    }

    private static IReadOnlyList<KernelImplementationInfo> Discover()
    {
        var list = new List<KernelImplementationInfo>();
        foreach (var type in typeof(KernelRegistry).Assembly.GetTypes())
        {
            var attr = type.GetCustomAttribute<KernelImplementationAttribute>();
            if (attr is null || type.IsAbstract) continue;
            foreach (var iface in type.GetInterfaces())
            {
                if (iface == typeof(IKernelFamily) || !typeof(IKernelFamily).IsAssignableFrom(iface)) continue;
                list.Add(new KernelImplementationInfo(FamilyName(iface), iface, attr.Name, attr.Priority,
                    attr.Devices, type));
            }
        }
        return list;
    }
}

/// <summary>The implementations chosen for one device, created on first use and cached.</summary>
public sealed class KernelSet(Device device)
{
    private readonly ConcurrentDictionary<Type, (int Version, object Impl)> _cache = new();

    /// <summary>The implementation of family <typeparamref name="T"/> that runs on this device.</summary>
    public T Get<T>() where T : class, IKernelFamily
    {
        int version = KernelRegistry.Version;
        if (_cache.TryGetValue(typeof(T), out var hit) && hit.Version == version) return (T)hit.Impl;
        var info = KernelRegistry.Choose(KernelRegistry.FamilyName(typeof(T)), device.Kind);
        var impl = Create(info.ImplementationType);
        _cache[typeof(T)] = (version, impl);
        return (T)impl;
    }

    /// <summary>Name of the implementation that runs family <typeparamref name="T"/> here.</summary>
    public string NameOf<T>() where T : class, IKernelFamily =>
        KernelRegistry.Choose(KernelRegistry.FamilyName(typeof(T)), device.Kind).Name;

    private object Create(Type type)
    {
        var withDevice = type.GetConstructor([typeof(Device)]);
        if (withDevice is not null) return withDevice.Invoke([device]);
        return Activator.CreateInstance(type)
               ?? throw new InvalidOperationException($"cannot create kernel implementation {type.Name}");
    }
}
