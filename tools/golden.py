#!/usr/bin/env python3
"""Golden results: run the cases of tests/golden/cases.json and compare each result.json with
the one recorded in tests/golden/<name>.json (sha256 of the bytes, and the summary for a
readable diff).

  python3 tools/golden.py [--bin build/vmemsim] --check     exit 1 on any difference
  python3 tools/golden.py [--bin build/vmemsim] --update    record the current results

Update only when a change of results is intended, and say in the commit why the numbers moved
(the summary diff in the commit shows by how much).
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")


def run_case(binary, case, tmp):
    out = os.path.join(tmp, case["name"])
    args = [binary, "run", case["scenario"], "--out", out, "-q"]
    for s in case["set"]:
        args += ["--set", s]
    p = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return case, None, f"exit {p.returncode}: {p.stderr.strip()[:500]}"
    with open(os.path.join(out, "result.json"), "rb") as f:
        data = f.read()
    return case, data, None


def leaves(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, f"{path}/{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}/{i}")
    else:
        yield path, x


def diff(old, new, limit=15):
    a, b = dict(leaves(old)), dict(leaves(new))
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            out.append(f"    {k}: {a.get(k, '<absent>')} -> {b.get(k, '<absent>')}")
    more = len(out) - limit
    return out[:limit] + ([f"    ... and {more} more"] if more > 0 else [])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "vmemsim"))
    ap.add_argument("-j", type=int, default=os.cpu_count() or 1)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", action="store_true")
    g.add_argument("--update", action="store_true")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    with open(os.path.join(GOLDEN, "cases.json")) as f:
        cases = json.load(f)["cases"]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(a.j) as ex:
        for case, data, err in ex.map(lambda c: run_case(binary, c, tmp), cases):
            path = os.path.join(GOLDEN, case["name"] + ".json")
            if err:
                print(f"FAIL {case['name']}: {err}")
                failed += 1
                continue
            result = json.loads(data)
            rec = {"scenario": case["scenario"], "set": case["set"],
                   "sha256": hashlib.sha256(data).hexdigest(), "summary": result["summary"]}
            if a.update:
                with open(path + ".tmp", "w") as f:
                    json.dump(rec, f, indent=1, sort_keys=True)
                    f.write("\n")
                os.replace(path + ".tmp", path)
                print(f"recorded {case['name']} {rec['sha256'][:12]}")
                continue
            if not os.path.exists(path):
                print(f"FAIL {case['name']}: no golden record {os.path.relpath(path, ROOT)} (run --update)")
                failed += 1
                continue
            with open(path) as f:
                old = json.load(f)
            if old["sha256"] == rec["sha256"]:
                print(f"ok   {case['name']}")
                continue
            failed += 1
            lines = diff(old["summary"], rec["summary"])
            print(f"FAIL {case['name']}: result.json differs from the golden record" +
                  (" (summary equal: the time series or scenario echo changed)" if not lines else ", summary:"))
            for line in lines:
                print(line)
    if a.check:
        print(f"{len(cases) - failed}/{len(cases)} golden results unchanged")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
