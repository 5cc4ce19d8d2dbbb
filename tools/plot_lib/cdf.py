"""`vmemsim-plot cdf`: cumulative distribution of a latency histogram or a time series.

    vmemsim-plot cdf RESULT... --metric stall_latency [--vm V | --host H] [--linear] [-o out.png]

The metric is looked up first as a histogram in the summary — histograms.<M>_ns,
histograms.<M>, <M>_ns, <M> below summary.vms.<vm>, where a histogram is
{"bounds_ns": [...], "counts": [...]} (layouts in metrics.Histogram) — and the CDF is drawn
at the bucket bounds (the fraction of samples <= bound). Failing that, the metric is a time
series and its per-sample values give an empirical CDF. Latencies (ns) are drawn in seconds
with SI prefixes, on a log axis when they are positive and span more than two decades (--linear to force a
linear one). Samples above the last bound (overflow bucket) keep the curve below 1 and are
reported in the legend. One line per (run, VM), styled as in `timeseries`; dotted guides
mark p50, p90 and p99.
"""
import argparse
import math

from . import figure, metrics, results
from .errors import PlotError


def add_parser(sub):
    p = sub.add_parser("cdf", help="CDF of a histogram metric (or of a time series' samples)",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULT", help="result.json files or run directories")
    p.add_argument("--metric", "-m", required=True,
                   help="histogram name (stall_latency -> histograms.stall_latency_ns) or time-series path")
    results.add_entity_args(p)
    p.add_argument("--linear", action="store_true", help="linear x axis even for wide ranges")
    p.add_argument("-o", "--output", help="output file: .png (default), .svg or .pdf")
    p.set_defaults(func=run)


def _find(run, kind, entity, metric):
    where = f"{results.KIND_LABEL[kind]} '{entity}' in {run.path}"
    summary = run.entity("summary", kind, entity)
    base = metric.strip(".")
    for cand in (f"histograms.{base}_ns", f"histograms.{base}", f"{base}_ns", base):
        m = metrics.lookup(summary, cand, "summary", where)
        if m is not None and m.kind == "histogram":
            return m
    series = run.entity("timeseries", kind, entity)
    m = metrics.lookup(series, base, "timeseries", where)
    if m is not None and m.kind == "series":
        return m
    hists = [n for n, k in metrics.catalogue(summary or {}).items() if k == "histogram"]
    err = metrics.unknown_metric(metric, {"timeseries": series}, where)
    raise PlotError(f"{err}\nhistograms in the summary: {', '.join(hists) if hists else 'none (this result has no histograms)'}")


def run(args):
    runs = results.load_runs(args.results)
    labels = results.run_labels(runs, with_seed=True)
    lines, kind = [], "vms"
    for i, r in enumerate(runs):
        kind, names = results.selected_entities(r, args)
        for e in names:
            lines.append((i, e, _find(r, kind, e, args.metric)))
    kinds = {m.kind for _, _, m in lines}
    if len(kinds) > 1:
        raise PlotError(f"metric '{args.metric}' is a histogram in some results and a time series in others")
    is_hist = kinds == {"histogram"}
    m0 = lines[0][2]
    scale = metrics.display_scale(m0.path)
    unit = metrics.unit_of(m0.path)

    styler = figure.RunVmStyle(labels, list(dict.fromkeys(e for _, e, _ in lines)))
    fig, (ax,) = figure.new_figure()
    xmin, xmax = math.inf, 0.0
    for i, e, m in lines:
        color, style, label = styler(i, e)
        if is_hist:
            h = m.value
            if not h.total:
                continue
            xs, ys = h.curve()  # from the first non-empty bucket: the axis starts near the data
            if h.overflow:
                label += f"  ({100 * h.overflow / h.total:.2g}% > {_fmt(h.uppers[-1] * scale, unit.time)})"
            ax.plot([x * scale for x in xs], ys, style, color=color, linewidth=1.6,
                    marker="o", markersize=3, label=label)
        else:
            vals = sorted(v for v in m.value if not math.isnan(v))
            if not vals:
                continue
            n = len(vals)
            xs = [v * scale for v in vals]
            ax.step([xs[0]] + xs, [0.0] + [(k + 1) / n for k in range(n)], style, where="post",
                    color=color, linewidth=1.6, label=label + f"  (n = {n})")
        xmin, xmax = min(xmin, min(xs) * (1 if not is_hist else scale)), max(xmax, max(xs) * (1 if not is_hist else scale))
    # log axis for wide, strictly positive ranges (a zero sample would vanish on it)
    if xmin > 0 and xmin < math.inf and not args.linear and xmax / xmin > 100:
        ax.set_xscale("log")
    for q in (0.5, 0.9, 0.99):
        ax.axhline(q, color="0.5", linestyle=":", linewidth=0.9, zorder=0)
        # labelled at the left, where a CDF is still low and the corner is empty
        ax.annotate(f"p{int(q * 100)}", xy=(0.0, q), xycoords=("axes fraction", "data"),
                    xytext=(3, -2 if q > 0.95 else 2), textcoords="offset points", ha="left",
                    va="top" if q > 0.95 else "bottom",
                    fontsize=8, color="0.35")
    ax.set_ylim(0, 1.02)
    figure.format_axis(ax.xaxis, unit.time, ratio=unit.name == "ratio")
    xlabel = metrics.axis_label(m0, runs[0].interval_ns)
    if ax.get_xscale() == "log":
        xlabel += ", log scale"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of stalls ≤ x" if is_hist else "fraction of samples ≤ x")
    ax.set_title(f"{results.scenario_names(runs)}: CDF of {m0.path}"
                 + ("" if is_hist else " (per-sample values)"))
    styler.legend(ax, results.KIND_LABEL[kind])
    figure.save(fig, args.output, f"cdf_{args.metric}")


def _fmt(v, is_time):
    if not is_time:
        return f"{v:g}"
    for div, suf in ((1, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if v >= div:
            return f"{v / div:g} {suf}"
    return f"{v:g} s"
