using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using Kernels.Cli.Commands;
using Kernels.Registry;
using Spectre.Console;

namespace Kernels.Cli;

/// <summary>The `kernels` command. Exit codes: 0 success, 1 the verb ran and found a problem (or
/// an internal error), 2 a user error (bad arguments, unusable device, unreadable or malformed
/// file) reported as one red line.</summary>
public static class Program
{
    public const int ExitOk = 0, ExitFailed = 1, ExitUserError = 2;

    /// <summary>The verbs. Adding one = one file under Commands/ with a Create(CliContext) plus one line here.</summary>
    private static readonly Func<CliContext, Command>[] Verbs =
    [
        InfoCommand.Create,
        CheckpointCommand.Create,
        SelfTestCommand.Create,
        TrainCommand.Create,
        BenchCommand.Create,
        PhantomCommand.Create,
        SegmentCommand.Create,
        EvalCommand.Create,
        PredictCommand.Create,
    ];

    public static int Main(string[] args)
    {
        var err = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        // Errors stay one line however long (the terminal soft-wraps); tables fit a wide page when piped.
        err.Profile.Width = 10_000;
        var output = AnsiConsole.Console;
        if (Console.IsOutputRedirected) output.Profile.Width = 200;
        return Run(args, output, err, Console.Out, Console.Error);
    }

    /// <summary>Runs in-process with plain-text consoles on the given writers (for tests and embedding).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, int width = 160) =>
        Run(args, PlainConsole(stdout, width), PlainConsole(stderr, 10_000), stdout, stderr);

    public static IAnsiConsole PlainConsole(TextWriter writer, int width)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = width;
        return console;
    }

    public static RootCommand BuildRoot(CliContext cli)
    {
        var root = new RootCommand("kernels: a GPU deep-learning engine in C# — train, evaluate and benchmark the ten systems");
        foreach (var o in cli.CommonOptions) root.Options.Add(o);
        foreach (var verb in Verbs) root.Subcommands.Add(verb(cli));
        return root;
    }

    private static int Run(string[] args, IAnsiConsole output, IAnsiConsole error, TextWriter stdout, TextWriter stderr)
    {
        var cli = new CliContext(output, error) { RawOut = stdout };
        var root = BuildRoot(cli);
        var parse = root.Parse(args);
        bool verbose = cli.IsVerbose(parse);

        // Syntax errors are user errors too: list them in red, point at --help, exit 2.
        if (parse.Action is ParseErrorAction && parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) error.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            var cmd = string.Join(' ', new[] { "kernels" }.Concat(CommandPath(parse)));
            error.MarkupLine($"Run [bold]{Markup.Escape(cmd)} --help[/] for the usage.");
            return ExitUserError;
        }

        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return parse.Invoke(config);
        }
        catch (Exception e)
        {
            var inner = Unwrap(e);
            if (IsUserError(inner))
            {
                cli.ReportUserError(inner, verbose);
                return ExitUserError;
            }
            cli.ReportInternalError(inner);
            return ExitFailed;
        }
        finally
        {
            // The registry is process-wide: an in-process run must not leave its --impl behind.
            if (cli.ImplForced) RestoreImplFromEnvironment();
        }
    }

    private static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r.Parent is System.CommandLine.Parsing.CommandResult parent; r = parent)
            names.Insert(0, r.Command.Name);
        return names;
    }

    /// <summary>The errors a user causes and can fix: reported as one line, exit code 2.</summary>
    public static bool IsUserError(Exception e) =>
        e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
            or DeviceUnavailableException;

    private static Exception Unwrap(Exception e)
    {
        while (true)
        {
            if (e is TargetInvocationException { InnerException: { } ti }) e = ti;
            else if (e is AggregateException { InnerExceptions.Count: 1 } ae) e = ae.InnerExceptions[0];
            else return e;
        }
    }

    private static void RestoreImplFromEnvironment()
    {
        KernelRegistry.ClearForced();
        var env = Environment.GetEnvironmentVariable(KernelRegistry.EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env)) KernelRegistry.ForceFromSpec(env);
    }
}
