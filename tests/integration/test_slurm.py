"""`vmemsim sweep --backend slurm` through a real one-node Slurm cluster on loopback.

Installs Debian's slurm-wlm and munge when missing (as root, apt-get update first), then in a
temp dir: a munge key and munged on its own socket, a slurm.conf for this host alone
(NodeAddr 127.0.0.1, free ports, proctrack/linuxproc, task/none, select/cons_tres, state and
spool in the temp dir, partition "debug"), slurmctld + slurmd with -f that conf. Waits for the
node to be idle, runs the README's Slurm example verbatim, and checks that the index, the
summary and every point's result.json equal a local `--jobs` run of the same sweep byte for
byte; then a point timeout through Slurm, and a resume that submits nothing. The daemons it
started are always stopped. Exit 77 (skipped) with the reason when Slurm cannot be installed
or started here.
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from harness import *
import readme_examples

PROGS = ["sbatch", "squeue", "scancel", "slurmctld", "slurmd", "munged"]


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def which_all():
    paths = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    found = {}
    for p in PROGS:
        found[p] = shutil.which(p, path=paths)
    return found


def install_slurm():
    if os.geteuid() != 0:
        skip("Slurm (slurm-wlm, munge) is not installed and this test is not root, so it cannot install it")
    if not shutil.which("apt-get"):
        skip("Slurm is not installed and there is no apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("installing slurm-wlm and munge with apt-get ...")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "slurm-wlm", "munge"]):
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            skip(f"`{' '.join(cmd)}` took more than 10 minutes")
        if p.returncode != 0:
            skip(f"cannot install Slurm: `{' '.join(cmd)}` failed:\n{p.stdout[-1500:]}{p.stderr[-1500:]}")


progs = which_all()
if not all(progs.values()):
    install_slurm()
    progs = which_all()
    if not all(progs.values()):
        skip(f"Slurm programs still missing after the install: {[k for k, v in progs.items() if not v]}")

d = tmpdir()
os.chmod(d, 0o755)  # munged checks the permissions of the directories on the way to its socket
daemons = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(name, argv, env):
    log = open(os.path.join(d, name + ".out"), "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    daemons.append((name, p))
    return p


def stop_daemons():
    for name, p in reversed(daemons):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)  # the daemon's own session: it and its children
            except ProcessLookupError:
                pass
    for name, p in reversed(daemons):
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=15)
        print(f"stopped {name} (pid {p.pid})")


def show_logs():
    for f in sorted(glob.glob(os.path.join(d, "*.out")) + glob.glob(os.path.join(d, "log", "*.log"))):
        with open(f, errors="replace") as fh:
            text = fh.read()
        print(f"---- {f} (last lines)\n" + "\n".join(text.splitlines()[-25:]))


def node_line(host):
    """This machine's node definition as slurmd sees it (slurmd -C), for host `host`."""
    try:
        p = subprocess.run([progs["slurmd"], "-C"], capture_output=True, text=True, timeout=30)
        first = p.stdout.splitlines()[0] if p.returncode == 0 and p.stdout else ""
    except (OSError, subprocess.TimeoutExpired, IndexError):
        first = ""
    fields = [f for f in first.split() if not f.startswith("NodeName=") and not f.startswith("UpTime=")]
    if not any(f.startswith("CPUs=") for f in fields):
        fields = [f"CPUs={os.cpu_count() or 1}"]
    return f"NodeName={host} NodeAddr=127.0.0.1 " + " ".join(fields) + " State=UNKNOWN"


def cluster_env():
    host = socket.gethostname().split(".")[0]
    for sub in ("munge", "state", "spool", "log"):
        os.makedirs(os.path.join(d, sub), mode=0o755, exist_ok=True)
    key = os.path.join(d, "munge", "munge.key")
    with open(key, "wb") as f:
        f.write(os.urandom(1024))
    os.chmod(key, 0o400)
    sock = os.path.join(d, "munge", "munge.socket")
    conf = os.path.join(d, "slurm.conf")
    with open(conf, "w") as f:
        f.write(f"""# one-node test cluster generated by tests/integration/test_slurm.py
ClusterName=vmemsimtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
{node_line(host)}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    env = dict(os.environ, SLURM_CONF=conf)
    return env, key, sock, conf


def wait_idle(env, limit=90):
    t0 = time.time()
    state = ""
    while time.time() - t0 < limit:
        for name, p in daemons:
            if p.poll() is not None:
                return f"{name} exited with status {p.returncode}"
        try:
            q = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=env, capture_output=True, text=True, timeout=20)
            state = q.stdout.strip()
            if state == "idle":
                return ""
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.5)
    return f"the node did not become idle in {limit} s (state {state!r})"


def files_equal(a, b):
    with open(a, "rb") as f1, open(b, "rb") as f2:
        return f1.read() == f2.read()


try:
    env, key, sock, conf = cluster_env()
    start("munged", [progs["munged"], "-F", "-f", f"--key-file={key}", f"--socket={sock}",
                     f"--pid-file={d}/munge/munged.pid", f"--log-file={d}/munge/munged.log",
                     f"--seed-file={d}/munge/munged.seed"], env)
    t0 = time.time()
    while not os.path.exists(sock) and time.time() - t0 < 20:
        time.sleep(0.1)
    if not os.path.exists(sock):
        show_logs()
        skip("munged did not start")
    start("slurmctld", [progs["slurmctld"], "-D", "-i", "-f", conf], env)
    start("slurmd", [progs["slurmd"], "-D", "-f", conf], env)
    why = wait_idle(env)
    if why:
        show_logs()
        skip(f"cannot start a one-node Slurm cluster here: {why}")
    print(f"one-node Slurm cluster up ({time.time() - t0:.1f} s)")

    # The README's Slurm example, verbatim, in a scratch repository-like directory.
    text = readme_examples.section(SRC, "Running a sweep")
    slurm_blocks = [b for b in readme_examples.blocks(text, "sh") if "--backend slurm" in b]
    check(len(slurm_blocks) == 1, "README has one Slurm example")
    scratch = readme_examples.scratch_dir(BIN, SRC)
    t0 = time.time()
    q = readme_examples.run_block(slurm_blocks[0], scratch, env=env, timeout=400)
    print(q.stdout[-3000:], q.stderr[-3000:])
    check(q.returncode == 0, f"README Slurm example exits 0 (got {q.returncode}) in {time.time() - t0:.0f} s")
    out_s = os.path.join(scratch, "results", "quickstart-grid")
    check("submitted Slurm array job" in q.stderr, "the sweep went through sbatch")
    with open(os.path.join(out_s, "slurm", "sweep.sbatch")) as f:
        script = f.read()
    check("#SBATCH --array=0-26" in script and "#SBATCH --partition=debug" in script and
          "#SBATCH --time=10:00" in script, "sbatch array script: one task per point, partition, time")
    check(os.path.realpath(BIN) in script, "the tasks run the same absolute vmemsim binary")
    tasks = glob.glob(os.path.join(out_s, "slurm", "task-*.out"))
    check(len(tasks) == 27, f"27 array tasks ran ({len(tasks)} task logs)")

    # The same sweep locally: identical index, summary and results.
    out_l = os.path.join(scratch, "local")
    p = subprocess.run([BIN, "sweep", "scenarios/sweeps/quickstart-grid.json", "--jobs", "2", "--out", out_l, "-q"],
                       cwd=scratch, capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, "local run of the same sweep")
    idx_s, idx_l = load(os.path.join(out_s, "index.json")), load(os.path.join(out_l, "index.json"))
    check(len(idx_s["points"]) == 27 and all(x["status"] == "ok" for x in idx_s["points"]), "Slurm: 27 points ok")
    check(files_equal(os.path.join(out_s, "index.json"), os.path.join(out_l, "index.json")), "index.json identical")
    check(files_equal(os.path.join(out_s, "summary.csv"), os.path.join(out_l, "summary.csv")), "summary.csv identical")
    same = sum(files_equal(os.path.join(out_s, x["result"]), os.path.join(out_l, x["result"])) for x in idx_l["points"])
    check(same == 27, f"every result.json identical byte for byte ({same}/27)")

    # Resume through Slurm: nothing left to submit.
    q = readme_examples.run_block(slurm_blocks[0], scratch, env=env, timeout=120)
    idx_r = load(os.path.join(out_s, "index.json"))
    check(q.returncode == 0 and "submitted" not in q.stderr and all(x["reused"] for x in idx_r["points"]),
          "re-running the Slurm example reuses every point and submits nothing")

    # A point that runs past --point-timeout is recorded as a timeout; its neighbour is fine.
    tiny = {"name": "tiny", "seed": 1, "duration": "20ms",
            "hosts": [{"name": "h", "nodes": [{"cores": 1, "memory": "64MiB"}]}],
            "vms": [{"name": "vm", "vcpus": 1, "memory": "4MiB", "workload": {"type": "uniform", "rate": "1M"}}],
            "output": {"sampling_interval": "10ms", "wss_windows": ["10ms"]}}
    base = write_scenario(tiny, scratch)
    out_t = os.path.join(scratch, "timeout")
    p = subprocess.run([BIN, "sweep", base, "--axis", "/duration=20ms,3600s", "--backend", "slurm",
                        "--point-timeout", "2", "--wait-timeout", "120", "--out", out_t],
                       cwd=scratch, env=env, capture_output=True, text=True, timeout=200)
    print(p.stderr)
    it = load(os.path.join(out_t, "index.json")) if os.path.exists(os.path.join(out_t, "index.json")) else {"points": []}
    check(p.returncode == 1 and [x["status"] for x in it["points"]] == ["ok", "timeout"],
          f"Slurm: a point past --point-timeout is a timeout, the other ok ({[x['status'] for x in it['points']]})")
    q = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True, timeout=30)
    check(q.returncode == 0 and q.stdout.strip() == "", "no job left in the queue")
except SystemExit:
    raise
except Exception as e:  # report, then fail: the daemons are stopped below either way
    import traceback
    traceback.print_exc()
    check(False, f"unexpected error: {e}")
finally:
    if daemons:
        try:
            subprocess.run(["scancel", "--user", str(os.getuid())], env=env, capture_output=True, timeout=30)
        except Exception:
            pass
        if FAILED:
            show_logs()
        stop_daemons()
finish()
