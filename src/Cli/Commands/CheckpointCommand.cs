using System.CommandLine;
using System.Globalization;
using Kernels.Nets.IO;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels checkpoint inspect|verify FILE`: look into safetensors files (weights,
/// training checkpoints, reference vectors) without writing code.</summary>
public static class CheckpointCommand
{
    private const int MaxMetadataChars = 200;

    public static Command Create(CliContext cli)
    {
        var cmd = new Command("checkpoint", "Inspect and verify safetensors files (model weights, training checkpoints)");
        cmd.Subcommands.Add(Inspect(cli));
        cmd.Subcommands.Add(Verify(cli));
        return cmd;
    }

    private static Argument<FileInfo> FileArgument() => new("FILE")
    {
        Description = "A .safetensors file",
    };

    private static Command Inspect(CliContext cli)
    {
        var file = FileArgument();
        var full = new Option<bool>("--full") { Description = $"Show metadata values in full (default: cut at {MaxMetadataChars} characters)" };
        var cmd = new Command("inspect",
            "List the tensors (name, dtype, shape, elements, bytes) and the metadata of a safetensors file, reading only its header. " +
            "A malformed file is reported with the reason (exit code 2).")
        {
            file, full,
        };
        cmd.SetAction(parse =>
        {
            cli.Prepare(parse);
            var path = parse.GetValue(file)!.FullName;
            var header = SafeTensors.ReadHeader(path);
            var o = cli.Out;
            long elements = header.Tensors.Sum(t => t.Numel);
            o.MarkupLine($"[bold]{Markup.Escape(path)}[/]: {header.Tensors.Count} tensors, {Count(elements)} elements, " +
                         $"{Bytes(header.DataLength)} of data, header {Bytes(header.HeaderLength)}");
            if (header.Tensors.Count > 0)
            {
                var table = new Table().AddColumns("name", "dtype", "shape", "elements", "bytes");
                table.Columns[3].RightAligned();
                table.Columns[4].RightAligned();
                foreach (var t in header.Tensors)
                    table.AddRow(Markup.Escape(t.Name), t.DType.ToString(), Markup.Escape(t.Shape.ToString()), Count(t.Numel), Bytes(t.ByteLength));
                o.Write(table);
            }
            if (header.Metadata.Count > 0)
            {
                var meta = new Table().Title("metadata").AddColumns("key", "value");
                bool showAll = parse.GetValue(full);
                foreach (var (k, v) in header.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    var shown = showAll || v.Length <= MaxMetadataChars ? v : v[..MaxMetadataChars] + $"… ({v.Length} chars; --full shows all)";
                    meta.AddRow(Markup.Escape(k), Markup.Escape(shown));
                }
                o.Write(meta);
            }
            else o.MarkupLine("no metadata");
            return Program.ExitOk;
        });
        return cmd;
    }

    private static Command Verify(CliContext cli)
    {
        var file = FileArgument();
        var cmd = new Command("verify",
            "Read every tensor of a safetensors file in full (one at a time) and count NaN and infinite values per tensor. " +
            "Exit code 0 when every value is finite, 1 when some are not, 2 when the file is malformed or unreadable.")
        {
            file,
        };
        cmd.SetAction(parse =>
        {
            cli.Prepare(parse);
            var path = parse.GetValue(file)!.FullName;
            using var reader = SafeTensorsReader.Open(path);
            var o = cli.Out;
            var table = new Table().AddColumns("name", "dtype", "shape", "NaN", "Inf", "min", "max", "status");
            for (int c = 3; c <= 6; c++) table.Columns[c].RightAligned();
            int bad = 0, skipped = 0;
            foreach (var info in reader.Header.Tensors)
            {
                var name = Markup.Escape(info.Name);
                var shape = Markup.Escape(info.Shape.ToString());
                if (info.DType.ReadsAs() is null)
                {
                    skipped++;
                    table.AddRow(name, info.DType.ToString(), shape, "", "", "", "", "[yellow]skipped: dtype not read by the engine[/]");
                    continue;
                }
                // Counted on the host, whatever --device says: this is a check of the file.
                using var t = reader.Read(info.Name, Device.Cpu);
                var s = Stats.Of(t);
                if (s.NaN + s.Inf > 0) bad++;
                table.AddRow(name, info.DType.ToString(), shape,
                    Count(s.NaN), Count(s.Inf), Num(s.Min), Num(s.Max),
                    s.NaN + s.Inf > 0 ? "[red]non-finite[/]" : "[green]ok[/]");
            }
            o.Write(table);
            int read = reader.Header.Tensors.Count - skipped;
            if (bad == 0)
            {
                o.MarkupLine($"[green]{read} tensors read, all values finite[/]{(skipped > 0 ? $" ({skipped} skipped)" : "")}");
                return Program.ExitOk;
            }
            o.MarkupLine($"[red]{bad} of {read} tensors hold NaN or infinite values[/]");
            return Program.ExitFailed;
        });
        return cmd;
    }

    private readonly record struct Stats(long NaN, long Inf, double Min, double Max)
    {
        /// <summary>NaN/Inf counts and the finite range of a CPU tensor.</summary>
        public static Stats Of(Nets.Tensor t) => t.DType switch
        {
            DType.F32 => Scan<float>(CpuBuffer.Span<float>(t.Buffer)[..(int)t.Numel]),
            DType.F64 => Scan<double>(CpuBuffer.Span<double>(t.Buffer)[..(int)t.Numel]),
            DType.I32 => Scan<int>(CpuBuffer.Span<int>(t.Buffer)[..(int)t.Numel]),
            _ => throw new NotSupportedException($"no statistics for {t.DType.Name()}"),
        };

        private static Stats Scan<T>(ReadOnlySpan<T> values) where T : unmanaged, System.Numerics.INumberBase<T>
        {
            long nan = 0, inf = 0;
            double min = double.PositiveInfinity, max = double.NegativeInfinity;
            foreach (var v in values)
            {
                if (T.IsNaN(v)) nan++;
                else if (T.IsInfinity(v)) inf++;
                else
                {
                    double d = double.CreateTruncating(v);
                    if (d < min) min = d;
                    if (d > max) max = d;
                }
            }
            return new Stats(nan, inf, min, max);
        }
    }

    private static string Num(double v) =>
        double.IsInfinity(v) ? "—" : v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Bytes(long n) => n switch
    {
        < 1024 => $"{n} B",
        < 1024 * 1024 => (n / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        < 1024L * 1024 * 1024 => (n / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        _ => (n / (1024.0 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
    };
}
