"""Independent reference for the LiTS evaluation (src/Nets/Metrics/Lits/), written with numpy and
scipy.ndimage straight from PAPERS.md section 7 (the official scorer's later revision, with the
corrections PAPERS.md lists). It draws random label volumes with a fixed seed, scores them, and
writes tests/Vectors/lits_eval/set<seed>.bin.gz (the volumes) and set<seed>.json (the layout and
the expected numbers). The C# tests must agree to 1e-4 relative on every number.

Conventions (the C# side documents the same ones):
- A case is two label volumes of shape [X, Y, Z] stored x-fastest (here numpy arrays indexed
  [z, y, x], so C order is x-fastest) and a voxel spacing (sx, sy, sz) in mm. Axial slices are
  the planes of fixed z. Liver = label >= 1, tumour = label == 2, "has liver" = some label == 1.
- Connected components: face connectivity (6 neighbours), numbered as the official scorer numbers
  them: scipy.ndimage.label on the [x, y, z] array nibabel gives, i.e. by first voxel with x
  slowest and z fastest (label_xyz below). The numbering only decides ties. Reference lesions:
  label the tumour mask dilated by the in-plane 4-neighbour cross, then keep the labels only on
  the tumour mask.
- Only predictions that overlap a reference lesion take part in matching. Merge: each reference
  lesion goes to the prediction with which it overlaps most (ties: the lower prediction number);
  the references of one prediction form one group; a reference no prediction touches is its own
  group. Match: each taking-part prediction keeps its best group (largest summed overlap; ties:
  the group holding the lowest reference number). A group with matched predictions is detected
  when |Pg & Rg| / |Pg | Rg| > min_overlap (Pg = union of its predictions, Rg of its references).
  TP += #references in each detected group; FN += 1 per undetected group; FP += 1 per prediction
  that touches no reference, and per prediction of an undetected group. Precision = TP/(TP+FP),
  recall = TP/(TP+FN), 0 when the denominator is 0.
- Scores of a pair of masks P (prediction), R (reference): Dice, Jaccard = D/(2-D), VOE = 1-J,
  RVD = (|R|-|P|)/|P|, surface = mask XOR its erosion by the 18-neighbourhood structure (outside
  the volume is background); distances in mm from each surface voxel to the nearest voxel of the
  other surface: ASSD = mean of both sets pooled, RMSD = sqrt(mean of squares pooled), MSD = the
  larger maximum. An empty side: Dice 0, Jaccard 0, VOE 1, RVD/ASSD/RMSD/MSD 9001.
- Liver per case: scored only when both volumes have label 1; otherwise the empty-side values,
  and the global liver Dice adds only |reference >= 1| to its denominator.
- Lesion Dice per case: 1 when neither volume has label 2. Global Dice = 2*sum I / sum(|P|+|R|);
  lesion global with an empty denominator is 1, liver global 0 (no case had a liver).
- Tumour burden = #(label 2) / #(label >= 1) (0 when the volume has no voxel >= 1); a prediction
  without label 1 gets 9001. RMSE over cases of (ref - pred); max error = max over cases of
  (ref - pred), signed.
- Per-lesion means (lesion_*) are over the lesions detected at overlap > 0.5, each scored as its
  merged prediction against its merged reference; with none detected the empty-side values.
"""
import gzip
import json
import os
import sys

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

LARGE = 9001.0
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Vectors", "lits_eval")

FACE = ndimage.generate_binary_structure(3, 1)
EDGE18 = ndimage.generate_binary_structure(3, 2)
INPLANE_CROSS = np.zeros((3, 3, 3), bool)
INPLANE_CROSS[1] = ndimage.generate_binary_structure(2, 1)  # only within the slice z


# ----------------------------------------------------------------------------- scoring

def surface(mask):
    return mask & ~ndimage.binary_erosion(mask, structure=EDGE18, border_value=0)


def surface_distances(p, r, spacing):
    """Directed nearest-surface distances (P->R, R->P) in mm; sampling is (sz, sy, sx)."""
    sp, sr = surface(p), surface(r)
    sampling = (spacing[2], spacing[1], spacing[0])
    d_to_r = ndimage.distance_transform_edt(~sr, sampling=sampling)
    d_to_p = ndimage.distance_transform_edt(~sp, sampling=sampling)
    a, b = d_to_r[sp], d_to_p[sr]
    # Cross-check the transform against brute nearest neighbours on physical coordinates.
    cp = np.argwhere(sp) * np.array(sampling)
    cr = np.argwhere(sr) * np.array(sampling)
    ka, _ = cKDTree(cr).query(cp)
    kb, _ = cKDTree(cp).query(cr)
    assert np.allclose(a, ka, rtol=1e-12, atol=1e-9) and np.allclose(b, kb, rtol=1e-12, atol=1e-9)
    return a, b


def pair_scores(p, r, spacing):
    np_, nr = int(p.sum()), int(r.sum())
    if np_ == 0 or nr == 0:
        return dict(dice=0.0, jaccard=0.0, voe=1.0, rvd=LARGE, assd=LARGE, rmsd=LARGE, msd=LARGE)
    inter = int((p & r).sum())
    dice = 2.0 * inter / (np_ + nr)
    jac = dice / (2.0 - dice)
    a, b = surface_distances(p, r, spacing)
    both = np.concatenate([a, b])
    return dict(dice=dice, jaccard=jac, voe=1.0 - jac, rvd=(nr - np_) / np_,
                assd=float(both.mean()), rmsd=float(np.sqrt((both ** 2).mean())),
                msd=float(max(a.max(), b.max())))


def label_xyz(mask):
    """Components of a [z, y, x] mask numbered as scipy numbers them on the [x, y, z] array."""
    lab, n = ndimage.label(mask.T, structure=FACE)
    return lab.T, n


def reference_lesions(ref):
    tumour = ref == 2
    grown = ndimage.binary_dilation(tumour, structure=INPLANE_CROSS)
    lab, n = label_xyz(grown)
    lab[~tumour] = 0
    return lab, n


def detect(plab, npred, rlab, nref, min_overlap):
    """Returns (tp, fp, fn, [(pred ids, ref ids) of each detected group])."""
    m = np.zeros((npred + 1, nref + 1), np.int64)
    both = (plab > 0) & (rlab > 0)
    np.add.at(m, (plab[both], rlab[both]), 1)
    m = m[1:, 1:]
    taking_part = [i for i in range(npred) if m[i].sum() > 0]
    # Merge: group references by the prediction they overlap most.
    owner = {}
    for j in range(nref):
        col = m[:, j]
        if col.sum() > 0:
            owner[j] = int(np.argmax(col))  # first maximum = lowest prediction number
    groups = {}
    for j in range(nref):
        key = ("p", owner[j]) if j in owner else ("r", j)
        groups.setdefault(key, []).append(j)
    group_list = sorted(groups.values(), key=lambda g: min(g))
    # Match: each taking-part prediction picks its best group.
    matched = [[] for _ in group_list]
    for i in taking_part:
        sums = np.array([m[i, g].sum() for g in group_list])
        matched[int(np.argmax(sums))].append(i)
    tp = fp = fn = 0
    fp += npred - len(taking_part)
    detected = []
    for g, preds in zip(group_list, matched):
        if not preds:
            fn += 1
            continue
        pm = np.isin(plab, [i + 1 for i in preds])
        rm = np.isin(rlab, [j + 1 for j in g])
        inter = int((pm & rm).sum())
        union = int((pm | rm).sum())
        if inter / union > min_overlap:
            tp += len(g)
            detected.append((preds, g))
        else:
            fn += 1
            fp += len(preds)
    return tp, fp, fn, detected


def burden(vol):
    n = int((vol >= 1).sum())
    return int((vol == 2).sum()) / n if n else 0.0


def evaluate(cases):
    """cases: list of (id, pred[z,y,x], ref[z,y,x], spacing(sx,sy,sz))."""
    keys = ["dice", "jaccard", "voe", "rvd", "assd", "rmsd", "msd"]
    out_cases = []
    det = {0.0: [0, 0, 0], 0.5: [0, 0, 0]}
    lesion_scores = []
    les_i = les_s = liv_i = liv_s = 0
    for cid, pred, ref, spacing in cases:
        pl, pt = pred >= 1, pred == 2
        rl, rt = ref >= 1, ref == 2
        has_liver = bool((pred == 1).any()) and bool((ref == 1).any())
        liver = pair_scores(pl, rl, spacing) if has_liver else pair_scores(np.zeros_like(pl), rl, spacing)
        if has_liver:
            liv_i += int((pl & rl).sum())
            liv_s += int(pl.sum() + rl.sum())
        else:
            liv_s += int(rl.sum())
        if not pt.any() and not rt.any():
            ldice = 1.0
        else:
            ldice = 2.0 * int((pt & rt).sum()) / int(pt.sum() + rt.sum())
        les_i += int((pt & rt).sum())
        les_s += int(pt.sum() + rt.sum())
        plab, npred = label_xyz(pt)
        rlab, nref = reference_lesions(ref)
        per_case_det = {}
        lesions = []
        for thr in (0.0, 0.5):
            tp, fp, fn, detected = detect(plab, npred, rlab, nref, thr)
            det[thr][0] += tp
            det[thr][1] += fp
            det[thr][2] += fn
            per_case_det[thr] = dict(tp=tp, fp=fp, fn=fn)
            if thr == 0.5:
                for preds, g in detected:
                    s = pair_scores(np.isin(plab, [i + 1 for i in preds]), np.isin(rlab, [j + 1 for j in g]), spacing)
                    s["references"] = len(g)
                    s["predictions"] = len(preds)
                    lesions.append(s)
        lesion_scores.extend(lesions)
        tb_ref = burden(ref)
        tb_pred = burden(pred) if (pred == 1).any() else LARGE
        out_cases.append(dict(
            id=cid, liver=liver, lesion=dict(dice=ldice),
            tumor_burden=dict(ref=tb_ref, pred=tb_pred),
            predicted_lesions=npred, reference_lesions=nref,
            detection=dict(greater_half=per_case_det[0.5], greater_zero=per_case_det[0.0]),
            detected_lesions=lesions))

    def pr(tp, fp, fn):
        return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)

    p5, r5 = pr(*det[0.5])
    p0, r0 = pr(*det[0.0])
    diffs = np.array([c["tumor_burden"]["ref"] - c["tumor_burden"]["pred"] for c in out_cases])
    summary = dict(
        lesion_dice_per_case=float(np.mean([c["lesion"]["dice"] for c in out_cases])),
        lesion_dice_global=2.0 * les_i / les_s if les_s else 1.0,
        liver_dice_per_case=float(np.mean([c["liver"]["dice"] for c in out_cases])),
        liver_dice_global=2.0 * liv_i / liv_s if liv_s else 0.0,
        detection=dict(precision=p5, recall=r5, precision_greater_zero=p0, recall_greater_zero=r0),
        tumor_burden_rmse=float(np.sqrt(np.mean(diffs ** 2))),
        tumor_burden_max_error=float(diffs.max()),
        counts=dict(greater_half=dict(zip(["tp", "fp", "fn"], det[0.5])),
                    greater_zero=dict(zip(["tp", "fp", "fn"], det[0.0]))),
    )
    defaults = pair_scores(np.zeros((1, 1, 1), bool), np.ones((1, 1, 1), bool), (1, 1, 1))
    for k in keys[1:]:
        summary["lesion_" + k] = float(np.mean([s[k] for s in lesion_scores])) if lesion_scores else defaults[k]
    summary["detected_lesions"] = len(lesion_scores)
    return dict(cases=out_cases, summary=summary)


# ----------------------------------------------------------------------------- random cases

def ellipsoid(shape, centre, radii, spacing):
    """Voxels within an ellipsoid given in mm (centre in voxel units, radii in mm)."""
    z, y, x = np.indices(shape)
    d = (((x - centre[0]) * spacing[0] / radii[0]) ** 2 + ((y - centre[1]) * spacing[1] / radii[1]) ** 2
         + ((z - centre[2]) * spacing[2] / radii[2]) ** 2)
    return d <= 1.0


def random_case(rng, kind):
    X, Y, Z = int(rng.integers(22, 46)), int(rng.integers(20, 42)), int(rng.integers(6, 15))
    spacing = (float(rng.uniform(0.55, 1.0)), float(rng.uniform(0.55, 1.0)), float(rng.uniform(0.8, 5.0)))
    shape = (Z, Y, X)
    ext = np.array([X * spacing[0], Y * spacing[1], Z * spacing[2]])
    ref = np.zeros(shape, np.uint8)
    # An awkward liver: two overlapping ellipsoids, sometimes touching the volume's border.
    c1 = np.array([X * rng.uniform(0.35, 0.6), Y * rng.uniform(0.35, 0.6), Z * rng.uniform(0.4, 0.6)])
    r1 = ext * rng.uniform(0.25, 0.45, 3)
    c2 = c1 + np.array([X * rng.uniform(-0.3, 0.3), Y * rng.uniform(-0.3, 0.3), Z * rng.uniform(-0.2, 0.2)])
    r2 = ext * rng.uniform(0.15, 0.3, 3)
    liver = ellipsoid(shape, c1, r1, spacing) | ellipsoid(shape, c2, r2, spacing)
    ref[liver] = 1
    lz, ly, lx = np.nonzero(liver)

    def spot():
        k = int(rng.integers(len(lx)))
        return np.array([lx[k], ly[k], lz[k]], float)

    lesions = []
    if kind not in ("no_ref_lesion", "no_lesion", "merge", "tie"):
        for _ in range(int(rng.integers(2, 7))):
            c = spot()
            r = np.array([rng.uniform(0.6, 5.0), rng.uniform(0.6, 5.0), rng.uniform(0.6, 6.0)])
            m = ellipsoid(shape, c, r, spacing)
            if not m.any():
                m = np.zeros(shape, bool)
                m[int(c[2]), int(c[1]), int(c[0])] = True
            ref[m] = 2
            lesions.append(m)
        # A lesion in fragments one voxel apart in-plane: one reference lesion after the dilation.
        c = spot()
        m = ellipsoid(shape, c, np.array([4.0, 3.0, 3.0]), spacing)
        ref[m] = 2
        cut = int(c[0])
        ref[:, :, cut][m[:, :, cut]] = 1
        lesions.append(m)
        # A single-voxel lesion.
        c = spot().astype(int)
        ref[c[2], c[1], c[0]] = 2
        one = np.zeros(shape, bool)
        one[c[2], c[1], c[0]] = True
        lesions.append(one)

    if kind == "merge":
        # Two reference lesions three voxels apart (not joined by the dilation) that one
        # prediction bridges, and one reference lesion predicted in three pieces.
        a = np.zeros(shape, bool)
        a[1:4, 4:9, 3:8] = True
        b = np.zeros(shape, bool)
        b[1:4, 4:9, 11:16] = True
        c = np.zeros(shape, bool)
        c[2:5, 12:17, 3:13] = True
        for m in (a, b, c):
            ref[m] = 2
    if kind == "tie":
        # Equal overlaps whose outcome depends on the component numbering: P1 (small x, large z)
        # and P2 (larger x, small z) overlap R1 by 3 voxels each; P2 also overlaps R2 by 3.
        # Numbered x slowest (the scorer), R1 goes to P1 and P2 to {R1}; numbered z slowest, R1
        # and R2 would merge under P2.
        r1 = np.zeros(shape, bool)
        r1[2:4, 2:5, 2:10] = True
        r2 = np.zeros(shape, bool)
        r2[0:2, 2:5, 16:21] = True
        ref[r1 | r2] = 2
    pred = ref.copy()
    # Liver: shift by a voxel and grow or shrink a little.
    pl = pred >= 1
    pl = np.roll(pl, int(rng.integers(-1, 2)), axis=int(rng.integers(0, 3)))
    if rng.random() < 0.5:
        pl = ndimage.binary_dilation(pl, structure=FACE)
    else:
        pl = ndimage.binary_erosion(pl, structure=FACE)
    pred[:] = 0
    pred[pl] = 1
    if kind in ("no_ref_lesion", "random", "pred_only_tumour"):
        for m in lesions:
            action = rng.choice(["keep", "grow", "shrink", "shift", "miss", "split", "bridge"])
            t = m.copy()
            if action == "grow":
                t = ndimage.binary_dilation(t, structure=FACE)
            elif action == "shrink":
                e = ndimage.binary_erosion(t, structure=FACE)
                t = e if e.any() else t
            elif action == "shift":
                t = np.roll(t, int(rng.choice([-2, -1, 1, 2])), axis=int(rng.integers(1, 3)))
            elif action == "miss":
                continue
            elif action == "split":
                zz, yy, xx = np.nonzero(t)
                cut = int(np.median(xx))
                t[:, :, max(cut - 1, 0):cut + 1] = False
            elif action == "bridge" and len(lesions) > 1:
                other = lesions[int(rng.integers(len(lesions)))]
                a = np.argwhere(t)[0]
                b = np.argwhere(other)[0]
                for s in np.linspace(0, 1, 40):
                    q = np.round(a + s * (b - a)).astype(int)
                    t[q[0], q[1], q[2]] = True
                t |= other
            pred[t] = 2
        # False positives: some blobs anywhere in the volume.
        for _ in range(int(rng.integers(1, 4))):
            c = np.array([rng.uniform(0, X), rng.uniform(0, Y), rng.uniform(0, Z)])
            m = ellipsoid(shape, c, np.array([rng.uniform(0.6, 3), rng.uniform(0.6, 3), rng.uniform(0.6, 4)]), spacing)
            pred[m] = 2
    if kind == "merge":
        pred[a | b] = 2
        pred[2, 6, 8:11] = 2
        pred[c] = 2
        pred[:, :, 6][c[:, :, 6]] = 1
        pred[:, :, 9][c[:, :, 9]] = 1
    if kind == "tie":
        pred[3:5, 3, 2:5] = 2       # P1
        pred[2, 3, 7:16] = 2        # P2: over R1, along to x 15,
        pred[1, 3, 15:19] = 2       # down a slice and into R2
    if kind == "pred_only_tumour":
        pred[pred == 1] = 0  # tumour predicted, but no liver label at all
    if kind == "empty_pred":
        pred[:] = 0
    return ref, pred, spacing


def build(seed):
    rng = np.random.default_rng(seed)
    kinds = ["random", "empty_pred", "random", "no_ref_lesion", "random", "no_lesion", "pred_only_tumour", "random", "random",
             "merge", "tie"]  # appended last: the draws for the cases before them do not change
    cases = []
    for n, kind in enumerate(kinds):
        ref, pred, spacing = random_case(rng, kind)
        cases.append((str(seed % 1000 + n), pred, ref, spacing, kind))
    result = evaluate([(cid, p, r, s) for cid, p, r, s, _ in cases])
    blob = bytearray()
    layout = []
    for cid, pred, ref, spacing, kind in cases:
        z, y, x = ref.shape
        layout.append(dict(id=cid, kind=kind, shape=[x, y, z], spacing=list(spacing),
                           ref_offset=len(blob), pred_offset=len(blob) + ref.size))
        blob += ref.astype(np.uint8).tobytes()  # C order of [z, y, x] = x-fastest
        blob += pred.astype(np.uint8).tobytes()
    os.makedirs(OUT, exist_ok=True)
    with gzip.GzipFile(os.path.join(OUT, f"set{seed}.bin.gz"), "wb", compresslevel=9, mtime=0) as f:
        f.write(bytes(blob))
    doc = dict(seed=seed, volumes=f"set{seed}.bin.gz", layout=layout, expected=result)
    with open(os.path.join(OUT, f"set{seed}.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    s = result["summary"]
    print(f"set {seed}: {len(cases)} cases, {len(blob)} voxel bytes, detected {s['detected_lesions']}, "
          f"counts {s['counts']}")


if __name__ == "__main__":
    seeds = [int(a) for a in sys.argv[1:]] or [1205, 77031]
    for seed in seeds:
        build(seed)
