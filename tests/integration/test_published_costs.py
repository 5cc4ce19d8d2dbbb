"""The default costs against the published end-to-end figure they are calibrated from
(KERNEL-MODEL.md §8): e2b-dev/infra PR 2974 touched 1 GiB of fresh anonymous memory at
~1.3 GiB/s with a userfaultfd MISSING handler (UFFDIO_COPY) and ~2.0 GiB/s unregistered.
scenarios/calibration/first-touch-1g.json replays it; the simulated throughput (simulated time,
deterministic: not a timing test) must be within 1.5x of each figure."""
import os
from harness import *

d = tmpdir()
scenario = os.path.join(SRC, "scenarios", "calibration", "first-touch-1g.json")
for policy, published in (("uffd-ws", 1.3), ("none", 2.0)):
    out = os.path.join(d, policy)
    p = run_scenario(scenario, out, ["--set", f"/vms/0/vmm/policy={policy}"])
    if not check(p.returncode == 0, f"first-touch-1g with vmm {policy} runs"):
        continue
    r = load(os.path.join(out, "result.json"))
    f = r["summary"]["vms"]["guest"]["counters"]["mm"]["faults"]
    pages = f["uffd_missing"] + f["anon_alloc"]
    secs = r["scenario"]["duration"] / 1e9
    gibps = pages * 4096 / secs / 2**30
    ratio = max(gibps / published, published / gibps)
    check(ratio <= 1.5, f"vmm {policy}: {gibps:.2f} GiB/s simulated vs {published} GiB/s published ({ratio:.2f}x, limit 1.5x)")
    if policy == "uffd-ws":
        check(f["anon_alloc"] == 0 and f["uffd_missing"] > 0, "every first touch went through the MISSING handler")
finish()
