"""The vCPU quantum bounds the causality error: results converge as it shrinks.

Four vCPUs share two cores, so SimGrid's CPU sharing stretches every quantum; the vCPU's
clock advances in quantum-sized steps, and the number of accesses that fit in the run depends
on the quantum. It must converge: the error against a 5 us quantum shrinks with the quantum
and is small at the default 100 us.
"""
import os
from harness import *

d = tmpdir()
doc = {
    "name": "convergence",
    "seed": 3,
    "duration": "50ms",
    "hosts": [{"name": "h", "nodes": [{"cores": 2, "memory": "1GiB"}]}],
    "vms": [{"name": "vm", "vcpus": 4, "memory": "64MiB",
             "workload": {"type": "zipf", "theta": 0.9, "write_ratio": 0.2, "rate": "2M"}}],
    "output": {"sampling_interval": "10ms", "wss_windows": ["10ms"]},
}
path = write_scenario(doc, d)
acc, busy = {}, {}
for q in ["5us", "20us", "100us", "1ms", "5ms"]:
    out = os.path.join(d, q)
    p = run_scenario(path, out, ["--set", f"/quantum=\"{q}\""])
    check(p.returncode == 0, f"quantum {q} runs")
    vm = load(os.path.join(out, "result.json"))["summary"]["vms"]["vm"]
    acc[q] = vm["accesses"]
    # all-local accesses at 2M/s take 500 ns each; faults add their own time
    busy[q] = acc[q] * 500 + vm["time_ns"]["fault"]
    print(f"     quantum {q}: {acc[q]} accesses")
ref = acc["5us"]
err = {q: abs(acc[q] - ref) / ref for q in acc}
check(err["5ms"] >= err["1ms"] >= err["100us"] >= err["20us"] * 0.999,
      f"error shrinks with the quantum: {err}")
check(err["100us"] < 0.01, f"default quantum within 1% of the 5 us reference ({err['100us']:.4f})")
# Two vCPUs per core: together they get the 2 cores x 50 ms = 100 ms of CPU time, minus at
# most one unfinished quantum each.
b = busy["5us"]
check(abs(b - 1e8) / 1e8 < 0.001, f"4 vCPUs on 2 cores get 100 ms of CPU time ({b} ns)")
finish()
