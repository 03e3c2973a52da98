#!/usr/bin/env python3
"""Side-by-side table of our BenchmarkDotNet results and the PyTorch peers.

  python3 benchmarks/compare.py                       # every benchmark, every peer
  python3 benchmarks/compare.py --filter '*Gemm*' --peers gemm
  python3 benchmarks/compare.py --rounds 3            # alternate ours/peer 3 times, medians
  python3 benchmarks/compare.py --bdn-json BenchmarkDotNet.Artifacts/results  # reuse a report

(a) builds once, then runs `dotnet run -c Release --no-build --project benchmarks -- --filter
    <pattern> --exporters json`
    from the repository root (or reads existing *-report-full.json files) and takes each
    benchmark's median; the key is its Description (BDN's MethodTitle, quotes stripped);
(b) runs benchmarks/peer/<peer>.py with /usr/bin/python3, which prints one JSON line per case:
    {"name": <same Description>, "seconds": <median>, "flops": <flops per call>};
then joins by name and prints ms, GFLOP/s and ours/PyTorch throughput. See benchmarks/README.md.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def bdn_key(b):
    name = b.get("MethodTitle") or b["Method"]
    if len(name) >= 2 and name[0] == name[-1] == "'":
        name = name[1:-1]
    if b.get("Parameters"):
        name += " " + b["Parameters"]
    return name


def read_bdn(paths):
    """name -> median seconds from BDN full JSON reports (files or folders)."""
    out = {}
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*-report-full.json"))) if os.path.isdir(p) else [p]
    for f in files:
        with open(f) as fh:
            doc = json.load(fh)
        for b in doc.get("Benchmarks", []):
            stats = b.get("Statistics")
            if stats:
                out[bdn_key(b)] = stats["Median"] / 1e9
    return out


def build_ours():
    """Builds once, without build servers that would linger and compete for the CPUs."""
    cmd = ["dotnet", "build", "-c", "Release", "benchmarks", "-v", "q", "--disable-build-servers"]
    print("$ " + " ".join(cmd), file=sys.stderr)
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        sys.exit(f"benchmark build failed with exit code {r.returncode}")


def run_ours(pattern, extra):
    started = time.time()
    cmd = ["dotnet", "run", "-c", "Release", "--no-build", "--project", "benchmarks", "--",
           "--filter", pattern, "--exporters", "json"] + extra
    print("$ " + " ".join(cmd), file=sys.stderr)
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        sys.exit(f"benchmark run failed with exit code {r.returncode}")
    results = os.path.join(ROOT, "BenchmarkDotNet.Artifacts", "results")
    fresh = [f for f in glob.glob(os.path.join(results, "*-report-full.json")) if os.path.getmtime(f) >= started - 1]
    if not fresh:
        sys.exit("no fresh *-report-full.json under BenchmarkDotNet.Artifacts/results (did the filter match?)")
    return read_bdn(fresh)


def peer_scripts(names):
    if names:
        return [n if n.endswith(".py") else os.path.join(HERE, "peer", n + ".py") for n in names]
    return [f for f in sorted(glob.glob(os.path.join(HERE, "peer", "*.py"))) if os.path.basename(f) != "common.py"]


def run_peer(script, args):
    cmd = ["/usr/bin/python3", script] + args
    print("$ " + " ".join(cmd), file=sys.stderr)
    r = subprocess.run(cmd, cwd=os.path.dirname(script), stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"{script} failed with exit code {r.returncode}")
    out = {}
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            out[d["name"]] = (d["seconds"], d.get("flops"))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--filter", default="*", help="BenchmarkDotNet --filter pattern (default '*')")
    p.add_argument("--peers", nargs="*", help="peer scripts (names under benchmarks/peer or paths); default all")
    p.add_argument("--bdn-json", nargs="*", help="read these BDN full JSON reports (files or folders) instead of running")
    p.add_argument("--rounds", type=int, default=1, help="alternate ours and peers this many times; report medians")
    p.add_argument("--peer-args", default="", help="extra arguments for each peer script, e.g. '--repeat 7'")
    p.add_argument("--bdn-args", default="", help="extra arguments for BenchmarkDotNet")
    a = p.parse_args()

    ours_runs, peer_runs = [], []
    if not a.bdn_json:
        build_ours()

    def ours():
        ours_runs.append(read_bdn(a.bdn_json) if a.bdn_json else run_ours(a.filter, a.bdn_args.split()))

    def peers():
        merged = {}
        for s in peer_scripts(a.peers):
            merged.update(run_peer(s, a.peer_args.split()))
        peer_runs.append(merged)

    for r in range(max(1, a.rounds)):
        # Alternate who goes first so that a drift in the machine's load favours neither side.
        for step in ((ours, peers) if r % 2 == 0 else (peers, ours)):
            step()

    names = sorted(set().union(*[set(r) for r in ours_runs]) | set().union(*[set(r) for r in peer_runs]))
    rows = []
    for n in names:
        ours = [r[n] for r in ours_runs if n in r]
        peer = [r[n][0] for r in peer_runs if n in r]
        flops = next((r[n][1] for r in peer_runs if n in r and r[n][1]), None)
        rows.append((n, statistics.median(ours) if ours else None, statistics.median(peer) if peer else None, flops))

    def ms(t):
        return f"{t * 1e3:10.2f}" if t else f"{'-':>10}"

    def gf(t, f):
        return f"{f / t / 1e9:9.1f}" if t and f else f"{'-':>9}"

    w = max([len(r[0]) for r in rows] + [4])
    print(f"{'name':<{w}}  {'ours ms':>10} {'GFLOP/s':>9}  {'torch ms':>10} {'GFLOP/s':>9}  {'ours/torch':>10}")
    for n, o, t, f in rows:
        ratio = f"{t / o:10.2f}" if o and t else f"{'-':>10}"
        print(f"{n:<{w}}  {ms(o)} {gf(o, f)}  {ms(t)} {gf(t, f)}  {ratio}")
    print(f"(medians over {max(1, a.rounds)} round(s); ratio = ours throughput / PyTorch throughput)")


if __name__ == "__main__":
    main()
