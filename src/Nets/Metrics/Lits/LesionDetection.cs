namespace Kernels.Nets.Metrics.Lits;

/// <summary>Lesion components, their merge and match, the detection counts at overlap &gt; 0.5 and
/// &gt; 0, and the scores of the lesions detected at &gt; 0.5 (PAPERS.md section 7).
/// Predicted lesions: face-connected components of label 2. Reference lesions: the label-2 mask
/// dilated by the in-plane 4-neighbour cross (each axial slice on its own), labelled, and the
/// labels kept only on the label-2 voxels, so fragments close together in a slice are one lesion.
/// Everything runs on the box around all label-2 voxels, grown by one voxel in x and y.</summary>
internal static class LesionDetection
{
    public readonly record struct Result(int Predicted, int References, DetectionCounts AtHalf, DetectionCounts AboveZero,
        IReadOnlyList<DetectedLesion> Detected);

    public const double MinOverlap = 0.5;

    public static Result Run(byte[] p, byte[] r, VolumeShape shape, VoxelSpacing spacing, Bounds tumourBounds)
    {
        if (tumourBounds.IsEmpty) return new Result(0, 0, default, default, []);
        int x0 = Math.Max(0, tumourBounds.X0 - 1), x1 = Math.Min(shape.X - 1, tumourBounds.X1 + 1);
        int y0 = Math.Max(0, tumourBounds.Y0 - 1), y1 = Math.Min(shape.Y - 1, tumourBounds.Y1 + 1);
        var box = Box.FromBounds(x0, x1, y0, y1, tumourBounds.Z0, tumourBounds.Z1);
        var bs = new VolumeShape(box.Nx, box.Ny, box.Nz);
        int n = (int)bs.Voxels;
        var predMask = new byte[n];
        var refMask = new byte[n];
        var grown = new byte[n];
        for (int z = 0, i = 0; z < bs.Z; z++)
        for (int y = 0; y < bs.Y; y++)
        {
            long src = box.X0 + (long)shape.X * (box.Y0 + y + (long)shape.Y * (box.Z0 + z));
            for (int x = 0; x < bs.X; x++, i++)
            {
                predMask[i] = p[src + x] == 2 ? (byte)1 : (byte)0;
                if (r[src + x] != 2) continue;
                refMask[i] = 1;
                grown[i] = 1;
                if (x > 0) grown[i - 1] = 1;
                if (x + 1 < bs.X) grown[i + 1] = 1;
                if (y > 0) grown[i - bs.X] = 1;
                if (y + 1 < bs.Y) grown[i + bs.X] = 1;
            }
        }
        var predLabels = new int[n];
        var refLabels = new int[n];
        int nPred = ConnectedComponents.Label(predMask, bs, predLabels);
        int nRef = ConnectedComponents.Label(grown, bs, refLabels);
        var predSize = new long[nPred + 1];
        var refSize = new long[nRef + 1];
        var overlaps = new Dictionary<(int, int), long>();
        for (int i = 0; i < n; i++)
        {
            if (refMask[i] == 0) refLabels[i] = 0;
            int a = predLabels[i], b = refLabels[i];
            predSize[a]++;
            refSize[b]++;
            if (a != 0 && b != 0)
            {
                var key = (a, b);
                overlaps[key] = overlaps.GetValueOrDefault(key) + 1;
            }
        }

        var match = new LesionMatching(overlaps, predSize, refSize);
        var atHalf = match.Count(MinOverlap);
        var aboveZero = match.Count(0.0);
        var detected = new List<DetectedLesion>();
        if (atHalf.TruePositives > 0)
        {
            // Bounds of each detected group's merged prediction and reference, then each scored alone.
            var groupBounds = new Bounds[match.Groups];
            var isDetected = new bool[match.Groups];
            for (int g = 0; g < match.Groups; g++)
            {
                groupBounds[g] = Bounds.Empty;
                isDetected[g] = match.Detected(g, MinOverlap);
            }
            for (int z = 0, i = 0; z < bs.Z; z++)
            for (int y = 0; y < bs.Y; y++)
            for (int x = 0; x < bs.X; x++, i++)
            {
                int gp = predLabels[i] != 0 ? match.GroupOfPrediction[predLabels[i]] : -1;
                int gr = refLabels[i] != 0 ? match.GroupOfReference[refLabels[i]] : -1;
                if (gp >= 0 && isDetected[gp]) groupBounds[gp].Add(x, y, z);
                if (gr >= 0 && gr != gp && isDetected[gr]) groupBounds[gr].Add(x, y, z);
            }
            for (int g = 0; g < match.Groups; g++)
            {
                if (!isDetected[g]) continue;
                var gb = groupBounds[g].ToBox();
                var padded = gb.Padded;
                var mp = new byte[padded.Voxels];
                var mr = new byte[padded.Voxels];
                for (int z = 0; z < gb.Nz; z++)
                for (int y = 0; y < gb.Ny; y++)
                {
                    int src = gb.X0 + bs.X * (gb.Y0 + y + bs.Y * (gb.Z0 + z));
                    int dst = 1 + padded.X * (y + 1 + padded.Y * (z + 1));
                    for (int x = 0; x < gb.Nx; x++)
                    {
                        int lp = predLabels[src + x], lr = refLabels[src + x];
                        mp[dst + x] = lp != 0 && match.GroupOfPrediction[lp] == g ? (byte)1 : (byte)0;
                        mr[dst + x] = lr != 0 && match.GroupOfReference[lr] == g ? (byte)1 : (byte)0;
                    }
                }
                detected.Add(new DetectedLesion(match.ReferencesIn(g), match.PredictionsIn(g), PairScoring.Score(mp, mr, padded, spacing)));
            }
        }
        return new Result(nPred, nRef, atHalf, aboveZero, detected);
    }
}
