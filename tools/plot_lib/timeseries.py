"""`vmemsim-plot timeseries`: metrics over simulated time, several runs overlaid.

    vmemsim-plot timeseries RESULT... --metric M [--metric M2 ...] [--vm V | --host H]
                            [--per-second] [-o out.png]

One row of axes per metric, sharing the time axis (simulated seconds, from timeseries.t_ns).
One line per (run, VM): colour per run, line style per VM (colour per VM for a single run).
Legend entries read `scenario-name [differing params] (seed N) / vm`. Counters and times
are per sampling interval as recorded; --per-second turns them into rates (forced, with a
warning, when the runs were sampled at different intervals).
"""
from . import figure, metrics, results
from .errors import PlotError, warn


def add_parser(sub):
    p = sub.add_parser("timeseries", help="metrics over simulated time, runs overlaid",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULT", help="result.json files or run directories")
    p.add_argument("--metric", "-m", action="append", required=True,
                   help="dotted path below timeseries.vms.<vm> (repeatable: one row per metric)")
    results.add_entity_args(p)
    p.add_argument("--per-second", action="store_true", help="draw per-interval counters as rates")
    p.add_argument("--label", action="append", metavar="TEXT",
                   help="legend label of a run, one per RESULT in order (default: name [differing params] (seed N))")
    p.add_argument("-o", "--output", help="output file: .png (default), .svg or .pdf")
    p.set_defaults(func=run)


def run(args):
    runs = results.load_runs(args.results)
    labels = results.run_labels(runs, with_seed=True)
    if args.label:
        if len(args.label) != len(runs):
            raise PlotError(f"--label given {len(args.label)} time(s) for {len(runs)} result(s): one per result")
        labels = list(args.label)
    intervals = {r.interval_ns for r in runs}
    per_second = args.per_second
    if len(intervals) > 1 and not per_second:
        warn("runs have different sampling intervals; drawing counters per second")
        per_second = True

    # resolve everything first so that errors come before any drawing
    rows = []  # per metric: list of (run_idx, entity, Metric)
    for metric in args.metric:
        lines = []
        missing = []  # (run, error): a mechanism that was off in a run records no series
        for i, r in enumerate(runs):
            kind, names = results.selected_entities(r, args)
            for e in names:
                try:
                    m = metrics.find(r, "timeseries", kind, e, metric)
                except PlotError as err:
                    if len(runs) == 1 or not str(err).startswith("unknown metric"):
                        raise
                    missing.append((r, err))
                    continue
                if m.kind != "series":
                    raise PlotError(f"timeseries metric '{m.path}' of {e} in {r.path} is a {m.kind}, not a series"
                                    + ("; use `vmemsim-plot cdf`" if m.kind == "histogram" else ""))
                if len(m.value) != len(r.t_ns):
                    raise PlotError(f"{r.path}: timeseries '{m.path}' of {e} has {len(m.value)} samples "
                                    f"but t_ns has {len(r.t_ns)}")
                lines.append((i, e, m))
        if not lines and missing:
            raise missing[0][1]
        for r, _ in missing:
            warn(f"{r.path}: no timeseries '{metric}' (the mechanism was off in that run); its line is left out")
        rows.append(lines)

    entities = list(dict.fromkeys(e for lines in rows for _, e, _ in lines))
    styler = figure.RunVmStyle(labels, entities)
    fig, axes = figure.new_figure(nrows=len(rows), row_height=3.6 if len(rows) > 1 else figure.ROW_HEIGHT,
                                  sharex=True)
    for ax, lines, metric in zip(axes, rows, args.metric):
        for i, e, m in lines:
            r = runs[i]
            ys = list(m.value)
            unit = metrics.unit_of(m.path)
            if per_second and unit.counter:
                prev, rate = 0, []
                for t, y in zip(r.t_ns, ys):
                    dt = (t - prev) / 1e9
                    rate.append(y / dt if dt > 0 else float("nan"))
                    prev = t
                ys = rate
            scale = metrics.display_scale(m.path)
            ys = [y * scale for y in ys]
            ts = [t / 1e9 for t in r.t_ns]
            color, style, label = styler(i, e)
            ax.plot(ts, ys, style, color=color, linewidth=1.6,
                    marker="o" if len(ts) <= 40 else None, markersize=3, label=label)
        m0 = lines[0][2]
        ax.set_ylabel(figure.wrap(metrics.axis_label(m0, runs[0].interval_ns, per_second), 44))
        unit = metrics.unit_of(m0.path)
        figure.format_axis(ax.yaxis, unit.time, ratio=unit.name == "ratio")
        if unit.name == "ratio":
            ax.set_ylim(-0.02, 1.02)
        else:
            figure.zero_based(ax)
        ax.set_xlim(left=0)
        if ax is axes[0]:
            styler.legend(ax, results.KIND_LABEL[kind])
    axes[-1].set_xlabel("simulated time [s]")
    title = results.scenario_names(runs)
    if len(rows) == 1:
        axes[0].set_title(f"{title}: {rows[0][0][2].path}")
    else:
        figure.suptitle(fig, title)
    stem = "timeseries_" + "+".join(args.metric)
    figure.save(fig, args.output, stem)
