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
        var filter = new Option<string?>("--filter") { Description = "Only cases whose name contains this text" };
        var warmup = new Option<int>("--warmup") { Description = "Untimed calls first", DefaultValueFactory = _ => 2 };
        var repeat = new Option<int>("--repeat") { Description = "Timed calls; the median is reported", DefaultValueFactory = _ => 5 };
        var json = new Option<string?>("--json") { Description = "Also write the JSON lines to this file" };
        var cmd = new Command("bench", "Time the benchmark cases (GEMM, conv, training steps, bandwidth) on --device; JSON lines for the peer comparison")
        {
            filter, warmup, repeat, json,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            int w = parse.GetValue(warmup), r = parse.GetValue(repeat);
            if (w < 0) throw new ArgumentException($"--warmup must be 0 or more, got {w}");
            if (r <= 0) throw new ArgumentException($"--repeat must be positive, got {r}");
            var text = parse.GetValue(filter) ?? "";
            var cases = BenchCases.All.Where(c => c.Name.Contains(text, StringComparison.OrdinalIgnoreCase)).ToList();
            if (cases.Count == 0)
                throw new ArgumentException($"no benchmark case matches --filter '{text}'; cases: {string.Join(", ", BenchCases.All.Select(c => c.Name))}");
            return Run(cli.Out, cli.RawOut, run.Device, cases, w, r, parse.GetValue(json));
        });
        return cmd;
    }

    private static int Run(IAnsiConsole console, TextWriter raw, Device device, IReadOnlyList<BenchCase> cases, int warmup, int repeat, string? jsonPath)
    {
        var lines = new List<string>();
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
        if (jsonPath is not null)
        {
            AtomicFile.WriteAllLines(jsonPath, lines);
        }
        return Program.ExitOk;
    }

    /// <summary>One decimal, three where a slow device (the cpu reference) would show 0.0.</summary>
    private static string GigaBytesPerSecond(double gb) =>
        gb.ToString(gb >= 1 ? "0.0" : "0.000", CultureInfo.InvariantCulture);
}
