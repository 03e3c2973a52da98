"""Shared writer for the PyTorch reference vectors.

Each family script builds named tensors with torch and calls `save(name, tensors, meta)`,
which writes tests/Vectors/<name>.safetensors: an 8-byte little-endian header length, a JSON
header (dtype, shape, data_offsets per tensor; free-form strings under "__metadata__"), then the
raw little-endian data. The tests read these files with no Python present.
"""
import json
import os
import struct

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Vectors")

_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64"}


def save(name, tensors, meta=None):
    """Writes tensors (dict name -> torch.Tensor) and meta (dict str -> str/number)."""
    os.makedirs(ROOT, exist_ok=True)
    header = {}
    blobs = []
    offset = 0
    for key, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}/{key}: unsupported dtype {t.dtype}")
        data = t.numpy().tobytes()
        header[key] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if meta:
        header["__metadata__"] = {k: json.dumps(v) for k, v in meta.items()}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    path = os.path.join(ROOT, name + ".safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def seeded(seed):
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
