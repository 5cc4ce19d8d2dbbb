"""vms[].vmm.thp_eviction on scenarios/thp/eviction.json (shortened), as separate processes:
  - pmd evicts whole PMD ranges: every refault fetches 512 pages (amplification from the evictor's
    refault_faults / fetched_pages), whole-PMD zaps and no deferred split, no PMD split on rwp
    (the 2 MiB RWPROTECT(clear)), no lost write, under --check-invariants;
  - split (the default) is what a scenario without the key runs: byte-identical result.json,
    and it moves 4 KiB pages (one page per refault, PMD splits);
  - pmd is a no-op without THP (enabled never): the same summary as split;
  - refusals (exit 2 naming /vms/0/vmm/thp_eviction): shmem, with prefetch, a bad value;
  - a two-point sweep of the same base, and eviction_table.py over it (the README's command)."""
import json
import os
import subprocess
import sys

from harness import *

d = tmpdir()
T = os.path.join(SRC, "scenarios", "thp")
EV = os.path.join(T, "eviction.json")
SHORT = ["--set", "/duration=2500ms"]


def run_ev(tag, extra=(), scenario=EV):
    out = os.path.join(d, tag)
    p = run_scenario(scenario, out, ["--check-invariants", *SHORT, *extra])
    check(p.returncode == 0, f"{tag} runs (with --check-invariants)")
    return out, load(os.path.join(out, "result.json"))


for variant in ("rfc-v1", "rwp"):
    _, r = run_ev(f"pmd-{variant}", ["--set", f"/kernel/variant={variant}"])
    vm = r["summary"]["vms"]["guest"]
    v, t = vm["vmm"], vm["kernel"]["thp"]
    check(r["scenario"]["vms"][0]["vmm"]["thp_eviction"] == "pmd", f"{variant}: the scenario echo shows pmd")
    check(v["refault_faults"] > 0 and v["fetched_pages"] == 512 * v["refault_faults"],
          f"{variant} pmd: every refault fetches its 2 MiB range ({v['refault_faults']} refaults, {v['fetched_pages']} pages)")
    check(v["evicted_pages"] % 512 == 0 and t["zap_huge_pmd"] > 0,
          f"{variant} pmd: whole ranges evicted ({v['evicted_pages']} pages), PMD mappings zapped whole ({t['zap_huge_pmd']})")
    # No frame waits for a deferred split. (On rfc-v1 the handler's 4 KiB CONTINUE in the sync
    # window splits a few PMDs; the whole-range zap then unmaps the large folio whole.)
    check(t["deferred_frames_freed"] == 0, f"{variant} pmd: no frame freed late by a deferred split")
    check(t["thp_collapse_alloc"] > 128, f"{variant} pmd: refetched ranges collapse again ({t['thp_collapse_alloc']} collapses)")
    check(v["lost_writes"] == 0, f"{variant} pmd: no lost write")
    if variant == "rwp":
        check(t["thp_split_pmd"] == 0 and t["thp_deferred_split_page"] == 0,
              f"rwp pmd: no PMD split, no deferred split ({t['thp_split_pmd']}, {t['thp_deferred_split_page']})")

# split: the default, unchanged; a scenario without the key runs exactly it.
o_split, s = run_ev("split", ["--set", "/vms/0/vmm/thp_eviction=split"])
doc = load(EV)
del doc["vms"][0]["vmm"]["thp_eviction"]
os.makedirs(os.path.join(d, "nokey-scenario"))
o_nokey, _ = run_ev("nokey", scenario=write_scenario(doc, os.path.join(d, "nokey-scenario")))
check(open(os.path.join(o_split, "result.json"), "rb").read() == open(os.path.join(o_nokey, "result.json"), "rb").read(),
      "split is the default: byte-identical result.json with and without the key")
sv, st = s["summary"]["vms"]["guest"]["vmm"], s["summary"]["vms"]["guest"]["kernel"]["thp"]
check(sv["refault_faults"] > 0 and sv["fetched_pages"] == sv["refault_faults"],
      f"split: one page per refault ({sv['refault_faults']} refaults)")
check(st["thp_split_pmd"] > 0 and st["thp_deferred_split_page"] > 0,
      f"split: evicting part of a PMD mapping splits it and defers the folio split ({st['thp_split_pmd']} splits)")

# pmd without THP: the 4 KiB evictor.
never = ["--set", '/kernel/thp/enabled="never"']
_, np_ = run_ev("never-pmd", never)
_, ns = run_ev("never-split", [*never, "--set", "/vms/0/vmm/thp_eviction=split"])
check(np_["summary"] == ns["summary"] and np_["summary"]["vms"]["guest"]["vmm"]["evicted_pages"] > 0,
      "THP never: pmd is a no-op (the same summary as split)")

# Refusals.
for tag, sets, word in (("shmem", ["--set", "/vms/0/backing=shmem"], "shmem"),
                        ("prefetch", ["--set", "/vms/0/vmm/prefetch=4"], "prefetch"),
                        ("badvalue", ["--set", "/vms/0/vmm/thp_eviction=huge"], "split")):
    p = run_scenario(EV, os.path.join(d, "refused-" + tag), sets)
    check(p.returncode == 2 and "/vms/0/vmm/thp_eviction" in p.stderr and word in p.stderr,
          f"thp_eviction pmd refused ({tag}): exit 2 naming the key")

# A sweep of the same base, and the README's table script over it.
sweep = {"name": "thp-eviction-test", "base": EV,
         "axes": [{"pointer": "/duration", "values": ["1500ms"]},
                  {"pointer": "/vms/0/vmm/thp_eviction", "values": ["split", "pmd"]}]}
sp = os.path.join(d, "sweep.json")
with open(sp, "w") as f:
    json.dump(sweep, f)
p = run(["sweep", sp, "-j2", "--out", os.path.join(d, "sweep-out")])
check(p.returncode == 0, "the split/pmd sweep runs")
if p.returncode != 0:
    print(p.stderr)
idx = os.path.join(d, "sweep-out", "index.json")
if os.path.exists(idx):
    check(all(pt["status"] == "ok" for pt in load(idx)["points"]), "every sweep point ok")
    q = subprocess.run([sys.executable, os.path.join(T, "eviction_table.py"), os.path.join(d, "sweep-out")],
                       capture_output=True, text=True)
    rows = [line for line in q.stdout.splitlines() if line.startswith("| rfc-v1 | always |")]
    check(q.returncode == 0 and len(rows) == 2, f"eviction_table.py prints the split and pmd rows ({q.stderr.strip()[:200]})")
finish()
