"""The finished points of a sweep directory, for the scenario folders' table scripts.

    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
    from sweep_points import points
    for values, result in points("results/thp-shmem-guard"): ...

Reads DIR/index.json (DESIGN.md "Sweeps") and yields (values, result) per point: `values` maps
each axis pointer to the point's value, `result` is its parsed result.json. A point that is not
ok stops the script with a message naming it (a table over a partial sweep would mislead).
"""
import json
import pathlib
import sys


def points(root):
    root = pathlib.Path(root)
    index_path = root / "index.json"
    if not index_path.exists():
        sys.exit(f"{root}: not a finished sweep (no index.json); run `vmemsim sweep` first")
    index = json.loads(index_path.read_text())
    for p in index["points"]:
        if p["status"] != "ok":
            sys.exit(f"{root}: point {p['id']} is {p['status']}: rerun the sweep")
        yield p["values"], json.loads((root / p["result"]).read_text())
