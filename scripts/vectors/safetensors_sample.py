"""A safetensors file as PyTorch-side tools write it, for the engine's reader tests.

Packed by hand with struct + json (the `safetensors` package is not installed here), the same
way scripts/vectors/common.py does, but with the dtypes common.save does not write: I64 and
BF16/F16 (numpy has no bfloat16, so torch.bfloat16 goes out as its raw 16-bit pattern). The
header lists the tensors in a different order from their data, uses json's default separators
and is padded with spaces, to exercise the reader's tolerance.

Writes tests/Vectors/safetensors_sample.safetensors.
"""
import json
import os
import struct

import torch

from common import ROOT


def raw(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return "BF16", t.view(torch.int16).numpy().tobytes()
    names = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
             torch.int32: "I32", torch.int64: "I64"}
    return names[t.dtype], t.numpy().tobytes()


def main():
    g = torch.Generator().manual_seed(1234)
    bf = torch.tensor([1.0, -2.5, 3.14159, 1e-3, 3.0e38, float("-inf")], dtype=torch.float32).to(torch.bfloat16)
    hf = torch.tensor([0.5, -1.0, 65504.0, 6.1e-5, 1.0 / 3.0], dtype=torch.float32).to(torch.float16)
    tensors = {
        # values the test recomputes exactly: arange(15) / 4 - 1
        "weight": (torch.arange(15, dtype=torch.float32) / 4 - 1).reshape(3, 5),
        "rand64": torch.rand(2, 3, 4, generator=g, dtype=torch.float64),
        "rand64.sum": torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(1234), dtype=torch.float64).sum(),
        "scalar": torch.tensor(2.75, dtype=torch.float64),
        "index": torch.tensor([0, -1, 7, 2**31 - 1, -2**31, 42], dtype=torch.int64),
        "int32": torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32),
        "bf16": bf.reshape(2, 3),
        "bf16.f32": bf.to(torch.float32).reshape(2, 3),
        "f16": hf,
        "f16.f32": hf.to(torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
    }
    blobs, entries, offset = [], {}, 0
    for key, t in tensors.items():
        dtype, data = raw(t)
        entries[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header = {"__metadata__": {"format": "pt", "producer": f"torch {torch.__version__}", "note": "ünïcödé ✓"}}
    for key in sorted(entries, reverse=True):
        header[key] = entries[key]
    raw_header = json.dumps(header).encode("utf-8")
    raw_header += b" " * (-len(raw_header) % 8 + 8)
    path = os.path.join(ROOT, "safetensors_sample.safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(raw_header)))
        f.write(raw_header)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
