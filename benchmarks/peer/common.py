"""Shared timing for the PyTorch peer benchmarks (see benchmarks/README.md).

A peer script calls `setup()` once, then `bench(name, fn, flops[, bytes])` per case, making its tensors
with `dev()` (the --device flag: cpu, or cuda where PyTorch sees a GPU; cuDNN then runs the convs). `name` must equal the
BenchmarkDotNet Description of the matching C# benchmark; each call prints one JSON line
{"name": ..., "seconds": <median>, "flops": <flops per call>, "device": ..., "bytes": <bytes per call>}
on stdout (nothing else goes to stdout, so compare.py can parse it). bytes is the minimal DRAM
traffic of one call by the rule of `kernels bench` (BenchCase.Bytes: each tensor a pass reads or
writes counted once), 0 for a case without one.
"""
import argparse
import json
import statistics
import sys
import time

import torch

_ARGS = None


def setup(description=""):
    """Parses the common flags (--threads, --warmup, --repeat, --filter) and configures torch."""
    global _ARGS
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before measuring")
    p.add_argument("--repeat", type=int, default=5, help="timed calls; the median is reported")
    p.add_argument("--filter", default="", help="only cases whose name contains this text")
    p.add_argument("--device", default="cpu", help="cpu or cuda (timed with torch.cuda.synchronize around each call)")
    p.add_argument("--tf32", action="store_true", help="on cuda, let cuBLAS/cuDNN use TF32 tensor cores (off: plain float32)")
    _ARGS = p.parse_args()
    if _ARGS.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"--device {_ARGS.device}: PyTorch sees no CUDA GPU here")
    if _ARGS.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # let cuDNN pick its fastest algorithm, as a tuned peer would
        # Like for like: our kernels compute in float32, so the peer may not use TF32 tensor cores
        # (PyTorch's default lets cuDNN convolutions use them). --tf32 allows them, for reference.
        torch.backends.cuda.matmul.allow_tf32 = _ARGS.tf32
        torch.backends.cudnn.allow_tf32 = _ARGS.tf32
    torch.set_num_threads(_ARGS.threads)
    torch.set_grad_enabled(False)
    return _ARGS


def dev():
    """The torch.device of --device."""
    return torch.device(_ARGS.device if _ARGS else "cpu")


def _sync():
    if _ARGS is not None and _ARGS.device.startswith("cuda"):
        torch.cuda.synchronize()


def wanted(name):
    return _ARGS is None or _ARGS.filter in name


def bench(name, fn, flops, bytes=0):
    """Times fn() (warm-up, then the median of --repeat calls) and prints the JSON line."""
    if not wanted(name):
        return None
    warmup = _ARGS.warmup if _ARGS else 2
    repeat = _ARGS.repeat if _ARGS else 5
    for _ in range(warmup):
        fn()
    _sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"name": name, "seconds": med, "flops": float(flops), "device": str(dev()), "bytes": float(bytes)}))
    sys.stdout.flush()
    return med
