using System.CommandLine;

namespace Kernels.Cli.Commands;

/// <summary>`kernels eval &lt;what&gt;`: evaluates a trained checkpoint on held-out data
/// (ml-decoder) or scores saved predictions against references with a benchmark's rules (lits).
/// Each is a sub-verb in its own file plus one line here.</summary>
public static class EvalCommand
{
    public static Command Create(CliContext cli)
    {
        var cmd = new Command("eval", "Evaluate a trained checkpoint on held-out data, or saved predictions against references");
        cmd.Subcommands.Add(EvalMlDecoder.Create(cli));
        cmd.Subcommands.Add(EvalLits.Create(cli));
        return cmd;
    }
}
