using Kernels.Nets.Data.Lits;

namespace Kernels.Nets.Models.AnatomicalAugmentation;

/// <summary>Annotated volumes from the LiTS phantom generator: liver = label ≥ 1, lesion
/// instances and their kinds (cyst, metastasis — hypo- or hyper-dense —, hemangioma) from the
/// phantom's lesion list.</summary>
public static class PhantomVolumes
{
    /// <summary>The phantom settings of the comparison: 96×96 slices (about 4 mm pixels) and 64
    /// slices (about 4 mm thick), so a ±k neighbour is k·4 mm away.</summary>
    public static PhantomOptions Default => new() { X = 96, Y = 96, Z = 64 };

    public static AnnotatedVolume FromPhantom(PhantomCase c)
    {
        var (nx, ny, nz) = c.Shape;
        int n = nx * ny * nz;
        var liver = new bool[n];
        var lesion = new int[n];
        for (int i = 0; i < n; i++)
        {
            liver[i] = c.Labels[i] >= 1;
            lesion[i] = c.LesionIds[i];
        }
        int count = c.Lesions.Count == 0 ? 0 : c.Lesions.Max(l => l.Id);
        var kinds = new int[count];
        // A lesion id the list does not name would have no kind: refuse it below (kind 0).
        foreach (var l in c.Lesions) kinds[l.Id - 1] = l.Class;
        return new AnnotatedVolume($"phantom-{c.Index}", nx, ny, nz, c.Volume, liver, lesion, kinds);
    }

    /// <summary>Cases first..first+count−1 of the seeded phantom set.</summary>
    public static List<AnnotatedVolume> Generate(PhantomOptions options, ulong seed, int first, int count, Action<string>? log = null)
    {
        var list = new List<AnnotatedVolume>(count);
        for (int i = first; i < first + count; i++)
        {
            var c = PhantomGenerator.Generate(options, seed, i);
            list.Add(FromPhantom(c));
            log?.Invoke($"  phantom case {i}: {c.Lesions.Count} lesions ({string.Join(", ", c.Lesions.Select(l => LesionClass.Names[l.Class]))})");
        }
        return list;
    }
}
