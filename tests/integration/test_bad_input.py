"""Bad input: clear error naming the file and JSON pointer, exit code 2, nothing written."""
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
finish()
