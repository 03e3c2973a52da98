"""Reference values and gradients for the losses (cross-entropy with label smoothing, BCE with
logits incl. huge logits and pos_weight, MSE, L1)."""
import torch
import torch.nn.functional as F
from common import save, seeded

seeded(6)
out = {}

logits = torch.randn(6, 5, dtype=torch.float64) * 3
logits[0, 0] = 40.0  # a confident row
targets = torch.tensor([0, 4, 2, 2, 1, 3], dtype=torch.int64)
out["ce.logits"] = logits
out["ce.targets"] = targets.to(torch.int32)
for eps in (0.0, 0.1):
    tag = f"ce.eps{int(eps * 100)}"
    for red in ("none", "sum"):
        out[f"{tag}.{red}"] = F.cross_entropy(logits, targets, label_smoothing=eps, reduction=red)
    x = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(x, targets, label_smoothing=eps)
    loss.backward()
    out[f"{tag}.mean"] = loss.detach()
    out[f"{tag}.grad"] = x.grad

# Class weights and ignored targets (PyTorch's denominators: sum of w_t over kept targets).
cw = torch.rand(5, dtype=torch.float64) + 0.5
ign = torch.tensor([0, -100, 2, 2, 1, -100], dtype=torch.int64)
out["ce.weight"] = cw
out["ce.targets_ign"] = ign.to(torch.int32)
CASES = {
    "cew_mean": dict(target=targets, weight=cw, label_smoothing=0.1),
    "cew_sum": dict(target=targets, weight=cw, reduction="sum"),
    "ceign_mean": dict(target=ign, label_smoothing=0.1),
    "cewign_mean": dict(target=ign, weight=cw, label_smoothing=0.2),
    "cew_ign2_none": dict(target=targets, weight=cw, ignore_index=2, label_smoothing=0.2, reduction="none"),
}
for tag, kw in CASES.items():
    x = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(x, **kw)
    loss.backward(torch.ones_like(loss))
    out[tag] = loss.detach()
    out[tag + ".grad"] = x.grad

# Spatial cross-entropy: [N, C, H, W] logits, [N, H, W] targets.
sl = torch.randn(2, 4, 3, 3, dtype=torch.float64)
st = torch.randint(0, 4, (2, 3, 3))
x = sl.clone().requires_grad_(True)
loss = F.cross_entropy(x, st, label_smoothing=0.05)
loss.backward()
out.update({"ce2d.logits": sl, "ce2d.targets": st.to(torch.int32), "ce2d.mean": loss.detach(), "ce2d.grad": x.grad})

bl = torch.randn(4, 6, dtype=torch.float64) * 4
bl[0] = torch.tensor([100.0, -100.0, 1e4, -1e4, 0.0, 30.0], dtype=torch.float64)
bt = torch.rand(4, 6, dtype=torch.float64)
bt[0] = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5, 1.0], dtype=torch.float64)
pw = torch.rand(6, dtype=torch.float64) * 3 + 0.2
out.update({"bce.logits": bl, "bce.targets": bt, "bce.pos_weight": pw})
for tag, w in (("bce", None), ("bce_pw", pw)):
    out[f"{tag}.none"] = F.binary_cross_entropy_with_logits(bl, bt, pos_weight=w, reduction="none")
    x = bl.clone().requires_grad_(True)
    y = bt.clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(x, y, pos_weight=w)
    loss.backward()
    out[f"{tag}.mean"] = loss.detach()
    out[f"{tag}.grad"] = x.grad
    out[f"{tag}.grad_targets"] = y.grad

a = torch.randn(3, 7, dtype=torch.float64)
b = torch.randn(3, 7, dtype=torch.float64)
out.update({"reg.a": a, "reg.b": b})
for tag, fn in (("mse", F.mse_loss), ("l1", F.l1_loss)):
    x = a.clone().requires_grad_(True)
    loss = fn(x, b)
    loss.backward()
    out[f"{tag}.mean"] = loss.detach()
    out[f"{tag}.sum"] = fn(a, b, reduction="sum")
    out[f"{tag}.grad"] = x.grad
# Audit additions: reduction "none" with a batch-1 input that has an exact tie (input == target,
# where L1's gradient is sign(0) = 0), and the gradient of the target as well.
ta = torch.randn(1, 5, dtype=torch.float64)
tb = torch.randn(1, 5, dtype=torch.float64)
tb[0, 2] = ta[0, 2]
out.update({"tie.a": ta, "tie.b": tb})
for tag, fn in (("mse", F.mse_loss), ("l1", F.l1_loss)):
    x = ta.clone().requires_grad_(True)
    y = tb.clone().requires_grad_(True)
    loss = fn(x, y, reduction="none")
    g = torch.randn_like(loss)
    loss.backward(g)
    out.update({f"tie.{tag}.none": loss.detach(), f"tie.{tag}.g": g, f"tie.{tag}.da": x.grad, f"tie.{tag}.db": y.grad})
save("loss", out)
