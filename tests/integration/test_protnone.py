"""The protnone experiment (scenarios/protnone): each configuration, shortened to 3 s, shows its
mechanism in result.json -- conflicts only where NUMA and uffd share plain PROT_NONE, migration
where NUMA hinting faults reach do_numa_page, task moves where only statistics are fed -- and
sweep.json is what make_sweep.py writes from the six files. Plus the tiering scenario."""
import os
import subprocess
import sys
from harness import *

d = tmpdir()
P = os.path.join(SRC, "scenarios", "protnone")

g = subprocess.run([sys.executable, os.path.join(P, "make_sweep.py"), "--check"], capture_output=True, text=True)
check(g.returncode == 0, "scenarios/protnone/sweep.json is up to date with the six scenario files " + g.stderr.strip())


def run(name, dur="3s"):
    out = os.path.join(d, name)
    p = run_scenario(os.path.join(P, name + ".json"), out, ["--set", f'/duration="{dur}"', "--check-invariants"])
    check(p.returncode == 0, f"{name} runs (with --check-invariants)")
    v = load(os.path.join(out, "result.json"))["summary"]["vms"]["guest"]
    return v, v.get("kernel", {}).get("numa"), v["counters"]["mm"]


v, n, mm = run("numa-off")
check(n is None and mm["spurious_uffd"] == 0, "numa-off: no NUMA state reported, no spurious notification")
check(v["remote_ratio"] > 0.95, f"numa-off: memory stays on the wrong node ({v['remote_ratio']:.2f} remote)")

v, n, mm = run("upstream")
check(n["numa_pages_migrated"] > 1000 and v["remote_ratio"] < 0.5,
      f"upstream: hinting faults migrate pages ({n['numa_pages_migrated']}), remote {v['remote_ratio']:.2f}")
check(n["numa_hint_faults"] > 0 and n["numa_pte_updates"] > 0 and mm["spurious_uffd"] == 0, "upstream: scans, hints, no uffd")

v, n, mm = run("rfcv1-nopatch")
check(mm["spurious_uffd"] > 1000 and n["numa_hint_faults"] == 0 and n["numa_pages_migrated"] == 0,
      f"rfc-v1 without the patches: NUMA PROT_NONE goes to uffd ({mm['spurious_uffd']} spurious), no hint, no migration")
check(n["samples_lost_uffd_protnone"] > 0, f"rfc-v1 without the patches: NUMA samples lost to uffd PROT_NONE ({n['samples_lost_uffd_protnone']})")
check(v["vmm"]["false_cold_numa_protnone_total"] > 0, "rfc-v1 without the patches: pages in use reported cold because of NUMA's PROT_NONE")

v, n, mm = run("rfcv1-skip")
check(n["vma_skips"]["uffd_minor"] > 0 and n["numa_pte_updates"] == 0 and mm["spurious_uffd"] == 0,
      "rfc-v1 with 07/12: the VMA is skipped (uffd_minor), nothing conflicts")
check(v["remote_ratio"] > 0.95, "rfc-v1 with 07/12 only: no migration, no statistics, memory stays remote")

v, n, mm = run("rfcv1-skip-feed")
check(n["task_numa_fault_fed"] > 0 and n["numa_pages_migrated"] == 0 and mm["spurious_uffd"] == 0,
      "rfc-v1 with 07/12 and the feed: statistics from the uffd path, no page migrated")
check(n["numa_task_migrated"] + n["numa_task_swapped"] > 0 and v["remote_ratio"] < 0.5,
      f"rfc-v1 with the feed: vCPUs move to their memory (remote {v['remote_ratio']:.2f})")

v, n, mm = run("rwp")
check(mm["spurious_uffd"] == 0 and n["numa_pages_migrated"] > 0 and n["numa_hint_faults"] > 0,
      f"rwp: the uffd bit tells them apart: no spurious notification, {n['numa_pages_migrated']} pages migrated")

# Memory tiering: promotion from the CPU-less node, counted as pgpromote_success.
out = os.path.join(d, "tiering")
p = run_scenario(os.path.join(SRC, "scenarios", "tiering", "dram-cxl.json"), out, ["--set", '/duration="4s"'])
check(p.returncode == 0, "tiering scenario runs")
v = load(os.path.join(out, "result.json"))["summary"]["vms"]["guest"]
n = v["kernel"]["numa"]
check(n["pgpromote_success"] > 0 and n["pgpromote_success"] == n["numa_pages_migrated"],
      f"tiering: pages promoted to DRAM ({n['pgpromote_success']}), every migration a promotion")
check(v["resident_pages"]["node0"] == n["pgpromote_success"], "tiering: DRAM holds exactly the promoted pages")

finish()
