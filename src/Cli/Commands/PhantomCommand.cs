using System.CommandLine;
using System.Globalization;
using Kernels.Nets.Data.Lits;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels phantom --out DIR [--cases N] [--seed S] [--size X,Y,Z]`: writes seeded
/// LiTS-like phantom cases (volume-N.nii in HU as int16, segmentation-N.nii as uint8 with 0
/// background, 1 liver, 2 lesion) with a line per case.</summary>
public static class PhantomCommand
{
    public static Command Create(CliContext cli)
    {
        var d = new PhantomOptions();
        var outDir = new Option<string>("--out") { Description = "Folder to write volume-N.nii and segmentation-N.nii into (created if missing)", Required = true };
        var cases = new Option<int>("--cases") { Description = "Number of cases (numbered from 0)", DefaultValueFactory = _ => 8 };
        var size = new Option<string>("--size") { Description = "Grid X,Y,Z in voxels", DefaultValueFactory = _ => $"{d.X},{d.Y},{d.Z}", HelpName = "X,Y,Z" };
        var spacing = new Option<string?>("--spacing") { Description = "Fixed voxel spacing in mm, X,Y,Z (default: drawn per case from a 340-420 mm field of view and 230-290 mm z coverage)", HelpName = "X,Y,Z" };
        var gz = new Option<bool>("--gz") { Description = "Write .nii.gz instead of .nii" };
        var classes = new Option<bool>("--lesion-classes") { Description = "Also write lesion-classes-N.nii (0 none, 1 cyst, 2 metastasis, 3 hemangioma)" };
        var cmd = new Command("phantom", "Write seeded LiTS-like phantom CT cases (body, liver, vessels, lesions of four kinds) in the LiTS layout")
        {
            outDir, cases, size, spacing, gz, classes,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            int n = parse.GetValue(cases);
            if (n < 1) throw new ArgumentException($"--cases {n}: need at least 1");
            var s = ParseTriple(parse.GetValue(size)!, "--size", int.Parse);
            var o = new PhantomOptions { X = s[0], Y = s[1], Z = s[2] };
            if (parse.GetValue(spacing) is { } sp)
            {
                var v = ParseTriple(sp, "--spacing", t => double.Parse(t, CultureInfo.InvariantCulture));
                o = o with { Spacing = (v[0], v[1], v[2]) };
            }
            o.Validate();
            var dir = parse.GetValue(outDir)!;
            ulong seed = run.Seed ?? 1;
            PhantomGenerator.WriteSet(dir, n, seed, o, parse.GetValue(gz), parse.GetValue(classes), line => cli.Out.MarkupLine(Markup.Escape(line)));
            cli.Out.MarkupLine(Markup.Escape($"wrote {n} cases (seed {seed}) to {dir}"));
            return Program.ExitOk;
        });
        return cmd;
    }

    private static T[] ParseTriple<T>(string text, string option, Func<string, T> parse)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 3) throw new ArgumentException($"{option} {text}: give three comma-separated values X,Y,Z");
        try
        {
            return parts.Select(p => parse(p)).ToArray();
        }
        catch (FormatException)
        {
            throw new ArgumentException($"{option} {text}: not three numbers X,Y,Z");
        }
        catch (OverflowException)
        {
            throw new ArgumentException($"{option} {text}: a value is out of range");
        }
    }
}
