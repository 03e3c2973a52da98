using Kernels.Nets.Data.Lits;

namespace Kernels.Nets.Models.AnatomicalAugmentation;

/// <summary>An axial slice chosen as the one annotated slice of some lesions (usually one; two
/// lesions whose largest cross-sections fall on the same slice share it).</summary>
public sealed record LabelledSlice(int Z, IReadOnlyList<int> LesionIds);

/// <summary>One 2-D training or evaluation example: the HU-windowed image of slice
/// <see cref="Z"/> and a target mask. For a labelled slice (<see cref="Offset"/> 0) the mask is
/// the slice's true class map; for an anatomical-augmentation neighbour it is the mask of the
/// labelled slice <see cref="SourceZ"/> (the method: the neighbour's own truth is not used).
/// Arrays are Size×Size, row-major.</summary>
public sealed class SliceExample
{
    public required string VolumeId { get; init; }
    public required int Z { get; init; }
    public required int SourceZ { get; init; }
    public int Offset => Z - SourceZ;
    public required int Size { get; init; }
    /// <summary>HU window mapped to [0, 1].</summary>
    public required float[] Image { get; init; }
    /// <summary>Target class per pixel (<see cref="PixelClass"/>; Ignore outside the liver).</summary>
    public required int[] Mask { get; init; }
    /// <summary>Lesion ids per pixel of the slice the mask comes from (the source slice).</summary>
    public required int[] Lesions { get; init; }
    /// <summary>(id, kind) of the lesions annotated on this slice, scored by the success rate;
    /// empty for neighbours.</summary>
    public required IReadOnlyList<(int Id, int Kind)> Scored { get; init; }
}

/// <summary>Where the Size×Size window of a volume's slices lies: its top-left corner in the
/// slice (may be negative or run past the edge: those pixels are air, outside the liver).</summary>
public readonly record struct SliceWindow(int X0, int Y0, int Size);

/// <summary>The sparse annotation of PAPERS.md section 8 and its anatomical augmentation.
/// Each lesion gets exactly one labelled axial slice, the one of its largest cross-section (the
/// lowest such z on a tie); the slice's full true class map is its mask. With k neighbours, every
/// slice within ±k of a labelled slice (and inside the volume) becomes an extra example whose
/// image is its own and whose mask is the labelled slice's. A slice near several labelled slices
/// appears once, with the nearest one's mask (the lower one on a tie); a labelled slice always
/// keeps its own mask.</summary>
public static class SparseAnnotation
{
    public const float DefaultWindowLow = (float)Intensity.WindowLow, DefaultWindowHigh = (float)Intensity.WindowHigh;

    /// <summary>One slice per lesion (lesions with no voxel get none), sorted by z.</summary>
    public static IReadOnlyList<LabelledSlice> ChooseLabelledSlices(AnnotatedVolume v)
    {
        var area = v.LesionAreas();
        var byZ = new SortedDictionary<int, List<int>>();
        for (int l = 0; l < area.Length; l++)
        {
            int best = -1, bestArea = 0;
            for (int z = 0; z < v.Depth; z++)
                if (area[l][z] > bestArea)
                {
                    bestArea = area[l][z];
                    best = z;
                }
            if (best < 0) continue;
            if (!byZ.TryGetValue(best, out var ids)) byZ[best] = ids = [];
            ids.Add(l + 1);
        }
        return byZ.Select(kv => new LabelledSlice(kv.Key, kv.Value)).ToList();
    }

    /// <summary>For each slice z, the labelled slice whose mask it takes, or −1 when it is more
    /// than <paramref name="neighbours"/> slices from every labelled slice.</summary>
    public static int[] SourceOfEachSlice(int depth, IReadOnlyList<int> labelledZ, int neighbours)
    {
        if (neighbours < 0) throw new ArgumentException($"the number of neighbours per side must be 0 or more, got {neighbours}");
        var source = new int[depth];
        for (int z = 0; z < depth; z++)
        {
            int best = -1, bestD = int.MaxValue;
            foreach (int lz in labelledZ)
            {
                int d = Math.Abs(z - lz);
                if (d < bestD || (d == bestD && lz < best))
                {
                    bestD = d;
                    best = lz;
                }
            }
            source[z] = bestD <= neighbours ? best : -1;
        }
        return source;
    }

    /// <summary>A Size×Size window centred on the liver's in-plane bounding box (over all
    /// slices), or on the slice centre when the volume has no liver.</summary>
    public static SliceWindow CentreOnLiver(AnnotatedVolume v, int size)
    {
        if (size <= 0) throw new ArgumentException($"the slice size must be positive, got {size}");
        int x0 = int.MaxValue, x1 = -1, y0 = int.MaxValue, y1 = -1;
        for (int z = 0; z < v.Depth; z++)
            for (int y = 0; y < v.Height; y++)
            {
                int o = (z * v.Height + y) * v.Width;
                for (int x = 0; x < v.Width; x++)
                    if (v.Liver[o + x] || v.Lesion[o + x] > 0)
                    {
                        x0 = Math.Min(x0, x);
                        x1 = Math.Max(x1, x);
                        y0 = Math.Min(y0, y);
                        y1 = Math.Max(y1, y);
                    }
            }
        int cx = x1 < 0 ? v.Width / 2 : (x0 + x1 + 1) / 2, cy = y1 < 0 ? v.Height / 2 : (y0 + y1 + 1) / 2;
        return new SliceWindow(cx - size / 2, cy - size / 2, size);
    }

    /// <summary>The examples of one volume: its labelled slices plus, with
    /// <paramref name="neighbours"/> = k &gt; 0, the anatomical-augmentation neighbours.</summary>
    public static List<SliceExample> Build(AnnotatedVolume v, int neighbours, SliceWindow window,
        float windowLow = DefaultWindowLow, float windowHigh = DefaultWindowHigh)
    {
        if (!(windowHigh > windowLow)) throw new ArgumentException($"the HU window [{windowLow}, {windowHigh}] is empty");
        var labelled = ChooseLabelledSlices(v);
        var scoredAt = labelled.ToDictionary(s => s.Z, s => s.LesionIds);
        var source = SourceOfEachSlice(v.Depth, labelled.Select(s => s.Z).ToList(), neighbours);
        var masks = new Dictionary<int, (int[] Mask, int[] Lesions)>();
        var examples = new List<SliceExample>();
        for (int z = 0; z < v.Depth; z++)
        {
            int s = source[z];
            if (s < 0) continue;
            if (!masks.TryGetValue(s, out var m))
                masks[s] = m = (Cut(v.SliceClasses(s), v, window, PixelClass.Ignore), Cut(v.SliceLesions(s), v, window, 0));
            examples.Add(new SliceExample
            {
                VolumeId = v.Id, Z = z, SourceZ = s, Size = window.Size,
                Image = WindowedImage(v, z, window, windowLow, windowHigh),
                Mask = m.Mask, Lesions = m.Lesions,
                Scored = z == s ? scoredAt[z].Select(id => (id, v.LesionKinds[id - 1])).ToList() : [],
            });
        }
        return examples;
    }

    /// <summary>Slice z's HU values in the window, clamped to [low, high] and mapped to [0, 1]
    /// (the LiTS preprocessing's <see cref="Intensity.Window"/>); pixels outside the volume read
    /// as air (0).</summary>
    public static float[] WindowedImage(AnnotatedVolume v, int z, SliceWindow w, float low, float high)
    {
        var img = new float[w.Size * w.Size];
        int o = z * v.SliceSize;
        for (int y = 0; y < w.Size; y++)
        {
            int sy = w.Y0 + y;
            for (int x = 0; x < w.Size; x++)
            {
                int sx = w.X0 + x;
                img[y * w.Size + x] = (uint)sy < (uint)v.Height && (uint)sx < (uint)v.Width ? v.Hu[o + sy * v.Width + sx] : -1000f;
            }
        }
        Intensity.Window(img, low, high);
        return img;
    }

    private static int[] Cut(int[] slice, AnnotatedVolume v, SliceWindow w, int outside)
    {
        var r = new int[w.Size * w.Size];
        for (int y = 0; y < w.Size; y++)
        {
            int sy = w.Y0 + y;
            for (int x = 0; x < w.Size; x++)
            {
                int sx = w.X0 + x;
                r[y * w.Size + x] = (uint)sy < (uint)v.Height && (uint)sx < (uint)v.Width ? slice[sy * v.Width + sx] : outside;
            }
        }
        return r;
    }
}
