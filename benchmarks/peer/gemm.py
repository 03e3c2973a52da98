"""PyTorch peer of benchmarks/GemmBenchmarks.cs: float32 C = A·B, output reused."""
import torch

from common import bench, dev, setup

SHAPES = [(1024, 1024, 1024), (6272, 2048, 768), (3200, 768, 2048)]

setup(__doc__)
for m, n, k in SHAPES:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(m, k, generator=g).to(dev())
    b = torch.rand(k, n, generator=g).to(dev())
    c = torch.empty(m, n, device=dev())
    bench(f"sgemm {m}x{n}x{k}", lambda: torch.mm(a, b, out=c), 2.0 * m * n * k)
