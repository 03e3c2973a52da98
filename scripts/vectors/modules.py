"""Reference state-dict names, shapes and parameter counts of layers; MultiheadAttention
forward in eval mode (with and without masks); BatchNorm2d running statistics after training
forwards."""
import torch
import torch.nn as nn
from common import save, seeded

seeded(7)
LAYERS = {
    "linear": nn.Linear(5, 3),
    "linear_nobias": nn.Linear(5, 3, bias=False),
    "conv2d": nn.Conv2d(3, 4, 3, padding=1),
    "conv3d": nn.Conv3d(2, 4, 3, groups=2, bias=False),
    "convt2d": nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2),
    "convt3d": nn.ConvTranspose3d(2, 3, 2, stride=2),
    "bn1d": nn.BatchNorm1d(6),
    "bn2d": nn.BatchNorm2d(4),
    "bn3d": nn.BatchNorm3d(2, affine=False),
    "ln": nn.LayerNorm([6]),
    "gn": nn.GroupNorm(2, 4),
    "in2d": nn.InstanceNorm2d(3, affine=True),
    "in3d": nn.InstanceNorm3d(3),
    "emb": nn.Embedding(10, 4),
    "mha": nn.MultiheadAttention(8, 2, batch_first=True),
    "seq": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
}
meta = {}
for name, layer in LAYERS.items():
    meta["state." + name] = [[k, list(v.shape)] for k, v in layer.state_dict().items()]
    meta["count." + name] = sum(p.numel() for p in layer.parameters())

out = {}
mha = nn.MultiheadAttention(8, 2, batch_first=True).double().eval()
with torch.no_grad():
    mha.in_proj_bias.uniform_(-0.5, 0.5)
    mha.out_proj.bias.uniform_(-0.5, 0.5)
q = torch.randn(2, 3, 8, dtype=torch.float64)
k = torch.randn(2, 5, 8, dtype=torch.float64)
v = torch.randn(2, 5, 8, dtype=torch.float64)
for key, val in mha.state_dict().items():
    out["mha." + key] = val
out.update({"mha.q": q, "mha.k": k, "mha.v": v})
with torch.no_grad():
    o, w = mha(q, k, v)
    out["mha.out"], out["mha.weights"] = o, w
    attn_mask = torch.randn(3, 5, dtype=torch.float64)
    kpm = torch.tensor([[False, False, True, False, True], [False, False, False, False, False]])
    o, w = mha(q, k, v, attn_mask=attn_mask, key_padding_mask=kpm, average_attn_weights=False)
    out["mha.attn_mask"] = attn_mask
    out["mha.kpm_additive"] = torch.zeros(2, 5, dtype=torch.float64).masked_fill(kpm, float("-inf"))
    out["mha.masked.out"], out["mha.masked.weights"] = o, w
    o, _ = mha(q, q, q)
    out["mha.self.out"] = o

bn = nn.BatchNorm2d(3).double()
x1 = torch.randn(4, 3, 2, 2, dtype=torch.float64)
x2 = torch.randn(4, 3, 2, 2, dtype=torch.float64) * 2 + 1
bn(x1)
bn(x2)
bn.eval()
out.update({"bn.x1": x1, "bn.x2": x2, "bn.running_mean": bn.running_mean, "bn.running_var": bn.running_var,
            "bn.eval_out": bn(x1).detach()})
save("modules", out, meta)
