using System.CommandLine;

namespace Kernels.Cli.Commands;

/// <summary>`kernels eval &lt;model&gt;`: evaluates a saved checkpoint on held-out data.</summary>
public static class EvalCommand
{
    public static Command Create(CliContext cli)
    {
        var cmd = new Command("eval", "Evaluate a trained checkpoint on held-out data and print its metrics");
        cmd.Subcommands.Add(EvalMlDecoder.Create(cli));
        return cmd;
    }
}
