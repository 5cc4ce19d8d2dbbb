"""Sweeps against hostile use (issue 13): points die with the sweep even when it is killed with
SIGKILL, the number of points is capped before they are built (--max-points raises the cap),
and what a sweep publishes is complete (fsync before rename: checked here as whole files)."""
import json
import os
import signal
import subprocess
import time

from harness import *

d = tmpdir()
Q = os.path.join(SRC, "scenarios", "quickstart.json")


def children_of(pid):
    """Pids whose parent is `pid` (from /proc)."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(e))
    return out


def alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


# ---- a cartesian product has a cap, checked before the points are built ----
t0 = time.monotonic()
p = run(["sweep", Q, "--axis", "/seed=0..999999", "--axis", "/vms/0/vcpus=1..1000", "--dry-run",
         "--out", os.path.join(d, "huge")], timeout=120)
secs = time.monotonic() - t0
check(p.returncode == 2 and "command line:/axes: the sweep has 1000000000 points, more than --max-points 10000" in p.stderr
      and secs < 30, f"a billion-point product is refused at once ({secs:.1f} s): {p.stderr.strip()[:300]}")
check(not os.path.exists(os.path.join(d, "huge")), "nothing written for it")
p = run(["sweep", Q, "--axis", "/seed=1..3", "--max-points", "2", "--dry-run", "--out", os.path.join(d, "three")])
check(p.returncode == 2 and "the sweep has 3 points, more than --max-points 2" in p.stderr, "--max-points 2 refuses 3 points")
p = run(["sweep", Q, "--axis", "/seed=1..3", "--max-points", "3", "--dry-run", "--out", os.path.join(d, "three")])
check(p.returncode == 0 and "3 point(s)" in p.stdout, "--max-points 3 takes them")
p = run(["sweep", Q, "--axis", "/seed=-9000000000000000000..9000000000000000000", "--dry-run"])
check(p.returncode == 2 and "range longer than a million values" in p.stderr, "a range spanning int64 is refused, not overflowed")
p = run(["sweep", Q, "--axis", "/seed=1..2", "--name", "", "--dry-run"])
check(p.returncode in (0, 2), "an empty --name does not crash")
p = run(["sweep", Q, "--axis", "/seed=1..2", "--name", "x" * 300, "--dry-run"])
check(p.returncode == 2 and "at most 200" in p.stderr, "a 300-byte --name is refused")

# ---- SIGKILL of the sweep leaves no point behind ----
out = os.path.join(d, "killed")
sweep = subprocess.Popen([BIN, "sweep", Q, "--set", "/duration=1000s", "--axis", "/seed=1..4", "--jobs", "2",
                          "--out", out, "-q"], cwd=SRC, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
points = []
deadline = time.monotonic() + 60
while time.monotonic() < deadline and len(points) < 2:
    time.sleep(0.2)
    points = [c for c in children_of(sweep.pid) if alive(c)]
check(len(points) == 2, f"two points running under the sweep (pids {points})")
sweep.send_signal(signal.SIGKILL)
sweep.wait()
deadline = time.monotonic() + 10
while time.monotonic() < deadline and any(alive(c) for c in points):
    time.sleep(0.1)
left = [c for c in points if alive(c)]
check(not left, f"no point survives the SIGKILLed sweep (left: {left})")
for c in left:
    os.kill(c, signal.SIGKILL)

# ---- a point whose sweep is already gone exits at once ----
env = dict(os.environ, VMEMSIM_SWEEP_PARENT_PID="1")
t0 = time.monotonic()
p = subprocess.run([BIN, "run", Q, "--set", "/duration=1000s", "--out", os.path.join(d, "orphan"), "-q"], cwd=SRC,
                   env=env, capture_output=True, timeout=60)
check(p.returncode == 137 and time.monotonic() - t0 < 5 and not os.path.exists(os.path.join(d, "orphan")),
      f"a point started for a parent that is not its own exits at once (exit {p.returncode})")

# ---- what a sweep publishes is whole ----
out = os.path.join(d, "ok")
p = run(["sweep", Q, "--set", "/duration=200ms", "--axis", "/seed=1..2", "--jobs", "2", "--out", out, "-q"])
check(p.returncode == 0, f"a small sweep runs (exit {p.returncode}: {p.stderr.strip()[:300]})")
idx = load(os.path.join(out, "index.json"))
for pt in idx["points"]:
    load(os.path.join(out, pt["result"]))
check(not [f for _, _, fs in os.walk(out) for f in fs if ".tmp." in f], "no temp files left behind")
finish()
