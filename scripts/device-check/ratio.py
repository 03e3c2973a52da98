#!/usr/bin/env python3
"""Joins `kernels bench --json` lines (ours) with PyTorch peer lines (benchmarks/peer/*.py), by
case name, and prints ms, GFLOP/s and ours/PyTorch throughput (above 1: we are faster).

  python3 scripts/device-check/ratio.py ours.jsonl peer.jsonl [more peer files]
"""
import json
import sys


def read(paths):
    out = {}
    for p in paths:
        try:
            with open(p) as fh:
                for line in fh:
                    line = line.strip()
                    if line.startswith("{"):
                        try:
                            d = json.loads(line)
                        except ValueError:
                            continue
                        out[d["name"]] = d
        except OSError as e:
            print(f"ratio: cannot read {p}: {e}", file=sys.stderr)
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ours, peer = read([sys.argv[1]]), read(sys.argv[2:])
    print(f"{'case':34} {'ours ms':>10} {'torch ms':>10} {'ours GF/s':>10} {'torch GF/s':>10} {'ours/torch':>10}")
    for name in sorted(set(ours) | set(peer)):
        o, p = ours.get(name), peer.get(name)
        om = f"{o['seconds'] * 1e3:.3f}" if o else "-"
        pm = f"{p['seconds'] * 1e3:.3f}" if p else "-"
        og = f"{o['flops'] / o['seconds'] / 1e9:.1f}" if o else "-"
        pg = f"{p['flops'] / p['seconds'] / 1e9:.1f}" if p else "-"
        r = f"{p['seconds'] / o['seconds']:.2f}" if o and p else "-"
        dev = (o or p).get("device", "?") + ("/" + p.get("device", "?") if o and p else "")
        print(f"{name:34} {om:>10} {pm:>10} {og:>10} {pg:>10} {r:>10}  {dev}")


if __name__ == "__main__":
    main()
