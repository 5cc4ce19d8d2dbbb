"""matplotlib setup and output for vmemsim-plot.

Headless (Agg), dpi 120, grid on, constrained layout (legends placed outside the axes get
room without bbox_inches="tight", so the pixel size is exactly figsize x dpi). The output
format comes from the -o extension: .png (default), .svg or .pdf. Saving is deterministic:
no creation dates, a fixed SVG id salt — the same result files give the same bytes.
"""
import os
import re

from .errors import PlotError

try:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib import ticker
except ImportError as e:  # pragma: no cover - depends on the machine
    raise PlotError(f"matplotlib is not importable ({e}); install the Debian package python3-matplotlib "
                    "and run the tool with /usr/bin/python3") from None

DPI = 120
WIDTH = 9.0          # inches -> 1080 px
ROW_HEIGHT = 4.5     # inches -> 540 px per row of axes
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
CHAR_PX = 9.5       # average width of a 10 pt character at DPI, for layout estimates
COLORS = [matplotlib.colormaps["tab10"](i) for i in range(10)]
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v", "P"]

matplotlib.rcParams.update({
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "vmemsim-plot",
    "svg.fonttype": "path",
})


def output_path(out, default_stem):
    """(path, format) from -o; no -o gives <default_stem>.png in the current directory."""
    if not out:
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", default_stem) + ".png", "png"
    ext = os.path.splitext(out)[1].lower()
    if ext == "":
        return out + ".png", "png"
    if ext not in FORMATS:
        raise PlotError(f"-o {out}: unsupported format '{ext}' (use .png, .svg or .pdf)")
    return out, FORMATS[ext]


def new_figure(nrows=1, ncols=1, width=WIDTH, row_height=ROW_HEIGHT, sharex=False):
    fig = Figure(figsize=(width, row_height * nrows), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save(fig, out, default_stem):
    path, fmt = output_path(out, default_stem)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    meta = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
            "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}}[fmt]
    try:
        fig.savefig(path, format=fmt, dpi=DPI, metadata=meta)
    except OSError as e:
        raise PlotError(f"cannot write {path}: {e.strerror}") from None
    print(path)
    return path


def format_axis(axis, unit_path_is_time, ratio=False):
    """Tick labels: times in seconds with SI prefixes (1.5 ms), big counts as 120k / 3.4M."""
    if unit_path_is_time:
        axis.set_major_formatter(ticker.EngFormatter(unit="s", places=None, sep=" "))
    elif not ratio:
        axis.set_major_formatter(ticker.FuncFormatter(_compact))


def _compact(v, _pos=None):
    a = abs(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            s = f"{v / div:.3g}"
            return s + suf
    return f"{v:.4g}"


def zero_based(ax):
    """y from 0 with headroom above the data (autoscale leaves none when the data are flat)."""
    top = ax.dataLim.y1
    if top > 0 and top == top:
        ax.set_ylim(0, top * 1.08)
    else:
        ax.set_ylim(bottom=min(0, ax.get_ylim()[0]))


def suptitle(fig, text):
    """Figure title wrapped to the figure's width."""
    chars = int(fig.get_figwidth() * DPI / (CHAR_PX * 1.1))
    fig.suptitle(wrap(text, chars, break_long_words=False))


def legend_outside(ax, handles=None, labels=None, title=None, ncols=1):
    """Legend to the right of the axes, so it never covers data."""
    kw = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, title=title, ncols=ncols)
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    # Long labels are wrapped: an outside legend wider than about a third of the figure
    # leaves constrained layout no room for the axes, and the legend gets clipped.
    return ax.legend(handles, [wrap(l, 30) for l in labels], **kw)


class RunVmStyle:
    """Colour/line style/legend for lines keyed by (run, entity).

    One run: colour per VM, legend `run (seed N) / vm`. Several runs and one VM: colour per
    run, same legend. Several runs and several VMs: colour per run, line style per VM and two
    small legends (runs by colour, VMs by line style) instead of runs x VMs entries.
    """

    def __init__(self, run_labels, entities):
        self.run_labels = run_labels
        self.entities = list(entities)
        self.split = len(run_labels) > 1 and len(self.entities) > 1

    def __call__(self, i, e):
        """(color, linestyle, label) of the line of run i, entity e."""
        k = self.entities.index(e)
        if len(self.run_labels) == 1:
            return COLORS[k % 10], "-", f"{self.run_labels[i]} / {e}"
        style = LINESTYLES[k % len(LINESTYLES)] if self.split else "-"
        return COLORS[i % 10], style, f"{self.run_labels[i]} / {e}"

    def legend(self, ax, entity_word="VM"):
        if not self.split:
            return legend_outside(ax)
        # one legend with two sections (constrained layout makes room for one legend per axes)
        from matplotlib.lines import Line2D
        blank = Line2D([], [], linestyle="none")
        handles = [blank] + [Line2D([], [], color=COLORS[i % 10], linewidth=2) for i in range(len(self.run_labels))]
        labels = ["run (colour):"] + [wrap(l, 50) for l in self.run_labels]
        handles += [blank] + [Line2D([], [], color="0.3", linestyle=LINESTYLES[k % len(LINESTYLES)], linewidth=1.6)
                              for k in range(len(self.entities))]
        labels += [f"{entity_word} (line style):"] + self.entities
        leg = legend_outside(ax, handles, labels)
        for text, label in zip(leg.get_texts(), labels):
            if label.endswith(":"):
                text.set_fontweight("bold")
        return leg


def wrap(text, width=24, break_long_words=True):
    import textwrap
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=break_long_words)) or text
