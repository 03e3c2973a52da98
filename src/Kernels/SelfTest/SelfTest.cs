using System.Diagnostics;
using System.Reflection;
using Kernels.Registry;

namespace Kernels.SelfTesting;

/// <summary>How big the self-test's cases are: Small runs in seconds on the CPU (and on the emu
/// device, which runs one thread per GPU thread); Full adds cases large enough to reach the
/// blocked and vectorised fast paths.</summary>
public enum SelfTestSizes { Small, Full }

/// <summary>One case of one implementation. Errors are over every output of the case; the
/// relative error is |actual − ref| / max(|ref|, 1), so values near zero are held to the
/// absolute tolerance. <see cref="Error"/> is set when the implementation (or the reference)
/// threw or produced NaN where the reference did not.</summary>
public sealed record SelfTestResult(string Family, string Implementation, string Case, double MaxAbsError,
    double MaxRelError, double Tolerance, bool Passed, string? Error, TimeSpan Elapsed);

/// <summary>The kernel self-test: every kernel family, every implementation available on a device,
/// on fresh random inputs at awkward sizes, outputs poisoned with NaN before each run, compared
/// with the Cpu reference implementation run on the cpu device in float64 (inputs rounded to
/// float32 first, so both see the same numbers). The implementation under test runs in float32.
/// On the cpu device this still separates the float32 fast paths (packed GEMM, conv tiles, SIMD
/// reductions) from the generic code that the float64 run takes.</summary>
public static class SelfTest
{
    /// <summary>Families with cases; a family found in the registry but missing here fails the
    /// self-test, so a new family cannot go untested silently.</summary>
    private static readonly Dictionary<string, Func<CaseRandom, SelfTestSizes, IEnumerable<SelfTestCase>>> s_cases =
        new(StringComparer.OrdinalIgnoreCase)
        {
            ["Activation"] = ActivationCases.Build,
            ["AsymmetricLoss"] = AsymmetricLossCases.Build,
            ["AttentionDecode"] = AttentionDecodeCases.Build,
            ["Conv"] = ConvCases.Build,
            ["Dropout"] = DropoutCases.Build,
            ["Elementwise"] = ElementwiseCases.Build,
            ["Embedding"] = EmbeddingCases.Build,
            ["Gemm"] = GemmCases.Build,
            ["GroupDecode"] = GroupDecodeCases.Build,
            ["Layout"] = LayoutCases.Build,
            ["Loss"] = LossCases.Build,
            ["Norm"] = NormCases.Build,
            ["OptimizerUpdate"] = OptimizerUpdateCases.Build,
            ["Pool"] = PoolCases.Build,
            ["Reduce"] = ReduceCases.Build,
            ["Softmax"] = SoftmaxCases.Build,
            ["Upsample"] = UpsampleCases.Build,
        };

    /// <summary>Kernel families known to the registry, sorted.</summary>
    public static IReadOnlyList<string> Families => KernelRegistry.Families;

    /// <summary>Runs every family (or the one named) with every implementation that runs on
    /// <paramref name="device"/>. An unknown family is an ArgumentException listing the known ones.</summary>
    public static IReadOnlyList<SelfTestResult> Run(Device device, string? family = null,
        SelfTestSizes sizes = SelfTestSizes.Small, int? seed = null)
    {
        var families = family is null ? Families : [ResolveFamily(family)];
        var results = new List<SelfTestResult>();
        int baseSeed = seed ?? Random.Shared.Next();
        foreach (var f in families)
            foreach (var info in KernelRegistry.For(f, device.Kind))
            {
                if (IsUnloaded(info.ImplementationType)) continue;
                object impl;
                try { impl = Create(info.ImplementationType, device); }
                catch (Exception e)
                {
                    results.Add(new SelfTestResult(f, info.Name, "create", double.NaN, double.NaN, 0, false,
                        Describe(e), TimeSpan.Zero));
                    continue;
                }
                results.AddRange(RunImplementation(device, f, info.Name, impl, sizes, baseSeed));
            }
        return results;
    }

    /// <summary>Runs one family's cases on a given implementation object (one the registry does not
    /// know, say a kernel under development, or a deliberately wrong one in a test).</summary>
    public static IReadOnlyList<SelfTestResult> RunImplementation(Device device, string family, string name,
        object implementation, SelfTestSizes sizes = SelfTestSizes.Small, int? seed = null)
    {
        family = ResolveFamily(family);
        var familyType = KernelRegistry.All.First(i => i.Family.Equals(family, StringComparison.OrdinalIgnoreCase)).FamilyType;
        if (!familyType.IsInstanceOfType(implementation))
            throw new ArgumentException($"SelfTest: {implementation.GetType().Name} does not implement {familyType.Name}");
        if (!s_cases.TryGetValue(family, out var build))
            return [new SelfTestResult(family, name, "cases", double.NaN, double.NaN, 0, false,
                $"the self-test has no cases for kernel family {family}; add src/Kernels/SelfTest/Cases/{family}Cases.cs", TimeSpan.Zero)];
        var refInfo = KernelRegistry.For(family, DeviceKind.Cpu).OrderBy(i => i.Priority).First();
        var reference = Create(refInfo.ImplementationType, Device.Cpu);
        // The same seed gives every implementation of a family the same inputs.
        var rng = new CaseRandom(seed ?? Random.Shared.Next());
        var results = new List<SelfTestResult>();
        foreach (var c in build(rng, sizes))
            results.Add(RunCase(device, family, name, implementation, reference, c));
        return results;
    }

    private static SelfTestResult RunCase(Device device, string family, string name, object impl, object reference,
        SelfTestCase c)
    {
        var sw = Stopwatch.StartNew();
        double[][] expected;
        string[] names;
        try
        {
            if (c.Expected is { } host)
            {
                expected = host();
                names = Enumerable.Range(0, expected.Length).Select(i => $"output {i}").ToArray();
            }
            else (names, expected) = Execute(Device.Cpu, DType.F64, reference, c);
        }
        catch (Exception e)
        {
            return new SelfTestResult(family, name, c.Description, double.NaN, double.NaN, c.Tolerance, false,
                "the reference threw: " + Describe(e), sw.Elapsed);
        }
        double[][] actual;
        string[] actualNames;
        try { (actualNames, actual) = Execute(device, DType.F32, impl, c); }
        catch (Exception e)
        {
            return new SelfTestResult(family, name, c.Description, double.NaN, double.NaN, c.Tolerance, false,
                Describe(e), sw.Elapsed);
        }
        if (c.Expected is not null) names = actualNames;
        if (actual.Length != expected.Length)
            return new SelfTestResult(family, name, c.Description, double.NaN, double.NaN, c.Tolerance, false,
                $"{actual.Length} outputs, the reference has {expected.Length}", sw.Elapsed);
        double maxAbs = 0, maxRel = 0;
        string? error = null;
        if (!c.AllowNonFinite)
            for (int o = 0; o < expected.Length && error is null; o++)
            {
                // Untouched elements keep the poison bit pattern; anything else non-finite was computed.
                int i = Array.FindIndex(expected[o], v => !double.IsFinite(v) && !CaseIo.IsPoison(v));
                if (i >= 0) error = $"the reference's {names[o]}[{i}] is {expected[o][i]} in a case that expects finite outputs";
            }
        for (int o = 0; o < actual.Length; o++)
        {
            var (abs, rel, bad) = Compare(expected[o], actual[o]);
            if (bad >= 0 && error is null)
                error = $"{names[o]}[{bad}] is {actual[o][bad]}, the reference {expected[o][bad]}";
            maxAbs = Math.Max(maxAbs, abs);
            if (rel > maxRel)
            {
                maxRel = rel;
                if (rel > c.Tolerance && error is null) error = $"worst output: {names[o]}";
            }
        }
        bool pass = error is null && maxRel <= c.Tolerance;
        return new SelfTestResult(family, name, c.Description, maxAbs, maxRel, c.Tolerance, pass,
            pass ? null : error, sw.Elapsed);
    }

    /// <summary>Max abs and mixed relative error; a position where exactly one side is NaN (or the
    /// infinities differ) returns its index as bad.</summary>
    private static (double Abs, double Rel, int Bad) Compare(double[] expected, double[] actual)
    {
        if (expected.Length != actual.Length) return (double.NaN, double.PositiveInfinity, 0);
        double maxAbs = 0, maxRel = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) || double.IsNaN(a) || double.IsInfinity(e) || double.IsInfinity(a))
            {
                if (e.Equals(a)) continue; // both NaN, or the same infinity
                return (double.PositiveInfinity, double.PositiveInfinity, i);
            }
            double d = Math.Abs(a - e);
            maxAbs = Math.Max(maxAbs, d);
            maxRel = Math.Max(maxRel, d / Math.Max(Math.Abs(e), 1.0));
        }
        return (maxAbs, maxRel, -1);
    }

    private static (string[] Names, double[][] Values) Execute(Device device, DType dtype, object impl, SelfTestCase c)
    {
        using var io = new CaseIo(device, dtype);
        c.Body(impl, io);
        device.Synchronize();
        return io.Collect();
    }

    private static string ResolveFamily(string family) =>
        Families.FirstOrDefault(f => f.Equals(family, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown kernel family '{family}'; known: {string.Join(", ", Families)}");

    /// <summary>An implementation with a static Available = false (OpenBLAS without its library)
    /// would only run its fallback: skipped.</summary>
    private static bool IsUnloaded(Type type) =>
        type.GetProperty("Available", BindingFlags.Public | BindingFlags.Static) is { PropertyType: var t } p
        && t == typeof(bool) && !(bool)p.GetValue(null)!;

    private static object Create(Type type, Device device)
    {
        var withDevice = type.GetConstructor([typeof(Device)]);
        if (withDevice is not null) return withDevice.Invoke([device]);
        return Activator.CreateInstance(type) ?? throw new InvalidOperationException($"cannot create {type.Name}");
    }

    private static string Describe(Exception e)
    {
        while (e is TargetInvocationException { InnerException: { } inner }) e = inner;
        return $"{e.GetType().Name}: {e.Message}";
    }
}
