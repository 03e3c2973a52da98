"""Reference sequences for the optimizers (SGD, Adam, AdamW) and the learning-rate schedules.

Each optimizer case updates two fixed float64 parameters with a fixed sequence of gradients;
the parameters after every step are stored as <case>.p / <case>.q [steps, ...]. Schedules store
the lr (and momentum / beta1) after construction and after each step."""
import torch
from common import save, seeded

seeded(5)
STEPS = 6
p0 = torch.randn(4, 3, dtype=torch.float64)
q0 = torch.randn(3, dtype=torch.float64)
gp = torch.randn(STEPS, 4, 3, dtype=torch.float64)
gq = torch.randn(STEPS, 3, dtype=torch.float64)
out = {"p0": p0, "q0": q0, "gp": gp, "gq": gq}

CASES = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2),
    "adam_wd": lambda ps: torch.optim.Adam(ps, lr=2e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=2e-2, betas=(0.85, 0.995), weight_decay=0.1),
}
for name, make in CASES.items():
    p = p0.clone().requires_grad_(True)
    q = q0.clone().requires_grad_(True)
    opt = make([p, q])
    ps, qs = [], []
    for s in range(STEPS):
        p.grad = gp[s].clone()
        q.grad = gq[s].clone()
        opt.step()
        ps.append(p.detach().clone())
        qs.append(q.detach().clone())
    out[name + ".p"] = torch.stack(ps)
    out[name + ".q"] = torch.stack(qs)
    st = opt.state[p]
    for key in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
        if st.get(key) is not None:
            out[name + ".state." + key] = st[key]


def sequence(make_opt, make_sched, steps, beta=False):
    w = torch.zeros(1, requires_grad=True)
    opt = make_opt([w])
    sched = make_sched(opt)
    lrs, moms = [], []
    for s in range(steps + 1):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["betas"][0] if beta else g.get("momentum", 0.0))
        if s < steps:
            opt.step()
            sched.step()
    return torch.tensor(lrs, dtype=torch.float64), torch.tensor(moms, dtype=torch.float64)


sgd = lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)
adam = lambda ps: torch.optim.Adam(ps, lr=1e-3)
S = torch.optim.lr_scheduler
out["onecycle_sgd.lr"], out["onecycle_sgd.momentum"] = sequence(sgd, lambda o: S.OneCycleLR(o, max_lr=0.4, total_steps=25), 25)
out["onecycle_adam.lr"], out["onecycle_adam.beta1"] = sequence(
    adam, lambda o: S.OneCycleLR(o, max_lr=3e-3, total_steps=17, pct_start=0.25, div_factor=10, final_div_factor=100), 17, beta=True)
out["onecycle_3p.lr"], out["onecycle_3p.momentum"] = sequence(
    sgd, lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=20, three_phase=True, anneal_strategy="linear"), 20)
out["cosine.lr"], _ = sequence(sgd, lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 10)
out["step.lr"], _ = sequence(sgd, lambda o: S.StepLR(o, step_size=3, gamma=0.5), 12)
out["multistep.lr"], _ = sequence(sgd, lambda o: S.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1), 11)
# A whole training step: Linear-Tanh-Linear, cross-entropy with label smoothing, AdamW with a
# decay / no-decay split, three steps; initial and final weights and the losses.
net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
for k, v in net.state_dict().items():
    out["net.init." + k] = v.clone()
xs = torch.randn(4, 3, dtype=torch.float64)
ys = torch.tensor([0, 1, 1, 0])
decay = [p for n, p in net.named_parameters() if p.ndim > 1]
no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=0.05)
losses = []
for _ in range(3):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(xs), ys, label_smoothing=0.1)
    loss.backward()
    opt.step()
    losses.append(loss.item())
for k, v in net.state_dict().items():
    out["net.final." + k] = v.clone()
out.update({"net.x": xs, "net.y": ys.to(torch.int32), "net.losses": torch.tensor(losses, dtype=torch.float64)})
save("optim", out, {"steps": STEPS})
