"""Reference values for the multi-label metrics (src/Nets/Metrics/MultiLabelMetrics.cs), written
with numpy from the definitions in PAPERS.md section 1 (no sklearn):

- AP of a class: rank its known entries (target != -1) by score, descending; AP = sum over the
  positive ranks i of precision@i, divided by the number of positives; 0 with no positive.
  Ties: a group of equal scores is one step; each of its positives gets the precision at the end
  of the group. Without ties this is the plain per-rank formula (checked below against a direct
  cumulative-sum version of it).
- mAP = 100 * mean over all classes; also the mean over classes with a positive.
- At a threshold (score >= thr): CP, CR averaged over classes (0/0 -> 0), CF1 = harmonic(CP, CR),
  OP, OR, OF1 pooled; mean of per-class F1.
- Top-k: each image predicts its k best known classes (ties: lower class index first); pooled
  precision = hits / predictions, recall = hits / positives.
- ZSL: the same on the unseen columns only; GZSL: on all columns.
"""
import numpy as np
import torch
from common import save

rng = np.random.default_rng(44)


def class_ap(s, y):
    keep = y >= 0
    s, y = s[keep], y[keep]
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


def class_ap_no_ties(s, y):
    """The per-rank formula directly: valid only when the known scores are all distinct."""
    keep = y >= 0
    s, y = s[keep], y[keep]
    order = np.argsort(-s, kind="stable")
    pos = (y[order] == 1).astype(np.float64)
    if pos.sum() == 0:
        return 0.0
    prec = np.cumsum(pos) / np.arange(1, len(pos) + 1)
    return float((prec * pos).sum() / pos.sum())


def mean_ap(S, Y):
    ap = np.array([class_ap(S[:, c], Y[:, c]) for c in range(S.shape[1])])
    npos = (Y == 1).sum(axis=0)
    with_pos = ap[npos > 0]
    return ap, 100 * ap.mean(), (100 * with_pos.mean() if len(with_pos) else float("nan"))


def ratio(a, b):
    return a / b if b > 0 else 0.0


def harmonic(p, r):
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def at_threshold(S, Y, thr):
    known = Y >= 0
    pred = (S >= thr) & known
    y = (Y == 1)
    tp = (pred & y).sum(axis=0)
    npred = pred.sum(axis=0)
    npos = y.sum(axis=0)
    pc = np.array([ratio(a, b) for a, b in zip(tp, npred)])
    rc = np.array([ratio(a, b) for a, b in zip(tp, npos)])
    cp, cr = pc.mean(), rc.mean()
    op, orr = ratio(tp.sum(), npred.sum()), ratio(tp.sum(), npos.sum())
    f1c = np.array([harmonic(p, r) for p, r in zip(pc, rc)]).mean()
    return [100 * cp, 100 * cr, 100 * harmonic(cp, cr), 100 * op, 100 * orr, 100 * harmonic(op, orr), 100 * f1c,
            tp.sum(), npred.sum(), npos.sum()]


def top_k(S, Y, k):
    hits = preds = positives = 0
    for i in range(S.shape[0]):
        cols = np.nonzero(Y[i] >= 0)[0]
        positives += int((Y[i] == 1).sum())
        # lexsort: last key primary; descending score, then ascending class index.
        order = cols[np.lexsort((cols, -S[i, cols]))][:k]
        preds += len(order)
        hits += int((Y[i, order] == 1).sum())
    p, r = ratio(hits, preds), ratio(hits, positives)
    return [100 * p, 100 * r, 100 * harmonic(p, r), hits, preds, positives]


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def t32(a):
    return torch.tensor(np.asarray(a, dtype=np.float32))


out = {}


def case(tag, S, Y, thr, unseen):
    S = S.astype(np.float32)
    Y = Y.astype(np.float32)
    ap, m, mpos = mean_ap(S, Y)
    out[f"{tag}.scores"] = t32(S)
    out[f"{tag}.targets"] = t32(Y)
    out[f"{tag}.threshold"] = t64([thr])
    out[f"{tag}.ap"] = t64(ap)
    out[f"{tag}.map"] = t64([m, mpos])
    out[f"{tag}.thr"] = t64(at_threshold(S, Y, thr))
    out[f"{tag}.top3"] = t64(top_k(S, Y, 3))
    out[f"{tag}.top5"] = t64(top_k(S, Y, 5))
    out[f"{tag}.unseen"] = torch.tensor(np.asarray(unseen, dtype=np.int32))
    Su, Yu = S[:, unseen], Y[:, unseen]
    _, zm, zmpos = mean_ap(Su, Yu)
    out[f"{tag}.zsl"] = t64([zm, zmpos] + top_k(Su, Yu, 3)[:3] + top_k(Su, Yu, 5)[:3])
    out[f"{tag}.gzsl"] = t64([m, mpos] + top_k(S, Y, 3)[:3] + top_k(S, Y, 5)[:3])
    return ap


# 1. Continuous scores (no ties), sparse positives, a class with no positive, some unknowns.
n, c = 57, 9
S = rng.normal(size=(n, c))
Y = (rng.random((n, c)) < 0.25).astype(np.float64)
S += 1.2 * Y  # informative but imperfect
Y[:, 4] = 0  # class 4: no positive
Y[rng.random((n, c)) < 0.1] = -1
ap = case("plain", 1 / (1 + np.exp(-S)), Y, 0.5, [1, 4, 6, 7])
S32 = (1 / (1 + np.exp(-S))).astype(np.float32)
for k in range(c):
    assert abs(ap[k] - class_ap_no_ties(S32[:, k], Y[:, k])) < 1e-12, k

# 2. Heavy ties: scores on a coarse grid, logits threshold 0.
n, c = 40, 6
Y = (rng.random((n, c)) < 0.35).astype(np.float64)
S = np.round(rng.normal(size=(n, c)) + Y, 0) / 2
Y[rng.random((n, c)) < 0.08] = -1
case("ties", S, Y, 0.0, [0, 2, 5])

# 3. Many classes with few images (top-k saturates, some rows with < 5 known classes).
n, c = 7, 13
Y = (rng.random((n, c)) < 0.2).astype(np.float64)
Y[0, :] = -1
Y[0, 3] = 1
Y[0, 8] = 0  # image 0 has only two known classes
S = rng.random((n, c)) + 0.5 * Y
case("wide", S, Y, 0.6, list(range(6, 13)))

save("metrics", out, {"generator": "scripts/vectors/metrics.py"})
