using System.CommandLine;
using System.Globalization;
using Kernels.Nets.IO;
using Kernels.Nets.Metrics.Lits;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels eval lits --pred DIR --ref DIR [--json FILE]`: the LiTS evaluation (PAPERS.md
/// section 7) of segmentation-N.nii[.gz] predictions against the references of the same names.
/// Prints a line per case as it is scored, the per-case table and the LiTS summary table; with
/// --json writes the JSON schema. A missing or extra file, or a pair whose shapes or
/// spacings differ, is an error naming the files (exit 2).</summary>
public static class EvalLits
{
    public static Command Create(CliContext cli)
    {
        var pred = new Option<string>("--pred") { Description = "Folder of predicted segmentation-N.nii[.gz] (labels 0 background, 1 liver, 2 tumour)", Required = true };
        var reference = new Option<string>("--ref") { Description = "Folder of reference segmentation-N.nii[.gz] (the same case numbers)", Required = true };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file" };
        var cmd = new Command("lits", "Score liver and tumour segmentations with the LiTS rules: Dice, lesion detection, surface distances, tumour burden")
        {
            pred, reference, json,
        };
        cmd.SetAction(parse =>
        {
            cli.Prepare(parse);
            var jsonPath = parse.GetValue(json);
            if (jsonPath is not null)
            {
                var dir = Path.GetDirectoryName(Path.GetFullPath(jsonPath));
                if (dir is not null && !Directory.Exists(dir))
                    throw new DirectoryNotFoundException($"--json {jsonPath}: folder {dir} does not exist");
            }
            var report = LitsFolderEvaluation.Evaluate(parse.GetValue(pred)!, parse.GetValue(reference)!,
                (pair, c) => cli.Out.MarkupLine(Markup.Escape(F(
                    $"case {c.Id}: liver Dice {c.Liver.Dice:0.0000}, lesion Dice {c.LesionDice:0.0000}, lesions ref {c.ReferenceLesions} pred {c.PredictedLesions} (TP {c.Detection.TruePositives} FP {c.Detection.FalsePositives} FN {c.Detection.FalseNegatives})"))),
                warning => cli.Err.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}"));
            Print(cli.Out, report);
            if (jsonPath is not null)
            {
                AtomicFile.WriteAllText(jsonPath, LitsJson.Serialize(report));
                cli.Out.MarkupLine(Markup.Escape($"wrote {jsonPath}"));
            }
            return Program.ExitOk;
        });
        return cmd;
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static string N(double v) => v == SegmentationScores.Large ? "9001" : v.ToString("0.0000", CultureInfo.InvariantCulture);

    private static void Print(IAnsiConsole console, LitsReport report)
    {
        var cases = new Table().Title("LiTS per case");
        foreach (var h in new[] { "case", "liver Dice", "Jaccard", "VOE", "RVD", "ASSD", "RMSD", "MSD", "lesion Dice", "burden ref", "burden pred", "ref / pred lesions", "TP / FP / FN" })
            cases.AddColumn(new TableColumn(h).RightAligned());
        foreach (var c in report.Cases)
        {
            var l = c.Liver;
            cases.AddRow(c.Id, N(l.Dice), N(l.Jaccard), N(l.Voe), N(l.Rvd), N(l.Assd), N(l.Rmsd), N(l.Msd), N(c.LesionDice),
                N(c.TumorBurdenReference), N(c.TumorBurdenPrediction), $"{c.ReferenceLesions} / {c.PredictedLesions}",
                $"{c.Detection.TruePositives} / {c.Detection.FalsePositives} / {c.Detection.FalseNegatives}");
        }
        console.Write(cases);

        var s = report.Summary;
        var summary = new Table().Title($"LiTS summary ({report.Cases.Count} cases, {s.DetectedLesions} lesions detected at overlap > 0.5)");
        foreach (var h in new[] { "", "Dice per case", "Dice global", "Jaccard", "VOE", "RVD", "ASSD", "RMSD", "MSD" })
            summary.AddColumn(new TableColumn(h).RightAligned());
        var les = s.LesionMeans;
        summary.AddRow("lesion (detected)", N(s.LesionDicePerCase), N(s.LesionDiceGlobal), N(les.Jaccard), N(les.Voe), N(les.Rvd), N(les.Assd), N(les.Rmsd), N(les.Msd));
        var liv = s.LiverMeans;
        summary.AddRow("liver (per case)", N(s.LiverDicePerCase), N(s.LiverDiceGlobal), N(liv.Jaccard), N(liv.Voe), N(liv.Rvd), N(liv.Assd), N(liv.Rmsd), N(liv.Msd));
        console.Write(summary);

        var det = new Table().Title("Lesion detection and tumour burden");
        foreach (var h in new[] { "", "precision", "recall", "TP", "FP", "FN" }) det.AddColumn(new TableColumn(h).RightAligned());
        det.AddRow("overlap > 0.5", N(s.Precision), N(s.Recall), $"{s.Detection.TruePositives}", $"{s.Detection.FalsePositives}", $"{s.Detection.FalseNegatives}");
        det.AddRow("overlap > 0", N(s.PrecisionAboveZero), N(s.RecallAboveZero), $"{s.DetectionAboveZero.TruePositives}", $"{s.DetectionAboveZero.FalsePositives}", $"{s.DetectionAboveZero.FalseNegatives}");
        console.Write(det);
        console.MarkupLine(Markup.Escape(F($"tumour burden: RMSE {s.TumorBurdenRmse:0.0000}, max error (reference − prediction) {s.TumorBurdenMaxError:0.0000}")));
    }
}
