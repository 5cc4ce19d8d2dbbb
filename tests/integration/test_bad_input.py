"""Bad input: clear error naming the file and JSON pointer, exit code 2, nothing written."""
import json
import os
from harness import *

d = tmpdir()
bad = os.path.join(d, "bad.json")
with open(bad, "w") as f:
    f.write('{"name": "bad", "duration": "1s", "hosts": [{"name": "h", "nodes": [{"cores": 1, "memory": "1GiB"}]}],'
            ' "vms": [{"name": "v", "vcpus": 1, "memory": "64MiB", "workload": {"type": "unifrom"}}],'
            ' "outptu": {}}')
out = os.path.join(d, "out")
p = run(["run", bad, "--out", out])
check(p.returncode == 2, f"exit code 2 (got {p.returncode})")
check(f"{bad}:/vms/0/workload/type:" in p.stderr and "did you mean 'uniform'" in p.stderr,
      "bad enum reported with pointer and did-you-mean")
check(f"{bad}:/outptu:" in p.stderr and "did you mean 'output'" in p.stderr, "unknown key reported in the same run")
check(not os.path.exists(out), "nothing written")

with open(os.path.join(d, "broken.json"), "w") as f:
    f.write('{"name": ')
p = run(["validate", os.path.join(d, "broken.json")])
check(p.returncode == 2 and "not valid JSON" in p.stderr, "syntax error -> exit 2")
p = run(["run", os.path.join(d, "missing.json")])
check(p.returncode == 2 and "cannot open" in p.stderr, "missing file -> exit 2")
p = run(["run", "scenarios/quickstart.json", "--set", "/hosts/5/name=x", "--out", out])
check(p.returncode == 2 and "/hosts/5" in p.stderr, "--set to a missing array element -> exit 2")
p = run(["run", "--no-such-flag"])
check(p.returncode == 2, "unknown CLI flag -> exit 2")
p = run(["describe", "zipff"])
check(p.returncode == 2 and "did you mean 'zipf'" in p.stderr, "describe unknown name -> exit 2")
check(not os.path.exists(out), "still nothing written")

# host_profile: a missing or malformed profile is an input error at /host_profile.
good = {"name": "hp", "duration": "100ms", "hosts": [{"name": "h", "nodes": [{"cores": 1, "memory": "1GiB"}]}],
        "vms": [{"name": "v", "vcpus": 1, "memory": "64MiB", "workload": {"type": "uniform"}}]}
hp = os.path.join(d, "hp.json")
with open(hp, "w") as f:
    json.dump(dict(good, host_profile="no-such-profile.json"), f)
p = run(["run", hp, "--out", out])
check(p.returncode == 2 and f"{hp}:/host_profile: cannot open host profile '{os.path.join(d, 'no-such-profile.json')}'"
      in p.stderr, "missing host profile -> exit 2 with /host_profile")
with open(os.path.join(d, "not-a-profile.json"), "w") as f:
    f.write('{"vmemsim_host_profile": 1, "kernel": {"costs": {"minor_fault_ns": "fast"}}}')
p = run(["validate", hp, "--set", "/host_profile=not-a-profile.json"])
check(p.returncode == 2 and f"{hp}:/host_profile: host profile" in p.stderr and "/kernel/costs/minor_fault_ns" in p.stderr,
      "malformed host profile -> exit 2 naming the bad member")
p = run(["calibrate", "--repeats", "0"])
check(p.returncode == 2, "calibrate --repeats 0 -> exit 2")
check(not os.path.exists(out), "nothing written for a bad profile")
finish()
