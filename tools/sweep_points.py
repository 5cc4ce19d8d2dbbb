"""The finished points of a sweep directory, for the scenario folders' table scripts.

    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
    from sweep_points import points
    for values, result in points("results/thp-shmem-guard"): ...

Reads DIR/index.json (DESIGN.md "Sweeps"; sim/cli/sweep.cpp writes it:
{axes: [{pointer, values}], points: [{id, values, status, result}]}), points in the index's order:
  points(root)        (values, result) per point: `values` maps each axis pointer to the point's
                      value, `result` is its parsed result.json
  result_paths(root)  (values, path of its result.json) per point, the file left unread
  axes(root)          the sweep's axes, [{pointer, values}], values in the sweep file's order
A point that is not ok stops the script with a message naming it (a table over a partial sweep
would mislead); so does a directory without index.json.
"""
import json
import pathlib
import sys


def _index(root):
    index_path = root / "index.json"
    if not index_path.exists():
        sys.exit(f"{root}: not a finished sweep (no index.json); run `vmemsim sweep` first")
    return json.loads(index_path.read_text())


def axes(root):
    return _index(pathlib.Path(root))["axes"]


def result_paths(root):
    root = pathlib.Path(root)
    for p in _index(root)["points"]:
        if p["status"] != "ok":
            sys.exit(f"{root}: point {p['id']} is {p['status']}: rerun the sweep")
        yield p["values"], root / p["result"]


def points(root):
    for values, path in result_paths(root):
        yield values, json.loads(path.read_text())
