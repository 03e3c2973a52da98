using System.CommandLine;
using Kernels.Nets;
using Kernels.Registry;
using Spectre.Console;

namespace Kernels.Cli;

/// <summary>What every verb shares: the output and error consoles and the common options
/// (--device, --impl, --seed, --verbose), declared once on the root and inherited by every verb.
/// A verb's action calls <see cref="Prepare"/> first, which applies them.</summary>
public sealed class CliContext(IAnsiConsole output, IAnsiConsole error)
{
    public const string DebugVariable = "KERNELS_DEBUG";

    public IAnsiConsole Out { get; } = output;
    public IAnsiConsole Err { get; } = error;

    /// <summary>Standard output as plain text, for machine-readable lines (JSON) that must not be
    /// wrapped or styled by the console.</summary>
    public TextWriter RawOut { get; init; } = Console.Out;

    public Option<string> Device { get; } = new("--device")
    {
        Description = "Where tensors live and kernels run: auto (CUDA when a GPU is usable, else cpu), cpu, cuda, cuda:N, ilgpu-cpu or emu",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|cpu|cuda[:N]|ilgpu-cpu|emu",
        Recursive = true,
    };

    public Option<string?> Impl { get; } = new("--impl")
    {
        Description = "Force kernel implementations per family, e.g. gemm=cpu,conv=native, or one name for all (see `kernels info`); " +
                      $"overrides {KernelRegistry.EnvironmentVariable}",
        HelpName = "family=impl,...",
        Recursive = true,
    };

    public Option<ulong?> Seed { get; } = new("--seed")
    {
        Description = "Seed of the one random generator of the run (initialisation, data order, dropout); same seed, same run on the cpu",
        Recursive = true,
    };

    public Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = $"Print stack traces with errors (also when {DebugVariable}=1)",
        Recursive = true,
    };

    public IEnumerable<Option> CommonOptions => [Device, Impl, Seed, Verbose];

    /// <summary>Applies --impl and --seed and resolves --device. A device that cannot be used
    /// here fails now, with the reason and what to use instead.</summary>
    public RunOptions Prepare(ParseResult parse)
    {
        if (parse.GetValue(Impl) is { Length: > 0 } spec)
        {
            ImplForced = true;
            KernelRegistry.ForceFromSpec(spec);
        }
        var seed = parse.GetValue(Seed);
        if (seed is { } s) Rng.Seed(s);
        var name = parse.GetValue(Device) ?? "auto";
        var device = new Lazy<Device>(() => Devices.Get(name));
        // An explicit --device fails now, before any work; the default is resolved on first use,
        // so verbs that never touch a device (inspect, info) do not start a GPU context.
        if (parse.GetResult(Device) is { Implicit: false }) _ = device.Value;
        return new RunOptions(device, seed);
    }

    /// <summary>Set once --impl was applied, so an in-process run can undo it afterwards.</summary>
    internal bool ImplForced { get; private set; }

    public bool IsVerbose(ParseResult parse) =>
        parse.GetValue(Verbose) || Environment.GetEnvironmentVariable(DebugVariable) is "1" or "true";

    /// <summary>One red line for an error the user can fix; the stack trace only when verbose.</summary>
    public void ReportUserError(Exception e, bool verbose)
    {
        Err.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
        if (verbose) Err.WriteLine(e.ToString());
    }

    /// <summary>A bug rather than a user error: the message and, always, the stack trace.</summary>
    public void ReportInternalError(Exception e)
    {
        Err.MarkupLine($"[red]internal error ({Markup.Escape(e.GetType().Name)}):[/] {Markup.Escape(e.Message)}");
        Err.WriteLine(e.ToString());
    }
}

/// <summary>The common options as a verb sees them once applied.</summary>
public sealed class RunOptions(Lazy<Device> device, ulong? seed)
{
    /// <summary>The device of --device (resolved on first use when the option was not given).</summary>
    public Device Device => device.Value;

    /// <summary>The --seed given, if any (already applied to <see cref="Rng.Global"/>).</summary>
    public ulong? Seed { get; } = seed;
}
