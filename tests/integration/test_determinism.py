"""Same scenario + seed -> byte-identical result.json, whatever else runs beside it and in
whichever order processes are launched; a different seed -> a different result."""
import os
import subprocess
from harness import *

d = tmpdir()
quick = os.path.join(SRC, "scenarios", "quickstart.json")
short = ["--set", "/duration=\"600ms\"", "--set", "/vms/1/workload/phases/0/duration=\"200ms\""]


def result_bytes(out):
    with open(os.path.join(out, "result.json"), "rb") as f:
        return f.read()


a = os.path.join(d, "a")
p = run_scenario(quick, a, short)
check(p.returncode == 0, "first run")

# The same run again, launched while another simulation (different seed) starts first and
# runs concurrently.
b, c = os.path.join(d, "b"), os.path.join(d, "c")
other = subprocess.Popen([BIN, "run", quick, "--out", c, "-q", "--seed", "99"] + short, cwd=SRC,
                         stdout=subprocess.DEVNULL)
p = run_scenario(quick, b, short)
other.wait()
check(p.returncode == 0 and other.returncode == 0, "concurrent runs")
check(result_bytes(a) == result_bytes(b), "same seed -> byte-identical result.json")
check(result_bytes(a) != result_bytes(c), "different seed -> different result.json")

# NUMA balancing with migrations, task moves and uffd conflicts: the scanner runs as task work
# inside vCPU quanta and moves vCPU actors between SimGrid hosts; still byte-identical.
for name in ("upstream", "rfcv1-skip-feed", "rfcv1-nopatch"):
    scen = os.path.join(SRC, "scenarios", "protnone", name + ".json")
    outs = [os.path.join(d, f"{name}-{k}") for k in (1, 2)]
    for o in outs:
        p = run_scenario(scen, o, ["--set", '/duration="2s"'])
        check(p.returncode == 0, f"protnone {name} runs")
    check(result_bytes(outs[0]) == result_bytes(outs[1]), f"protnone {name}: same seed -> byte-identical result.json")

# run.json carries the wall-clock figures and is allowed to differ; result.json must not
# contain them.
body = load(os.path.join(a, "result.json"))
check("wall_seconds" not in json.dumps(body), "no wall-clock figures in the result body")
check("wall_seconds" in load(os.path.join(a, "run.json")), "wall-clock figures in run.json")
finish()
