using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kernels.Nets.Benchmarking;
using Kernels.Nets.IO;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels bench`: times the shared benchmark cases (<see cref="BenchCases"/>) on the
/// chosen device — the median of --repeat calls after --warmup, the device synchronised around
/// each call — and writes one JSON line per case in the peers' format
/// ({"name", "seconds", "flops", "device", "bytes"}; bytes 0 for a case without a traffic count),
/// so scripts/device-check/ratio.py can join it with
/// benchmarks/peer/*.py run on the same machine. BenchmarkDotNet stays the tool for the CPU
/// (it needs the SDK); this verb is what runs where only the runtime is, such as the GPU machine.</summary>
public static class BenchCommand
{
    public static Command Create(CliContext cli)
    {
        var filter = new Option<string?>("--filter") { Description = "Only cases whose name contains this text; several texts: a|b" };
        var warmup = new Option<int>("--warmup") { Description = "Untimed calls first", DefaultValueFactory = _ => 2 };
        var repeat = new Option<int>("--repeat") { Description = "Timed calls; the median is reported", DefaultValueFactory = _ => 5 };
        var json = new Option<string?>("--json") { Description = "Also write the JSON lines to this file" };
        var profile = new Option<bool>("--profile")
        {
            Description = "After timing, profile --repeat more calls per case: launches, cuBLAS calls, copies, syncs and allocations per call, "
                          + "by name, with host time and (cuda: CUDA events) device time",
        };
        var cmd = new Command("bench", "Time the benchmark cases (GEMM, conv, training steps, bandwidth) on --device; JSON lines for the peer comparison")
        {
            filter, warmup, repeat, json, profile,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            int w = parse.GetValue(warmup), r = parse.GetValue(repeat);
            if (w < 0) throw new ArgumentException($"--warmup must be 0 or more, got {w}");
            if (r <= 0) throw new ArgumentException($"--repeat must be positive, got {r}");
            var text = parse.GetValue(filter) ?? "";
            var parts = text.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var cases = BenchCases.All.Where(c => parts.Length == 0
                || parts.Any(p => c.Name.Contains(p, StringComparison.OrdinalIgnoreCase))).ToList();
            if (cases.Count == 0)
                throw new ArgumentException($"no benchmark case matches --filter '{text}'; cases: {string.Join(", ", BenchCases.All.Select(c => c.Name))}");
            return Run(cli.Out, cli.RawOut, run.Device, cases, w, r, parse.GetValue(json), parse.GetValue(profile));
        });
        return cmd;
    }

    private static int Run(IAnsiConsole console, TextWriter raw, Device device, IReadOnlyList<BenchCase> cases, int warmup, int repeat, string? jsonPath,
        bool profile = false)
    {
        var lines = new List<string>();
        var profiles = new List<(string Case, ProfileReport Report)>();
        var table = new Table().Title($"kernels bench on {Markup.Escape(device.Name)} (median of {repeat})")
            .AddColumns("case", "ms", "GFLOP/s", "GB/s");
        foreach (var c in cases)
        {
            double median;
            using (var work = c.Create(device))
            {
                for (int i = 0; i < warmup; i++) { work.Run(); device.Synchronize(); }
                var times = new double[repeat];
                for (int i = 0; i < repeat; i++)
                {
                    device.Synchronize();
                    long t0 = Stopwatch.GetTimestamp();
                    work.Run();
                    device.Synchronize();
                    times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                }
                if (profile)
                {
                    using var session = KernelProfiler.Start(device);
                    for (int i = 0; i < repeat; i++) work.Run();
                    profiles.Add((c.Name, session.Stop()));
                }
                Array.Sort(times);
                median = repeat % 2 == 1 ? times[repeat / 2] : 0.5 * (times[repeat / 2 - 1] + times[repeat / 2]);
            }
            var line = string.Create(CultureInfo.InvariantCulture,
                $"{{\"name\": \"{c.Name}\", \"seconds\": {median:R}, \"flops\": {c.Flops:R}, \"device\": \"{device.Name}\", \"bytes\": {c.Bytes:R}}}");
            lines.Add(line);
            raw.WriteLine(line);
            table.AddRow(Markup.Escape(c.Name), (median * 1e3).ToString("0.000", CultureInfo.InvariantCulture),
                (c.Flops / median / 1e9).ToString("0.0", CultureInfo.InvariantCulture),
                c.Bytes > 0 ? GigaBytesPerSecond(c.Bytes / median / 1e9) : "-");
        }
        console.Write(table);
        foreach (var (name, report) in profiles) console.Write(ProfileTable(name, report, repeat));
        if (jsonPath is not null)
        {
            AtomicFile.WriteAllLines(jsonPath, lines);
        }
        return Program.ExitOk;
    }

    /// <summary>One case's profile, per call of the workload: every (kind, name) with its calls, host
    /// time (issuing it) and device time, then the totals per kind and the wall / busy split.</summary>
    private static Table ProfileTable(string caseName, ProfileReport report, int runs)
    {
        static string Ms(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        static string Calls(long calls, int runs) =>
            calls % runs == 0 ? (calls / runs).ToString(CultureInfo.InvariantCulture)
                : ((double)calls / runs).ToString("0.##", CultureInfo.InvariantCulture);
        double wall = report.WallMs / runs;
        var t = new Table().Title($"profile of {Markup.Escape(caseName)} on {Markup.Escape(report.Device)} (per call, mean of {runs})")
            .AddColumns("kind", "name", "calls", "host ms", "device ms", "% of wall");
        foreach (var r in report.Rows)
            t.AddRow(r.Kind.ToString(), Markup.Escape(r.Name), Calls(r.Calls, runs), Ms(r.HostMs / runs), Ms(r.DeviceMs / runs),
                (100 * r.DeviceMs / runs / wall).ToString("0.0", CultureInfo.InvariantCulture));
        t.AddEmptyRow();
        foreach (var kind in Enum.GetValues<ProfiledKind>())
        {
            var rows = report.Rows.Where(r => r.Kind == kind).ToList();
            if (rows.Count == 0) continue;
            double dev = rows.Sum(r => r.DeviceMs) / runs;
            t.AddRow($"[bold]{kind} total[/]", rows.Count == 1 ? "1 name" : $"{rows.Count} names", Calls(rows.Sum(r => r.Calls), runs),
                Ms(rows.Sum(r => r.HostMs) / runs), Ms(dev), (100 * dev / wall).ToString("0.0", CultureInfo.InvariantCulture));
        }
        double busy = report.BusyMs / runs;
        t.Caption($"wall {Ms(wall)} ms per call (profiled, event records included); device busy {Ms(busy)} ms; "
                  + $"device idle / host-bound {Ms(Math.Max(0, wall - busy))} ms");
        return t;
    }

    /// <summary>One decimal, three where a slow device (the cpu reference) would show 0.0.</summary>
    private static string GigaBytesPerSecond(double gb) =>
        gb.ToString(gb >= 1 ? "0.0" : "0.000", CultureInfo.InvariantCulture);
}
