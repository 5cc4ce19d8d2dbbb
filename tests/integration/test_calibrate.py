"""`vmemsim calibrate` on the running kernel, and a scenario that opts into the profile it writes.

A small run (--repeats 1 --pages 256) must print its table, write the profile atomically, and a
scenario with `host_profile` pointing at it must resolve to the measured costs (an explicit value
in the scenario still wins) under another run id than the same scenario without it. Exits 77
(skipped) where userfaultfd is unavailable: the profile then has no userfaultfd costs to check.
"""
import copy
import json
import os
import sys
from harness import *

d = tmpdir()
prof = os.path.join(d, "profile.json")
p = run(["calibrate", "--repeats", "1", "--pages", "256", "--out", prof], timeout=300)
if not check(p.returncode == 0, f"calibrate exits 0 (got {p.returncode})"):
    print(p.stderr)
    finish()
check("anon first-touch write fault /page" in p.stdout and "kernel.costs key" in p.stdout,
      "the table and the derived keys are printed")
check(sorted(os.listdir(d)) == ["profile.json"], "the profile is written atomically (no temp file left)")
profile = load(prof)
meta = profile["metadata"]
check(profile["vmemsim_host_profile"] == 1, "the profile names its format")
check(meta["kernel_release"] == os.uname().release and meta["repeats"] == 1 and meta["pages"] == 256,
      "metadata: kernel release, repeats, region size")
check(meta["zero_page"] in (True, False, None) and "hostname" in meta and "date" in meta,
      f"metadata: zero page ({meta['zero_page']}), host name, date")
costs = profile["kernel"]["costs"]
check(all(isinstance(v, int) and v >= 0 for k, v in costs.items() if k != "uffd"), "costs are non-negative integers")
check(costs.get("minor_fault_ns") is not None and costs.get("page_clear_ns") is not None,
      "minor_fault_ns and page_clear_ns are derived")
for k, how in profile["derivation"].items():
    group, _, name = k.rpartition("/")
    check((costs.get(group, {}) if group else costs).get(name) is not None and how and k not in profile["not_derived"],
          f"{k}: in the costs, with its derivation")

if "uffdio_copy_ns" not in profile["measurements"]:
    print("SKIP: userfaultfd is unavailable here: " + profile["skipped"].get("uffdio_copy_ns", "(no reason given)"))
    sys.exit(77)
uffd = costs.get("uffd", {})
check(all(k in uffd for k in ("ioctl_ns", "copy_ns", "roundtrip_ns", "per_pte_ns", "scan_per_pte_ns")),
      f"the userfaultfd costs are derived ({sorted(uffd)})")

# --json prints the same table as JSON, and writes nothing without --out.
p = run(["calibrate", "--repeats", "1", "--pages", "64", "--json"], timeout=300)
rows = json.loads(p.stdout)["rows"] if p.returncode == 0 else []
check({"first_touch_write_ns", "missing_roundtrip_ns", "mprotect_flush_k8_ns"} <= {r["id"] for r in rows},
      "--json: one row per measured quantity")
check(all({"name", "model_ns", "measured_ns", "published_ns", "ratio"} <= set(r) for r in rows),
      "--json: each row has name, model default, measured, published figure and ratio")
check(sorted(os.listdir(d)) == ["profile.json"], "--json without --out writes no profile")

# A scenario next to the profile opts into it; page_copy_ns is given explicitly and must win.
doc = {
    "name": "calib-tiny", "duration": "400ms", "host_profile": "profile.json",
    "kernel": {"variant": "rfc-v1", "costs": {"page_copy_ns": 123}},
    "hosts": [{"name": "h", "nodes": [{"cores": 2, "memory": "1GiB"}]}],
    "vms": [{"name": "v", "vcpus": 1, "memory": "64MiB",
             "workload": {"type": "hot_cold", "hot_fraction": 0.2, "hot_probability": 0.95, "rate": "2M"},
             "vmm": {"policy": "uffd-ws", "interval": "100ms", "age_threshold": 1, "tier": {"kind": "ssd"}}}],
}
path = write_scenario(doc, d)
p = run(["validate", path, "--print"])
check(p.returncode == 0, "the scenario with host_profile validates")
resolved = json.loads(p.stdout) if p.returncode == 0 else {"kernel": {"costs": {"uffd": {}}}}
rc = resolved["kernel"]["costs"]
check(resolved.get("host_profile") == "profile.json", "the resolved scenario records host_profile")
check(all(rc[k] == v for k, v in costs.items() if k not in ("uffd", "page_copy_ns")),
      "the resolved kernel.costs carry the measured values")
check(all(rc["uffd"][k] == v for k, v in uffd.items()), "the resolved kernel.costs.uffd carry the measured values")
check(rc["page_copy_ns"] == 123, "a value given in the scenario wins over the profile")

plain = copy.deepcopy(doc)
del plain["host_profile"]
plain["name"] = "calib-tiny"
plain_dir = os.path.join(d, "plain")
os.makedirs(plain_dir)
plain_path = write_scenario(plain, plain_dir)
results = os.path.join(d, "results")
a = run(["run", path, "--results", results, "-q"])
b = run(["run", plain_path, "--results", results, "-q"])
check(a.returncode == 0 and b.returncode == 0, "both scenarios run")
if a.returncode == 0 and b.returncode == 0:
    ra, rb = a.stdout.strip(), b.stdout.strip()
    check(os.path.dirname(ra) != os.path.dirname(rb), f"the run ids differ ({os.path.dirname(ra)[-12:]} vs "
                                                      f"{os.path.dirname(rb)[-12:]})")
    res_a, res_b = load(ra), load(rb)
    check(res_a["scenario"]["host_profile"] == "profile.json" and res_b["scenario"]["host_profile"] == "",
          "result.json records host_profile")
    check(res_a["scenario"]["kernel"]["costs"]["uffd"]["roundtrip_ns"] == uffd["roundtrip_ns"],
          "result.json carries the measured costs")
    ca = res_a["summary"]["vms"]["v"]["vmm"]["cpu_ns"]
    cb = res_b["summary"]["vms"]["v"]["vmm"]["cpu_ns"]
    check(ca != cb, f"the VMM's CPU time follows the measured costs ({ca} vs {cb})")

# A sweep runs each point's scenario.json from its own directory: the relative host_profile
# must still find the profile beside the base scenario.
sw = os.path.join(d, "sweep")
p = run(["sweep", path, "--axis", "/seed=1,2", "--out", sw, "--jobs", "1", "-q"])
check(p.returncode == 0, "a sweep over the scenario with host_profile runs" + ("" if p.returncode == 0 else ": " + p.stderr[-300:]))
if p.returncode == 0:
    idx = load(os.path.join(sw, "index.json"))
    pts = idx["points"]
    check(len(pts) == 2 and all(pt["status"] == "ok" for pt in pts), "both points ok")
    for pt in pts:
        r = load(os.path.join(sw, pt["result"]))
        check(os.path.samefile(r["scenario"]["host_profile"], prof) and
              r["scenario"]["kernel"]["costs"]["uffd"]["roundtrip_ns"] == uffd["roundtrip_ns"],
              f"point {pt['id']}: the profile's costs, host_profile made absolute")
finish()
