#!/usr/bin/env python3
"""Joins `kernels bench --json` lines (ours) with PyTorch peer lines (benchmarks/peer/*.py), by
case name, and prints ms, GFLOP/s and ours/PyTorch throughput (above 1: we are faster).
Lines with "bytes" > 0 (the minimal DRAM traffic per call) also get a bandwidth table: GB/s for
each side and, where that side's files hold a "copy d2d 256MiB" line, the case's GB/s as a
percentage of that copy's GB/s (the card's practical bandwidth floor, measured in the same run).
Files without "bytes" (older runs) print the first table only.

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


COPY = "copy d2d 256MiB"


def gbs(d):
    """Achieved GB/s of a line with bytes, else None."""
    if not d or not d.get("bytes") or d["seconds"] <= 0:
        return None
    return d["bytes"] / d["seconds"] / 1e9


def fmt(x):
    """GB/s with one decimal, three below 1 (the cpu reference cases)."""
    return f"{x:.1f}" if x >= 1 else f"{x:.3f}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ours, peer = read([sys.argv[1]]), read(sys.argv[2:])
    names = sorted(set(ours) | set(peer))
    w = max([34] + [len(n) for n in names])
    print(f"{'case':{w}} {'ours ms':>10} {'torch ms':>10} {'ours GF/s':>10} {'torch GF/s':>10} {'ours/torch':>10}")
    for name in names:
        o, p = ours.get(name), peer.get(name)
        om = f"{o['seconds'] * 1e3:.3f}" if o else "-"
        pm = f"{p['seconds'] * 1e3:.3f}" if p else "-"
        og = f"{o['flops'] / o['seconds'] / 1e9:.1f}" if o else "-"
        pg = f"{p['flops'] / p['seconds'] / 1e9:.1f}" if p else "-"
        r = f"{p['seconds'] / o['seconds']:.2f}" if o and p else "-"
        dev = (o or p).get("device", "?") + ("/" + p.get("device", "?") if o and p else "")
        print(f"{name:{w}} {om:>10} {pm:>10} {og:>10} {pg:>10} {r:>10}  {dev}")

    bw = [n for n in names if gbs(ours.get(n)) is not None or gbs(peer.get(n)) is not None]
    if not bw:
        return
    ocopy, pcopy = gbs(ours.get(COPY)), gbs(peer.get(COPY))
    print()
    print(f"bandwidth: bytes = minimal DRAM traffic per call; % of copy = GB/s over the same side's '{COPY}' GB/s")
    print(f"{'case':{w}} {'MB/call':>10} {'ours GB/s':>10} {'torch GB/s':>10} {'ours %copy':>10} {'torch %copy':>11}")
    for name in bw:
        o, p = ours.get(name), peer.get(name)
        og, pg = gbs(o), gbs(p)
        mb = (o if og is not None else p)["bytes"] / 1e6
        if o and p and og is not None and pg is not None and o["bytes"] != p["bytes"]:
            print(f"ratio: {name}: ours counts {o['bytes']:.0f} bytes, the peer {p['bytes']:.0f}", file=sys.stderr)
        ogs = fmt(og) if og is not None else "-"
        pgs = fmt(pg) if pg is not None else "-"
        opc = f"{100 * og / ocopy:.1f}%" if og is not None and ocopy else "-"
        ppc = f"{100 * pg / pcopy:.1f}%" if pg is not None and pcopy else "-"
        print(f"{name:{w}} {mb:>10.1f} {ogs:>10} {pgs:>10} {opc:>10} {ppc:>11}")


if __name__ == "__main__":
    main()
