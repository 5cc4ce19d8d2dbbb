"""The README's scenario example and userfaultfd commands, run verbatim: the scenario under
"Writing a scenario" must validate and run, and every command under "The userfaultfd
working-set workflow" must succeed. (The sweep examples are run by test_sweep.py.)"""
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
finish()
