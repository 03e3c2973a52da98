"""Reference values for ZeroShotEvaluation (src/Nets/Metrics/ZeroShotEvaluation.cs), written
with numpy from PAPERS.md sections 1 and 4 (no sklearn, no code from the reference repositories):

- ZSL: only the unseen columns; label-wise mAP over them (every image; a class without a positive
  counts 0); F1@3 / F1@5 from each image's top-k AMONG the unseen columns, pooled over the images
  that have at least one unseen positive (the default protocol) or over all images.
- GZSL: the same over all columns (seen and unseen compete for the top-k).
- AP ties: a group of equal scores is one step (as scripts/vectors/metrics.py); top-k ties: the
  lower class index first. Targets 1 / 0 only (zero-shot test sets are fully labelled).

Each case stores scores, targets, the unseen columns and two rows of 8 numbers
[mAP, P@3, R@3, F1@3, P@5, R@5, F1@5, images in top-k] for ZSL and GZSL, in each protocol.
"""
import numpy as np
import torch
from common import save

rng = np.random.default_rng(2105)


def class_ap(s, y):
    total = int((y == 1).sum())
    if total == 0:
        return 0.0
    ap = 0.0
    ranked = hits = 0
    for v in np.unique(s)[::-1]:
        g = s == v
        ranked += int(g.sum())
        gh = int((y[g] == 1).sum())
        hits += gh
        ap += gh * hits / ranked
    return ap / total


def ratio(a, b):
    return a / b if b > 0 else 0.0


def harmonic(p, r):
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def top_k(S, Y, k):
    hits = preds = positives = 0
    for i in range(S.shape[0]):
        cols = np.arange(S.shape[1])
        positives += int((Y[i] == 1).sum())
        order = cols[np.lexsort((cols, -S[i]))][:k]
        preds += len(order)
        hits += int((Y[i, order] == 1).sum())
    p, r = ratio(hits, preds), ratio(hits, positives)
    return [100 * p, 100 * r, 100 * harmonic(p, r)]


def figures(S, Y, all_images):
    m = 100 * np.mean([class_ap(S[:, c], Y[:, c]) for c in range(S.shape[1])])
    keep = np.ones(S.shape[0], bool) if all_images else (Y == 1).any(axis=1)
    Sk, Yk = S[keep], Y[keep]
    if keep.sum() == 0:
        return [m, 0, 0, 0, 0, 0, 0, 0]
    return [m] + top_k(Sk, Yk, 3) + top_k(Sk, Yk, 5) + [int(keep.sum())]


out = {}


def case(tag, S, Y, unseen):
    S = S.astype(np.float32)
    Y = Y.astype(np.float32)
    out[f"{tag}.scores"] = torch.tensor(S)
    out[f"{tag}.targets"] = torch.tensor(Y)
    out[f"{tag}.unseen"] = torch.tensor(np.asarray(unseen, dtype=np.int32))
    Su, Yu = S[:, unseen], Y[:, unseen]
    for name, flag in (("filtered", False), ("all", True)):
        out[f"{tag}.{name}.zsl"] = torch.tensor(np.asarray(figures(Su, Yu, flag), dtype=np.float64))
        out[f"{tag}.{name}.gzsl"] = torch.tensor(np.asarray(figures(S, Y, flag), dtype=np.float64))


# 1. Sparse labels, informative scores: many images without an unseen label.
n, c = 61, 12
Y = (rng.random((n, c)) < 0.18).astype(np.float64)
S = rng.normal(size=(n, c)) + 1.0 * Y
case("sparse", S, Y, [2, 5, 9, 11])

# 2. Ties on a coarse grid, unseen columns out of order, more unseen than 5.
n, c = 33, 10
Y = (rng.random((n, c)) < 0.3).astype(np.float64)
S = np.round(2 * rng.random((n, c)) + Y) / 4
case("ties", S, Y, [8, 1, 6, 3, 0, 4])

# 3. Some images with no label at all (all-negative rows), one unseen class never positive.
n, c = 20, 7
Y = (rng.random((n, c)) < 0.25).astype(np.float64)
Y[:5] = 0
Y[:, 6] = 0
S = rng.random((n, c)) + 0.4 * Y
case("empty", S, Y, [3, 6])

save("zero_shot_metrics", out, {"generator": "scripts/vectors/zero_shot_metrics.py"})
