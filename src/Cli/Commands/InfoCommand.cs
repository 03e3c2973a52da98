using System.CommandLine;
using Kernels.Bindings.Cuda;
using Kernels.Registry;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels info`: the CPU, every CUDA device (or why there is none) and every kernel
/// family with the implementations available on each device kind.</summary>
public static class InfoCommand
{
    public static Command Create(CliContext cli)
    {
        var cmd = new Command("info", "Show the CPU, CUDA devices (or why none was found) and the kernel implementations per device");
        cmd.SetAction(parse =>
        {
            cli.Prepare(parse);
            return Run(cli.Out);
        });
        return cmd;
    }

    private static int Run(IAnsiConsole console)
    {
        console.MarkupLine($"[bold]CPU[/]: {Markup.Escape(CpuModel())}, {Environment.ProcessorCount} threads, " +
                           $"{(System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2" : "no AVX2")}" +
                           $"{(System.Runtime.Intrinsics.X86.Fma.IsSupported ? " + FMA" : "")}" +
                           $"{(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? " + AVX-512" : "")}");
        console.MarkupLine($"[bold].NET[/]: {Markup.Escape(System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription)}");
        if (CudaDriverProbe.IsAvailable)
        {
            int v = CudaDriverProbe.DriverVersion;
            console.MarkupLine($"[bold]CUDA driver[/]: {v / 1000}.{v % 1000 / 10}");
            var t = new Table().AddColumns("device", "name", "memory", "compute capability");
            foreach (var d in CudaDriverProbe.Devices)
                t.AddRow($"cuda:{d.Ordinal}", Markup.Escape(d.Name), $"{d.TotalMemoryBytes / (1 << 20)} MiB", $"{d.ComputeMajor}.{d.ComputeMinor}");
            console.Write(t);
            // Where each hand-written module would come from on each device: prebuilt cubin, PTX, or NVRTC.
            foreach (var d in CudaDriverProbe.Devices)
                foreach (var name in Kernels.NativeModules.EmbeddedSources())
                    console.MarkupLine($"  cuda:{d.Ordinal} native/{Markup.Escape(name)}.cu: {Markup.Escape(Kernels.NativeModules.Describe(name, d.ComputeMajor, d.ComputeMinor))}");
        }
        else
        {
            console.MarkupLine($"[bold]CUDA[/]: none — {Markup.Escape(CudaDriverProbe.Reason)}");
        }

        var kinds = Enum.GetValues<DeviceKind>();
        var table = new Table().Title("kernel families and implementations per device kind").AddColumn("family");
        foreach (var k in kinds) table.AddColumn(KindName(k));
        foreach (var family in KernelRegistry.Families)
        {
            var cells = new List<string> { family };
            foreach (var k in kinds)
            {
                var impls = KernelRegistry.For(family, k).Select(i => i.Name).ToList();
                cells.Add(impls.Count == 0 ? "[grey]—[/]" : string.Join(", ", impls));
            }
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
        return 0;
    }

    public static string KindName(DeviceKind k) => k switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.IlgpuCpu => "ilgpu-cpu",
        DeviceKind.Emu => "emu",
        DeviceKind.Cuda => "cuda",
        _ => k.ToString(),
    };

    private static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal))
                        return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
            // fall through to the architecture name
        }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }
}
