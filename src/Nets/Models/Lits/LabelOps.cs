namespace Kernels.Nets.Models.Lits;

/// <summary>Axis-aligned box [Start, Start + Size) in voxels, axes (D, H, W).</summary>
public readonly record struct Box3(int Z0, int Y0, int X0, int D, int H, int W)
{
    public bool IsEmpty => D <= 0 || H <= 0 || W <= 0;
    public int[] Size => [D, H, W];
    public long Voxels => (long)D * H * W;
}

/// <summary>Binary-mask and label-volume operations on host arrays in [D, H, W] order (D the
/// slowest, the axial slice index): connected components, the largest one, dilation, bounding
/// boxes, crops and pastes. Labels follow LiTS: 0 background, 1 liver, 2 tumour.</summary>
public static class LabelOps
{
    /// <summary>Labels the face-connected (6-neighbour) components of <paramref name="mask"/>:
    /// component ids 1..count in <c>ids</c> (0 outside the mask) and each one's voxel count
    /// (sizes[0] unused).</summary>
    public static (int[] Ids, List<long> Sizes) Components(bool[] mask, int[] dims)
    {
        CheckDims(mask.LongLength, dims, "Components");
        int d = dims[0], h = dims[1], w = dims[2];
        var ids = new int[mask.Length];
        var sizes = new List<long> { 0 };
        var stack = new Stack<int>();
        int hw = h * w;
        for (int start = 0; start < mask.Length; start++)
        {
            if (!mask[start] || ids[start] != 0) continue;
            int id = sizes.Count;
            long count = 0;
            ids[start] = id;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int i = stack.Pop();
                count++;
                int z = i / hw, r = i - z * hw, y = r / w, x = r - y * w;
                void Visit(int j)
                {
                    if (mask[j] && ids[j] == 0) { ids[j] = id; stack.Push(j); }
                }
                if (x > 0) Visit(i - 1);
                if (x < w - 1) Visit(i + 1);
                if (y > 0) Visit(i - w);
                if (y < h - 1) Visit(i + w);
                if (z > 0) Visit(i - hw);
                if (z < d - 1) Visit(i + hw);
            }
            sizes.Add(count);
        }
        return (ids, sizes);
    }

    /// <summary>The largest face-connected component of the mask (ties: the first found); an
    /// empty mask stays empty.</summary>
    public static bool[] LargestComponent(bool[] mask, int[] dims)
    {
        var (ids, sizes) = Components(mask, dims);
        var keep = new bool[mask.Length];
        if (sizes.Count <= 1) return keep;
        int best = 1;
        for (int k = 2; k < sizes.Count; k++) if (sizes[k] > sizes[best]) best = k;
        for (int i = 0; i < ids.Length; i++) keep[i] = ids[i] == best;
        return keep;
    }

    /// <summary>Dilation by <paramref name="iterations"/> steps of the 6-neighbour cross.</summary>
    public static bool[] Dilate(bool[] mask, int[] dims, int iterations)
    {
        CheckDims(mask.LongLength, dims, "Dilate");
        int d = dims[0], h = dims[1], w = dims[2], hw = h * w;
        var cur = (bool[])mask.Clone();
        for (int it = 0; it < iterations; it++)
        {
            var next = (bool[])cur.Clone();
            for (int i = 0; i < cur.Length; i++)
            {
                if (!cur[i]) continue;
                int z = i / hw, r = i - z * hw, y = r / w, x = r - y * w;
                if (x > 0) next[i - 1] = true;
                if (x < w - 1) next[i + 1] = true;
                if (y > 0) next[i - w] = true;
                if (y < h - 1) next[i + w] = true;
                if (z > 0) next[i - hw] = true;
                if (z < d - 1) next[i + hw] = true;
            }
            cur = next;
        }
        return cur;
    }

    /// <summary>The tight bounding box of the mask grown by <paramref name="margin"/> voxels per
    /// axis (D, H, W) and clipped to the volume; an empty box for an empty mask.</summary>
    public static Box3 BoundingBox(bool[] mask, int[] dims, int[] margin)
    {
        CheckDims(mask.LongLength, dims, "BoundingBox");
        int d = dims[0], h = dims[1], w = dims[2];
        int z0 = d, y0 = h, x0 = w, z1 = -1, y1 = -1, x1 = -1;
        for (int z = 0, i = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++, i++)
                    if (mask[i])
                    {
                        z0 = Math.Min(z0, z); z1 = Math.Max(z1, z);
                        y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                        x0 = Math.Min(x0, x); x1 = Math.Max(x1, x);
                    }
        if (z1 < 0) return new Box3(0, 0, 0, 0, 0, 0);
        z0 = Math.Max(0, z0 - margin[0]); y0 = Math.Max(0, y0 - margin[1]); x0 = Math.Max(0, x0 - margin[2]);
        z1 = Math.Min(d - 1, z1 + margin[0]); y1 = Math.Min(h - 1, y1 + margin[1]); x1 = Math.Min(w - 1, x1 + margin[2]);
        return new Box3(z0, y0, x0, z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1);
    }

    /// <summary>Copies the box out of a [C, D, H, W] array (C = values.Length / volume).</summary>
    public static T[] Crop<T>(T[] values, int[] dims, Box3 box)
    {
        long voxels = (long)dims[0] * dims[1] * dims[2];
        int channels = (int)(values.LongLength / voxels);
        var result = new T[channels * box.Voxels];
        for (int c = 0; c < channels; c++)
            for (int z = 0; z < box.D; z++)
                for (int y = 0; y < box.H; y++)
                    Array.Copy(values, c * voxels + ((long)(box.Z0 + z) * dims[1] + box.Y0 + y) * dims[2] + box.X0,
                        result, c * box.Voxels + ((long)z * box.H + y) * box.W, box.W);
        return result;
    }

    /// <summary>Writes a box-sized single-channel array back into a volume.</summary>
    public static void Paste<T>(T[] box, Box3 where, T[] volume, int[] dims)
    {
        for (int z = 0; z < where.D; z++)
            for (int y = 0; y < where.H; y++)
                Array.Copy(box, ((long)z * where.H + y) * where.W,
                    volume, ((long)(where.Z0 + z) * dims[1] + where.Y0 + y) * dims[2] + where.X0, where.W);
    }

    /// <summary>LiTS post-processing: keep only the largest connected component of the liver
    /// (label ≥ 1, tumours included, so a tumour on the liver's edge stays attached), and remove
    /// tumour voxels outside that component dilated by <paramref name="tumourDilation"/> steps of
    /// the 6-neighbour cross (a tumour touching the liver is part of the component already, so
    /// the dilation only matters from 2 up: it spares tumour voxels a voxel or so off the liver's
    /// surface, e.g. a lesion that bulges out of it). Returns a new label volume.</summary>
    public static byte[] PostProcess(byte[] labels, int[] dims, int tumourDilation = 2)
    {
        CheckDims(labels.LongLength, dims, "PostProcess");
        var organ = new bool[labels.Length];
        for (int i = 0; i < labels.Length; i++) organ[i] = labels[i] >= 1;
        var liver = LargestComponent(organ, dims);
        var allowed = tumourDilation > 0 ? Dilate(liver, dims, tumourDilation) : liver;
        var result = new byte[labels.Length];
        for (int i = 0; i < labels.Length; i++)
            result[i] = labels[i] switch
            {
                2 when allowed[i] => 2,
                >= 1 when liver[i] => 1,
                _ => 0,
            };
        return result;
    }

    /// <summary>Nearest-neighbour resize of a label volume (PyTorch's 'nearest' index rule).</summary>
    public static byte[] ResizeNearest(byte[] labels, int[] from, int[] to)
    {
        CheckDims(labels.LongLength, from, "ResizeNearest");
        var result = new byte[(long)to[0] * to[1] * to[2]];
        var zi = Index(from[0], to[0]);
        var yi = Index(from[1], to[1]);
        var xi = Index(from[2], to[2]);
        for (int z = 0, i = 0; z < to[0]; z++)
            for (int y = 0; y < to[1]; y++)
            {
                long row = ((long)zi[z] * from[1] + yi[y]) * from[2];
                for (int x = 0; x < to[2]; x++, i++) result[i] = labels[row + xi[x]];
            }
        return result;

        static int[] Index(int n, int m)
        {
            var idx = new int[m];
            for (int i = 0; i < m; i++) idx[i] = Math.Min(n - 1, (int)Math.Floor(i * (n / (double)m)));
            return idx;
        }
    }

    /// <summary>Dice of label ≥ <paramref name="label"/> (liver: 1 covers liver and tumour) or of
    /// exactly a label when <paramref name="exact"/>; 1 when both are empty.</summary>
    public static double Dice(byte[] pred, byte[] reference, int label, bool exact = false)
    {
        if (pred.Length != reference.Length)
            throw new ArgumentException($"Dice: prediction has {pred.Length} voxels, reference {reference.Length}");
        long inter = 0, p = 0, r = 0;
        for (int i = 0; i < pred.Length; i++)
        {
            bool a = exact ? pred[i] == label : pred[i] >= label, b = exact ? reference[i] == label : reference[i] >= label;
            if (a) p++;
            if (b) r++;
            if (a && b) inter++;
        }
        return p + r == 0 ? 1.0 : 2.0 * inter / (p + r);
    }

    private static void CheckDims(long length, int[] dims, string op)
    {
        if (dims.Length != 3 || (long)dims[0] * dims[1] * dims[2] != length)
            throw new ArgumentException($"{op}: dims {Shape.Format(dims)} do not describe {length} voxels (expected [D, H, W])");
    }
}
