"""Loading vmemsim result files and naming runs.

A result (DESIGN.md "Output") is results/<name>/<run-id>/result.json:
  {schema_version, scenario: <resolved scenario>, summary: {total, hosts, vms},
   timeseries: {t_ns: [...], hosts: {H: {...}}, vms: {V: {...}}}}
Run.load() accepts the file or the run directory holding it.

Entities are what a metric is read from: VMs (summary.vms.<vm>, timeseries.vms.<vm>) by
default, or hosts (summary.hosts.<h>, timeseries.hosts.<h>) with --host.

Run labels: runs are told apart by scenario name plus the resolved-scenario values that
differ between the runs being plotted (e.g. `quickstart [web.workload.theta=1.2]`); the seed
is added separately where the plot wants it (legend of a time series) or grouped over
(error bars of a bar chart).
"""
import json
import os

from .errors import PlotError, did_you_mean

# Scenario keys never used to tell runs apart.
_IGNORED_PARAMS = {"/seed", "/description", "/name", "/schema_version"}


class Run:
    def __init__(self, path, data):
        self.path = path
        self.data = data
        sc = data.get("scenario") or {}
        self.scenario = sc
        self.name = str(sc.get("name", os.path.basename(os.path.dirname(os.path.abspath(path))) or "run"))
        self.seed = sc.get("seed")
        out = sc.get("output") or {}
        self.interval_ns = out.get("sampling_interval")
        self.t_ns = (data.get("timeseries") or {}).get("t_ns") or []

    @staticmethod
    def load(path):
        p = path
        if os.path.isdir(p):
            p = os.path.join(p, "result.json")
        if not os.path.exists(p):
            raise PlotError(f"{path}: no such file" + (" (a run directory needs result.json)" if p != path else ""))
        try:
            with open(p) as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise PlotError(f"{p}: not valid JSON ({e})") from None
        except OSError as e:
            raise PlotError(f"{p}: {e.strerror}") from None
        if not isinstance(data, dict) or "summary" not in data or "scenario" not in data:
            raise PlotError(f"{p}: not a vmemsim result (expected keys schema_version, scenario, summary, timeseries)")
        return Run(p, data)

    # -- entities -------------------------------------------------------------------------
    def _entities(self, section, kind):
        """<section>.<kind>, or <section>.kernel.daemons for kind "daemons"."""
        sec = self.data.get(section) or {}
        if kind == "daemons":
            return (sec.get("kernel") or {}).get("daemons") or {}
        return sec.get(kind) or {}

    def entity_names(self, kind):
        names = list(self._entities("summary", kind).keys())
        for n in self._entities("timeseries", kind).keys():
            if n not in names:
                names.append(n)
        return names

    def entity(self, section, kind, name):
        """The dict below <section>.<kind>.<name>, or None."""
        return self._entities(section, kind).get(name)


def load_runs(paths):
    return [Run.load(p) for p in paths]


def add_entity_args(parser):
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--vm", action="append", metavar="NAME",
                   help="VM to plot (repeatable; default: every VM, one line each)")
    g.add_argument("--host", action="append", metavar="NAME",
                   help="plot a host-level metric (timeseries.hosts.<h>, summary.hosts.<h>) instead of a VM's")
    g.add_argument("--daemon", action="append", metavar="NAME",
                   help="plot a kernel daemon's metric (timeseries.kernel.daemons.<d>, e.g. ksmd.host0) instead of a VM's")


# What --vm/--host/--daemon select, as messages name it.
KIND_LABEL = {"vms": "VM", "hosts": "host", "daemons": "kernel daemon"}


def selected_entities(run, args):
    """(kind, [names]) for one run: the --vm/--host/--daemon names (checked) or every VM."""
    if getattr(args, "host", None):
        kind, wanted = "hosts", args.host
    elif getattr(args, "daemon", None):
        kind, wanted = "daemons", args.daemon
    else:
        kind, wanted = "vms", getattr(args, "vm", None)
    have = run.entity_names(kind)
    if not wanted:
        if not have:
            raise PlotError(f"{run.path}: the result has no {kind}")
        return kind, have
    for w in wanted:
        if w not in have:
            what = KIND_LABEL[kind]
            raise PlotError(f"{what} '{w}' is not in {run.path}{did_you_mean(w, have)}; "
                            f"{what}s there: {', '.join(have) or '(none)'}")
    return kind, list(dict.fromkeys(wanted))


# -- labels -------------------------------------------------------------------------------
def flatten(obj, prefix=""):
    """Resolved scenario -> {json_pointer: leaf value}."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}/{k}"))
    elif isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}/{i}"))
    else:
        out[prefix] = obj
    return out


def differing_params(runs):
    """Pointers whose resolved values differ between runs, seed excluded, most telling first.

    A key set in every run (a scalar such as vms.0.vmm.tier.kind) comes before one that is
    absent, null or a container in some (memory_servers=[] vs memory_servers.0.name=ms0:
    the consequences of a change rather than the change), then the shallower, then by name.
    """
    flats = [flatten(r.scenario) for r in runs]
    keys = sorted(set().union(*flats)) if flats else []
    diff = []
    for k in keys:
        if k in _IGNORED_PARAMS:
            continue
        vals = {json.dumps(f.get(k), sort_keys=True) for f in flats}
        if len(vals) > 1:
            diff.append(k)

    def rank(k):
        unset = sum(1 for f in flats if f.get(k) is None or isinstance(f.get(k), (list, dict)))
        return (unset, k.count("/"), k)
    return sorted(diff, key=rank)


def telling_params(runs):
    """The fewest differing pointers (in differing_params' order) that tell the runs apart:
    a key is kept when it splits runs the keys before it left alike. Runs that differ only
    in the seed stay alike (the seed is labelled separately)."""
    diff = differing_params(runs)
    flats = [flatten(r.scenario) for r in runs]
    chosen = []
    groups = {}
    for i, f in enumerate(flats):
        groups.setdefault((), []).append(i)
    for k in diff:
        new = {}
        split = False
        for sig, members in groups.items():
            vals = {json.dumps(flats[i].get(k), sort_keys=True) for i in members}
            split |= len(vals) > 1
            for i in members:
                new.setdefault(sig + (json.dumps(flats[i].get(k), sort_keys=True),), []).append(i)
        if split:
            chosen.append(k)
            groups = new
        if all(len(m) == 1 for m in groups.values()):
            break
    return chosen


def pretty_pointer(pointer, scenario=None):
    """/vms/0/workload/theta -> web.workload.theta (entity index replaced by its name)."""
    parts = [p for p in pointer.split("/") if p != ""]
    if scenario and len(parts) >= 2 and parts[0] in ("vms", "hosts") and parts[1].isdigit():
        lst = scenario.get(parts[0]) or []
        i = int(parts[1])
        if i < len(lst) and isinstance(lst[i], dict) and "name" in lst[i]:
            return ".".join([str(lst[i]["name"])] + parts[2:])
    return ".".join(parts) if parts else pointer


_BYTE_KEYS = ("memory", "size")
_NS_KEYS = ("duration", "interval", "wss_windows", "_ns", "latency")


def format_bytes(n):
    for unit, mult in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return f"{n}B"


def format_ns(n):
    for unit, mult in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return f"{n}ns"


def format_value(pointer, v):
    """A scenario value as a short label: bytes and ns made readable, floats trimmed."""
    key = pointer.rstrip("/").rsplit("/", 1)[-1]
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        if any(key.endswith(k) for k in _BYTE_KEYS):
            return format_bytes(v)
        if any(k in key for k in _NS_KEYS):
            return format_ns(v)
        return str(v)
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def param_label(run, pointers, limit=3):
    """'web.workload.theta=1.2, ...' for the given pointers (at most `limit`)."""
    flat = flatten(run.scenario)
    items = [f"{pretty_pointer(p, run.scenario)}={format_value(p, flat.get(p))}" for p in pointers[:limit]]
    if len(pointers) > limit:
        items.append(f"+{len(pointers) - limit} more")
    return ", ".join(items)


def run_labels(runs, with_seed):
    """One label per run: name [differing params] (seed N)."""
    labels = []
    for r in runs:
        lab = r.name
        # Settings tell apart runs of the same scenario; different names already do.
        same = [o for o in runs if o.name == r.name]
        diff = telling_params(same) if len(same) > 1 else []
        if diff:
            lab += f" [{param_label(r, diff)}]"
        if with_seed and r.seed is not None:
            lab += f" (seed {r.seed})"
        labels.append(lab)
    return labels


def scenario_names(runs):
    return ", ".join(dict.fromkeys(r.name for r in runs))
