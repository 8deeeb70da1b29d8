#!/usr/bin/env python3
"""What would an entropy stage buy a rollup tier's value columns?

Reads the JSON of a tier query (`tierlog query DIR '{__name__=~".+"}' --tier 60s --format
json > tier.json`) and, per series (one chunk per series, as a store compacted over the
query's range holds it), models the integer columns a version-6 layout-2 chunk stores for a
decimal series: the min column (as it is, or as steps from the previous bucket's max,
whichever is smaller), the max as offsets from the min, the sum as offsets from count x min,
the p95 (buckets of 20 points or more) as distances below the max, and the first and last
values that are neither the min nor the max.

For each column it prints two costs in bytes per bucket of the whole tier:

- `packed`: the cheaper of the two residual coders the chunk's value codecs use today
  (blocks of 128 residuals bit-packed at the block's width, with a multiplier; or the
  fixed prefix code of decimal-varbits), over first or second differences;
- `entropy`: the residuals (as they are, first or second differences, whichever is
  cheapest) coded by their bit-length class, with the class entropy-coded from the chunk's
  own class frequencies (a table of 6 bits a class plus 16 bits) and the bits below each
  value's top bit stored as they are.

It models the values only: no headers, counts, starts, codes columns, increases, sum
rounding residuals or CRCs, and non-decimal series are skipped. It is an estimate of a
design, not of a coder that exists.

    python3 rollup_entropy_estimate.py tier.json
"""
import collections
import json
import math
import sys


def decimals(values):
    """The smallest d (0..9) at which every value is an exact d-decimal, else None."""
    for d in range(10):
        scale = 10 ** d
        if all(abs(round(v * scale)) < 2 ** 53 and round(v * scale) / scale == v for v in values):
            return d
    return None


def zigzag(x):
    return 2 * x if x >= 0 else -2 * x - 1


def common_divisor(res):
    g = 0
    for r in res:
        g = math.gcd(g, abs(r))
    return g or 1


def varbits_bits(res):
    g = common_divisor(res)
    bits = 0
    for r in res:
        z = zigzag(r // g)
        if z == 0:
            bits += 1
        elif z <= 16:
            bits += 6
        elif z <= 272:
            bits += 11
        elif z <= 65808:
            bits += 20
        else:
            bits += 10 + z.bit_length()
    return bits


def blocks_bits(res):
    bits = 0
    for i in range(0, len(res), 128):
        block = res[i:i + 128]
        lo = min(block)
        g = 0
        for x in block:
            g = math.gcd(g, x - lo)
        g = g or 1
        width = max((x - lo) // g for x in block).bit_length()
        bits += len(block) * width + 8 + 8 * max(1, (zigzag(lo).bit_length() + 6) // 7)
    return bits


def class_bits(res):
    g = common_divisor(res)
    classes = [zigzag(r // g).bit_length() for r in res]
    freq = collections.Counter(classes)
    n = len(classes)
    entropy = -sum(c * math.log2(c / n) for c in freq.values())
    below_top = sum(max(k - 1, 0) for k in classes)
    return entropy + below_top + 16 + 6 * len(freq)


def differences(ints):
    d1 = [ints[i] - ints[i - 1] for i in range(1, len(ints))]
    d2 = [d1[i] - d1[i - 1] for i in range(1, len(d1))]
    return d1, d2


def packed(ints):
    if len(ints) < 2:
        return 0
    d1, d2 = differences(ints)
    best = lambda r: min(blocks_bits(r), varbits_bits(r)) if r else 0
    return min(best(d1), best(d2) + 8)


def entropy_coded(ints):
    if len(ints) < 2:
        return 0
    d1, d2 = differences(ints)
    return min(class_bits(r) for r in (list(ints), d1, d2) if r)


def main():
    tier = json.load(open(sys.argv[1]))
    totals = collections.Counter()
    buckets = 0
    skipped = 0
    for s in tier["series"]:
        pts = s["points"]
        buckets += len(pts)
        d = decimals([p[k] for p in pts for k in ("min", "max", "first", "last", "p95")])
        if d is None:
            skipped += 1
            continue
        scale = 10 ** d
        ints = {k: [round(p[k] * scale) for p in pts] for k in ("min", "max", "first", "last", "p95")}
        mn, mx = ints["min"], ints["max"]
        count = [p["count"] for p in pts]
        steps = [mn[i] - mx[i - 1] for i in range(1, len(pts))]
        columns = {
            "min": ((mn,), (steps,)),
            "max": (([mx[i] - mn[i] for i in range(len(pts))],),),
            "p95": (([mx[i] - ints["p95"][i] for i in range(len(pts)) if count[i] >= 20],),),
            "first": (([v for i, v in enumerate(ints["first"]) if v not in (mn[i], mx[i])],),),
            "last": (([v for i, v in enumerate(ints["last"]) if v not in (mn[i], mx[i])],),),
        }
        sums = [p["sum"] * scale for p in pts]
        if all(abs(round(x) - x) < 1e-6 * max(1.0, abs(x)) for x in sums):
            columns["sum"] = (([round(sums[i]) - count[i] * mn[i] for i in range(len(pts))],),)
        for name, choices in columns.items():
            totals[(name, "packed")] += min(sum(packed(c) for c in ch) for ch in choices)
            totals[(name, "entropy")] += min(sum(entropy_coded(c) for c in ch) for ch in choices)
    per = lambda bits: bits / 8 / buckets
    print(f"{buckets} buckets, {len(tier['series'])} series ({skipped} not decimal, left out)")
    print("| column | packed, B/bucket | entropy-coded classes, B/bucket |")
    print("|---|---:|---:|")
    names = sorted({name for name, _ in totals})
    for name in names:
        print(f"| {name} | {per(totals[(name, 'packed')]):.3f} | {per(totals[(name, 'entropy')]):.3f} |")
    p = sum(v for (n, k), v in totals.items() if k == "packed")
    e = sum(v for (n, k), v in totals.items() if k == "entropy")
    print(f"| all | {per(p):.3f} | {per(e):.3f} |")
    print(f"saving {per(p - e):.3f} B/bucket ({(p - e) / p:.0%} of the modelled columns)")


if __name__ == "__main__":
    main()
