"""`vmemsim-plot sweep`: a metric against one sweep axis, mean ± std over the others.

    vmemsim-plot sweep SWEEP_DIR --x AXIS --y METRIC [--hue AXIS] [--stat S]
                       [--vm V | --host H] [-o out.png]

Reads SWEEP_DIR/index.json (DESIGN.md "Sweeps"):
  {axes: [{pointer, values}], points: [{id, values: {pointer: value}, status, result}]}
and each point's result file (`result` is relative to SWEEP_DIR). Points whose status is not
ok/done (or whose result is missing or unreadable) are skipped with a warning on stderr.
AXIS is an axis pointer (/vms/0/workload/theta) or a unique suffix of one (theta).

Per VM one panel; per --hue value one line; at each x the mean ± sample std (error bars and
a shaded band) over every point sharing (x, hue) — i.e. over the seed axis and any other
axis that is neither x nor hue. Numeric axes are drawn to scale, others (strings such as
"256MiB", policy names) as categories in the axis' order. METRIC and --stat work as in
`compare` (summary value; time series and histograms reduced).
"""
import argparse
import json
import os

from . import figure, metrics, results
from .compare import mean_std
from .errors import PlotError, did_you_mean, warn

OK_STATUS = {"ok", "done", "success", "succeeded", "completed", "complete"}


def add_parser(sub):
    p = sub.add_parser("sweep", help="metric against a sweep axis, mean ± std over seeds",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", help="directory holding index.json")
    p.add_argument("--x", required=True, metavar="AXIS", help="axis pointer for the x axis")
    p.add_argument("--y", required=True, metavar="METRIC", help="metric (as in compare)")
    p.add_argument("--hue", metavar="AXIS", help="axis pointer drawn as one line per value")
    p.add_argument("--stat", choices=metrics.STATS, default="auto",
                   help="reduction of a time-series or histogram metric (default: mean)")
    results.add_entity_args(p)
    p.add_argument("-o", "--output", help="output file: .png (default), .svg or .pdf")
    p.set_defaults(func=run)


def load_index(d):
    path = os.path.join(d, "index.json")
    if not os.path.isdir(d):
        raise PlotError(f"{d}: no such directory")
    if not os.path.exists(path):
        raise PlotError(f"{d}: not a sweep directory (no index.json)")
    try:
        with open(path) as f:
            idx = json.load(f)
    except json.JSONDecodeError as e:
        raise PlotError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(idx, dict) or not isinstance(idx.get("axes"), list) or not isinstance(idx.get("points"), list):
        raise PlotError(f"{path}: expected {{axes: [...], points: [...]}}")
    return path, idx


def resolve_axis(name, axes, where):
    pointers = [a.get("pointer") for a in axes]
    want = name if name.startswith("/") else "/" + name
    if want in pointers:
        return want
    cands = [p for p in pointers if p.endswith("/" + name.strip("/"))]
    if len(cands) == 1:
        return cands[0]
    if len(cands) > 1:
        raise PlotError(f"axis '{name}' is ambiguous in {where}: {', '.join(cands)}")
    raise PlotError(f"axis '{name}' is not in {where}{did_you_mean(want, pointers)}; "
                    f"axes: {', '.join(pointers)}")


def _key(v):
    return json.dumps(v, sort_keys=True)


def _numeric(vals):
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)


def run(args):
    idx_path, idx = load_index(args.sweep_dir)
    axes = idx["axes"]
    xp = resolve_axis(args.x, axes, idx_path)
    hp = resolve_axis(args.hue, axes, idx_path) if args.hue else None
    if hp == xp:
        raise PlotError("--hue must be a different axis from --x")
    axis_values = {a["pointer"]: list(a.get("values") or []) for a in axes}
    others = [a["pointer"] for a in axes if a["pointer"] not in (xp, hp)]

    # load the successful points
    cells = {}  # (entity, hue_key, x_key) -> [values]
    xs_seen, hues_seen = {}, {}
    first, kind, entities, loaded, skipped = None, "vms", [], 0, 0
    for pt in idx["points"]:
        pid = pt.get("id", "?")
        status = str(pt.get("status", "ok")).lower()
        rel = pt.get("result")
        vals = pt.get("values") or {}
        if status not in OK_STATUS:
            warn(f"sweep point {pid} skipped: status {status}" + (f" ({pt['error']})" if pt.get("error") else ""))
            skipped += 1
            continue
        if not rel:
            warn(f"sweep point {pid} skipped: no result recorded")
            skipped += 1
            continue
        if xp not in vals or (hp and hp not in vals):
            raise PlotError(f"{idx_path}: point {pid} has no value for {xp if xp not in vals else hp}")
        try:
            r = results.Run.load(os.path.join(args.sweep_dir, rel))
        except PlotError as e:
            warn(f"sweep point {pid} skipped: {e}")
            skipped += 1
            continue
        kind, names = results.selected_entities(r, args)
        for e in names:
            m, v, desc = metrics.find_reducible(r, kind, e, args.y, args.stat)
            first = first or (m, desc, r)
            hk = _key(vals[hp]) if hp else ""
            xk = _key(vals[xp])
            cells.setdefault((e, hk, xk), []).append(v)
            xs_seen[xk] = vals[xp]
            if hp:
                hues_seen[hk] = vals[hp]
            if e not in entities:
                entities.append(e)
        loaded += 1
    if not loaded:
        raise PlotError(f"{idx_path}: no successful points to plot ({skipped} skipped)")

    def ordered(pointer, seen):
        order = [_key(v) for v in axis_values.get(pointer, [])]
        keys = [k for k in order if k in seen] + [k for k in seen if k not in order]
        return keys
    x_keys = ordered(xp, xs_seen)
    hue_keys = ordered(hp, hues_seen) if hp else [""]
    numeric_x = _numeric([xs_seen[k] for k in x_keys])
    xpos = {k: (xs_seen[k] if numeric_x else i) for i, k in enumerate(x_keys)}

    m0, desc, r0 = first
    scale = metrics.display_scale(m0.path)
    unit = metrics.unit_of(m0.path)
    ncols = min(len(entities), 3)
    nrows = (len(entities) + ncols - 1) // ncols
    fig, axs = figure.new_figure(nrows, ncols, width=figure.WIDTH if ncols == 1 else 5.2 * ncols + 1.8,
                                 row_height=figure.ROW_HEIGHT if nrows == 1 else 4.0)
    ns = []
    for ax, e in zip(axs, entities):
        for h_i, hk in enumerate(hue_keys):
            px, py, pe = [], [], []
            for xk in x_keys:
                vals = cells.get((e, hk, xk))
                if not vals:
                    continue
                mu, sd = mean_std(vals)
                ns.append(len(vals))
                px.append(xpos[xk])
                py.append(mu * scale)
                pe.append(sd * scale)
            if not px:
                continue
            color = figure.COLORS[h_i % 10]
            label = results.format_value(hp, hues_seen[hk]) if hp else e
            ax.errorbar(px, py, yerr=pe, color=color, marker=figure.MARKERS[h_i % len(figure.MARKERS)],
                        markersize=5, linewidth=1.6, capsize=4, label=label)
            ax.fill_between(px, [y - s for y, s in zip(py, pe)], [y + s for y, s in zip(py, pe)],
                            color=color, alpha=0.15, linewidth=0)
        if not numeric_x:
            ax.set_xticks(range(len(x_keys)))
            ax.set_xticklabels([results.format_value(xp, xs_seen[k]) for k in x_keys])
            ax.set_xlim(-0.5, len(x_keys) - 0.5)
        else:
            ax.set_xticks([xs_seen[k] for k in x_keys])
            ax.set_xticklabels([results.format_value(xp, xs_seen[k]) for k in x_keys])
        ax.set_xlabel(results.pretty_pointer(xp, r0.scenario) + f"   ({xp})")
        ax.set_ylabel(figure.wrap(metrics.axis_label(m0, r0.interval_ns, False, desc), 44))
        figure.format_axis(ax.yaxis, unit.time, ratio=unit.name == "ratio")
        if unit.name == "ratio":
            ax.set_ylim(-0.02, 1.02)
        else:
            figure.zero_based(ax)
        ax.set_title(f"{results.KIND_LABEL[kind]} {e}")
    for ax in axs[len(entities):]:
        ax.set_visible(False)
    if hp:
        figure.legend_outside(axs[min(ncols, len(entities)) - 1],
                              title=figure.wrap(results.pretty_pointer(hp, r0.scenario), 24))
    over = ", ".join(results.pretty_pointer(p, r0.scenario) for p in others) if others else "nothing"
    nrange = f"n = {min(ns)}" if min(ns) == max(ns) else f"n = {min(ns)}–{max(ns)}"
    name = idx.get("name") or r0.name
    figure.suptitle(fig, f"sweep {name}: {m0.path} — mean ± std over {over} ({nrange})"
                 + (f", {skipped} point{'s' if skipped != 1 else ''} failed" if skipped else ""))
    figure.save(fig, args.output, f"sweep_{args.y}")
