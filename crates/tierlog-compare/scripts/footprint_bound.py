#!/usr/bin/env python3
"""How small can a tier get? Strong general-purpose compressors on good transforms.

Reads a Prometheus text file (as `gen_workload.py` writes it: one sample per line, series in
order), and for every series:

- raw values: the exact decimal integers of the values (the number of decimals of the series'
  longest value), first or second differences, zigzag varints, compressed whole-series by
  `zstd -19` and `xz -9e` (the smaller counts);
- BUCKET-second buckets of the per-second points (timestamps truncated to the second, as the
  store keeps them): the exact aggregates that carry information — min, max, sum, first, last
  (for counters whose first is the min and last the max: first minus the previous last,
  last minus first, and the sum relative to count x first or to count x (first + last) / 2) —
  as differences, varints, compressed whole-series the same way.

The second bucket column adds each bucket's exact nearest-rank p95 (the value of rank
ceil(0.95 n), the max itself below 20 points), coded as its distance below the max.

This leaves out what a real tier also stores (count, nan_count, counter increase, float
rounding of sums, chunk framing) and timestamps, and gives the
compressors a whole series at once, so it estimates from below what a tier coded this way
needs. It is not a proof of a limit: a model that knows more about the data (that a CPU's
modes add up to its elapsed time, say) can go lower. Needs `pip install zstandard`.

    python3 footprint_bound.py day.prom 60
"""
import collections
import lzma
import sys
from decimal import Decimal

import zstandard

ZSTD = zstandard.ZstdCompressor(level=19)
XZ = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def zigzag(x):
    return 2 * x if x >= 0 else -2 * x - 1


def packed(columns):
    out = bytearray()
    for col in columns:
        for x in col:
            z = zigzag(x)
            while z >= 0x80:
                out.append((z & 0x7F) | 0x80)
                z >>= 7
            out.append(z)
    raw = bytes(out)
    return min(len(ZSTD.compress(raw)), len(lzma.compress(raw, format=lzma.FORMAT_RAW, filters=XZ)))


def diffs(c):
    return [c[0]] + [c[i] - c[i - 1] for i in range(1, len(c))]


def main():
    path, bucket = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 60
    series = collections.OrderedDict()
    kinds = {}
    for line in open(path):
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            kinds[name] = kind
            continue
        if line.startswith("#"):
            continue
        key, value, ts = line.split()
        series.setdefault(key, []).append((int(ts) // 1000, value))
    per = collections.defaultdict(lambda: [0, 0, 0, 0, 0])
    for key, points in series.items():
        name = key.split("{")[0]
        values = [v for _, v in points]
        d = max(max(-Decimal(v).as_tuple().exponent, 0) for v in values)
        ints = [int(Decimal(v) * (10**d)) for v in values]
        # One point per second. The generator's files have at most one sample per second per
        # series; where a recording has two, the later one stands for the second (the
        # store keeps their mean, which is not a decimal of the same scale).
        per_second = collections.OrderedDict()
        for (t, _), x in zip(points, ints):
            per_second[t] = [x]
        ints = [v[0] for v in per_second.values()]
        d1 = diffs(ints)
        raw = min(packed([d1]), packed([diffs(d1)]))
        buckets = collections.OrderedDict()
        for t, xs in per_second.items():
            buckets.setdefault(t // bucket, []).extend(xs)
        b = list(buckets.values())
        n = [len(x) for x in b]
        mn, mx, sm = [min(x) for x in b], [max(x) for x in b], [sum(x) for x in b]
        fi, la = [x[0] for x in b], [x[-1] for x in b]
        candidates = [[
            diffs(mn),
            [a - c for a, c in zip(mx, mn)],
            [s - k * m for s, k, m in zip(sm, n, mn)],
            [a - c for a, c in zip(fi, mn)],
            [a - c for a, c in zip(la, mn)],
        ]]
        if fi == mn and la == mx:
            prev = [0] + la[:-1]
            steps = [f - p for f, p in zip(fi, prev)]
            spans = [l - f for l, f in zip(la, fi)]
            candidates.append([steps, spans, [s - k * f for s, k, f in zip(sm, n, fi)]])
            candidates.append([steps, spans, [2 * s - k * (f + l) for s, k, f, l in zip(sm, n, fi, la)]])
        agg = min(packed(c) for c in candidates)
        below = [m - sorted(x)[-(-19 * len(x) // 20) - 1] for m, x in zip(mx, b)]
        with_p95 = min(packed(c + [below]) for c in candidates)
        p = per[name]
        p[0] += agg
        p[1] += raw
        p[2] += len(b)
        p[3] += len(ints)
        p[4] += with_p95
    total = [0, 0, 0, 0, 0]
    print(f"| metric (kind) | {bucket} s buckets, B/bucket | with p95 | raw values, B/point |")
    print("|---|---:|---:|---:|")
    for name, (agg, raw, nb, npts, wp) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        print(f"| {name} ({kinds.get(name, '?')}) | {agg / nb:.2f} | {wp / nb:.2f} | {raw / npts:.3f} |")
        total = [a + b for a, b in zip(total, (agg, raw, nb, npts, wp))]
    print(
        f"| **all** | **{total[0] / total[2]:.2f}** | **{total[4] / total[2]:.2f}** "
        f"| **{total[1] / total[3]:.3f}** |"
    )


if __name__ == "__main__":
    main()
