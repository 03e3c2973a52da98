using System.CommandLine;

namespace Kernels.Cli.Commands;

/// <summary>`kernels eval &lt;name&gt;`: score saved predictions against references with a
/// benchmark's official rules (lits), or evaluate a trained checkpoint on held-out data
/// (ml-decoder). Each is a sub-verb in its own file (EvalLits.cs, EvalMlDecoder.cs ...) plus one
/// line here.</summary>
public static class EvalCommand
{
    public static Command Create(CliContext cli)
    {
        var cmd = new Command("eval", "Evaluate: saved predictions against references (lits), or a trained checkpoint on held-out data (ml-decoder)");
        cmd.Subcommands.Add(EvalLits.Create(cli));
        cmd.Subcommands.Add(EvalMlDecoder.Create(cli));
        return cmd;
    }
}
