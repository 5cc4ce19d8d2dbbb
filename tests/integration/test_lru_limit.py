"""A VM under a fixed frame limit misses exactly as the textbook cache: `exact-lru` with
`enforce: fault` and `memory_target` N pages, one vCPU replaying a trace once (`trace`
workload, at_end stop), gives the misses of an independent LRU of N frames written here and of
`vmemsim replay --policy exact-lru --frames N` on the same stream, for random streams and
several N; `fifo` likewise. A miss in the VM is a MISSING fault that fills a frame: a first
touch (`vmm.first_touch_faults`) or a page fetched back from the tier (`vmm.fetched_pages`).

The streams write every page at its first reference: a first read would map the shared zero
page, which takes no frame (no miss in the VM, a miss in a cache that holds every page). With
`enforce: interval` (the default) the target is kept only at each decision, so between
decisions resident memory grows past it and the VM misses less: a check shows it. `opt`
(Belady) in the VM knows the future from the trace and gives replay's opt misses; where it
cannot know the future it is refused (exit 2, naming the key)."""
import json
import os
import random
from collections import OrderedDict
from harness import *

d = tmpdir()


def stream(seed, pages, n):
    """Random references with a hot quarter (60 %); the first reference to a page is a write."""
    rng = random.Random(seed)
    seen, refs = set(), []
    for _ in range(n):
        p = rng.randrange(pages // 4) if rng.random() < 0.6 else rng.randrange(pages)
        refs.append((p, p not in seen or rng.random() < 0.3))
        seen.add(p)
    return refs


def lru_misses(refs, frames):
    return reference_lru_misses([p for p, _ in refs], frames)


def fifo_misses(refs, frames):
    cache, misses = OrderedDict(), 0
    for p, _ in refs:
        if p not in cache:
            misses += 1
            if len(cache) == frames:
                cache.popitem(last=False)
            cache[p] = True
    return misses


def vm_misses(trace, policy, frames, enforce="fault", extra=None, tag=""):
    sc = {"name": f"lru-limit-{policy}-{frames}{tag}", "duration": "3s", "kernel": {"variant": "rfc-v1"},
          "hosts": [{"name": "h", "nodes": [{"cores": 2, "memory": "64MiB"}]}],
          "vms": [{"name": "g", "vcpus": 1, "memory": "2MiB",
                   "workload": {"type": "trace", "path": trace, "at_end": "stop", "rate": "1M"},
                   "vmm": {"policy": policy, "interval": "10ms", "memory_target": frames * 4096, "enforce": enforce,
                           "tier": {"kind": "ssd"}}}]}
    sc.update(extra or {})
    out = os.path.join(d, sc["name"])
    p = run_scenario(write_scenario(sc, d), out)
    if p.returncode != 0:
        return None
    v = load(os.path.join(out, "result.json"))["summary"]["vms"]["g"]
    m = v["vmm"]
    return {"misses": m["first_touch_faults"] + m["fetched_pages"], "first": m["first_touch_faults"],
            "accesses": v["accesses"], "peak": v["resident_pages_peak"], "lost": m["lost_writes"]}


def replay(path, policy, frames):
    p = run(["replay", path, "--policy", policy, "--frames", ",".join(map(str, frames)), "--json"])
    return [l["misses"] for l in json.loads(p.stdout)["limits"]] if p.returncode == 0 else None


for seed, pages, n, frames in [(1, 200, 3000, [1, 8, 50, 150]), (2, 60, 2000, [5, 30]), (3, 480, 4000, [100, 300])]:
    refs = stream(seed, pages, n)
    lackey = os.path.join(d, f"s{seed}.lackey")
    with open(lackey, "w") as f:
        for p, w in refs:
            f.write(f" {'S' if w else 'L'} {0x10000000 + p * 4096:08x},8\n")
    pt = os.path.join(d, f"s{seed}.vmpt")
    check(run(["trace", "convert", lackey, pt]).returncode == 0, f"stream {seed}: trace convert to pagetrace")
    want = [lru_misses(refs, f) for f in frames]
    got_replay = replay(lackey, "exact-lru", frames)
    check(got_replay == want, f"stream {seed}: replay exact-lru misses {got_replay} = independent LRU {want}")
    distinct = len({p for p, _ in refs})
    for f, w in zip(frames, want):
        r = vm_misses(pt, "exact-lru", f, tag=f"-s{seed}")
        if not check(r is not None, f"stream {seed}, {f} frames: the VM runs"):
            continue
        check(r["accesses"] == n and r["first"] == distinct,
              f"stream {seed}, {f} frames: every reference issued once ({r['accesses']}), {distinct} first touches")
        check(r["misses"] == w, f"stream {seed}, exact-lru, {f} frames: VM misses {r['misses']} = LRU {w}")
        check(r["peak"] <= f and r["lost"] == 0, f"stream {seed}, {f} frames: resident peak {r['peak']} <= limit, no lost write")
    if seed == 1:
        fw = [fifo_misses(refs, f) for f in frames]
        check(replay(lackey, "fifo", frames) == fw, f"stream 1: replay fifo misses = independent FIFO {fw}")
        got = [(vm_misses(pt, "fifo", f) or {}).get("misses") for f in frames]
        check(got == fw, f"stream 1, fifo: VM misses {got} = FIFO {fw}")
        # opt (Belady) knows the future from the trace the one vCPU replays: replay's misses.
        ow = replay(lackey, "opt", frames)
        got = [(vm_misses(pt, "opt", f) or {}).get("misses") for f in frames]
        check(ow is not None and got == ow and all(o <= l for o, l in zip(ow, want)),
              f"stream 1, opt: VM misses {got} = replay opt {ow} (<= LRU {want})")
        # The vCPU serving its own faults (engine.fault_service inline) gives the same misses.
        r = vm_misses(pt, "exact-lru", 50, extra={"engine": {"fault_service": "inline"}}, tag="-inline")
        check(r is not None and r["misses"] == want[2], f"fault_service inline: {r and r['misses']} = LRU {want[2]}")
        # At decisions only, the VM holds more than the target between them: fewer misses.
        r = vm_misses(pt, "exact-lru", 50, enforce="interval", tag="-interval")
        check(r is not None and r["misses"] < want[2], f"enforce interval: {r and r['misses']} misses < LRU {want[2]}")

# opt refuses a VM whose future it cannot know, naming the key (exit 2).
base = {"name": "opt-refused", "duration": "1s", "kernel": {"variant": "rfc-v1"},
        "hosts": [{"name": "h", "nodes": [{"cores": 2, "memory": "64MiB"}]}],
        "vms": [{"name": "g", "vcpus": 1, "memory": "2MiB",
                 "workload": {"type": "trace", "path": os.path.join(d, "s1.vmpt"), "at_end": "stop"},
                 "vmm": {"policy": "opt", "tier": {"kind": "ssd"}}}]}
for what, edit, pointer in [
        ("a drawn workload", lambda v: v.update(workload={"type": "hot_cold", "rate": "1M"}), "/vms/0/workload/type"),
        ("two vCPUs", lambda v: v.update(vcpus=2), "/vms/0/vcpus"),
        ("a looping trace", lambda v: v["workload"].update(at_end="loop"), "/vms/0/workload/at_end")]:
    doc = json.loads(json.dumps(base))
    edit(doc["vms"][0])
    p = run(["validate", write_scenario(doc, d)])
    check(p.returncode == 2 and f"{pointer}: policy opt needs the VM's future accesses" in p.stderr,
          f"opt with {what}: exit 2 at {pointer} ({p.returncode}: {p.stderr.strip()[:150]})")
doc = json.loads(json.dumps(base))
check(run(["validate", write_scenario(doc, d)]).returncode == 0, "opt on one vCPU replaying a trace once validates")

finish()
