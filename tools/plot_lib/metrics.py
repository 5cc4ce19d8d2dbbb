"""Metric addressing, units and reductions — the one place that knows metric names.

A metric is a dotted path below an entity: summary.vms.<vm>.<path> (one number per run) or
timeseries.vms.<vm>.<path> (one number per sample), e.g. `resident_pages.node0`,
`true_wss_pages.1s`, `faults.anon_alloc`, `remote_ratio`, `histograms.stall_latency_ns`.
Hosts work the same below summary.hosts.<h> / timeseries.hosts.<h> (`free_pages.node0`).

Resolution, in order:
  1. the exact path (a key may itself contain dots: keys are matched greedily);
  2. a unique suffix at a dot boundary: `faults.anon_alloc` finds the summary's
     `counters.mm.faults.anon_alloc`, `stall_latency_ns` finds `histograms.stall_latency_ns`;
  3. otherwise PlotError with a did-you-mean and the list of available metrics.
A path that names a dict of numbers (or of equal-length series) is an aggregate: the sum of
its members (`resident_pages` = node0 + node1 + ..., `faults` = all fault kinds).
A dict {"bounds_ns"|"bounds": [...], "counts": [...]} is a histogram (see Histogram).

Units come from the path's components (UNIT_RULES, first match wins): *_ns is time (drawn in
seconds with SI prefixes), *_pages pages, *ratio* a ratio, accesses/writes/faults counts.
In a time series, counts and times are per sampling interval (the recorder stores deltas);
--per-second divides them by the interval instead. Adding a metric with a new unit is one
line in UNIT_RULES.
"""
import math
from dataclasses import dataclass, field

from .errors import PlotError, did_you_mean, listing
from .results import KIND_LABEL


def _is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _num(x):
    return float(x) if _is_num(x) else math.nan


def is_histogram(node):
    return (isinstance(node, dict) and isinstance(node.get("counts"), list)
            and any(k.startswith("bounds") and isinstance(v, list) for k, v in node.items()))


def _is_series(node):
    return isinstance(node, list) and all(_is_num(x) or x is None for x in node)


class Histogram:
    """A latency histogram {bounds_ns, counts}. Three layouts are accepted:
      len(counts) == len(bounds) - 1   bounds are bucket edges [b0,b1), [b1,b2), ...
      len(counts) == len(bounds)       bounds are inclusive upper bounds (first bucket from 0)
      len(counts) == len(bounds) + 1   as above, plus a last overflow bucket (> last bound)
    """

    def __init__(self, node, where):
        bkey = "bounds_ns" if "bounds_ns" in node else next(k for k in node if k.startswith("bounds"))
        self.unit_key = bkey
        b = [float(x) for x in node[bkey]]
        c = [float(x) for x in node["counts"]]
        if len(c) == len(b) - 1:
            self.lowers, self.uppers, self.counts, self.overflow = b[:-1], b[1:], c, 0.0
        elif len(c) == len(b):
            self.lowers, self.uppers, self.counts, self.overflow = [0.0] + b[:-1], b, c, 0.0
        elif len(c) == len(b) + 1:
            self.lowers, self.uppers, self.counts, self.overflow = [0.0] + b[:-1], b, c[:-1], c[-1]
        else:
            raise PlotError(f"{where}: histogram has {len(b)} bounds and {len(c)} counts "
                            "(expected counts = bounds - 1, bounds, or bounds + 1)")
        self.total = sum(self.counts) + self.overflow

    def cdf(self):
        """(x, F(x)) at each bucket's upper bound: the fraction of samples <= x."""
        xs, ys, acc = [], [], 0.0
        for u, n in zip(self.uppers, self.counts):
            acc += n
            xs.append(u)
            ys.append(acc / self.total if self.total else math.nan)
        return xs, ys

    def curve(self):
        """The CDF as drawn: from F = 0 at the lower edge of the first non-empty bucket (half its
        bound when that edge is 0), then cdf() from that bucket on -- so an axis starts near the
        data, not at 0 through empty buckets, when the samples start at 10 µs."""
        xs, ys = self.cdf()
        first = next((k for k, n in enumerate(self.counts) if n), len(self.counts) - 1)
        x0 = self.lowers[first] if self.lowers[first] > 0 else self.uppers[first] / 2
        return [x0] + xs[first:], [0.0] + ys[first:]

    def percentile(self, q):
        """Linear within the bucket; in the overflow bucket it is the last bound (a lower bound)."""
        if not self.total:
            return math.nan
        target, acc = q * self.total, 0.0
        for lo, hi, n in zip(self.lowers, self.uppers, self.counts):
            if n and acc + n >= target:
                return lo + (hi - lo) * (target - acc) / n
            acc += n
        return self.uppers[-1]

    def mean(self):
        if not self.total:
            return math.nan
        s = sum((lo + hi) / 2 * n for lo, hi, n in zip(self.lowers, self.uppers, self.counts))
        return (s + self.uppers[-1] * self.overflow) / self.total


@dataclass
class Metric:
    path: str          # canonical dotted path (as found in the result)
    section: str       # "summary" or "timeseries"
    kind: str          # "scalar", "series" or "histogram"
    value: object      # float, list of float, or Histogram
    members: list = field(default_factory=list)  # summed member names for an aggregate


def _walk(node, parts):
    if not parts:
        return node
    if not isinstance(node, dict):
        return None
    for j in range(len(parts), 0, -1):
        key = ".".join(parts[:j])
        if key in node:
            r = _walk(node[key], parts[j:])
            if r is not None:
                return r
    return None


def _leaves(node, prefix=""):
    """{path: node} of every numeric leaf (number, series, histogram) below node."""
    out = {}
    for k, v in node.items():
        p = f"{prefix}{k}"
        if _is_num(v) or _is_series(v) or is_histogram(v):
            out[p] = v
        elif isinstance(v, dict):
            out.update(_leaves(v, p + "."))
    return out


def _aggregate(node):
    """(kind, value, members) of a dict summed over its numeric leaves, or None."""
    leaves = _leaves(node)
    if not leaves:
        return None
    if all(_is_num(v) for v in leaves.values()):
        return "scalar", sum(float(v) for v in leaves.values()), list(leaves)
    if all(_is_series(v) for v in leaves.values()):
        lens = {len(v) for v in leaves.values()}
        if len(lens) == 1:
            n = lens.pop()
            return "series", [sum(_num(v[i]) for v in leaves.values()) for i in range(n)], list(leaves)
    return None


def catalogue(node, prefix=""):
    """{path: kind} of every addressable metric below node; aggregates have kind 'sum'."""
    out = {}
    if not isinstance(node, dict):
        return out
    for k, v in node.items():
        p = f"{prefix}{k}"
        if _is_num(v):
            out[p] = "scalar"
        elif _is_series(v):
            out[p] = "series"
        elif is_histogram(v):
            out[p] = "histogram"
        elif isinstance(v, dict):
            if _aggregate(v) is not None:
                out[p] = "sum"
            out.update(catalogue(v, p + "."))
    return out


def _as_metric(node, path, section, where):
    if _is_num(node):
        return Metric(path, section, "scalar", float(node))
    if _is_series(node):
        return Metric(path, section, "series", [_num(x) for x in node])
    if is_histogram(node):
        return Metric(path, section, "histogram", Histogram(node, f"{where}: {section} {path}"))
    if isinstance(node, dict):
        agg = _aggregate(node)
        if agg:
            return Metric(path, section, agg[0], agg[1], agg[2])
        raise PlotError(f"{where}: {section} metric '{path}' is a group that cannot be summed; "
                        f"pick one of: {', '.join(path + '.' + k for k in catalogue(node))}")
    return None


def lookup(node, metric, section, where):
    """Metric or None (not found). Raises PlotError for an ambiguous suffix."""
    if not isinstance(node, dict):
        return None
    m = metric.strip().strip(".")
    found = _walk(node, m.split("."))
    if found is not None:
        r = _as_metric(found, m, section, where)
        if r is not None:
            return r
    names = catalogue(node)
    cands = [n for n in names if n.endswith("." + m)]
    if len(cands) > 1:
        raise PlotError(f"{where}: metric '{metric}' is ambiguous in {section}: {', '.join(cands)}")
    if cands:
        return _as_metric(_walk(node, cands[0].split(".")), cands[0], section, where)
    return None


def unknown_metric(metric, nodes, where):
    """PlotError for a metric found in none of nodes ({section: entity dict})."""
    avail = {}
    for section, node in nodes.items():
        for n, k in catalogue(node or {}).items():
            avail.setdefault(section, []).append(n + (" (sum)" if k == "sum" else "")
                                                 + (" (histogram)" if k == "histogram" else ""))
    allnames = [a.split(" ")[0] for v in avail.values() for a in v]
    msg = f"unknown metric '{metric}' for {where}{did_you_mean(metric, allnames)}"
    for section, names in avail.items():
        msg += f"\navailable in {section}:\n{listing(names)}"
    return PlotError(msg)


def find(run, section, kind, entity, metric):
    """The metric of one entity in one section of a run, or PlotError listing what exists."""
    where = f"{KIND_LABEL[kind]} '{entity}' in {run.path}"
    node = run.entity(section, kind, entity)
    m = lookup(node, metric, section, where)
    if m is None:
        raise unknown_metric(metric, {section: node}, where)
    return m


# -- reductions (compare, sweep) ---------------------------------------------------------
SERIES_STATS = ("mean", "min", "max", "last", "sum")
HIST_STATS = ("mean", "p50", "p90", "p99", "p999")
STATS = ("auto",) + tuple(dict.fromkeys(SERIES_STATS + HIST_STATS))


def _supports(kind, stat):
    return stat == "auto" or (kind == "series" and stat in SERIES_STATS) or (kind == "histogram" and stat in HIST_STATS)


def reduce(m, stat):
    """(number, description) of a metric: a scalar as is, a series/histogram by `stat`."""
    if m.kind == "scalar":
        return m.value, ""
    if m.kind == "series":
        s = "mean" if stat == "auto" else stat
        xs = [x for x in m.value if not math.isnan(x)]
        if not xs:
            return math.nan, f"{s} over time"
        v = {"mean": lambda: sum(xs) / len(xs), "min": lambda: min(xs), "max": lambda: max(xs),
             "last": lambda: xs[-1], "sum": lambda: sum(xs)}[s]()
        return v, f"{s} over time"
    s = "mean" if stat == "auto" else stat
    h = m.value
    v = h.mean() if s == "mean" else h.percentile({"p50": .5, "p90": .9, "p99": .99, "p999": .999}[s])
    return v, s


def find_reducible(run, kind, entity, metric, stat):
    """The metric as one number per run: summary first, then the time series, whichever
    holds it in a form `stat` applies to. Returns (Metric, value, description)."""
    where = f"{KIND_LABEL[kind]} '{entity}' in {run.path}"
    nodes = {s: run.entity(s, kind, entity) for s in ("summary", "timeseries")}
    seen = []
    for section, node in nodes.items():
        m = lookup(node, metric, section, where)
        if m is None:
            continue
        if _supports(m.kind, stat):
            v, desc = reduce(m, stat)
            return m, v, desc
        seen.append(m)
    if seen:
        kinds = ", ".join(f"{m.section} '{m.path}' is a {m.kind}" for m in seen)
        raise PlotError(f"--stat {stat} does not apply to metric '{metric}' for {where} ({kinds}); "
                        f"series take {'/'.join(SERIES_STATS)}, histograms {'/'.join(HIST_STATS)}, "
                        "scalars only auto")
    raise unknown_metric(metric, nodes, where)


# -- units --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    name: str        # noun used in labels: "pages", "faults", "time", "ratio", ...
    counter: bool    # a per-interval delta in a time series
    time: bool = False


# (test on one path component, unit) — first component that matches any rule, rules in order.
UNIT_RULES = [
    (lambda c: c.endswith("_ns") or c == "ns", Unit("time", True, True)),
    (lambda c: c.endswith("per_vcpu_second"), Unit("accesses/s per vCPU", False)),
    (lambda c: "_pages" in c or c == "pages", Unit("pages", False)),
    (lambda c: "ratio" in c, Unit("ratio", False)),
    (lambda c: c == "accesses", Unit("accesses", True)),
    (lambda c: c == "writes", Unit("writes", True)),
    (lambda c: c == "faults", Unit("faults", True)),
    (lambda c: c == "vcpus", Unit("vCPUs", False)),
]
NO_UNIT = Unit("", False)


def unit_of(path):
    for comp in path.split("."):
        for test, unit in UNIT_RULES:
            if test(comp):
                return unit
    return NO_UNIT


def _fmt_interval(ns):
    from .results import format_ns
    s = format_ns(int(ns))
    for suf in ("ms", "us", "ns", "s"):
        if s.endswith(suf):
            return s[: -len(suf)] + " " + suf.replace("us", "µs")
    return s


def axis_label(m, interval_ns=None, per_second=False, stat_desc=""):
    """'resident_pages (sum of node0, node1) [pages]', 'accesses [accesses per 100 ms]', ..."""
    u = unit_of(m.path)
    name = m.path
    if m.members:
        shown = [x.rsplit(".", 1)[-1] if "." in x else x for x in m.members]
        name += f" (sum of {', '.join(shown[:4])}{', ...' if len(shown) > 4 else ''})"
    if stat_desc:
        name = f"{stat_desc} of {name}"
    if u.time:
        unit = "time"
    else:
        unit = u.name
    if m.section == "timeseries" and u.counter:
        if per_second:
            unit = "s / s" if u.time else f"{unit} / s"
        elif interval_ns:
            unit = f"{unit} / {_fmt_interval(interval_ns)}"
        else:
            unit = f"{unit} / interval"
    elif u.time and m.kind == "histogram":
        unit = "latency"
    return f"{name} [{unit}]" if unit else name


def display_scale(path):
    """Factor applied to values before drawing: ns are drawn as seconds."""
    return 1e-9 if unit_of(path).time else 1.0
