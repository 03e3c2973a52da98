namespace Kernels.Nets.Metrics.Lits;

/// <summary>3-D connected components with face connectivity (6 neighbours) by two-pass union-find.
/// Components are numbered 1, 2, … in the order of their first voxel with x slowest and z fastest
/// (lexicographic in (x, y, z)): the numbering the official scorer gets from scipy.ndimage.label
/// on the [x, y, z] arrays nibabel returns. It decides ties in the lesion merge and match, so the
/// evaluation shares it with the scorer (and with scripts/vectors/lits_eval.py).</summary>
public static class ConnectedComponents
{
    /// <summary>Labels the voxels where <paramref name="mask"/> is non-zero; writes 0 elsewhere.
    /// Returns the number of components.</summary>
    public static int Label(ReadOnlySpan<byte> mask, VolumeShape shape, Span<int> labels)
    {
        long n = shape.Voxels;
        if (mask.Length != n || labels.Length != n)
            throw new ArgumentException($"ConnectedComponents.Label: mask has {mask.Length} and labels {labels.Length} voxels, the shape {shape} has {n}");
        int sx = shape.X;
        long sxy = (long)shape.X * shape.Y;
        // Provisional labels point at their parent; index 0 unused.
        var parent = new List<int> { 0 };
        for (int z = 0, i = 0; z < shape.Z; z++)
        for (int y = 0; y < shape.Y; y++)
        for (int x = 0; x < shape.X; x++, i++)
        {
            if (mask[i] == 0)
            {
                labels[i] = 0;
                continue;
            }
            int l = 0;
            if (x > 0 && labels[i - 1] != 0) l = labels[i - 1];
            if (y > 0 && labels[i - sx] != 0) l = l == 0 ? labels[i - sx] : Union(parent, l, labels[i - sx]);
            if (z > 0 && labels[(int)(i - sxy)] != 0) l = l == 0 ? labels[(int)(i - sxy)] : Union(parent, l, labels[(int)(i - sxy)]);
            if (l == 0)
            {
                l = parent.Count;
                parent.Add(l);
            }
            labels[i] = l;
        }
        // Resolve every voxel to its root, and find each root's first voxel in (x, y, z) order.
        var firstKey = new long[parent.Count];
        Array.Fill(firstKey, long.MaxValue);
        long zy = (long)shape.Y * shape.Z;
        for (int z = 0, i = 0; z < shape.Z; z++)
        for (int y = 0; y < shape.Y; y++)
        for (int x = 0; x < shape.X; x++, i++)
        {
            int l = labels[i];
            if (l == 0) continue;
            int root = Find(parent, l);
            labels[i] = root;
            long key = x * zy + (long)y * shape.Z + z;
            if (key < firstKey[root]) firstKey[root] = key;
        }
        var roots = new List<int>();
        for (int l = 1; l < parent.Count; l++)
            if (parent[l] == l) roots.Add(l);
        roots.Sort((a, b) => firstKey[a].CompareTo(firstKey[b]));
        var final = new int[parent.Count];
        for (int k = 0; k < roots.Count; k++) final[roots[k]] = k + 1;
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] != 0) labels[i] = final[labels[i]];
        return roots.Count;
    }

    private static int Find(List<int> parent, int a)
    {
        int root = a;
        while (parent[root] != root) root = parent[root];
        while (parent[a] != root)
        {
            int next = parent[a];
            parent[a] = root;
            a = next;
        }
        return root;
    }

    private static int Union(List<int> parent, int a, int b)
    {
        int ra = Find(parent, a), rb = Find(parent, b);
        if (ra == rb) return ra;
        // Keep the smaller provisional label as the root (any choice is correct; this one is stable).
        if (ra < rb)
        {
            parent[rb] = ra;
            return ra;
        }
        parent[ra] = rb;
        return rb;
    }
}
