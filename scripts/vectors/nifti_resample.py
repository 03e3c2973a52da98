"""Trilinear resampling reference for tests/Lits/PreprocessTests.cs, from scipy.ndimage.

Output voxel i of a grid of m voxels samples input coordinate (i + 1/2) * n / m - 1/2 (equal
extents, voxel centres aligned), clamped to the volume (mode="nearest"); order=1 is trilinear.
Writes tests/Vectors/nifti/resample.json: input (x-fastest), shapes and expected output.

  /usr/bin/python3 scripts/vectors/nifti_resample.py
"""
import json
import os

import numpy as np
from scipy import ndimage

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Vectors", "nifti")


def resample(vol, dst):
    axes = []
    for n, m in zip(vol.shape, dst):
        c = (np.arange(m) + 0.5) * n / m - 0.5
        axes.append(np.clip(c, 0, n - 1))
    grid = np.meshgrid(*axes, indexing="ij")
    return ndimage.map_coordinates(vol, grid, order=1, mode="nearest")


def main():
    rng = np.random.default_rng(5)
    cases = []
    for src, dst in [((5, 4, 3), (7, 3, 5)), ((6, 6, 4), (12, 9, 2)), ((3, 5, 7), (3, 5, 7)), ((4, 3, 2), (2, 6, 1))]:
        vol = rng.normal(0, 100, size=src)  # indexed [x, y, z]
        out = resample(vol, dst)
        cases.append({
            "src_shape": list(src), "dst_shape": list(dst),
            "input": vol.ravel(order="F").tolist(), "expected": out.ravel(order="F").tolist(),
        })
    with open(os.path.join(ROOT, "resample.json"), "w") as f:
        json.dump(cases, f)
        f.write("\n")
    print(f"wrote {len(cases)} resampling cases to {os.path.normpath(os.path.join(ROOT, 'resample.json'))}")


if __name__ == "__main__":
    main()
