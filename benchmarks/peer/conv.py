"""PyTorch CPU peer for benchmarks/ConvBenchmarks.cs: same shapes, same names (the BDN
Description strings). Prints one JSON line per case: {"name", "seconds" (median), "flops"}.
Run: /usr/bin/python3 benchmarks/peer/conv.py [--repeats N] [--threads T]"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def flops(n, cout, out_spatial, cin_per_group, kernel_volume):
    return 2.0 * n * cout * out_spatial * cin_per_group * kernel_volume


def bench(fn, repeats, warmup=2):
    """Median wall seconds and median process CPU seconds (all threads) of one call. The CPU
    figure is steadier than wall time on a machine shared with other work."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(repeats):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (the C# side uses both cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)

    x2 = torch.randn(8, 64, 56, 56)
    w2 = torch.randn(64, 64, 3, 3)
    x3 = torch.randn(2, 32, 32, 32, 32)
    w3 = torch.randn(32, 32, 3, 3, 3)
    f2 = flops(8, 64, 56 * 56, 64, 9)
    f3 = flops(2, 32, 32 ** 3, 32, 27)

    def conv3d_bwd():
        # dx and dw (db is a channel sum): the two GEMM-sized backward passes, forward excluded.
        with torch.enable_grad():
            x = x3.clone().requires_grad_(True)
            w = w3.clone().requires_grad_(True)
            y = F.conv3d(x, w, None, padding=1)
            g = torch.ones_like(y)
            c = time.process_time()
            start = time.perf_counter()
            torch.autograd.grad(y, (x, w), g)
            return time.perf_counter() - start, time.process_time() - c

    cases = [
        ("conv2d fwd b8 64->64 56^2 k3", lambda: F.conv2d(x2, w2, None, padding=1), f2),
        ("conv3d fwd b2 32->32 32^3 k3", lambda: F.conv3d(x3, w3, None, padding=1), f3),
    ]
    def report(name, s, c, fl):
        print(json.dumps({"name": name, "seconds": s, "flops": fl, "gflops": fl / s / 1e9, "cpu_seconds": c,
                          "gflops_per_cpu_second": fl / c / 1e9, "threads": torch.get_num_threads()}), flush=True)

    for name, fn, fl in cases:
        report(name, *bench(fn, args.repeats), fl)
    conv3d_bwd()
    runs = [conv3d_bwd() for _ in range(args.repeats)]
    report("conv3d bwd b2 32->32 32^3 k3", statistics.median(r[0] for r in runs),
           statistics.median(r[1] for r in runs), 2 * f3)


if __name__ == "__main__":
    main()
