"""scenarios/reclaim: guests overcommit DRAM only with kernel reclaim and swap; then kswapd and
direct reclaim swap pages out, refaults swap them back in with vCPU stalls, frame accounting
holds at every sample, and the uffd working-set loop runs on top (its UFFDIO_COPY reclaims in
the handler when the host is full)."""
import os
from harness import *

d = tmpdir()
S = os.path.join(SRC, "scenarios", "reclaim", "overcommit.json")
short = ["--set", "/duration=1500ms", "--set", "/vms/0/workload/phases/1/duration=1350ms", "--check-invariants"]
UFFD = '/vms/0/vmm={"policy":"uffd-ws","interval":"500ms","age_threshold":1,"tier":{"kind":"ssd"}}'

res = {}
for tag, extra in (("none", []), ("uffd", ["--set", UFFD]), ("mglru", ["--set", '/kernel/reclaim/lru="mglru"'])):
    out = os.path.join(d, tag)
    p = run_scenario(S, out, [*short, *extra])
    check(p.returncode == 0, f"{tag}: 1.5x overcommit runs with --check-invariants")
    if p.returncode == 0:
        res[tag] = load(os.path.join(out, "result.json"))

if "none" in res:
    s = res["none"]["summary"]
    k = s["kernel"]["daemons"]["kswapd0.host0"]
    vms = list(s["vms"].values())
    check(k["pswpout"] > 0 and k["pswpin"] > 0, f"kernel reclaim swaps out and back in ({k['pswpout']} out, {k['pswpin']} in)")
    check(k["pgsteal_kswapd"] > 0 and k["allocstall"] > 0,
          f"both kswapd and direct reclaim take pages ({k['pgsteal_kswapd']} by kswapd, {k['allocstall']} allocstalls)")
    check(k["pswpin"] == k["workingset_refault_anon"] == sum(v["kernel"]["reclaim"]["pswpin"] for v in vms),
          "every swap-in is a refault, and the per-VM counts add up to the host's")
    check(all(v["time_ns"]["swap_in_stall"] > 0 for v in vms), "swap-ins stall the vCPUs for the swap read")
    check(s["hosts"]["host0"]["nodes"]["node0"]["used_pages"] <= 65536, "the host never uses more frames than it has")
    check(0 < k["cpu_share"] < 1, f"kswapd's CPU share is reported ({k['cpu_share']:.4f})")

if "uffd" in res:
    s = res["uffd"]["summary"]
    k = s["kernel"]["daemons"]["kswapd0.host0"]
    vms = list(s["vms"].values())
    check(all(v["vmm"]["evicted_pages"] > 0 for v in vms), "the VMM evicts cold pages on top of kernel reclaim")
    check(all(v["vmm"]["lost_writes"] == 0 for v in vms), "no write is lost with both evicting")

if "mglru" in res:
    k = res["mglru"]["summary"]["kernel"]["daemons"]["kswapd0.host0"]
    g = k["lru_gen"]
    check(k["lru_gen_aging"] > 0 and k["pswpout"] > 0, f"MGLRU ages ({k['lru_gen_aging']} times) and swaps ({k['pswpout']} out)")
    check(2 <= len(g["generations"]) <= 4 and g["max_seq"] - g["min_seq"] + 1 == len(g["generations"]),
          f"MGLRU keeps 2-4 generations ({g['min_seq']}..{g['max_seq']})")
    check(sum(x["folios"] for x in g["generations"]) == k["nr_active_anon"] + k["nr_inactive_anon"],
          "the generations hold the node's anon folios")

# Without kernel reclaim the same guests are refused up front, naming the key that allows it.
p = run(["validate", S, "--set", "/kernel/reclaim/enabled=false"])
check(p.returncode == 2 and "kernel.reclaim" in p.stderr, "overcommit without kernel reclaim is refused (exit 2, names kernel.reclaim)")
# ... and with reclaim, not beyond DRAM + swap.
p = run(["validate", S, "--set", "/hosts/0/swap/size=64MiB"])
check(p.returncode == 2 and "swap" in p.stderr, "guests beyond DRAM + swap are refused")

finish()
