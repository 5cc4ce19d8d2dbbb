"""scenarios/ksm: sharing arises from content on anon guests (from ksmd's second full scan) and
is broken by writes; on shmem guests MADV_MERGEABLE is a no-op and nothing merges."""
import os
from harness import *

d = tmpdir()
K = os.path.join(SRC, "scenarios", "ksm")


def run(name):
    out = os.path.join(d, name)
    p = run_scenario(os.path.join(K, name + ".json"), out, ["--check-invariants"])
    check(p.returncode == 0, f"{name} runs (with --check-invariants)")
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
finish()
