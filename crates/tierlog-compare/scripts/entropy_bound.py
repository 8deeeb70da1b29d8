#!/usr/bin/env python3
"""A lower bound on what any lossless store needs for a synthetic workload.

`gen_workload.py` draws fresh random numbers for every sample it writes. Whatever else a store
knows (every earlier sample, and even the generator's hidden state: a CPU's busy fraction, a
container's activity level, the load average before rounding), the sample it is about to store
still carries the information of that sample's fresh draws as they show in the written value.
In symbols, for the samples Y_1..Y_n of all series and the generator's hidden state S_t:

    H(Y_1..Y_n) = sum_t H(Y_t | Y_<t)  >=  sum_t H(Y_t | Y_<t, S_t)

(conditioning never raises entropy), and the right-hand side is computed here exactly, per
sample, from the generator's own distributions: the entropy of the written (quantised) value
given everything but the sample's fresh draws. Series whose samples share a draw (the 5- and
15-minute load averages follow the 1-minute one) are counted once; the scrape jitter, shared by
all series of a scrape, once per scrape. Where a bound is simpler than the exact figure (a rare
jump conditioned on, a clamp near a limit), the simpler one is the smaller. No lossless coder
can store the samples in fewer bits on average than this sum, except one that knows the
generator's seeds and reruns its pseudo-random generator.

For rollup tiers: a tier keeps each bucket's first and last value bit for bit, and these are
samples too; by the same chain rule, the tier needs at least the sum of the fresh entropies of
every bucket's first and last sample (of its only sample for a one-point bucket). Min, max, sum
and p95 add more; this bound leaves them out.

The generator is imported from its file and its models are mirrored draw for draw, so the
hidden state follows the very file the generator writes with the same arguments.

    python3 entropy_bound.py ../shared/workloads/gen_workload.py --preset day
    python3 entropy_bound.py ../shared/workloads/gen_workload.py --preset raw2h

Standard library only.
"""
import argparse
import collections
import functools
import importlib.util
import math

LOG2E = 1.0 / math.log(2.0)
SQRT_2PI_E = math.sqrt(2.0 * math.pi * math.e)


def phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def h_pmf(ps):
    return -sum(p * math.log2(p) for p in ps if p > 0.0)


def h_geometric(rho):
    """Entropy of P(k) = rho^k (1 - rho), k >= 0."""
    if rho <= 0.0:
        return 0.0
    return (-(1.0 - rho) * math.log2(1.0 - rho) - rho * math.log2(rho)) / (1.0 - rho)


def h_normal_binned(mu, sd, step, floor_at=None):
    """Entropy of mu + sd*Z written to a grid of `step` (round to nearest), optionally clamped
    at `floor_at` (values at or below it written as it)."""
    if floor_at is None or mu - floor_at > 7.0 * sd:
        if sd / step > 20.0:
            return math.log2(sd * SQRT_2PI_E / step)
        floor_at = None
    ps = []
    lo = math.floor((mu - 8.0 * sd) / step)
    hi = math.ceil((mu + 8.0 * sd) / step)
    if floor_at is not None:
        k0 = round(floor_at / step)
        # Everything that rounds to the clamp's bin or below.
        ps.append(phi(((k0 + 0.5) * step - mu) / sd))
        lo = max(lo, k0 + 1)
    for k in range(lo, hi + 1):
        ps.append(phi(((k + 0.5) * step - mu) / sd) - phi(((k - 0.5) * step - mu) / sd))
    return h_pmf(ps)


_CPU = {}


def h_cpu_increment(c):
    """floor(a + U) for a = c (1 + 0.08 Z) (0 when a <= 0), U uniform on [0, 1): the
    stochastic rounding of a CPU mode's ticks. P(k) = E[max(0, 1 - |a - k|)]. Tabulated."""
    if c <= 0.0:
        return 0.0
    key = round(math.log(c) * 200.0)
    if key in _CPU:
        return _CPU[key]
    cc = math.exp(key / 200.0)
    sd = 0.08 * cc
    if sd > 60.0:
        v = math.log2(sd * SQRT_2PI_E)
    else:
        # Simpson over the triangle's support for each k.
        nodes = 16
        ps = []
        for k in range(max(0, math.floor(cc - 9 * sd) - 1), math.ceil(cc + 9 * sd) + 2):
            acc = 0.0
            for j in range(nodes + 1):
                t = -1.0 + 2.0 * j / nodes
                w = 1 if j in (0, nodes) else (4 if j % 2 else 2)
                a = k + t
                dens = math.exp(-0.5 * ((a - cc) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
                acc += w * dens * max(0.0, 1.0 - abs(t))
            ps.append(acc * (2.0 / nodes) / 3.0)
        s = sum(ps)
        v = h_pmf([p / s for p in ps])
    _CPU[key] = v
    return v


_PAGE = {}


def h_page_step(p, sd, shift):
    """With probability 1 - p no change; else int(sd Z) + shift (int truncates)."""
    key = (p, sd, shift)
    if key in _PAGE:
        return _PAGE[key]
    dist = collections.defaultdict(float)
    dist[0] += 1.0 - p
    kmax = int(9 * sd) + 2
    for k in range(-kmax, kmax + 1):
        if k == 0:
            q = 2.0 * phi(1.0 / sd) - 1.0
        elif k > 0:
            q = phi((k + 1) / sd) - phi(k / sd)
        else:
            q = phi(k / sd) - phi((k - 1) / sd)
        dist[k + shift] += p * q
    v = h_pmf(dist.values())
    _PAGE[key] = v
    return v


@functools.lru_cache(maxsize=None)
def h_bursty(rate, quantum, dt, p_burst, idle_p):
    """The per-sample increment of `bursty_bytes`, in quanta: 0 when idle, else
    floor(E * s * M / quantum) with E exponential, M 1 or (with p_burst) uniform on [10, 120]."""
    if rate <= 0:
        return 0.0
    q = 1.0 - idle_p * (1.0 - min(rate / 50e6, 0.9))
    lam = rate * dt * 0.3 / quantum
    ms = [1.0] + [10.0 + 110.0 * (j + 0.5) / 64 for j in range(64)]
    ws = [1.0 - p_burst] + [p_burst / 64] * 64
    p0_active = sum(w * (1.0 - math.exp(-1.0 / (lam * m))) for m, w in zip(ms, ws))
    p0 = (1.0 - q) + q * p0_active
    if lam < 5.0:
        tail = []
        k = 1
        while True:
            pk = sum(w * math.exp(-k / (lam * m)) * (1.0 - math.exp(-1.0 / (lam * m))) for m, w in zip(ms, ws))
            tail.append(q * pk)
            if k > 60 * lam * 120:
                break
            k += 1
        return h_pmf([p0] + tail)
    # Wide: sum over k >= 1 of -P_k log P_k as an integral of the density (per quantum).
    acc = 0.0
    y0, y1, steps = 1.0, 60.0 * lam * 120.0, 4000
    ratio = (y1 / y0) ** (1.0 / steps)
    y = y0
    for _ in range(steps):
        ym = y * math.sqrt(ratio)
        g = sum(w * math.exp(-ym / (lam * m)) / (lam * m) for m, w in zip(ms, ws))
        pk = q * g
        if pk > 0:
            acc -= pk * math.log2(pk) * (y * ratio - y)
        y *= ratio
    return h_pmf([p0]) + acc


@functools.lru_cache(maxsize=None)
def h_io_time(rate, dt):
    """int(min(u, 1) * dt * 1000) with u = util E, or (3 %) min(1, u * U(3, 10))."""
    if rate <= 0:
        return 0.0
    util = min(rate / 80e6, 0.6)
    d = int(dt * 1000)
    ms = [3.0 + 7.0 * (j + 0.5) / 32 for j in range(32)]

    def cdf(x):  # P(min(u', 1) <= x), x < 1
        a = 0.97 * (1.0 - math.exp(-x / util))
        b = sum(1.0 - math.exp(-x / (util * m)) for m in ms) / len(ms)
        return a + 0.03 * b

    ps = []
    prev = 0.0
    for k in range(d):
        c = cdf((k + 1) / d) if k + 1 < d else cdf(1.0 - 1e-15)
        ps.append(c - prev)
        prev = c
    ps.append(1.0 - prev)
    return h_pmf(ps)


def load_generator(path):
    spec = importlib.util.spec_from_file_location("gen_workload", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def entropy_gen(mod):
    """A `Gen` whose models return each sample's fresh entropy in bits instead of its text,
    drawing exactly what the generator draws."""
    import random

    PAGE = mod.PAGE

    class EGen(mod.Gen):
        def cpu_seconds(self, key, cpu, mode, share):
            busy = self.busy_walk("cpu%d" % cpu, 0.15 + 0.04 * (cpu % 5), 0.35)
            r = self.rng(key)
            r.uniform(0.8, 1.2)
            out = []
            for b in busy:
                frac = (1.0 - b) if share is None else b * share
                c = self.dt * frac * 100.0
                out.append(h_cpu_increment(c))
                inc = c * (1.0 + r.gauss(0, 0.08))
                if inc > 0:
                    r.random()
            return out

        def bursty_bytes(self, key, rate, quantum, p_burst=0.04, idle_p=0.5):
            return [h_bursty(rate, quantum, self.dt, p_burst, idle_p)] * self.n

        def io_time(self, key, rate):
            return [h_io_time(rate, self.dt)] * self.n

        def plain_counter(self, key, rate):
            out = []
            for i in range(self.n):
                m = rate * self.dt * (0.6 + 0.8 * self.diurnal(i))
                out.append(math.log2(0.4 * m))
            return out

        def container_cpu(self, key, cores, quantum=1e-9, digits=None):
            r = self.rng(key)
            v = r.uniform(10, 200000)
            x = 0.0
            out = []
            # Differential entropy of exp(0.25 Z) in bits.
            h_ln = (0.5 + math.log(0.25 * math.sqrt(2 * math.pi))) * LOG2E
            for i in range(self.n):
                prev = x
                x += -0.05 * x + r.gauss(0, 0.25)
                if cores > 0:
                    a = self.dt * cores * math.exp(0.95 * prev) * (0.5 + self.diurnal(i))
                    step = quantum if digits is None else 10.0 ** (math.floor(math.log10(v)) - digits + 1)
                    out.append(max(0.0, math.log2(a / step) + h_ln))
                    v += self.dt * cores * math.exp(x) * (0.5 + self.diurnal(i))
                else:
                    out.append(0.0)
            return out

        def page_gauge(self, key, base, p_change, sd_pages, drift=0.0):
            r = self.rng(key)
            pages = int(base * r.uniform(0.9, 1.1)) // PAGE
            base_pages = pages
            out = []
            for _ in range(self.n):
                if sd_pages:
                    shift = int(0.02 * (base_pages - pages)) + int(drift)
                    out.append(h_page_step(p_change, sd_pages, shift))
                else:
                    out.append(0.0)
                if sd_pages and r.random() < p_change:
                    pages += int(r.gauss(0, sd_pages)) + int(0.02 * (base_pages - pages)) + int(drift)
                    if pages < 1:
                        pages = 1
            return out

        def fs_avail(self, key, size):
            r = self.rng(key)
            pages = int(size * r.uniform(0.2, 0.7)) // PAGE
            lo, hi = int(size * 0.05) // PAGE, int(size * 0.95) // PAGE
            rho = math.exp(-1.0 / 300.0)
            out = []
            for _ in range(self.n):
                # Conditioned on the rare cleanup not happening (probability 0.9998).
                room = pages - lo
                c = 0.25 / 0.9998
                a0 = 0.75 / 0.9998 + c * (1.0 - rho)
                if room <= 0:
                    out.append(0.0)  # every decrease is clamped away
                elif room < 40 * 300:
                    dist = [a0] + [c * rho**k * (1.0 - rho) for k in range(1, room)]
                    dist.append(c * rho**room)  # clamped at the floor
                    out.append(0.9998 * h_pmf(dist))
                else:
                    # -sum_{k>=1} c rho^k (1 - rho) log2(c rho^k (1 - rho)), in closed form.
                    tail = -c * rho * math.log2(c * (1.0 - rho)) - c * math.log2(rho) * rho / (1.0 - rho)
                    out.append(0.9998 * (h_pmf([a0]) + tail))
                u = r.random()
                if u < 0.25:
                    pages -= int(r.expovariate(1.0) * 300)
                elif u < 0.2502:
                    pages += int(r.uniform(0.01, 0.05) * size / PAGE)
                pages = max(lo, min(hi, pages))
            return out

        def load_avg(self, which):
            if which != 1:
                return [0.0] * self.n  # the same draws as load1
            r = self.rng("load1")
            x = 3.0
            out = []
            for i in range(self.n):
                target = 1.0 + 6.0 * self.diurnal(i)
                mu = x + 0.1 * (target - x)
                # Conditioned on the 1 % jump not happening.
                out.append(0.99 * h_normal_binned(mu, 0.6, 0.01, floor_at=0.0))
                x = mu + r.gauss(0, 0.6)
                x = max(0.0, x)
                if r.random() < 0.01:
                    x += r.uniform(2, 8)
            return out

        def temperature(self, key, base):
            r = self.rng(key)
            x = base
            out = []
            for i in range(self.n):
                target = base + 8.0 * self.diurnal(i)
                out.append(h_normal_binned(0.0, 0.4, 0.1))
                x += 0.05 * (target - x) + r.gauss(0, 0.4)
            return out

        def procs_running(self, key):
            out = []
            for i in range(self.n):
                s = 1.0 + 3.0 * self.diurnal(i)
                out.append(h_geometric(math.exp(-1.0 / s)))
            return out

        def constant(self, value):
            return [0.0] * self.n

    del random
    return EGen


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("generator", help="path to gen_workload.py")
    p.add_argument("--preset", default="day")
    p.add_argument("--series", type=int)
    p.add_argument("--interval-ms", type=int)
    p.add_argument("--duration-s", type=int)
    p.add_argument("--start-ms", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bucket-s", type=int, action="append", help="tier buckets to bound (default 10 and 60)")
    p.add_argument("--digits", type=int, help="also: container_cpu rounded to this many significant digits")
    a = p.parse_args()
    mod = load_generator(a.generator)
    preset = mod.PRESETS[a.preset]
    series = a.series or preset["series"]
    interval = a.interval_ms or preset["interval_ms"]
    duration = a.duration_s or preset["duration_s"]
    start = a.start_ms if a.start_ms is not None else mod.DEFAULT_START_MS
    buckets = a.bucket_s or [10, 60]
    n = duration * 1000 // interval
    times = mod.scrape_times(n, start, interval, a.seed)
    g = entropy_gen(mod)(a.seed, n, interval, start)
    per_metric = collections.OrderedDict()
    bucket_bits = {b: 0.0 for b in buckets}
    bucket_count = {b: 0 for b in buckets}
    total_bits, total = 0.0, 0
    rounded_bits = 0.0
    for name, _typ, _unit, _help, ss in mod.build_catalogue(series, a.seed):
        bits = 0.0
        for labels, model in ss:
            h = model(g, name + mod.label_text(labels))
            if a.digits and name == "container_cpu_usage_seconds_total":
                # The same draws again, at the rounded quantum.
                cores = model.__defaults__[0][1] if model.__defaults__ else None
                hr = g.container_cpu(name + mod.label_text(labels), cores, digits=a.digits)
                rounded_bits += sum(hr) - sum(h)
            bits += sum(h)
            for b in buckets:
                # Buckets by the scrape's second, as the store keeps them.
                groups = collections.OrderedDict()
                for t, e in zip(times, h):
                    groups.setdefault((t // 1000) // b, []).append(e)
                for es in groups.values():
                    bucket_bits[b] += es[0] + (es[-1] if len(es) > 1 else 0.0)
                    bucket_count[b] += 1
        per_metric[name] = (bits, len(ss) * n)
        total_bits += bits
        total += len(ss) * n
    jitter = n * math.log2(31)
    total_bits += jitter
    print("workload: %d series, %d samples every %d ms, %d samples" % (series, n, interval, total))
    print("%-42s %12s %10s" % ("metric", "B/sample", "share"))
    for name, (bits, cnt) in per_metric.items():
        print("%-42s %12.3f %9.1f%%" % (name, bits / 8 / cnt, 100 * bits / total_bits))
    print("%-42s %12.3f %9.1f%%" % ("(scrape jitter, once per scrape)", jitter / 8 / total, 100 * jitter / total_bits))
    print("lower bound, raw samples: %.3f B/sample (values and jitter; no series ids, no framing)" % (total_bits / 8 / total))
    if a.digits:
        print("  with container_cpu rounded to %d significant digits: %.3f B/sample"
              % (a.digits, (total_bits + rounded_bits) / 8 / total))
    for b in buckets:
        print("lower bound, %ds tier: %.3f B/bucket over %d buckets (first and last only)"
              % (b, bucket_bits[b] / 8 / bucket_count[b], bucket_count[b]))


if __name__ == "__main__":
    main()
