using System.CommandLine;
using System.Diagnostics;
using Kernels.Nets.Data.Nifti;
using Kernels.Nets.Models.Lits;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels segment --checkpoint FILE --volume IN.nii[.gz] --out OUT.nii.gz`: segments a
/// CT volume (HU) with a `kernels train unet*` checkpoint (sliding window, the cascade when the
/// checkpoint holds one, post-processing) and writes labels 0/1/2 as uint8 with the input's
/// shape, spacing and affine. A checkpoint that records its training spacing gets the volume
/// resampled to it (trilinear) and the labels resampled back (nearest).</summary>
public static class SegmentCommand
{
    public static Command Create(CliContext cli)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "checkpoint.safetensors written by `kernels train unet3d|unet2d|unet25d`", Required = true };
        var volume = new Option<string>("--volume") { Description = "Input CT volume (.nii or .nii.gz, HU)", Required = true };
        var output = new Option<string>("--out") { Description = "Output label volume (.nii or .nii.gz)", Required = true };
        var cmd = new Command("segment", "Segment liver and tumours in a CT volume with a trained U-Net") { checkpoint, volume, output };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            var ckPath = parse.GetValue(checkpoint)!;
            var inPath = parse.GetValue(volume)!;
            var outPath = parse.GetValue(output)!;
            if (!File.Exists(inPath)) throw new FileNotFoundException($"--volume {inPath}: no such file");
            var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(outDir)) throw new DirectoryNotFoundException($"--out {outPath}: the folder {outDir} does not exist");
            if (!(outPath.EndsWith(".nii", StringComparison.Ordinal) || outPath.EndsWith(".nii.gz", StringComparison.Ordinal)))
                throw new ArgumentException($"--out {outPath}: the name must end in .nii or .nii.gz");
            using var model = LoadedSegmenter.Load(ckPath, run.Device);
            var image = NiftiReader.Read(inPath);
            var (x, y, z) = image.Shape;
            var sw = Stopwatch.StartNew();
            // Brought to the model's training spacing and back when it has one: the output keeps the input's grid.
            var labels = model.SegmentImage(image, line => cli.Out.MarkupLine(Markup.Escape(line)));
            NiftiWriter.WriteLike(outPath, image, labels, NiftiDataType.UInt8);
            long liver = labels.LongCount(l => l >= 1), tumour = labels.LongCount(l => l == 2);
            cli.Out.MarkupLine(Markup.Escape($"segmented {inPath} ({x}×{y}×{z}) with a {model.Kind} in {sw.Elapsed.TotalSeconds:0.0} s: " +
                $"{liver} liver voxels, {tumour} tumour voxels; wrote {outPath}"));
            return Program.ExitOk;
        });
        return cmd;
    }
}
