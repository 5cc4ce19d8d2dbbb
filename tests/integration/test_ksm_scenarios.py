"""scenarios/ksm: sharing arises from content on anon guests (from ksmd's second full scan) and
is broken by writes; on shmem guests MADV_MERGEABLE is a no-op and nothing merges."""
import os
import subprocess
import sys
from harness import *

d = tmpdir()
K = os.path.join(SRC, "scenarios", "ksm")


def run(name, extra=(), tag=""):
    out = os.path.join(d, name + tag)
    p = run_scenario(os.path.join(K, name + ".json"), out, ["--check-invariants", *extra])
    check(p.returncode == 0, f"{name}{tag} runs (with --check-invariants)")
    return load(os.path.join(out, "result.json"))


r = run("image-anon")
k = r["summary"]["kernel"]["daemons"]["ksmd.host0"]
check(k["pages_sharing"] > 0 and k["frames_freed"] > 0, f"anon: pages merge ({k['pages_sharing']} sharing, {k['frames_freed']} frames freed)")
check(k["cow_breaks"] > 0, f"anon: writes break sharing ({k['cow_breaks']} COW breaks)")
m = [sum(v["kernel"]["ksm"]["ksm_merging_pages"][i] for v in r["timeseries"]["vms"].values())
     for i in range(len(r["timeseries"]["t_ns"]))]
check(m[0] == 0 and max(m) > 0, "anon: nothing is merged in the first sample (the checksum gate), later pages are")

r = run("image-shmem")
k = r["summary"]["kernel"]["daemons"]["ksmd.host0"]
check(k["pages_sharing"] == 0 and k["pages_shared"] == 0, "shmem: MADV_MERGEABLE is a no-op, nothing merges")

# KSM + eviction (image-evict.json), shortened to 6 s: the four configurations of the README.
short = ["--set", "/duration=6s"]
no_vmm = ["--set", '/vms/0/vmm={"policy":"none"}']
used = {}
res = {}
for tag, extra in (("neither", ["--set", "/kernel/ksm/run=0", *no_vmm]), ("ksm", no_vmm),
                   ("evict", ["--set", "/kernel/ksm/run=0"]), ("both", [])):
    res[tag] = run("image-evict", [*short, *extra], "-" + tag)
    t = res[tag]["timeseries"]
    free = t["hosts"]["host0"]["free_pages"]["node0"]
    cap = res[tag]["summary"]["hosts"]["host0"]["nodes"]["node0"]["capacity_pages"]
    late = free[len(free) // 2:]
    used[tag] = cap - sum(late) / len(late)
check(used["ksm"] < used["neither"] and used["evict"] < used["neither"],
      f"KSM alone and eviction alone each free frames ({used})")
check(used["both"] < min(used["ksm"], used["evict"]), f"both together use fewer frames than either alone ({used})")
kk = res["ksm"]["summary"]["kernel"]["daemons"]["ksmd.host0"]
kb = res["both"]["summary"]["kernel"]["daemons"]["ksmd.host0"]
check(kk["protnone_lost_truth"] == 0 and kb["protnone_lost_truth"] > 0,
      f"only with eviction do merges undo a DEACTIVATE ({kb['protnone_lost_truth']})")
fs = res["both"]["timeseries"]["kernel"]["daemons"]["ksmd.host0"]["frames_saved"]
check(kb["frames_saved"] == fs[-1] and max(fs) > kb["frames_saved"],
      f"with eviction, the frames KSM saves fall back once merged pages are evicted (peak {max(fs)}, end {fs[-1]})")
check(0 < kb["cpu_share"] < 1 and len(res["both"]["timeseries"]["kernel"]["daemons"]["ksmd.host0"]["cpu_share"]) == len(fs),
      "ksmd's CPU share is reported over the run and per interval")

# The daemon's series through the plot tool: --daemon selects it, --label names the runs.
plot = os.path.join(SRC, "tools", "vmemsim-plot")
png = os.path.join(d, "ksmd.png")
both = os.path.join(d, "image-evict-both")
p = subprocess.run([sys.executable, plot, "timeseries", os.path.join(d, "image-evict-ksm"), both, "--daemon", "ksmd.host0",
                    "--metric", "frames_saved", "--metric", "cpu_share", "--label", "KSM alone", "--label", "both", "-o", png],
                   capture_output=True, text=True)
check(p.returncode == 0 and os.path.getsize(png) > 10000, f"vmemsim-plot draws ksmd's series with --daemon ({p.stderr.strip()})")
p = subprocess.run([sys.executable, plot, "timeseries", both, "--daemon", "ksmd.hots0", "--metric", "frames_saved", "-o", png],
                   capture_output=True, text=True)
check(p.returncode != 0 and "kernel daemon 'ksmd.hots0'" in p.stderr and "ksmd.host0" in p.stderr,
      f"an unknown daemon is named with the ones there ({p.stderr.strip()})")
finish()
