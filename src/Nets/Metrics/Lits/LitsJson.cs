using System.Text;
using System.Text.Json;

namespace Kernels.Nets.Metrics.Lits;

/// <summary>The report as the JSON of issue 5, exactly these keys:
/// {"cases": [{"id", "liver": {dice, jaccard, voe, rvd, assd, rmsd, msd}, "lesion": {dice},
/// "tumor_burden": {ref, pred}}], "summary": {lesion_dice_per_case, lesion_dice_global,
/// liver_dice_per_case, liver_dice_global, "detection": {precision, recall, precision_greater_zero,
/// recall_greater_zero}, lesion_jaccard, lesion_voe, lesion_rvd, lesion_assd, lesion_rmsd,
/// lesion_msd, tumor_burden_rmse, tumor_burden_max_error}} (lesion_* are means over the lesions
/// detected at overlap &gt; 0.5). Numbers are written in full (round-trip) precision.</summary>
public static class LitsJson
{
    public static string Serialize(LitsReport report)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("cases");
            foreach (var c in report.Cases)
            {
                w.WriteStartObject();
                w.WriteString("id", c.Id);
                w.WriteStartObject("liver");
                Scores(w, c.Liver);
                w.WriteEndObject();
                w.WriteStartObject("lesion");
                Number(w, "dice", c.LesionDice);
                w.WriteEndObject();
                w.WriteStartObject("tumor_burden");
                Number(w, "ref", c.TumorBurdenReference);
                Number(w, "pred", c.TumorBurdenPrediction);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            var s = report.Summary;
            w.WriteStartObject("summary");
            Number(w, "lesion_dice_per_case", s.LesionDicePerCase);
            Number(w, "lesion_dice_global", s.LesionDiceGlobal);
            Number(w, "liver_dice_per_case", s.LiverDicePerCase);
            Number(w, "liver_dice_global", s.LiverDiceGlobal);
            w.WriteStartObject("detection");
            Number(w, "precision", s.Precision);
            Number(w, "recall", s.Recall);
            Number(w, "precision_greater_zero", s.PrecisionAboveZero);
            Number(w, "recall_greater_zero", s.RecallAboveZero);
            w.WriteEndObject();
            Number(w, "lesion_jaccard", s.LesionMeans.Jaccard);
            Number(w, "lesion_voe", s.LesionMeans.Voe);
            Number(w, "lesion_rvd", s.LesionMeans.Rvd);
            Number(w, "lesion_assd", s.LesionMeans.Assd);
            Number(w, "lesion_rmsd", s.LesionMeans.Rmsd);
            Number(w, "lesion_msd", s.LesionMeans.Msd);
            Number(w, "tumor_burden_rmse", s.TumorBurdenRmse);
            Number(w, "tumor_burden_max_error", s.TumorBurdenMaxError);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static void Scores(Utf8JsonWriter w, SegmentationScores s)
    {
        Number(w, "dice", s.Dice);
        Number(w, "jaccard", s.Jaccard);
        Number(w, "voe", s.Voe);
        Number(w, "rvd", s.Rvd);
        Number(w, "assd", s.Assd);
        Number(w, "rmsd", s.Rmsd);
        Number(w, "msd", s.Msd);
    }

    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        // Every figure is finite by construction; a NaN would be a bug, and JSON has no NaN.
        if (!double.IsFinite(v)) throw new InvalidOperationException($"LiTS JSON: {name} is {v}");
        w.WriteNumber(name, v);
    }
}
