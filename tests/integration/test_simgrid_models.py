"""SimGrid's models give the times a scenario states (README "SimGrid models"), and SimGrid
settings are part of a run's identity.

(a) Timing. One vCPU and a naive-async VMM with every uffd cost set to 0: a first touch then
    stalls the vCPU 0 ns and a MISSING fault on an evicted page stalls it exactly the tier read,
    so in histograms.stall_latency_ns every non-zero stall is a fetch (counts[0] =
    first_touch_faults, sum_ns = fetched_pages x read time, max_ns = read time). With
    batch_pages 1 each pwrite moves one page, and each of the timeline's "evict" slices
    (nothing else takes time in them) lasts a whole number of write times.
    - remote tier, host NIC 2 us / 4.096 GB/s, server NIC 3 us / 8.192 GB/s. A read (server ->
      host) crosses the server's NIC up and the host's NIC down, a write the host's NIC up and
      the server's NIC down; both take 3 us + 2 us + 4096 B / min(4.096, 8.192) GB/s = 6000 ns.
      (SimGrid's default LV08 model made a read about 66 081 ns: latency x 13.01, bandwidth x 0.97.)
      With 500 us NICs a read takes 1 ms + 1 us: no TCP-window bound.
    - swap SSD, 80 us per I/O: reads at 4.096 GB/s take 80 us + 1 us (writes at 4.096 TB/s,
      80 us + 1 ns, so that they hardly share the disk with the reads); then writes at 2.048 GB/s
      take 80 us + 2 us (reads at 4.096 TB/s).
    - compressed pool on 2.5 Gflop/s cores: a read is decompress_ns (3 us) of CPU, a write
      compress_ns (7 us) per page.
(b) Provenance. --cfg=network/latency-factor:2 is recorded in the resolved scenario
    (simgrid.cfg), changes the run id and the result (a read now takes 2 x 5 us + 1 us);
    --set /simgrid/cfg=[...] is the same run; --log=... changes neither the run id nor a byte of
    the result. Malformed or unknown settings exit 2 at /simgrid/cfg/<i>. `vmemsim sweep` applies
    --cfg to every point (scenario.json, point id, index.json) and passes --log on.
(c) Determinism: the same run twice is byte-identical.
"""
import os

from harness import *

d = tmpdir()
ZERO_UFFD = {"roundtrip_ns": 0, "ioctl_ns": 0, "copy_ns": 0, "per_pte_ns": 0, "tlb_flush_ns": 0,
             "tlb_per_vcpu_ns": 0, "scan_per_pte_ns": 0, "set_mode_ns": 0}


def probe(name, tier, host_extra=None, servers=None, duration="1s"):
    host = {"name": "h", "core_speed": 2.5e9, "nodes": [{"cores": 4, "memory": "256MiB"}],
            "nic": {"latency": "2us", "bandwidth": "4.096GB/s"}}
    host.update(host_extra or {})
    doc = {
        "name": name,
        "seed": 3,
        "duration": duration,
        "kernel": {"variant": "rfc-v1", "costs": {"uffd": ZERO_UFFD}},
        "hosts": [host],
        "memory_servers": servers or [],
        "vms": [{"name": "vm", "vcpus": 1, "memory": "16MiB",
                 "workload": {"type": "hot_cold", "hot_fraction": 0.25, "hot_probability": 0.9,
                              "write_ratio": 0.3, "rate": "2M"},
                 "vmm": {"policy": "naive-async", "interval": "50ms", "age_threshold": 1, "batch_pages": 1,
                         "tier": tier}}],
        "output": {"sampling_interval": "100ms", "wss_windows": ["100ms"]},
    }
    return write_scenario(doc, d)


def run_probe(path, tag, extra=()):
    out = os.path.join(d, tag)
    tl = os.path.join(d, tag + ".trace.json")
    p = run_scenario(path, out, ["--timeline", tl] + list(extra))
    if not check(p.returncode == 0, f"{tag}: runs"):
        return None, None
    return load(os.path.join(out, "result.json")), load(tl)


def evict_slices_ns(trace):
    return [e["dur"] * 1000.0 for e in trace["traceEvents"] if e.get("ph") == "X" and e["name"] == "evict"]


def check_times(tag, r, trace, read_ns, write_ns, tol_ns=0):
    """tol_ns: how far one stall may round away (1 ns where a concurrent I/O on the same disk
    leaves the clock between whole nanoseconds)."""
    v = r["summary"]["vms"]["vm"]
    m, h = v["vmm"], v["histograms"]["stall_latency_ns"]
    fetched, evicted = m["fetched_pages"], m["evicted_pages"]
    check(fetched > 100 and evicted > 100, f"{tag}: pages go to the tier and come back ({evicted} out, {fetched} in)")
    check(h["count"] == fetched + m["first_touch_faults"] and h["counts"][0] == m["first_touch_faults"],
          f"{tag}: every non-zero stall is a fetch")
    mean = h["sum_ns"] / max(fetched, 1)
    check(read_ns <= h["max_ns"] <= read_ns + tol_ns and abs(mean - read_ns) <= (0.01 if tol_ns else 0),
          f"{tag}: every fetch stalls {read_ns} ns (max {h['max_ns']}, mean {mean:.3f})")
    if write_ns is None:
        return
    # Each evict slice is k pwrites of one page. The agent's last round may still be running when
    # the run ends (its pages count as evicted, its slice is never closed).
    slices = evict_slices_ns(trace)
    pages = [round(x / write_ns) for x in slices]
    off = max((abs(x - k * write_ns) for x, k in zip(slices, pages)), default=0)
    check(slices and min(pages) >= 1 and off <= 1 + tol_ns and evicted * 0.5 <= sum(pages) <= evicted,
          f"{tag}: every page written takes {write_ns} ns ({len(slices)} evictions, {sum(pages)} pages, "
          f"mean {sum(slices) / max(sum(pages), 1):.3f} ns, largest deviation {off:.3f} ns)")


# ---- (a) timing ------------------------------------------------------------------------------
SERVERS = [{"name": "mem0", "nic": {"latency": "3us", "bandwidth": "8.192GB/s"}}]
remote = probe("remote", {"kind": "remote"}, servers=SERVERS)
r, t = run_probe(remote, "remote")
if r:
    check_times("remote tier over the NICs", r, t, 6000, 6000)

# NICs of 500 us: SimGrid's default TCP window (4 MiB) would cap a flow at 4 MiB / (2 x 1 ms) =
# 2.1 GB/s, and a page would take 1 ms + 1.95 us.
far = probe("remote-far", {"kind": "remote"}, {"nic": {"latency": "500us", "bandwidth": "4.096GB/s"}},
            [{"name": "mem0", "nic": {"latency": "500us", "bandwidth": "8.192GB/s"}}])
r, t = run_probe(far, "remote-far")
if r:
    check_times("remote tier over 500 us NICs (no TCP window)", r, t, 1001000, None)  # pwrites: too long to check

ssd_r = probe("ssd-read", {"kind": "ssd"},
              {"swap": {"latency": "80us", "read_bandwidth": "4.096GB/s", "write_bandwidth": "4.096TB/s"}})
r, t = run_probe(ssd_r, "ssd-read")
if r:
    check_times("swap SSD reads", r, t, 81000, 80001, 1)

ssd_w = probe("ssd-write", {"kind": "ssd"},
              {"swap": {"latency": "80us", "read_bandwidth": "4.096TB/s", "write_bandwidth": "2.048GB/s"}})
r, t = run_probe(ssd_w, "ssd-write")
if r:
    check_times("swap SSD writes", r, t, 80001, 82000, 1)

comp = probe("compressed", {"kind": "compressed", "compress_ns": "7us", "decompress_ns": "3us"})
r, t = run_probe(comp, "compressed")
if r:
    check_times("compressed pool (CPU)", r, t, 3000, 7000)

# ---- (b) SimGrid settings: recorded, part of the run id; --log is not ------------------------
short = probe("ids", {"kind": "remote"}, servers=SERVERS, duration="300ms")
root = os.path.join(d, "results")


def run_id(extra, label):
    p = run(["run", short, "--results", root, "-q"] + extra)
    if not check(p.returncode == 0, f"{label}: runs"):
        print(p.stderr)
        return None, None, p
    path = p.stdout.strip().splitlines()[-1]
    return os.path.basename(os.path.dirname(path)), load(path), p


id0, r0, _ = run_id([], "default run")
id1, r1, _ = run_id(["--cfg=network/latency-factor:2"], "--cfg=network/latency-factor:2")
id2, r2, p2 = run_id(["--log=xbt_cfg.thresh:info"], "--log=xbt_cfg.thresh:info")
id3, r3, _ = run_id(["--set", '/simgrid/cfg=["network/latency-factor:2"]'], "--set /simgrid/cfg")
id4, r4, _ = run_id(["--cfg=network/latency-factor:2", "--log=xbt_cfg.thresh:info"], "--cfg and --log")
if r0 and r1 and r2 and r3 and r4:
    check(r0["scenario"]["simgrid"] == {"cfg": []}, "the resolved scenario has simgrid.cfg = [] by default")
    check(r1["scenario"]["simgrid"] == {"cfg": ["network/latency-factor:2"]},
          "--cfg is recorded in the resolved scenario (simgrid.cfg)")
    check(id1 != id0, f"--cfg changes the run id ({id0} -> {id1})")
    h0, h1 = (x["summary"]["vms"]["vm"]["histograms"]["stall_latency_ns"] for x in (r0, r1))
    check(h0["max_ns"] == 6000 and h1["max_ns"] == 11000,
          f"... and the result: a read takes 2 x 5 us + 1 us under latency-factor 2 (max {h0['max_ns']} -> {h1['max_ns']})")
    same_bytes = (open(os.path.join(root, "ids", id0, "result.json"), "rb").read() ==
                  open(os.path.join(root, "ids", id2, "result.json"), "rb").read())
    check(id2 == id0 and same_bytes, "--log changes neither the run id nor a byte of the result")
    check("network/model" in p2.stderr, "--log reaches SimGrid (its configuration lines are printed)")
    check(id3 == id1 and r3 == r1, "--set /simgrid/cfg=[...] is the same run as --cfg")
    check(id4 == id1 and r4 == r1, "--cfg with --log is the same run as --cfg alone")

p = run(["validate", short, "--print", "--cfg=network/crosstraffic:1,network/TCP-gamma:4194304"])
check(p.returncode == 0 and '"network/crosstraffic:1"' in p.stdout and '"network/TCP-gamma:4194304"' in p.stdout,
      "validate --print shows --cfg settings (a comma-separated --cfg gives one item per setting)")
p = run(["run", short, "--out", os.path.join(d, "bad1"), "-q", "--cfg=network/latency-factr:2"])
check(p.returncode == 2 and f"{short}:/simgrid/cfg/0: SimGrid refused 'network/latency-factr:2': Bad config key"
      in p.stderr, "an unknown SimGrid setting -> exit 2 at /simgrid/cfg/0")
p = run(["run", short, "--out", os.path.join(d, "bad2"), "-q", "--cfg=network/latency-factor:x"])
check(p.returncode == 2 and f"{short}:/simgrid/cfg/0: SimGrid refused" in p.stderr,
      "a value SimGrid cannot parse -> exit 2 at /simgrid/cfg/0")
p = run(["validate", short, "--set", '/simgrid/cfg=["network/latency-factor:1","network/latency-factor"]'])
check(p.returncode == 2 and f"{short}:/simgrid/cfg/1: 'network/latency-factor': expected \"name:value\"" in p.stderr,
      "a setting without a value -> exit 2 at /simgrid/cfg/1")
p = run(["list", "--cfg=network/latency-factor:2"])
check(p.returncode == 2 and "--cfg" in p.stderr, "list refuses --cfg (it would be ignored)")

# sweep: --cfg goes into every point, --log to every point's process
sw = os.path.join(d, "sweep")
p = run(["sweep", short, "--axis", "/seed=1,2", "--out", sw, "-j", "2", "-q",
         "--cfg=network/latency-factor:2", "--log=xbt_cfg.thresh:info"])
if check(p.returncode == 0, "sweep with --cfg and --log runs"):
    idx = load(os.path.join(sw, "index.json"))
    check(idx["simgrid_cfg"] == ["network/latency-factor:2"], "index.json records the sweep's --cfg")
    for pt in idx["points"]:
        scen = load(os.path.join(sw, pt["scenario"]))
        res = load(os.path.join(sw, pt["result"]))
        check(scen["simgrid"]["cfg"] == ["network/latency-factor:2"] and
              res["scenario"]["simgrid"]["cfg"] == ["network/latency-factor:2"],
              f"point {pt['id']}: scenario.json and the result record the setting")
        check(res["summary"]["vms"]["vm"]["histograms"]["stall_latency_ns"]["max_ns"] == 11000,
              f"point {pt['id']}: the setting took effect")
        q = run(["run", os.path.join(sw, pt["scenario"]), "--results", os.path.join(d, "direct"), "-q"])
        direct = q.stdout.strip().splitlines()[-1] if q.returncode == 0 else ""
        check(os.path.basename(os.path.dirname(direct)) == pt["id"] and load(direct) == res,
              f"point {pt['id']}: the point id is the run id of its scenario.json, same result")
    by_seed = {pt["values"]["/seed"]: pt["id"] for pt in idx["points"]}
    p = run(["sweep", short, "--axis", "/seed=1,2", "--out", os.path.join(d, "sweep-plain"), "-j", "2", "-q",
             "--dry-run"])
    ids_plain = [l.split()[0] for l in p.stdout.splitlines()[1:]]
    check(p.returncode == 0 and len(ids_plain) == 2 and not set(ids_plain) & set(by_seed.values()),
          "without --cfg the sweep's points have other ids (no result computed under other settings is reused)")
    # resume: the same sweep again reuses its points
    p = run(["sweep", short, "--axis", "/seed=1,2", "--out", sw, "-q", "--cfg=network/latency-factor:2"])
    idx2 = load(os.path.join(sw, "index.json"))
    check(p.returncode == 0 and all(pt["reused"] for pt in idx2["points"]), "the same sweep again reuses every point")
    # pointing the same output at the sweep without --cfg runs every point afresh
    p = run(["sweep", short, "--axis", "/seed=1,2", "--out", sw, "-q", "--dry-run"])
    check(p.returncode == 0 and p.stdout.count("  run ") == 2, "... and without --cfg reuses none of them")

# ---- (c) determinism -------------------------------------------------------------------------
def result_of(tag, extra):
    out = os.path.join(d, tag)
    p = run_scenario(remote, out, extra)
    return open(os.path.join(out, "result.json"), "rb").read() if p.returncode == 0 else tag.encode()


first = open(os.path.join(d, "remote", "result.json"), "rb").read()
check(result_of("det-a", []) == first, "the remote-tier run again (without --timeline) is byte-identical")
check(result_of("det-b", ["--cfg=network/latency-factor:2"]) == result_of("det-c", ["--cfg=network/latency-factor:2"]),
      "remote-tier runs with a SimGrid setting are byte-identical")
finish()
