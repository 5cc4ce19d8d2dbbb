"""Errors and warnings of vmemsim-plot.

Any user-facing problem (missing file, unknown metric, VM not in a result, bad option) raises
PlotError; the entry point prints `vmemsim-plot: error: <message>` and exits 2, like vmemsim
itself does for scenario errors. warn() reports a recoverable problem (a failed sweep point)
on stderr and carries on.
"""
import difflib
import sys

EXIT_USAGE = 2


class PlotError(Exception):
    """A problem with the user's input; the message says what and how to fix it."""


def warn(msg):
    print(f"vmemsim-plot: warning: {msg}", file=sys.stderr)


def did_you_mean(word, choices, n=3):
    """' (did you mean: a, b?)' for the closest choices, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)
    if not close:
        # also try the last path component: 'anon_aloc' -> 'faults.anon_alloc', 'thet' -> '/vms/0/workload/theta'
        def last(x):
            return x.replace("/", ".").rsplit(".", 1)[-1]
        tail = {last(c): c for c in choices}
        close = [tail[t] for t in difflib.get_close_matches(last(word), list(tail), n=n, cutoff=0.6)]
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def listing(items, width=100, indent="  "):
    """Items wrapped into lines for an error message."""
    lines, cur = [], ""
    for it in items:
        piece = (", " if cur else "") + it
        if cur and len(indent) + len(cur) + len(piece) > width:
            lines.append(indent + cur + ",")
            cur = it
        else:
            cur += piece
    if cur:
        lines.append(indent + cur)
    return "\n".join(lines)
