"""Small helpers shared by the scenario-level tests.

Each test script is run by ctest as `/usr/bin/python3 test_X.py <vmemsim binary> <source dir>`
and runs the simulator in separate processes (one SimGrid engine per process).
Exit 0 = pass, 1 = fail, 77 = skipped.
"""
import json
import os
import subprocess
import sys
import tempfile

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/vmemsim"
SRC = sys.argv[2] if len(sys.argv) > 2 else os.getcwd()
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)
    return cond


def run(args, cwd=None, timeout=600):
    p = subprocess.run([BIN] + args, cwd=cwd or SRC, capture_output=True, text=True, timeout=timeout)
    return p


def write_scenario(doc, directory):
    path = os.path.join(directory, doc["name"] + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return path


def run_scenario(path, out_dir, extra=()):
    p = run(["run", path, "--out", out_dir, "-q"] + list(extra))
    if p.returncode != 0:
        print(p.stderr)
    return p


def load(path):
    with open(path) as f:
        return json.load(f)


def tmpdir():
    return tempfile.mkdtemp(prefix="vmemsim-test-")


def finish():
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def reference_lru_misses(pages, frames):
    """Misses of an independent LRU cache of `frames` pages over the page sequence `pages`
    (compulsory misses included): the reference the replay and VM tests compare with."""
    from collections import OrderedDict
    cache, misses = OrderedDict(), 0
    for p in pages:
        if p in cache:
            cache.move_to_end(p)
        else:
            misses += 1
            if len(cache) == frames:
                cache.popitem(last=False)
            cache[p] = True
    return misses
