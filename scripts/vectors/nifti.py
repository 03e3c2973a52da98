"""NIfTI-1 reference files for tests/Lits/NiftiTests.cs, written and read by nibabel.

Default mode writes small .nii / .nii.gz files of every supported datatype (uint8, int8, int16,
uint16, int32, float32, float64), both byte orders, with and without gzip, with scl_slope /
scl_inter, sform, qform-only (qfac -1), no transform at all, a 4-D file whose 4th size is 1, a
2-D file and a header extension (vox_offset > 352), into tests/Vectors/nifti/, plus
expected.json holding what nibabel reads back from each: shape, zooms, affine, the scaled values
(get_fdata) and the raw stored values. The headers are nibabel's (Nifti1Header.write_to); the
voxel bytes are written directly so that the scaling fields stay exactly as set.

  /usr/bin/python3 scripts/vectors/nifti.py             # write the reference files
  /usr/bin/python3 scripts/vectors/nifti.py --check DIR # read files our writer made (see
                                                        # NiftiTests.WriterFilesForNibabel) with
                                                        # nibabel and compare with DIR/written.json
"""
import gzip
import json
import os
import sys

import nibabel as nib
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Vectors", "nifti")

DTYPES = {
    "uint8": np.uint8, "int8": np.int8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "float32": np.float32, "float64": np.float64,
}


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def values(rng, name, shape):
    dt = DTYPES[name]
    n = int(np.prod(shape))
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        lo, hi = max(int(info.min), -100000), min(int(info.max), 100000)
        v = rng.integers(lo, hi, size=n, endpoint=True)
        v[0], v[-1] = info.min, info.max  # the extremes of the type must survive
    else:
        v = rng.normal(0, 300, size=n)
        v[0] = -1024.5
    return v.astype(dt).reshape(shape, order="F")


def write(path, raw, hdr, extension=None):
    """Header from nibabel, then (optionally) one extension, then the voxels in hdr's byte order."""
    hdr = hdr.copy()
    hdr.set_data_shape(raw.shape)
    hdr.set_data_dtype(raw.dtype)
    ext_bytes = b""
    if extension is not None:
        ext = nib.nifti1.Nifti1Extension("comment", extension)
        hdr.extensions.append(ext)
    # Nifti1Header.write_to writes the 348 bytes, the extension flag and any extensions.
    offset = 352 + sum(e.get_sizeondisk() for e in hdr.extensions)
    hdr["vox_offset"] = offset
    # mtime 0: rerunning the script reproduces the same bytes.
    opener = (lambda p, m: gzip.GzipFile(p, m, mtime=0)) if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        hdr.write_to(f)
        f.write(ext_bytes)
        f.write(raw.astype(hdr.get_data_dtype()).tobytes(order="F"))


def describe(path):
    img = nib.load(path)
    h = img.header
    return {
        "shape": [int(s) for s in img.shape],
        "zooms": [float(z) for z in h.get_zooms()[:3]],
        "affine": np.asarray(img.affine, dtype=np.float64).tolist(),
        "qform_code": int(h["qform_code"]),
        "sform_code": int(h["sform_code"]),
        "datatype": int(h["datatype"]),
        "big_endian": h.endianness == ">",
        "descrip": h["descrip"].item().decode("ascii"),
        "vox_offset": int(img.dataobj.offset),
        "scaled": np.asarray(img.get_fdata(), dtype=np.float64).ravel(order="F").tolist(),
        "raw": np.asarray(img.dataobj.get_unscaled(), dtype=np.float64).ravel(order="F").tolist(),
    }


def generate():
    os.makedirs(ROOT, exist_ok=True)
    for f in os.listdir(ROOT):
        if f.endswith((".nii", ".nii.gz")) or f == "expected.json":  # resample.json is nifti_resample.py's
            os.remove(os.path.join(ROOT, f))
    rng = np.random.default_rng(20261127)
    shape = (5, 4, 3)
    affine = np.eye(4)
    affine[:3, :3] = rotation(0.1, -0.2, 0.3) @ np.diag([0.8, 0.7, 2.5])
    affine[:3, 3] = [-120.5, 33.25, -400.0]
    expected = {}

    def base(endian):
        h = nib.Nifti1Header(endianness=endian)
        h.set_xyzt_units("mm", "sec")
        return h

    for name in DTYPES:
        for endian in "<>":
            for gz in (False, True):
                if gz and endian == "<" and name not in ("int16", "uint8", "float32"):
                    continue  # gzip of every little-endian type adds nothing
                h = base(endian)
                h.set_sform(affine, code=2)
                h.set_qform(affine, code=1)
                h["descrip"] = f"{name} {endian} {'gz' if gz else 'nii'}"
                raw = values(rng, name, shape)
                if name in ("int16", "uint8", "int8"):
                    h["scl_slope"], h["scl_inter"] = 0.5, -1024.0  # scaled on read
                file = f"{name}_{'be' if endian == '>' else 'le'}.nii" + (".gz" if gz else "")
                write(os.path.join(ROOT, file), raw, h)
                expected[file] = describe(os.path.join(ROOT, file))

    # qform only, left-handed (qfac = -1), anisotropic.
    h = base("<")
    aq = np.eye(4)
    aq[:3, :3] = rotation(0.0, 0.0, 0.5) @ np.diag([0.75, 0.75, -3.0])
    aq[:3, 3] = [10.0, -20.0, 30.0]
    h.set_qform(aq, code=1)
    h.set_sform(None, code=0)
    write(os.path.join(ROOT, "qform_only.nii"), values(rng, "float32", shape), h)
    expected["qform_only.nii"] = describe(os.path.join(ROOT, "qform_only.nii"))
    assert float(h["pixdim"][0]) == -1.0, "qform_only must exercise qfac = -1"

    # No transform codes: our reader uses NIfTI method 1 (diag(pixdim), no offset); nibabel centres
    # the grid instead, so the expected affine is the spec's, and nibabel's is kept for reference.
    h = base("<")
    h.set_qform(None, code=0)
    h.set_sform(None, code=0)
    h.set_data_shape(shape)
    h.set_zooms((0.9, 0.8, 2.0))
    write(os.path.join(ROOT, "no_transform.nii"), values(rng, "int16", shape), h)
    d = describe(os.path.join(ROOT, "no_transform.nii"))
    d["nibabel_affine"] = d["affine"]
    d["affine"] = np.diag([0.9, 0.8, 2.0, 1.0]).tolist()
    expected["no_transform.nii"] = d

    # 4-D with a 4th size of 1, and a 2-D image.
    h = base("<")
    h.set_sform(affine, code=1)
    write(os.path.join(ROOT, "four_d.nii"), values(rng, "int32", shape + (1,)), h)
    expected["four_d.nii"] = describe(os.path.join(ROOT, "four_d.nii"))
    h = base(">")
    h.set_sform(affine, code=1)
    write(os.path.join(ROOT, "two_d.nii.gz"), values(rng, "float32", (6, 5)), h)
    expected["two_d.nii.gz"] = describe(os.path.join(ROOT, "two_d.nii.gz"))

    # A header extension moves vox_offset past 352.
    h = base("<")
    h.set_sform(affine, code=1)
    write(os.path.join(ROOT, "extension.nii"), values(rng, "uint16", shape), h, extension=b"written by nifti.py" + b"\0" * 5)
    expected["extension.nii"] = describe(os.path.join(ROOT, "extension.nii"))
    assert expected["extension.nii"]["vox_offset"] > 352

    # A label map (what a LiTS segmentation looks like).
    h = base("<")
    h.set_sform(affine, code=1)
    labels = rng.integers(0, 3, size=shape).astype(np.uint8)
    write(os.path.join(ROOT, "labels.nii.gz"), labels, h)
    expected["labels.nii.gz"] = describe(os.path.join(ROOT, "labels.nii.gz"))

    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=0, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(ROOT, p)) for p in os.listdir(ROOT))
    print(f"wrote {len(expected)} NIfTI files + expected.json to {os.path.normpath(ROOT)} ({total} bytes)")


def check(folder):
    """Reads every file our writer made and compares with what the C# test says it wrote."""
    with open(os.path.join(folder, "written.json")) as f:
        written = json.load(f)
    failures = 0
    for name, w in sorted(written.items()):
        d = describe(os.path.join(folder, name))
        problems = []
        if d["shape"][:3] != w["shape"]:
            problems.append(f"shape {d['shape']} != {w['shape']}")
        if d["datatype"] != w["datatype"]:
            problems.append(f"datatype {d['datatype']} != {w['datatype']}")
        if not np.allclose(d["zooms"], w["spacing"], rtol=1e-6):
            problems.append(f"zooms {d['zooms']} != {w['spacing']}")
        if not np.allclose(d["affine"], w["affine"], rtol=1e-5, atol=1e-4):
            problems.append(f"affine {d['affine']} != {w['affine']}")
        # nibabel's qform must agree with the sform we wrote (our quaternion is right).
        img = nib.load(os.path.join(folder, name))
        q = img.header.get_qform()
        if not np.allclose(q, w["affine"], rtol=1e-5, atol=1e-3):
            problems.append(f"qform {q.tolist()} != {w['affine']}")
        if not np.allclose(d["scaled"], w["values"], rtol=1e-6, atol=1e-6):
            bad = int(np.argmax(np.abs(np.asarray(d["scaled"]) - np.asarray(w["values"]))))
            problems.append(f"values differ, e.g. voxel {bad}: {d['scaled'][bad]} != {w['values'][bad]}")
        status = "ok" if not problems else "FAIL " + "; ".join(problems)
        failures += bool(problems)
        print(f"{name}: {status}")
    print(f"{len(written) - failures}/{len(written)} files read by nibabel {nib.__version__} as written")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    if len(sys.argv) != 1:
        sys.exit(__doc__)
    generate()
