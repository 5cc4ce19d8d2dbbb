"""Hostile input (issue 13): each class that used to crash, hang, exit 1 or truncate silently now
ends in exit 2 with `file:/json/pointer: message`, within seconds, with nothing written.

Classes: unbounded recursion (deep values, phases in phases), time that does not advance
(latencies rounding to 0 ns, distances overflowing llround), exit 1 where the input is at fault
(1e309, 65 k nodes, host memory past 32-bit frames, invalid UTF-8, bad pointer tokens, names
that cannot name a directory, per-interval counters and actor stacks that cannot fit), silent
truncation (cpu_nodes 2^32, --seed 2^64-1, duplicate keys).
"""
import json
import os
import resource
import subprocess
import time

from harness import *

d = tmpdir()
out = os.path.join(d, "out")
Q = os.path.join(SRC, "scenarios", "quickstart.json")
with open(Q) as f:
    quick = json.load(f)


def run_bytes(args, limit_as=None, timeout=60):
    """Runs vmemsim with byte arguments; returns (exit code, stderr text, seconds)."""
    pre = None
    if limit_as:
        pre = lambda: resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
    t0 = time.monotonic()
    p = subprocess.run([BIN.encode()] + [a if isinstance(a, bytes) else a.encode() for a in args], cwd=SRC,
                       capture_output=True, timeout=timeout, preexec_fn=pre)
    return p.returncode, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0


def expect(label, args, pointer, words, limit_as=None, file=None):
    """Exit 2, `<file>:<pointer>: ...words...` on stderr, nothing written, under 20 s."""
    rc, err, secs = run_bytes(args, limit_as)
    prefix = f"{file}:{pointer}" if file else f":{pointer}"
    ok = rc == 2 and prefix in err and words in err and secs < 20 and not os.path.exists(out)
    check(ok, f"{label}: exit 2 at {pointer} ({words!r}) in {secs:.1f} s" +
          ("" if ok else f" -- got exit {rc}: {err.strip()[:400]}"))


def write(name, doc_or_text):
    path = os.path.join(d, name)
    with open(path, "w" if isinstance(doc_or_text, str) or isinstance(doc_or_text, dict) else "wb") as f:
        if isinstance(doc_or_text, dict):
            json.dump(doc_or_text, f)
        else:
            f.write(doc_or_text)
    return path


def variant(**changes):
    doc = json.loads(json.dumps(quick))
    for k, v in changes.items():
        doc[k] = v
    return doc


# ---- recursion without a bound ----
deep = write("deep.json", '{"name": "deep", "duration": ' + "[" * 100000 + "]" * 100000 + "}")
expect("a value nested 100 k deep", ["validate", deep], "/duration/0/0/0", "nested more than 64 levels deep", file=deep)
for levels, words in [(10000, "nested more than 64 levels deep"), (12, "`phases` workloads nested more than 8 deep")]:
    w = {"type": "uniform"}
    for _ in range(levels):
        w = {"type": "phases", "phases": [{"duration": "1s", "workload": w}]}
    doc = variant()
    doc["vms"][0]["workload"] = w
    ph = write("phases.json", json.dumps(doc) if levels < 100 else
               '{"name": "p", "vms": [{"workload": ' + '{"type": "phases", "phases": [{"duration": "1s", "workload": ' * levels +
               '{"type": "uniform"}' + "}]}" * levels + "}]}")
    expect(f"phases nested {levels} deep", ["validate", ph], "/vms/0/workload/phases/0/workload", words, file=ph)

# ---- time that does not advance ----
expect("latency_ns 0.4", ["run", Q, "--out", out, "--set", "/hosts/0/latency_ns=[[0.4,100],[100,0.4]]",
                          "--set", "/vms/0/workload/rate=1e10"], "/hosts/0/latency_ns/0/0", "rounds to 0 ns", file=Q)
expect("distance 0.01", ["run", Q, "--out", out, "--set", "/hosts/0/distances=[[0.01,21],[21,10]]"],
       "/hosts/0/distances/0/0", "rounds to 0 ns", file=Q)
expect("distance 1e300", ["run", Q, "--out", out, "--set", "/hosts/0/distances=[[10,1e300],[21,10]]"],
       "/hosts/0/distances", "each at most 1e9", file=Q)
expect("a duration past the clock's resolution", ["run", Q, "--out", out, "--set", "/duration=1000000000000000000"],
       "/duration", "longer than the simulator's limit", file=Q)

# ---- exit 1 where the input is at fault ----
big = write("big.json", '{"name": "big", "seed": 1e309}')
expect("1e309 in a file", ["validate", big], "/seed", "number out of range", file=big)
expect("1e309 through --set", ["validate", Q, "--set", "/seed=1e309"], "/seed", "number out of range", file=Q)
doc = variant()
doc["hosts"][0]["nodes"] = [{"cores": 1, "memory": "4MiB"}] * 65000
doc["hosts"][0].pop("distances", None)
nodes = write("nodes.json", doc)
rc, err, secs = run_bytes(["validate", nodes])
check(rc == 2 and f"{nodes}:/hosts/0/nodes: at most 64 NUMA nodes per host, got 65000" in err and secs < 20,
      f"65 000 nodes: refused before the n x n matrix ({secs:.1f} s)")
expect("host memory past the 32-bit frame space",
       ["run", Q, "--out", out, "--set", '/hosts/0/nodes=[{"cores":4,"memory":"16TiB"},{"cores":4,"memory":"16TiB"}]'],
       "/hosts/0/nodes", "32-bit frame numbers", file=Q)
rc, err, _ = run_bytes(["run", Q, "--out", out, "--set", b"/name=\xff\xfe"])
check(rc == 2 and "not valid UTF-8" in err and not os.path.exists(out), f"invalid UTF-8 through --set: exit 2 (got {rc})")
expect("pointer token 01", ["run", Q, "--out", out, "--set", "/vms/01/vcpus=2"], "/vms/01/vcpus", "not an array index", file=Q)
expect("a 23-digit index", ["run", Q, "--out", out, "--set", "/vms/" + "1" * 23 + "/vcpus=2"],
       "/vms/" + "1" * 23 + "/vcpus", "not an array index", file=Q)
for label, name, words in [("a NUL name", "\u0000", "control characters"), ("a 300-byte name", "a" * 300, "at most 200"),
                           ("an empty name", "", "must not be empty")]:
    expect(label, ["validate", Q, "--set", "/name=" + json.dumps(name)], "/name", words, file=Q)
    expect(label + " (run)", ["run", Q, "--out", out, "--set", "/name=" + json.dumps(name)], "/name", words, file=Q)
expect("duration / sampling past memory", ["run", Q, "--out", out, "--set", "/duration=1000000s",
                                           "--set", "/output/sampling_interval=100us", "--set", "/output/wss_windows=[\"1s\"]",
                                           "--set", "/quantum=100us", "--max-memory", "2GiB"],
       "/output/sampling_interval", "allowed by --max-memory", file=Q)
expect("guest memory past --max-memory", ["run", Q, "--out", out, "--set", "/vms/0/memory=100GiB",
                                          "--set", '/hosts/0/nodes=[{"cores":8,"memory":"64GiB"},{"cores":8,"memory":"64GiB"}]',
                                          "--max-memory", "512MiB"],
       "/vms/0/memory", "allowed by --max-memory", file=Q)
expect("1024 vCPUs under ulimit -v 2 GiB", ["run", Q, "--out", out, "--set", "/vms/0/vcpus=1024",
                                           "--set", '/hosts/0/nodes=[{"cores":8,"memory":"16GiB"},{"cores":8,"memory":"16GiB"}]'],
       "/vms/0/vcpus", "ulimit -v", limit_as=2 << 30, file=Q)
rc, err, _ = run_bytes(["run", Q, "--out", out, "--max-memory", "lots"])
check(rc == 2 and "--max-memory 'lots'" in err, "--max-memory that is not a size: exit 2")

# ---- silent truncation ----
expect("cpu_nodes [4294967296]", ["run", Q, "--out", out, "--set", "/vms/0/cpu_nodes=[4294967296]"],
       "/vms/0/cpu_nodes/0", "got 4294967296", file=Q)
expect("--seed 2^64-1", ["run", Q, "--out", out, "--seed", "18446744073709551615"],
       "/seed", "value 18446744073709551615 is out of range", file=Q)
dup = write("dup.json", '{"name": "dup", "name": "other"}')
expect("duplicate keys", ["validate", dup], "/name", "duplicate key 'name'", file=dup)

# ---- the progress watchdog ends a run whose clock stands still ----
# No valid scenario should stall, so the limit is set to 1 step: the second vCPU's first quantum
# at t = 0 is then "no progress", which exercises the engine's wiring end to end.
env = dict(os.environ, VMEMSIM_WATCHDOG_STEPS="1")
p = subprocess.run([BIN, "run", Q, "--out", out, "-q"], cwd=SRC, env=env, capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and f"{Q}:/: the run cannot finish: simulated time stands still at 0 ns" in p.stderr
      and not os.path.exists(out), f"the watchdog ends the run with exit 2 and nothing written (got {p.returncode}: "
      f"{p.stderr.strip()[:300]})")

# ---- what still runs: the limits themselves are accepted ----
rc, err, _ = run_bytes(["validate", Q, "--set", "/name=" + "n" * 200, "--set", "/hosts/0/latency_ns=[[1,100],[100,1]]"])
check(rc == 0, f"a 200-byte name and 1 ns latencies validate (got {rc}: {err.strip()[:200]})")
finish()
