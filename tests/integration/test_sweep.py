"""`vmemsim sweep`, local backend (README "Running a sweep").

- A 3x3 sweep (zipf theta x seed) of a tiny scenario: index.json and summary.csv contents;
  point ids are the run ids `vmemsim run` gives, stable across runs and between the sweep-file
  and --axis forms; every result byte-identical to a direct `vmemsim run` of the same point.
- Resume: a second run reuses every point (no process, result mtimes unchanged); a deleted
  result is run again, alone.
- Isolated failures: a point that dies (bad_alloc under an address-space limit) and one that
  exceeds --point-timeout are recorded with error and stderr tail; the others finish; exit 1.
- Bad sweeps exit 2 with `file:/json/pointer: message` before anything is written.
- SIGINT: exit 130, finished points kept, the running one killed, index written.
- The progress bar appears on a terminal; the README's local examples run verbatim.
"""
import csv
import glob
import json
import os
import pty
import resource
import signal
import subprocess
import sys
import time

from harness import *
import readme_examples

d = tmpdir()
TINY = {
    "name": "tiny",
    "seed": 1,
    "duration": "20ms",
    "hosts": [{"name": "h", "nodes": [{"cores": 2, "memory": "64MiB"}, {"cores": 2, "memory": "64MiB"}]}],
    "vms": [{"name": "vm", "vcpus": 1, "memory": "4MiB",
             "workload": {"type": "zipf", "theta": 0.99, "write_ratio": 0.3, "rate": "1M"}}],
    "output": {"sampling_interval": "10ms", "wss_windows": ["10ms"]},
}
base = write_scenario(TINY, d)
THETAS = [0.8, 0.99, 1.2]
SEEDS = [1, 2, 3]


def write_sweep(name, doc):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mtimes(out):
    return {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(out, "points", "*", "result.json"))}


# ---- a 3x3 sweep -------------------------------------------------------------------------
sweep = write_sweep("sweep.json", {
    "name": "grid", "base": "tiny.json",
    "axes": [{"pointer": "/vms/0/workload/theta", "values": THETAS}, {"pointer": "/seed", "values": "1..3"}],
    "summary_metrics": ["/summary/total/accesses", "/summary/vms/vm/writes", "/summary/total/faults"]})
out = os.path.join(d, "grid")
t0 = time.time()
p = run(["sweep", sweep, "--out", out, "--jobs", "2"])
print(p.stderr)
first_stderr = p.stderr
check(p.returncode == 0, f"3x3 sweep exits 0 (got {p.returncode}) in {time.time() - t0:.1f} s")
check(p.stdout.strip().splitlines()[-1] == os.path.join(out, "index.json"), "stdout names index.json")
idx = load(os.path.join(out, "index.json"))
pts = idx["points"]
check(idx["name"] == "grid" and idx["mode"] == "cartesian", "index: name and mode")
check(idx["axes"] == [{"pointer": "/vms/0/workload/theta", "values": THETAS},
                      {"pointer": "/seed", "values": SEEDS}], "index: axes with the range expanded")
check(len(pts) == 9 and all(x["status"] == "ok" and not x["reused"] for x in pts), "9 points, all ok")
check([(x["values"]["/vms/0/workload/theta"], x["values"]["/seed"]) for x in pts] ==
      [(t, s) for t in THETAS for s in SEEDS], "points in cartesian order, last axis fastest")
check(all(x["result"] == f"points/{x['id']}/result.json" and os.path.isfile(os.path.join(out, x["result"]))
          for x in pts), "every result.json at points/<id>/result.json")
check(len({x["id"] for x in pts}) == 9, "point ids distinct")
check(all(x["error"] is None and x["stderr_tail"] is None for x in pts), "no errors recorded")
check(not glob.glob(os.path.join(out, "points", "*", "*.tmp.*")) and
      not glob.glob(os.path.join(out, "points", "*", "stderr.log")), "no temp files or empty stderr logs left")

rows = read_csv(os.path.join(out, "summary.csv"))
header = list(rows[0].keys()) if rows else []
check(header[:4] == ["id", "status", "/vms/0/workload/theta", "/seed"], f"summary.csv columns start id,status,axes ({header[:4]})")
check("/summary/total/accesses" in header and "/summary/vms/vm/writes" in header and
      "/summary/total/faults/anon_alloc" in header, "metric columns, objects flattened")
check(len(rows) == 9 and [r["id"] for r in rows] == [x["id"] for x in pts], "one row per point, in index order")
ok_rows = 0
for r, x in zip(rows, pts):
    res = load(os.path.join(out, x["result"]))
    s = res["summary"]
    ok_rows += (r["status"] == "ok" and float(r["/vms/0/workload/theta"]) == x["values"]["/vms/0/workload/theta"]
                and int(r["/seed"]) == x["values"]["/seed"]
                and int(r["/summary/total/accesses"]) == s["total"]["accesses"]
                and int(r["/summary/vms/vm/writes"]) == s["vms"]["vm"]["writes"]
                and int(r["/summary/total/faults/anon_alloc"]) == s["total"]["faults"]["anon_alloc"]
                and res["scenario"]["seed"] == x["values"]["/seed"]
                and res["scenario"]["vms"][0]["workload"]["theta"] == x["values"]["/vms/0/workload/theta"])
check(ok_rows == 9, f"summary rows match the results and the axis values ({ok_rows}/9)")

# The point's scenario.json is the base with its values applied.
sc = load(os.path.join(out, "points", pts[4]["id"], "scenario.json"))
check(sc["vms"][0]["workload"]["theta"] == 0.99 and sc["seed"] == 2 and sc["duration"] == "20ms",
      "points/<id>/scenario.json = base + the point's values")

# Byte-identical to a direct `vmemsim run` of the same point, whose run id is the point id.
same, ids_match = 0, 0
for x in pts:
    direct_root = os.path.join(d, "direct")
    q = run(["run", base, "--set", f"/vms/0/workload/theta={x['values']['/vms/0/workload/theta']}",
             "--seed", str(x["values"]["/seed"]), "--results", direct_root, "-q"])
    path = q.stdout.strip().splitlines()[-1] if q.returncode == 0 else ""
    ids_match += os.path.basename(os.path.dirname(path)) == x["id"]
    with open(path, "rb") as f1, open(os.path.join(out, x["result"]), "rb") as f2:
        same += f1.read() == f2.read()
check(same == 9, f"every point's result.json is byte-identical to a direct vmemsim run ({same}/9)")
check(ids_match == 9, f"point id = the run id of `vmemsim run` ({ids_match}/9)")

# The --axis form of the same sweep gives the same ids and results.
out_cli = os.path.join(d, "grid-cli")
p = run(["sweep", base, "--axis", "/vms/0/workload/theta=0.8,0.99,1.2", "--axis", "/seed=1..3",
         "--out", out_cli, "-q"])
idx_cli = load(os.path.join(out_cli, "index.json")) if p.returncode == 0 else {"points": []}
check([x["id"] for x in idx_cli["points"]] == [x["id"] for x in pts], "--axis form: same point ids")
check(idx_cli.get("name") == "tiny-sweep", "--axis form: sweep name defaults to <scenario>-sweep")
p = run(["sweep", sweep, "--out", out, "--dry-run"])
check(p.returncode == 0 and all(f"{x['id']}  done" in p.stdout for x in pts), "--dry-run lists the same ids, all done")

# ---- resume ------------------------------------------------------------------------------
before = mtimes(out)
t0 = time.time()
p = run(["sweep", sweep, "--out", out, "--jobs", "2"])
took = time.time() - t0
idx2 = load(os.path.join(out, "index.json"))
check(p.returncode == 0 and all(x["status"] == "ok" and x["reused"] for x in idx2["points"]),
      "re-run: every point reused (status ok, reused true)")
check(mtimes(out) == before, "re-run: no result.json rewritten (mtimes unchanged)")
check(took < 2.0, f"re-run is fast ({took:.2f} s)")
victim = pts[5]["id"]
os.remove(os.path.join(out, "points", victim, "result.json"))
p = run(["sweep", sweep, "--out", out, "--jobs", "2"])
idx3 = load(os.path.join(out, "index.json"))
rerun = [x["id"] for x in idx3["points"] if not x["reused"]]
after = mtimes(out)
check(p.returncode == 0 and rerun == [victim], f"a deleted result is the only point run again ({rerun})")
check(all(after[k] == v for k, v in before.items() if victim not in k), "the other results untouched")

# ---- isolated failures -------------------------------------------------------------------
# /hosts/0/nodes/1/memory=4TiB needs more address space than the limit below: the point refuses
# to start (exit 2, the estimate against ulimit -v). /duration=3600s runs far longer than
# --point-timeout.
def limit_as():
    resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))


out_f = os.path.join(d, "failing")
t0 = time.time()
pf = subprocess.run([BIN, "sweep", base, "--axis", "/duration=20ms,3600s", "--axis", "/hosts/0/nodes/1/memory=64MiB,4TiB",
                     "--point-timeout", "2", "--jobs", "2", "--out", out_f],
                    capture_output=True, text=True, timeout=120, preexec_fn=limit_as, cwd=d)
print(pf.stderr)
check(pf.returncode == 1, f"a sweep with failing points exits 1 (got {pf.returncode})")
check(time.time() - t0 < 30, "the long point was cut by --point-timeout")
fi = load(os.path.join(out_f, "index.json"))
st = {(x["values"]["/duration"], x["values"]["/hosts/0/nodes/1/memory"]): x for x in fi["points"]}
ok_pt, bad, slow = st[("20ms", "64MiB")], st[("20ms", "4TiB")], st[("3600s", "64MiB")]
check(ok_pt["status"] == "ok" and os.path.isfile(os.path.join(out_f, ok_pt["result"])), "the good point still ran")
check(bad["status"] == "failed" and "exited with status 2" in (bad["error"] or "") and
      "/hosts/0/nodes: the run needs about" in (bad["stderr_tail"] or "") and
      "ulimit -v" in (bad["stderr_tail"] or "") and bad["result"] is None,
      f"a crashing point is recorded with its error and stderr tail ({bad['error']!r}, {bad['stderr_tail']!r})")
check(slow["status"] == "timeout" and "--point-timeout" in (slow["error"] or ""), f"a slow point is a timeout ({slow['error']!r})")
check(st[("3600s", "4TiB")]["status"] in ("failed", "timeout"), "the fourth point is recorded too")
frows = {r["id"]: r for r in read_csv(os.path.join(out_f, "summary.csv"))}
check(frows[bad["id"]]["status"] == "failed" and frows[bad["id"]]["/summary/total/accesses"] == "" and
      frows[ok_pt["id"]]["/summary/total/accesses"] != "", "summary.csv: failed rows without metrics")
check(not os.path.exists(os.path.join(out_f, "points", slow["id"], "result.json")), "no result left by the killed point")
check("failed" in pf.stderr and bad["id"] in pf.stderr, "failures reported on stderr as they happen")

# ---- bad sweeps: exit 2 before anything is written -----------------------------------------
def bad_sweep(name, doc, expect, extra=()):
    path = write_sweep(name + ".json", doc)
    o = os.path.join(d, "bad-" + name)
    q = run(["sweep", path, "--out", o] + list(extra))
    good = q.returncode == 2 and all(e.format(f=path) in q.stderr for e in expect)
    check(good and not os.path.exists(o), f"{name}: exit 2, message with pointer, nothing written")
    if not good:
        print(f"   got {q.returncode}: {q.stderr}")


theta = {"pointer": "/vms/0/workload/theta", "values": THETAS}
seed = {"pointer": "/seed", "values": [1, 2]}
bad_sweep("duplicated", {"base": "tiny.json", "axes": [theta, seed, {"pointer": "/seed", "values": [3]}]},
          ["{f}:/axes/2/pointer: duplicated axis"])
bad_sweep("overlapping", {"base": "tiny.json", "axes": [{"pointer": "/vms/0/workload", "values": [{"type": "uniform"}]}, theta]},
          ["{f}:/axes/1/pointer: contradictory axes"])
bad_sweep("zip", {"base": "tiny.json", "mode": "zip", "axes": [theta, seed]},
          ["{f}:/axes/1/values: zip mode needs axes of the same length"])
bad_sweep("unknown-pointer", {"base": "tiny.json", "axes": [{"pointer": "/vms/0/workload/thetaa", "values": [1]}]},
          ["{f}:/axes/0/pointer:", "did you mean 'theta'"])
bad_sweep("missing-element", {"base": "tiny.json", "axes": [seed, {"pointer": "/vms/3/vcpus", "values": [1]}]},
          ["{f}:/axes/1/pointer: '/vms/3/vcpus': '/vms/3' does not exist"])
bad_sweep("bad-value", {"base": "tiny.json", "axes": [{"pointer": "/vms/0/workload/theta", "values": [0.5, -1, "x"]}]},
          ["{f}:/axes/0/values/1: value -1 gives an invalid scenario", "/vms/0/workload/theta: value -1 is out of range",
           "{f}:/axes/0/values/2:"])
bad_sweep("empty", {"base": "tiny.json", "axes": [{"pointer": "/seed", "values": []}]}, ["{f}:/axes/0/values: empty"])
bad_sweep("range", {"base": "tiny.json", "axes": [{"pointer": "/seed", "values": "5..1"}]}, ["{f}:/axes/0/values: empty range"])
bad_sweep("unknown-key", {"base": "tiny.json", "axis": [seed]}, ["{f}:/axis: unknown key", "did you mean 'axes'", "{f}:/axes: missing"])
bad_sweep("missing-base", {"base": "nope.json", "axes": [seed]}, ["nope.json:/: cannot open file"])
bad_sweep("point-invalid", {"base": "tiny.json", "axes": [{"pointer": "/output/sampling_interval", "values": ["10ms", "3ms"]}]},
          ["{f}:/axes/0/values/1:", "does not divide the duration"])
o = os.path.join(d, "bad-cli")
for axis, expect in (("/vms/0/workload/theta=0.8,[1,2", "command line:/axes/0/values: --axis '/vms/0/workload/theta=0.8,[1,2': '[1,2' is not valid JSON"),
                     ("/seed=1..x", "is not an integer range"),
                     ("/seed=", "no values"),
                     ("seed=1", "command line:/axes/0/pointer:")):
    q = run(["sweep", base, "--axis", axis, "--out", o])
    check(q.returncode == 2 and expect in q.stderr and not os.path.exists(o), f"--axis {axis!r}: exit 2 ({q.stderr.strip()[:100]})")
q = run(["sweep", base, "--axis", "/seed=1,2", "--backend", "local", "--time", "1:00", "--out", o])
check(q.returncode == 2 and not os.path.exists(o), "--time without --backend slurm: exit 2")

# ---- SIGINT: stop, keep finished points, exit 130 ------------------------------------------
out_i = os.path.join(d, "interrupted")
proc = subprocess.Popen([BIN, "sweep", base, "--axis", "/duration=20ms,3600s", "--axis", "/seed=1..2", "--jobs", "1",
                         "--out", out_i], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
t0 = time.time()
while len(glob.glob(os.path.join(out_i, "points", "*", "result.json"))) < 2 and time.time() - t0 < 60:
    time.sleep(0.05)
time.sleep(0.5)  # the first 3600 s point is running now
proc.send_signal(signal.SIGINT)
try:
    so, se = proc.communicate(timeout=30)
except subprocess.TimeoutExpired:
    proc.kill()
    so, se = proc.communicate()
print(se)
check(proc.returncode == 130, f"SIGINT: exit 130 (got {proc.returncode})")
ii = load(os.path.join(out_i, "index.json"))
status = [(x["values"]["/duration"], x["status"]) for x in ii["points"]]
check(status == [("20ms", "ok"), ("20ms", "ok"), ("3600s", "skipped"), ("3600s", "skipped")],
      f"SIGINT: finished points kept, the rest skipped ({status})")
check(all(os.path.isfile(os.path.join(out_i, x["result"])) for x in ii["points"] if x["status"] == "ok"),
      "SIGINT: finished results still there")
rows_i = read_csv(os.path.join(out_i, "summary.csv"))
check([r["status"] for r in rows_i] == ["ok", "ok", "skipped", "skipped"], "SIGINT: summary.csv written")
def processes_mentioning(s):
    found = []
    for c in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(c, "rb") as f:
                if s.encode() in f.read():
                    found.append(int(c.split("/")[2]))
        except OSError:
            pass
    return found


time.sleep(0.2)
left = processes_mentioning(out_i)
check(not left, f"SIGINT: no point process left running ({left})")
for pid in left:  # only the point processes of the sweep started above
    os.kill(pid, signal.SIGKILL)

# ---- progress bar on a terminal ----------------------------------------------------------
master, slave = pty.openpty()
out_p = os.path.join(d, "progress")
pp = subprocess.run([BIN, "sweep", base, "--axis", "/seed=1..4", "--out", out_p], stderr=slave,
                    stdout=subprocess.PIPE, timeout=120)
os.close(slave)
tty = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    tty += chunk
os.close(master)
check(pp.returncode == 0 and b"ETA" in tty and b"4/4" in tty, "progress bar with ETA on a terminal")
check("ETA" not in first_stderr, "no progress bar when stderr is not a terminal")

# ---- the README's local examples, verbatim ----------------------------------------------
text = readme_examples.section(SRC, "Running a sweep")
with open(os.path.join(SRC, "scenarios", "sweeps", "quickstart-grid.json")) as f:
    example = json.load(f)
jsons = readme_examples.blocks(text, "json")
check(bool(jsons) and json.loads(jsons[0]) == example, "README shows scenarios/sweeps/quickstart-grid.json as it is")
local = [b for b in readme_examples.blocks(text, "sh") if "--backend slurm" not in b]
check(len(local) >= 2, f"README has local sweep examples ({len(local)})")
scratch = readme_examples.scratch_dir(BIN, SRC)
for b in local:
    q = readme_examples.run_block(b, scratch)
    print(q.stdout[-2000:], q.stderr[-2000:])
    check(q.returncode == 0, "README example runs")
grid = load(os.path.join(scratch, "results", "quickstart-grid", "index.json"))
check(len(grid["points"]) == 27 and all(x["status"] == "ok" for x in grid["points"]), "README sweep: 27 points ok")
cli = load(os.path.join(scratch, "results", "theta-by-memory", "index.json"))
check([x["id"] for x in cli["points"]] == [x["id"] for x in grid["points"]],
      "README: the --axis form gives the same points as the sweep file")
finish()
