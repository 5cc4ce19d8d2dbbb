"""Traces from the command line: `vmemsim trace stats|convert`, `vmemsim replay` (misses against
an independent LRU written here, one pass against per-limit simulation, the same misses from
every format of the same trace, errors with exit 2), and a scenario whose vCPUs replay a trace
(every reference issued once with at_end=stop; timestamps pace the accesses; deterministic)."""
import json
import os
import random
import struct
from collections import OrderedDict
from harness import *

d = tmpdir()

# A lackey trace: a hot loop, a scan, page-crossing accesses, valgrind's own lines.
rng = random.Random(7)
lines = ["==1== Lackey, an example Valgrind tool", "==1== Command: ./prog"]
pages = []  # the page references the readers must produce, in order
for i in range(30000):
    k = rng.random()
    if k < 0.6:
        a = 0x10000000 + rng.randrange(40) * 4096 + rng.randrange(4000)
    elif k < 0.9:
        a = 0x7ff000000 + rng.randrange(600) * 4096 + rng.randrange(4000)
    else:
        a = 0x20000000 + (i % 900) * 4096 + 4094  # crosses into the next page with size 8
    kind = rng.choice(["I ", " L", " S", " M"])
    size = 8
    lines.append(f"{kind} {a:08x},{size}")
    for p in range(a >> 12, ((a + size - 1) >> 12) + 1):
        pages.append(p)
lackey = os.path.join(d, "prog.lackey")
with open(lackey, "w") as f:
    f.write("\n".join(lines) + "\n==1== \n")


lru_misses = reference_lru_misses

p = run(["trace", "stats", lackey, "--json"])
check(p.returncode == 0, "trace stats --json runs " + p.stderr)
st = json.loads(p.stdout) if p.returncode == 0 else {}
check(st.get("format") == "lackey" and st.get("references") == len(pages) and st.get("distinct_pages") == len(set(pages)),
      f"stats: lackey sniffed, {len(pages)} page references ({len(lines) - 2} lines), {len(set(pages))} distinct pages")
buckets = st.get("reuse_distance", {}).get("buckets", [])
check(st.get("reuse_distance", {}).get("cold") == len(set(pages)) and
      sum(b["count"] for b in buckets) + len(set(pages)) == len(pages) and
      all(b["min"] == (0 if i == 0 else 2 ** (i - 1)) for i, b in enumerate(buckets)),
      "stats: reuse-distance histogram in power-of-two buckets covers every reference")

conv = {}
for name, args in [("pt.zst", []), ("og.bin", ["--to", "oracle-general"]), ("back.lackey", ["--to", "lackey"])]:
    out = os.path.join(d, name)
    src = conv.get("pt.zst", lackey) if name == "og.bin" else lackey
    p = run(["trace", "convert", src, out] + args)
    check(p.returncode == 0, f"trace convert -> {name} " + p.stderr.strip())
    conv[name] = out
with open(conv["pt.zst"], "rb") as f:
    check(f.read(4) == b"\x28\xb5\x2f\xfd", "OUT.zst is zstd-compressed")
with open(conv["og.bin"], "rb") as f:
    og = f.read()
recs = [struct.unpack_from("<IQIq", og, o) for o in range(0, len(og), 24)]
check(len(og) == 24 * len(pages) and all(r[2] == 4096 for r in recs), "oracleGeneral: 24-byte records, one per page reference")
ids = {}
for r in recs:
    ids.setdefault(r[1], len(ids))
nxt = {}
want_next = [0] * len(recs)
for i in range(len(recs) - 1, -1, -1):
    want_next[i] = nxt.get(recs[i][1], -1)
    nxt[recs[i][1]] = i
check([r[3] for r in recs] == want_next, "oracleGeneral: next_access_vtime from a backward pass (-1 = never)")

frames = [1, 8, 40, 100, 300, 2000]
want = [lru_misses(pages, f) for f in frames]
results = {}
for label, path in [("lackey", lackey), ("pagetrace.zst", conv["pt.zst"]), ("oracle-general", conv["og.bin"]),
                    ("lackey (converted back)", conv["back.lackey"])]:
    p = run(["replay", path, "--policy", "exact-lru", "--frames", ",".join(map(str, frames)), "--json"])
    ok = check(p.returncode == 0, f"replay {label} runs " + p.stderr.strip()[-200:])
    j = json.loads(p.stdout) if ok else {"limits": []}
    got = [l["misses"] for l in j["limits"]]
    check(got == want, f"replay exact-lru on {label}: misses {got} = independent LRU {want}")
    check(all(l["references"] == len(pages) and l["compulsory_misses"] == len(set(pages)) for l in j["limits"]),
          f"replay {label}: references and compulsory misses per limit")
    results[label] = j
check(results["lackey"].get("method") == "stack-distance", "exact-lru: every limit from one stack-distance pass")
p = run(["replay", lackey, "--policy", "exact-lru", "--frames", ",".join(map(str, frames)), "--json", "--per-limit"])
check(p.returncode == 0 and [l["misses"] for l in json.loads(p.stdout)["limits"]] == want,
      "exact-lru with --per-limit (simulation through the selector) gives the same misses")
p2 = run(["replay", lackey, "--policy", "exact-lru", "--frames", ",".join(map(str, frames)), "--json", "--per-limit"])
check(p2.stdout == p.stdout, "replay JSON is byte-identical between runs")

opt = json.loads(run(["replay", lackey, "--policy", "opt", "--frames", "8,40,100", "--json"]).stdout)["limits"]
for pol in ["exact-lru", "fifo", "clock", "random"]:
    other = json.loads(run(["replay", lackey, "--policy", pol, "--frames", "8,40,100", "--json"]).stdout)["limits"]
    check(all(o["misses"] <= x["misses"] for o, x in zip(opt, other)), f"opt misses <= {pol} misses")
txt = run(["replay", lackey, "--policy", "clock", "--frames", "40"])
check(txt.returncode == 0 and "miss ratio" in txt.stdout, "replay prints a table without --json")

for args, what, msg in [
        (["replay", lackey, "--policy", "exact-lr", "--frames", "4"], "unknown policy", "did you mean 'exact-lru'?"),
        (["replay", os.path.join(d, "nope"), "--policy", "fifo", "--frames", "4"], "missing file", "cannot open"),
        (["replay", lackey, "--policy", "fifo", "--frames", "4,x"], "bad frames", "--frames '4,x'"),
        (["replay", lackey, "--policy", "fifo", "--frames", "4", "--format", "csv"], "bad format", "--format 'csv'"),
        (["trace", "stats", os.path.join(SRC, "README.md")], "not a trace", "unknown trace format")]:
    p = run(args)
    check(p.returncode == 2 and msg in p.stderr, f"{what}: exit 2 with '{msg}' (got {p.returncode}: {p.stderr.strip()[:160]})")

# Through vCPUs: two vCPUs split the trace and stop at its end; every reference is issued once.
sc = {"name": "trace-run", "duration": "200ms",
      "hosts": [{"name": "h", "nodes": [{"cores": 4, "memory": "1GiB"}]}],
      "vms": [{"name": "g", "vcpus": 2, "memory": "64MiB",
               "workload": {"type": "trace", "path": conv["pt.zst"], "vcpus": "split", "at_end": "stop", "rate": "10M"}}]}
path = write_scenario(sc, d)
outs = []
for k in range(2):
    out = os.path.join(d, f"run{k}")
    p = run_scenario(path, out)
    check(p.returncode == 0, f"scenario with a trace workload runs ({k})")
    outs.append(load(os.path.join(out, "result.json")) if p.returncode == 0 else {})
v = outs[0].get("summary", {}).get("vms", {}).get("g", {})
check(v.get("accesses") == len(pages), f"split + stop: the vCPUs issue each of the {len(pages)} references once ({v.get('accesses')})")
check(v.get("true_wss_pages", {}).get("1s") == len(set(pages)), "the run touches exactly the trace's distinct pages (dense mapping)")
check(outs[0].get("summary") == outs[1].get("summary"), "same scenario, same summary")

# Timestamps pace the accesses: 1 ms apart, looping, over 100 ms -> about 100 accesses.
# Our pagetrace with 1 ms between records (header, then varint zigzag(page delta) << 1 | write,
# varint time delta; models/workload/trace_pagetrace.cpp).
def varint(v):
    b = bytearray()
    while v >= 0x80:
        b.append((v & 0x7f) | 0x80)
        v >>= 7
    b.append(v)
    return bytes(b)
pt = os.path.join(d, "timed.vmpt")
with open(pt, "wb") as f:
    f.write(b"VMPGTRC\0" + struct.pack("<HHB3x", 1, 3, 12))
    prev = 0
    for i in range(50):
        page = i % 7
        delta = page - prev
        zz = delta << 1 if delta >= 0 else ((-delta) << 1) - 1
        f.write(varint(zz << 1) + varint(0 if i == 0 else 1_000_000))
        prev = page
sc2 = {"name": "trace-timed", "duration": "100ms",
       "hosts": [{"name": "h", "nodes": [{"cores": 4, "memory": "1GiB"}]}],
       "vms": [{"name": "g", "vcpus": 1, "memory": "64MiB", "workload": {"type": "trace", "path": pt}}]}
out = os.path.join(d, "timed")
p = run_scenario(write_scenario(sc2, d), out)
acc = load(os.path.join(out, "result.json"))["summary"]["vms"]["g"]["accesses"] if p.returncode == 0 else -1
check(99 <= acc <= 102, f"1 ms between timestamps over 100 ms: about 100 accesses ({acc}), not the rate's millions")
sc2["vms"][0]["workload"]["timing"] = "rate"
p = run_scenario(write_scenario(sc2, d), out)
acc = load(os.path.join(out, "result.json"))["summary"]["vms"]["g"]["accesses"] if p.returncode == 0 else -1
check(acc > 10000, f"timing=rate ignores the timestamps ({acc} accesses)")

finish()
