"""`vmemsim-plot compare`: one number per run and VM, as grouped bars.

    vmemsim-plot compare RESULT... --metric M [--stat S] [--vm V | --host H]
                         [--split-seeds] [-o out.png]

The number is the summary metric (summary.vms.<vm>.<M>); a metric only recorded as a time
series is reduced over time (--stat mean|min|max|last|sum, default mean), a histogram by
--stat mean|p50|p90|p99|p999 (default mean). Runs are grouped by label: scenario name plus
the resolved-scenario values that differ between the given runs, seed excluded — so runs
that differ only in seed form one bar of mean ± sample std, with each seed's value drawn as a
dot. --split-seeds gives every seed its own bar instead. One bar colour per VM.
"""
import argparse
import math

from . import figure, metrics, results


def add_parser(sub):
    p = sub.add_parser("compare", help="bar chart of a metric across runs",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULT", help="result.json files or run directories")
    p.add_argument("--metric", "-m", required=True, help="dotted path below summary.vms.<vm>")
    p.add_argument("--stat", choices=metrics.STATS, default="auto",
                   help="reduction of a time-series or histogram metric (default: mean)")
    results.add_entity_args(p)
    p.add_argument("--split-seeds", action="store_true", help="one bar per seed instead of mean ± std")
    p.add_argument("-o", "--output", help="output file: .png (default), .svg or .pdf")
    p.set_defaults(func=run)


def mean_std(xs):
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return math.nan, 0.0
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def run(args):
    runs = results.load_runs(args.results)
    labels = results.run_labels(runs, with_seed=args.split_seeds)
    groups = list(dict.fromkeys(labels))
    values = {}  # (group, entity) -> [values]
    entities, first = [], None
    kind = "vms"
    for r, lab in zip(runs, labels):
        kind, names = results.selected_entities(r, args)
        for e in names:
            m, v, desc = metrics.find_reducible(r, kind, e, args.metric, args.stat)
            first = first or (m, desc, r)
            values.setdefault((lab, e), []).append(v)
            if e not in entities:
                entities.append(e)

    m0, desc, r0 = first
    scale = metrics.display_scale(m0.path)
    unit = metrics.unit_of(m0.path)
    # tick labels wrapped at their natural breaks; the figure widens to fit them side by side
    tick_labels = [figure.wrap(g, 26, break_long_words=False) for g in groups]
    line_chars = max(len(line) for t in tick_labels for line in t.split("\n"))
    per_group_in = max(0.35 * max(1, len(entities)), line_chars * figure.CHAR_PX / figure.DPI + 0.3)
    width = max(figure.WIDTH, 2.2 + len(groups) * per_group_in)
    rotate = width > 20
    fig, (ax,) = figure.new_figure(width=min(width, 20))
    nbar = len(entities)
    width = 0.8 / nbar
    nmax = 1
    for k, e in enumerate(entities):
        xs, ms, ss = [], [], []
        for g_i, g in enumerate(groups):
            vals = values.get((g, e))
            if not vals:
                continue
            mu, sd = mean_std(vals)
            nmax = max(nmax, len(vals))
            x = g_i + (k - (nbar - 1) / 2) * width
            xs.append(x)
            ms.append(mu * scale)
            ss.append(sd * scale)
            if len(vals) > 1:
                ax.plot([x] * len(vals), [v * scale for v in vals], "o", color="black", markersize=3.5,
                        alpha=0.7, zorder=3)
        ax.bar(xs, ms, width * 0.92, yerr=ss if any(ss) else None, capsize=4,
               color=figure.COLORS[k % 10], label=e, zorder=2,
               error_kw={"elinewidth": 1.2, "ecolor": "0.15"})
    ax.set_xticks(range(len(groups)))
    if rotate:
        ax.set_xticklabels(groups, rotation=30, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticklabels(tick_labels)
    ax.grid(axis="x", visible=False)
    ax.set_axisbelow(True)
    ax.set_ylabel(figure.wrap(metrics.axis_label(m0, r0.interval_ns, False, desc), 50))
    figure.format_axis(ax.yaxis, unit.time, ratio=unit.name == "ratio")
    title = f"{results.scenario_names(runs)}: {desc + ' of ' if desc else ''}{m0.path}"
    if len(entities) == 1:
        title += f" ({results.KIND_LABEL[kind]} {entities[0]})"
    if nmax > 1:
        title += f" — mean ± std over seeds (n = {nmax}, dots = seeds)"
    ax.set_title(title)
    if len(entities) > 1 or nmax > 1:
        figure.legend_outside(ax, title=results.KIND_LABEL[kind])
    figure.save(fig, args.output, f"compare_{args.metric}")
