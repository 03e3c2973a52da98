using System.CommandLine;

namespace Kernels.Cli.Commands;

/// <summary>`kernels eval &lt;benchmark&gt;`: score saved predictions against references. Each
/// benchmark is a sub-verb in its own file (EvalLits.cs ...) plus one line here.</summary>
public static class EvalCommand
{
    public static Command Create(CliContext cli)
    {
        var cmd = new Command("eval", "Evaluate saved predictions against references with a benchmark's official rules");
        cmd.Subcommands.Add(EvalLits.Create(cli));
        return cmd;
    }
}
