using Kernels.Cli;

namespace Kernels.Tests.Support;

/// <summary>Runs the `kernels` command in-process and captures what it prints.</summary>
public static class CliRun
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
