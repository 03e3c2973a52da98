using System.CommandLine;
using System.Diagnostics;
using Kernels.Registry;
using Kernels.SelfTesting;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels selftest`: every kernel implementation on the device against the Cpu
/// reference (see <see cref="SelfTest"/>). Exit 1 when any case fails.</summary>
public static class SelfTestCommand
{
    public static Command Create(CliContext cli)
    {
        var op = new Option<string?>("--op")
        {
            Description = "Only this kernel family (e.g. Gemm, Conv; see `kernels info`)",
            HelpName = "family",
        };
        var sizes = new Option<string>("--sizes")
        {
            Description = "small: tiny awkward shapes, seconds on the CPU; full: adds shapes that reach the fast paths",
            DefaultValueFactory = _ => "small",
            HelpName = "small|full",
        };
        sizes.AcceptOnlyFromAmong("small", "full");
        var cmd = new Command("selftest", "Check every kernel implementation on the device against the Cpu reference on random inputs")
        {
            op, sizes,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            var family = parse.GetValue(op);
            // An unknown family is a user error (exit 2) before the device is touched.
            if (family is not null && !SelfTest.Families.Contains(family, StringComparer.OrdinalIgnoreCase))
                throw new ArgumentException($"unknown kernel family '{family}' for --op; known: {string.Join(", ", SelfTest.Families)}");
            var device = run.Device;
            // Nothing to test is not a pass: a family (or a device) without implementations is a user error.
            var available = SelfTest.Families.Where(f => KernelRegistry.For(f, device.Kind).Any()).ToList();
            if (family is not null && !available.Contains(family, StringComparer.OrdinalIgnoreCase))
                throw new ArgumentException($"kernel family '{family}' has no implementation on {device.Name}; " +
                                            $"families there: {(available.Count == 0 ? "none" : string.Join(", ", available))}");
            if (available.Count == 0)
                throw new ArgumentException($"no kernel implementation runs on {device.Name} yet; nothing to self-test");
            var size = parse.GetValue(sizes) == "full" ? SelfTestSizes.Full : SelfTestSizes.Small;
            int seed = run.Seed is { } s ? (int)(s & int.MaxValue) : Random.Shared.Next();
            return Run(cli.Out, device, family, size, seed);
        });
        return cmd;
    }

    private static int Run(IAnsiConsole console, Device device, string? family, SelfTestSizes sizes, int seed)
    {
        var sw = Stopwatch.StartNew();
        var results = SelfTest.Run(device, family, sizes, seed);
        sw.Stop();
        var table = new Table().Title($"kernel self-test on {Markup.Escape(device.Name)} ({sizes.ToString().ToLowerInvariant()} sizes, seed {seed})")
            .AddColumns("op", "implementation", "size", "max abs err", "max rel err", "tol", "pass");
        foreach (var r in results)
            table.AddRow(
                Markup.Escape(r.Family), Markup.Escape(r.Implementation),
                Markup.Escape(r.Case) + (r.Error is null ? "" : $"\n[red]{Markup.Escape(r.Error)}[/]"),
                Num(r.MaxAbsError), Num(r.MaxRelError), r.Tolerance.ToString("0e0"),
                r.Passed ? "[green]ok[/]" : "[red]FAIL[/]");
        console.Write(table);

        int failed = results.Count(r => !r.Passed);
        var tested = results.Select(r => r.Family).Distinct(StringComparer.Ordinal).ToList();
        var untested = (family is null ? SelfTest.Families : [family])
            .Where(f => !tested.Contains(f, StringComparer.OrdinalIgnoreCase)).ToList();
        console.MarkupLine(
            $"{(failed == 0 ? "[green]passed[/]" : "[red]FAILED[/]")}: {results.Count - failed}/{results.Count} cases, " +
            $"{tested.Count} famil{(tested.Count == 1 ? "y" : "ies")}, " +
            $"{results.Select(r => (r.Family, r.Implementation)).Distinct().Count()} implementations, {sw.Elapsed.TotalSeconds:0.0} s");
        if (device.Kind == DeviceKind.Cuda)
            foreach (var line in NativeModules.LoadLog) console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        if (untested.Count > 0)
            console.MarkupLine($"[grey]no implementation on {Markup.Escape(device.Name)}: {Markup.Escape(string.Join(", ", untested))}[/]");
        if (results.Count == 0) return Program.ExitFailed; // every implementation was skipped (OpenBLAS not loaded)
        return failed == 0 ? Program.ExitOk : Program.ExitFailed;
    }

    private static string Num(double v) => double.IsNaN(v) ? "—" : v == 0 ? "0" : v.ToString("0.00e0");
}
