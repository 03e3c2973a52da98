"""Reference vectors for the Embedding family (lookup and weight gradient)."""
import torch
import torch.nn.functional as F
from common import save, seeded

seeded(6)
w = torch.randn(10, 7, dtype=torch.float64)
idx = torch.tensor([[1, 9, 1, 0], [3, 3, 3, 7], [0, 9, 2, 1]])
ww = w.clone().requires_grad_(True)
y = F.embedding(idx, ww)
g = torch.randn_like(y)
y.backward(g)
save("embedding", {"weight": w, "index": idx.to(torch.int32), "y": y.detach(), "g": g, "dw": ww.grad})
