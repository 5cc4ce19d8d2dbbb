"""The README's scenario example and userfaultfd commands, run verbatim: the scenario under
"Writing a scenario" must validate and run, and every command under "The userfaultfd
working-set workflow" and "SimGrid models" must succeed. (The sweep examples are run by
test_sweep.py.)"""
import json
import os
from harness import *
import readme_examples as rx

d = rx.scratch_dir(BIN, SRC)

text = rx.section(SRC, "Writing a scenario")
docs = rx.blocks(text, "json")
check(len(docs) == 1, "one scenario example under 'Writing a scenario'")
doc = json.loads(docs[0])
path = os.path.join(d, "two-vms.json")
with open(path, "w") as f:
    json.dump(doc, f)
p = run(["validate", path])
check(p.returncode == 0, "the README scenario validates")
p = run(["run", path, "--out", os.path.join(d, "two-vms"), "-q", "--set", '/duration="200ms"'])
check(p.returncode == 0, "the README scenario runs")
r = load(os.path.join(d, "two-vms", "result.json"))
check(set(r["summary"]["vms"]) == {"db", "cache"}, "with its two VMs")

for block in rx.blocks(rx.section(SRC, "The userfaultfd working-set workflow"), "sh"):
    for line in block.strip().splitlines():
        cmd = line.split("#")[0].strip()
        if not cmd:
            continue
        p = rx.run_block(cmd + " -q > /dev/null", d)
        check(p.returncode == 0, f"README: {cmd}")
check(os.path.getsize(os.path.join(d, "trace.json")) > 1000, "the timeline example wrote trace.json")

# "SimGrid models": the remote tier as the scenario states it, then under SimGrid's defaults.
paths = []
for block in rx.blocks(rx.section(SRC, "SimGrid models"), "sh"):
    for line in block.strip().splitlines():
        cmd = line.split("#")[0].strip()
        if not cmd:
            continue
        p = rx.run_block(cmd + " -q", d)
        if check(p.returncode == 0, f"README: {cmd}"):
            paths.append(os.path.join(d, p.stdout.strip().splitlines()[-1]))
if check(len(paths) == 2 and paths[0] != paths[1], "the two SimGrid-model examples have different run ids"):
    h = [load(x)["summary"]["vms"]["guest"]["histograms"]["stall_latency_ns"] for x in paths]
    mean = [x["sum_ns"] / x["count"] for x in h]
    check(mean[1] > 2 * mean[0],
          f"... and SimGrid's defaults make the remote tier slower (mean stall {mean[0]:.0f} -> {mean[1]:.0f} ns)")
finish()
