"""engine.fault_service: the inline scheme agrees with the exact one as the quantum shrinks.

exact: every sync userfault is a message to the VMM's handler thread (a SimGrid round trip);
inline: the faulting vCPU serves it in model time (the handler as a calendar of its service intervals) and keeps its quantum going
(sim/engine/engine.cpp, serve_fault_inline). The inline vCPU's clock runs up to a quantum ahead
of the other threads', so the two differ by a causality error the quantum bounds: on stall time,
fault counts, evictions and accesses the gap must shrink with the quantum and be within 1% at
5 us. Also: inline is deterministic, and a VM whose VMM node has no spare core falls back to the
exact scheme (same result).
"""
import os
from harness import *

d = tmpdir()
doc = {
    "name": "fault-service",
    "seed": 5,
    "duration": "1s",
    "kernel": {"variant": "rfc-v1"},
    "hosts": [{"name": "h", "nodes": [{"cores": 4, "memory": "1GiB"}]}],
    "vms": [{"name": "vm", "vcpus": 2, "memory": "64MiB",
             "workload": {"type": "hot_cold", "hot_fraction": 0.2, "hot_probability": 0.98,
                          "write_ratio": 0.3, "rate": "2M"},
             "vmm": {"policy": "uffd-ws", "interval": "100ms", "age_threshold": 2, "tier": {"kind": "ssd"}}}],
    "output": {"sampling_interval": "100ms", "wss_windows": ["100ms"]},
}
path = write_scenario(doc, d)


def metrics(out):
    v = load(os.path.join(out, "result.json"))["summary"]["vms"]["vm"]
    h = v["histograms"]["stall_latency_ns"]
    m = v["vmm"]
    return {"accesses": v["accesses"], "stall_ns": h["sum_ns"], "stalls": h["count"],
            "handled_faults": m["handled_faults"], "first_touch": m["first_touch_faults"],
            "evicted": m["evicted_pages"], "fetched": m["fetched_pages"]}


def body(out):
    r = load(os.path.join(out, "result.json"))
    r.pop("scenario", None)  # the resolved scenario names the scheme asked for
    return r


err = {}
for q in ["100us", "20us", "5us"]:
    res = {}
    for mode in ["exact", "inline"]:
        out = os.path.join(d, f"{mode}-{q}")
        p = run_scenario(path, out, ["--set", f'/engine/fault_service="{mode}"', "--set", f'/quantum="{q}"'])
        check(p.returncode == 0, f"{mode} at quantum {q} runs")
        res[mode] = metrics(out)
    check(res["exact"]["fetched"] > 1000 and res["exact"]["evicted"] > 1000, f"the run evicts and fetches back ({res['exact']})")
    err[q] = {k: abs(res["inline"][k] - res["exact"][k]) / res["exact"][k] for k in res["exact"]}
    print(f"     quantum {q}: exact {res['exact']}\n                     inline {res['inline']}")
for k in err["5us"]:
    check(err["5us"][k] < 0.01, f"{k}: inline within 1% of exact at 5 us ({err['5us'][k]:.4f})")
    check(err["5us"][k] <= err["100us"][k] + 1e-3, f"{k}: the gap shrinks with the quantum ({err['100us'][k]:.4f} at 100 us)")

# deterministic
again = os.path.join(d, "inline-again")
run_scenario(path, again, ["--set", '/engine/fault_service="inline"', "--set", '/quantum="5us"'])
check(open(os.path.join(again, "result.json")).read() == open(os.path.join(d, "inline-5us", "result.json")).read(),
      "inline: same scenario, byte-identical result")

# two cores for two vCPUs and two VMM threads: no spare core for the handler, exact is used
res = {}
for mode in ["exact", "inline"]:
    out = os.path.join(d, f"busy-{mode}")
    p = run_scenario(path, out, ["--set", f'/engine/fault_service="{mode}"', "--set", "/hosts/0/nodes/0/cores=2"])
    check(p.returncode == 0, f"{mode} on 2 cores runs")
    res[mode] = body(out)
check(res["exact"] == res["inline"], "VMM node without a spare core: inline falls back to the exact scheme")
finish()
