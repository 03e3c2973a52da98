using System.CommandLine;
using Kernels.Cli.Commands;

namespace Kernels.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("kernels: a GPU deep-learning engine in C# — train, evaluate and benchmark the ten systems");
        root.Subcommands.Add(InfoCommand.Create());
        return root.Parse(args).Invoke();
    }
}
