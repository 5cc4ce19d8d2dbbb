#!/usr/bin/env python3
"""NUMA scanner: the live kernel against the model (KERNEL-MODEL.md §3 items 3-4, §9).

Runs tests/kernel/numa_runner.cpp (sets kernel.numa_balancing=1, restores it) for a mapping of
--pages pages touched at random by --threads threads, and `vmemsim run` on a generated one-node
scenario with the same pages, vCPUs, write ratio, rate and scanner knobs (read from debugfs
by the runner; the kernel defaults where debugfs refuses them, see FINDINGS.md "NUMA").
Then compares, per VM:

  * PTEs updated per full pass (mm->numa_scan_seq step) of the scanner;
  * the first scan, the later scans of the mapping and the passes, on the kernel's
    thread-CPU-time axis (the scanner is paced by each thread's CPU time, task_tick_numa();
    the model's vCPUs run all the time, so its simulated time is that axis); the later ones
    only when the kernel's threads had at least 0.8 of a CPU;
  * all hinting faults local, nothing migrated (one node), hinting faults per PTE update;
  * a one-thread VM: no PTE updated, no hinting fault;
  * a WP_ASYNC range while the scanner runs (numa_runner --wp-async against numa_wp_model):
    PAGEMAP_SCAN's categories stay 0x009 / 0x00b across PROT_NONE and hinting faults.

Usage (ctest runs the first form with the build's binaries):
  numa_compare.py --runner build/tests/numa_kernel_runner --vmemsim build/vmemsim [options]
  numa_compare.py analyze RUNNER_JSON...     the kernel figures of saved runner outputs
Options: --pages N (61440) --threads T (2) --cpu-seconds C (7) --wall-cap S (45; 25 for the
         one-thread and WP_ASYNC runs)
         --sample-ms M (20) --seed X (1) --write-share F (0.3) --rate R (2000000)
         --one-thread-cpu-seconds C (2.5) --wp-cpu-seconds C (3) --wp-model BIN (numa_wp_model)
         --keep DIR --kernel-json FILE / --kernel-json1 FILE (reuse a saved multi-/one-thread run)
         --skip-wp (no WP_ASYNC run) --main-thread-works (no --sampler-thread: the main thread is
         one of the touching threads)
Exit: 0 all checks passed, 1 a check failed, 77 skipped (the runner skipped: not root, no
NUMA balancing...; or the model has no NUMA scanner: the kernel figures are still printed).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

KNOB_DEFAULTS = {  # kernel/sched/fair.c sysctl_numa_balancing_* initial values
    "scan_delay_ms": 1000,
    "scan_period_min_ms": 1000,
    "scan_period_max_ms": 60000,
    "scan_size_mb": 256,
}
COUNTERS = ["numa_pte_updates", "numa_hint_faults", "numa_hint_faults_local", "numa_pages_migrated"]
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)
    return cond


# --- the kernel side -------------------------------------------------------------------------

def knobs_of(doc):
    """The scanner knobs the runner read, or the compiled-in defaults with the reason."""
    k = doc.get("knobs", {})
    out, notes = {}, []
    for name, default in KNOB_DEFAULTS.items():
        v = k.get(name)
        if isinstance(v, (int, float)):
            out[name] = v
        else:
            out[name] = default
            err = v.get("error") if isinstance(v, dict) else "missing"
            notes.append(f"{name}: {err}")
    note = ""
    if notes:
        note = "debugfs knobs unreadable (" + ", ".join(notes) + ")"
        if "[integrity]" in str(k.get("lockdown")) or "[confidentiality]" in str(k.get("lockdown")):
            note += "; lockdown is on since boot, so nobody can have written them: compiled-in defaults used"
        else:
            note += "; compiled-in defaults assumed"
    return out, note


def kernel_figures(doc):
    """Passes, PTE updates per pass, first scan, pass intervals, locality, migrations."""
    r = doc["run"]
    pages, threads = r["pages"], r["threads"]
    region = max(pages // 8, 1024)  # a sample with this many PTE updates is a pass over the mapping
    samples = r["samples"]
    t0cpu = 0.0
    acc = {c: 0 for c in COUNTERS}
    rows = []
    for s in samples:
        for c in COUNTERS:
            acc[c] += s[c]
        rows.append({
            "t": s["t_ms"], "cpu": max(s["thread_cpu_ms"]) - t0cpu,
            "dpte": s["numa_pte_updates"], "seq": s["scan_seq"], "minflt": s["minflt"],
            **{c: acc[c] for c in COUNTERS}})
    # The time axis that compares with the model's: the CPU time of the thread that has had the
    # most. The scanner is triggered from a thread's own CPU time (task_tick_numa), so the first
    # thread to reach a threshold triggers it; the model's vCPUs all run all the time.
    f = {"pages": pages, "threads": threads, "wall_ms": r["totals"]["t_ms"],
         "cpu_ms": max(r["totals"]["thread_cpu_ms"])}
    f.update({c: r["totals"][c] for c in COUNTERS})
    f["minflt"] = r["totals"]["minflt"]
    f["passes"] = r["totals"]["scan_seq"] - r.get("scan_seq_before_t0", 0)
    f["pfn_changed"] = r["pfn"]["changed"]
    calls = [x for x in rows if x["dpte"] >= 64]
    f["calls"] = [(round(x["t"]), round(x["cpu"]), x["dpte"]) for x in calls]
    first = next((x for x in rows if x["dpte"] >= region), None)
    f["first_scan_wall_ms"] = first["t"] if first else None
    f["first_scan_cpu_ms"] = first["cpu"] if first else None
    # pass k ends at the first sample where scan_seq reaches k
    ends, prev = [], r.get("scan_seq_before_t0", 0)
    for x in rows:
        while x["seq"] > prev:
            prev += 1
            ends.append(x)
    f["pass_end_wall_ms"] = [round(x["t"]) for x in ends]
    f["pass_end_cpu_ms"] = [round(x["cpu"]) for x in ends]
    dseq = [x["seq"] - p for x, p in zip(rows, [r.get("scan_seq_before_t0", 0)] + [x["seq"] for x in rows])]
    f["pte_updates_per_pass"] = per_pass_updates([x["dpte"] for x in rows], dseq, pages)
    # a pass over the mapping = the region-sized calls; the pass PTE count adds the calls of the
    # same pass over the rest of the mapping and the process's other VMAs
    f["region_scans"] = [(round(x["t"]), round(x["cpu"]), x["dpte"]) for x in rows if x["dpte"] >= region]
    starts = [x[1] for x in f["region_scans"]]
    f["region_scan_interval_cpu_ms"] = [b - a for a, b in zip(starts, starts[1:])]
    f["pass_interval_cpu_ms"] = [b - a for a, b in zip(f["pass_end_cpu_ms"], f["pass_end_cpu_ms"][1:])]
    f["pass_interval_wall_ms"] = [b - a for a, b in zip(f["pass_end_wall_ms"], f["pass_end_wall_ms"][1:])]
    f["local_share"] = (f["numa_hint_faults_local"] / f["numa_hint_faults"]) if f["numa_hint_faults"] else None
    f["hint_per_update"] = (f["numa_hint_faults"] / f["numa_pte_updates"]) if f["numa_pte_updates"] else None
    f["load"] = (doc.get("loadavg_before", "").split()[:1], doc.get("loadavg_after", "").split()[:1])
    # the share of a CPU each thread had: 1.0 on an idle host with at least one core per thread
    cpu_mean = sum(r["totals"]["thread_cpu_ms"]) / threads - mean(r.get("thread_cpu_at_t0_ms", [0]))
    f["cpu_share"] = cpu_mean / f["wall_ms"] if f["wall_ms"] else None
    return f


def per_pass_updates(dpte, dseq, pages, window=65536):
    """PTE updates of each complete pass, from per-sample deltas of the updates and of the pass
    counter. A sample can hold both the end of one pass and the start of the next, in either
    order: task_numa_work() increments numa_scan_seq at the end of the call that walked past the
    last VMA (the kernel's small call over the VMAs above the mapping, or the call that scans a
    mapping smaller than the window), or at the start of the next call when the previous one
    stopped exactly at the last VMA's end (a mapping that is a multiple of the window with no VMA
    above it: the model's VM). So: the sample's updates start the next pass when the current
    pass already holds at least half the mapping and the sample holds at least half a window;
    otherwise they complete the current pass."""
    out, acc = [], 0
    big = min(pages, window) / 2
    for d, q in zip(dpte, dseq):
        if q <= 0:
            acc += d
            continue
        if acc >= pages / 2 and d >= big:
            out.append(acc)
            acc = d
        else:
            out.append(acc + d)
            acc = 0
        out.extend([0] * (q - 1))
    return out


def print_kernel(f, title):
    print(f"--- kernel: {title}")
    print(f"  {f['pages']} pages, {f['threads']} thread(s), {f['wall_ms'] / 1000:.1f} s wall, "
          f"{f['cpu_ms'] / 1000:.2f} s CPU per thread (a share of {f['cpu_share']:.2f} of a CPU), "
          f"loadavg {f['load'][0]} -> {f['load'][1]}")
    print(f"  numa_pte_updates {f['numa_pte_updates']}, numa_hint_faults {f['numa_hint_faults']} "
          f"(local {f['numa_hint_faults_local']}), numa_pages_migrated {f['numa_pages_migrated']}, "
          f"process minor faults {f['minflt']}, PFNs changed {f['pfn_changed']}")
    print(f"  passes (mm->numa_scan_seq) {f['passes']}, ending at wall ms {f['pass_end_wall_ms']}, "
          f"thread-CPU ms {f['pass_end_cpu_ms']}")
    print(f"  PTE updates per pass {f['pte_updates_per_pass']}")
    print(f"  first scan of the mapping: wall {fmt(f['first_scan_wall_ms'])} ms, thread-CPU {fmt(f['first_scan_cpu_ms'])} ms")
    print(f"  scanner calls (t wall ms, thread-CPU ms, PTEs): {f['calls']}")
    print(f"  scans of the mapping (wall ms, thread-CPU ms, PTEs): {f['region_scans']}")
    print(f"  pass intervals: thread-CPU ms {f['pass_interval_cpu_ms']}, wall ms {f['pass_interval_wall_ms']}")


def fmt(v):
    return "-" if v is None else f"{v:.0f}"


def run_kernel(args, pages, threads, cpu_seconds, keep, extra=(), tag="", wall_cap=None):
    # With several threads, the touching threads are all created threads and the main thread only
    # samples, as a VMM's vCPU threads are clones of its main thread (the model's vCPU tasks
    # start like clones: numa_scan_period = scan_delay). One thread: the process has one thread.
    if threads > 1 and not args.main_thread_works:
        extra = ["--sampler-thread"] + list(extra)
    wall_cap = wall_cap or args.wall_cap
    cmd = [args.runner, "--pages", str(pages), "--threads", str(threads), "--seconds", str(wall_cap),
           "--cpu-seconds", str(cpu_seconds), "--sample-ms", str(args.sample_ms), "--seed", str(args.seed),
           "--write-share", str(args.write_share), "--rate", str(int(args.rate))] + list(extra)
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=wall_cap + 150)
    if p.returncode == 77:
        print(p.stderr.strip())
        sys.exit(77)
    if p.returncode != 0:
        print(p.stderr)
        sys.exit(1)
    if keep:
        with open(os.path.join(keep, f"kernel-{pages}-{threads}{tag}.json"), "w") as fh:
            fh.write(p.stdout)
    return json.loads(p.stdout)


# --- the model side --------------------------------------------------------------------------

def model_numa_keys(vmemsim):
    """The keys of kernel.numa, or None when this build has no NUMA scanner daemon."""
    p = subprocess.run([vmemsim, "describe", "numa"], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    return re.findall(r"^\s{2}(\w+) \(", p.stdout, re.M)


def scenario(name, pages, threads, cpu_ms, sample_ms, seed, write_share, rate, knobs, keys):
    ms = lambda v: f"{int(v)}ms"
    numa = {"numa_balancing": 1, "scan_delay": ms(knobs["scan_delay_ms"]),
            "scan_period_min": ms(knobs["scan_period_min_ms"]), "scan_period_max": ms(knobs["scan_period_max_ms"]),
            "scan_size_mb": int(knobs["scan_size_mb"])}
    if "enabled" in keys:
        numa = {"enabled": True, **numa}
    missing = [k for k in numa if k not in keys]
    if missing:
        raise SystemExit(f"the model's kernel.numa lacks keys {missing} (it has {keys}); adapt numa_compare.py")
    # the duration is the CPU time the kernel's threads got (sampling_interval must divide it)
    duration = max(sample_ms, int(round(cpu_ms / sample_ms)) * sample_ms)
    mem = pages * 4096
    return {
        "name": name, "seed": seed, "duration": ms(duration),
        "hosts": [{"name": "h0", "nodes": [{"cores": max(threads, 1), "memory": f"{max(2, 2 * mem >> 30)}GiB"}]}],
        # mm_users as the runner's process has it: with one thread, that thread is the main
        # thread and the process has no other; with several, the main thread only samples and
        # is the one extra user of the mm, as a VMM's main loop is (vmm_threads).
        "vms": [{"name": "vm0", "vcpus": threads, "memory": str(mem), "backing": "anon",
                 "vmm_threads": 0 if threads == 1 else 1,
                 "workload": {"type": "uniform", "write_ratio": write_share, "rate": str(int(rate))}}],
        "kernel": {"numa": numa},
        "output": {"sampling_interval": ms(sample_ms)},
    }


def find_numa(node):
    """The object holding numa_pte_updates under a VM's summary or timeseries entry."""
    if isinstance(node, dict):
        if "numa_pte_updates" in node:
            return node
        for v in node.values():
            got = find_numa(v)
            if got is not None:
                return got
    return None


def model_figures(result, pages, threads):
    s = result["summary"]["vms"]
    vm = s["vm0"] if isinstance(s, dict) else s[0]
    summ = find_numa(vm)
    if summ is None:
        raise SystemExit("the model's result has no numa_pte_updates under summary.vms.vm0")
    ts = result.get("timeseries") or result.get("series")
    tv = ts["vms"]["vm0"] if isinstance(ts["vms"], dict) else ts["vms"][0]
    series = find_numa(tv) or {}
    t_ms = [t / 1e6 for t in ts["t_ns"]]
    f = {"pages": pages, "threads": threads, "cpu_ms": t_ms[-1] if t_ms else None}
    f.update({c: summ.get(c) for c in COUNTERS})
    f["passes"] = summ.get("scan_passes")
    upd = series.get("numa_pte_updates", [])
    passes = series.get("scan_passes", [])
    region = max(pages // 8, 1024)
    first = next((t for t, d in zip(t_ms, upd) if d >= region), None)
    f["first_scan_cpu_ms"] = first
    f["series_present"] = bool(upd) and bool(passes)
    upd = upd + [0] * (len(t_ms) - len(upd))
    passes = [int(p) for p in passes] + [0] * (len(t_ms) - len(passes))
    ends = [t for t, p in zip(t_ms, passes) for _ in range(p)]
    f["pass_end_cpu_ms"] = [round(x) for x in ends]
    f["pte_updates_per_pass"] = per_pass_updates(upd, passes, pages)
    f["pass_interval_cpu_ms"] = [round(b - a) for a, b in zip(ends, ends[1:])]
    f["region_scans"] = [(round(t), d) for t, d in zip(t_ms, upd) if d >= region]
    return f


def run_model(args, doc, kf, knobs, keys, tmp):
    sc = scenario(f"numa-kdiff-{kf['pages']}-{kf['threads']}", kf["pages"], kf["threads"], kf["cpu_ms"],
                  args.sample_ms, args.seed, args.write_share, args.rate, knobs, keys)
    path = os.path.join(tmp, sc["name"] + ".json")
    with open(path, "w") as fh:
        json.dump(sc, fh, indent=1)
    out = os.path.join(tmp, sc["name"] + "-out")
    cmd = [args.vmemsim, "run", path, "--out", out, "-q"]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        raise SystemExit(f"vmemsim run failed ({p.returncode})")
    with open(os.path.join(out, "result.json")) as fh:
        return model_figures(json.load(fh), kf["pages"], kf["threads"])


def print_model(f, title):
    print(f"--- model: {title}")
    print(f"  numa_pte_updates {f['numa_pte_updates']}, numa_hint_faults {f['numa_hint_faults']} "
          f"(local {f['numa_hint_faults_local']}), numa_pages_migrated {f['numa_pages_migrated']}, "
          f"scan_passes {f['passes']}")
    print(f"  passes ending at ms {f['pass_end_cpu_ms']}; PTE updates per pass {f['pte_updates_per_pass']}")
    print(f"  first scan of the mapping at {fmt(f['first_scan_cpu_ms'])} ms; pass intervals ms {f['pass_interval_cpu_ms']}")


# --- the comparison --------------------------------------------------------------------------

def mean(xs):
    return sum(xs) / len(xs) if xs else None


def compare(k, m, k1, m1, sample_ms):
    pages = k["pages"]
    # PTEs per pass. The kernel's pass also covers the process's other VMAs (stacks, heap,
    # libc data: measured 10-250 PTEs) and counts the system's other scanned processes
    # (baseline: 0-1300 PTEs in 3-15 s); a page not touched since the previous pass would be
    # skipped (PROT_NONE already), which the touch rate rules out. 2% of the mapping covers
    # those; the model counts the mapping only.
    kp, mp = k["pte_updates_per_pass"], m["pte_updates_per_pass"]
    tol = 0.02 * pages
    if check(len(kp) >= 1 and len(mp) >= 1,
             f"both completed at least one pass (kernel {len(kp)}, model {len(mp)})"):
        check(abs(mean(kp) - mean(mp)) <= tol,
              f"PTEs updated per pass: kernel mean {mean(kp):.0f} {kp}, model mean {mean(mp):.0f} {mp} "
              f"(tolerance 2% of {pages} = {tol:.0f})")
        check(all(abs(x - pages) <= tol for x in kp + mp), f"every pass updated the mapping's {pages} PTEs (+-2%)")
    # One node: every hinting fault is local and nothing migrates.
    check((m["numa_hint_faults"] or 0) > 0 and m["numa_hint_faults_local"] == m["numa_hint_faults"],
          f"model: all {m['numa_hint_faults']} hinting faults local")
    check(m["numa_pages_migrated"] == 0, f"model: nothing migrated ({m['numa_pages_migrated']})")
    # Every PTE the scanner updates takes one hinting fault before the next pass (the touch rate
    # covers every page many times over); the kernel's last pass may still have faults pending.
    if k["hint_per_update"] is not None and m["numa_pte_updates"]:
        mh = m["numa_hint_faults"] / m["numa_pte_updates"]
        check(abs(k["hint_per_update"] - mh) <= 0.05,
              f"hinting faults per PTE update: kernel {k['hint_per_update']:.3f}, model {mh:.3f} (+-0.05)")
    if m1 is not None:
        check(m1["numa_pte_updates"] == 0 and m1["numa_hint_faults"] == 0,
              f"model, one vCPU: {m1['numa_pte_updates']} PTE updates, {m1['numa_hint_faults']} hinting faults")
        print(f"info one thread: kernel passes {k1['passes'] if k1 else '-'} (the scanner still walks the mm), "
              f"model scan_passes {m1['passes']}")


def compare_pacing(k, m, sample_ms):
    # When the scanner passes over the mapping, on the thread-CPU-time axis. The first scan comes
    # once a thread's CPU time passes numa_scan_period, which starts at scan_delay
    # (init_numa_balancing): at 1013-1021 ms of the busiest thread's CPU time on every kernel
    # run, loaded host or not. Allowed: 10% plus two samples.
    ks = [x[1] for x in k["region_scans"]]
    ms = [x[0] for x in m["region_scans"]]
    print(f"info scans of the mapping at thread-CPU ms: kernel {ks}, model {ms}")
    if not check(bool(ks) and bool(ms), f"both scanned the mapping (kernel {len(ks)}, model {len(ms)} times)"):
        return
    check(abs(ks[0] - ms[0]) <= 0.10 * ks[0] + 2 * sample_ms,
          f"first scan: kernel {ks[0]} ms of thread CPU time, model {ms[0]} ms (10% + 2 samples)")
    # The later scans also pass the mm's wall-clock gate (mm->numa_next_scan = jiffies + the
    # caller's period). With a whole CPU per thread wall and CPU time advance together, as for
    # the model's vCPUs; on a host busy with other work the gate opens earlier in thread CPU
    # time and the kernel scans sooner on that axis (240 MiB, 2 threads: the second scan at
    # 3151 ms with a share of 0.82 of a CPU per thread, at 2331 ms with a share of 0.43).
    # So the pacing is compared only when the threads had at least 0.8 of a CPU each. Then
    # allowed: 25% plus two samples per scan (the 3% cap of task_numa_work adds 32x each call's
    # measured cost to the caller's node_stamp, which the model costs from its own knobs),
    # the number of scans +-1, and the passes (mm->numa_scan_seq) +-1: the kernel's wrap can
    # lag the scan of the mapping (its other VMAs, once not accessed by the scanning thread, are
    # force-scanned one per call, task_numa_work's vma_pids_forced).
    if k["cpu_share"] < 0.8:
        print(f"info pacing not compared: the kernel's threads had {k['cpu_share']:.2f} of a CPU each "
              f"(host busy); kernel scans at {ks}, model at {ms}; passes kernel {k['passes']}, model {m['passes']}")
        return
    for i in range(1, min(len(ks), len(ms))):
        check(abs(ks[i] - ms[i]) <= 0.25 * ks[i] + 2 * sample_ms,
              f"scan {i + 1} of the mapping: kernel {ks[i]} ms, model {ms[i]} ms (25% + 2 samples)")
    check(abs(len(ks) - len(ms)) <= 1, f"scans of the mapping in the same CPU time: kernel {len(ks)}, model {len(ms)} (+-1)")
    check(abs(k["passes"] - (m["passes"] or 0)) <= 1,
          f"passes in {k['cpu_ms'] / 1000:.2f} s of thread CPU time: kernel {k['passes']}, model {m['passes']} (+-1)")


def kernel_checks(k, k1):
    """What the kernel must show on one node, whatever the model says."""
    check(k["numa_hint_faults"] > 0 and k["numa_hint_faults_local"] == k["numa_hint_faults"],
          f"kernel: all {k['numa_hint_faults']} hinting faults local")
    check(k["numa_pages_migrated"] == 0 and k["pfn_changed"] == 0, "kernel: nothing migrated (counter and PFNs)")
    # One thread: change_pte_range skips every page already on the scanning CPU's node when the
    # mm has one user (private mappings), so nothing is updated and no hinting fault is taken.
    # The background of other processes is system-wide; the process's own minor faults are not.
    check(k1["minflt"] <= 64, f"kernel, one thread: {k1['minflt']} minor faults in the process (no hinting faults)")
    check(k1["numa_pte_updates"] <= 0.02 * k1["pages"],
          f"kernel, one thread: {k1['numa_pte_updates']} PTE updates system-wide (background only, <2% of the mapping)")


def wp_figures(doc):
    """The WP_ASYNC run: every PAGEMAP_SCAN check of the runner, summed."""
    r = doc["run"]
    d = r["wp"]["dumps"]
    # After the first check that follows a scan the stores begin (--writes-after-scan): the
    # process's faults beyond the hinting faults, up to the next pass, against the pages first
    # stored to in that time (the next check counts them).
    first = next((i for i, x in enumerate(d) if x["why"] == "after_scan"), None)
    wp_faults = new_written = None
    if first is not None and first + 1 < len(d):
        wp_faults = d[first]["minflt_after"] - d[first]["hint_faults_after"]
        new_written = d[first + 1]["written_pages"] - d[first]["written_pages"]
    return {
        "wp_faults": wp_faults, "new_written": new_written,
        "dumps": len(d),
        "after_scan": [x for x in d if x["why"] == "after_scan"],
        "bad": sum(x["written_not_0x00b"] + x["unwritten_not_0x009"] + x["pagemap_disagree"] for x in d),
        "ro_written": max(x["ro_pages_written"] for x in d),
        "written_end": d[-1]["written_pages"],
        "cats_written": sorted({c for x in d for c in x["cats_written"]}),
        "cats_unwritten": sorted({c for x in d for c in x["cats_unwritten"]}),
        "pfn_changed": r["pfn"]["changed"],
        "hint_faults": r["totals"]["numa_hint_faults"],
        "pages": r["pages"],
    }


def check_wp(w):
    """The kernel against the rule the model implements (models/mm/page_table.hpp: the NUMA
    PROT_NONE is OR-ed onto the PTE and restore() keeps the uffd bit; uffd::Uffd::categories():
    a present PTE, PROT_NONE or not, is PRESENT, and WRITTEN iff its uffd bit is clear)."""
    p = w["pages"]
    check(w["bad"] == 0, f"WP_ASYNC: {w['dumps']} PAGEMAP_SCAN checks, {w['bad']} pages off the rule "
                         f"(stored to since the WRITEPROTECT: 0x00b PRESENT|WRITTEN|WPALLOWED, else 0x009)")
    check(w["cats_written"] == ["0xb"] and w["cats_unwritten"] == ["0x9"],
          f"WP_ASYNC: categories seen: stored-to pages {w['cats_written']}, others {w['cats_unwritten']}")
    pn = max((x["hint_faults_after"] for x in w["after_scan"]), default=0)
    check(pn >= p // 4, f"WP_ASYNC: a check ran while the scanner's PROT_NONE was on {pn} of {p} pages "
                        f"(hinting faults after it, before the next pass)")
    check(w["ro_written"] == 0 and w["written_end"] > 0,
          f"WP_ASYNC: {w['written_end']} pages stored to, all WRITTEN; the never-stored pages stayed !WRITTEN")
    check(w["pfn_changed"] == 0, "WP_ASYNC: no page moved (PFNs)")
    if w["wp_faults"] is not None and w["new_written"]:
        check(abs(w["wp_faults"] - w["new_written"]) <= 0.03 * w["new_written"] + 16,
              f"WP_ASYNC: {w['wp_faults']} faults besides the hinting faults for {w['new_written']} pages first "
              f"stored to: one async WP fault per page (3%)")


def run_wp_model(args):
    cmd = [args.wp_model, "--pages", str(args.pages), "--threads", str(args.threads), "--seed", str(args.seed),
           "--ro-share", "0.5", "--write-share", str(args.write_share)]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        print(p.stderr)
        raise SystemExit(f"numa_wp_model failed ({p.returncode})")
    return json.loads(p.stdout)


def compare_wp(w, mdoc):
    """The kernel's WP_ASYNC run against numa_wp_model: the same categories, by the same rule,
    while the scanner's PROT_NONE sits on protected pages and after the hinting faults."""
    d = mdoc["wp"]["dumps"]
    bad = sum(x["written_not_0x00b"] + x["unwritten_not_0x009"] for x in d)
    cw = sorted({c for x in d for c in x["cats_written"]})
    cu = sorted({c for x in d for c in x["cats_unwritten"]})
    check(bad == 0, f"model WP_ASYNC: {len(d)} PAGEMAP_SCAN checks, {bad} pages off the rule")
    check(cw == w["cats_written"] and cu == w["cats_unwritten"],
          f"categories seen: kernel stored-to {w['cats_written']} others {w['cats_unwritten']}, "
          f"model stored-to {cw} others {cu}")
    pn = max(x["protnone_protected_pages"] for x in d)
    check(pn >= mdoc["pages"] // 4, f"model WP_ASYNC: a check ran with {pn} protected pages PROT_NONE")
    st, fl = mdoc["stores_on_protnone_protected"], mdoc["faults_of_those_stores"]
    check(st > 0 and fl == 2 * st,
          f"model: {st} stores hit a PROT_NONE write-protected PTE, {fl} faults (a hinting fault, then a WP fault)")
    check(mdoc["pfn_changed"] == 0 and mdoc["numa_pages_migrated"] == 0, "model WP_ASYNC: nothing migrated")


def parse(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner")
    ap.add_argument("--vmemsim")
    ap.add_argument("--wp-model")
    ap.add_argument("--pages", type=int, default=61440)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu-seconds", type=float, default=7.0)
    ap.add_argument("--wp-cpu-seconds", type=float, default=3.0)
    ap.add_argument("--one-thread-cpu-seconds", type=float, default=2.5)
    ap.add_argument("--wall-cap", type=float, default=45)
    ap.add_argument("--sample-ms", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write-share", type=float, default=0.3)
    ap.add_argument("--rate", type=float, default=2e6)
    ap.add_argument("--keep")
    ap.add_argument("--kernel-json")
    ap.add_argument("--kernel-json1")
    ap.add_argument("--skip-wp", action="store_true")
    ap.add_argument("--main-thread-works", action="store_true")
    return ap.parse_args(argv)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "analyze":
        for path in sys.argv[2:]:
            with open(path) as fh:
                doc = json.load(fh)
            if doc["run"].get("baseline"):
                t = doc["run"]["totals"]
                print(f"--- {path}: baseline (no test process), {t['t_ms'] / 1000:.1f} s: " +
                      ", ".join(f"{c} {t[c]}" for c in COUNTERS))
                continue
            print_kernel(kernel_figures(doc), path)
        return 0
    args = parse(sys.argv[1:])
    if not args.runner or not args.vmemsim:
        print("need --runner and --vmemsim")
        return 2
    keep = args.keep
    if keep:
        os.makedirs(keep, exist_ok=True)
    tmp = keep or tempfile.mkdtemp(prefix="vmemsim-numa-")
    if args.kernel_json:
        with open(args.kernel_json) as fh:
            doc = json.load(fh)
    else:
        doc = run_kernel(args, args.pages, args.threads, args.cpu_seconds, keep)
    if args.kernel_json1:
        with open(args.kernel_json1) as fh:
            doc1 = json.load(fh)
    else:
        doc1 = run_kernel(args, args.pages, 1, args.one_thread_cpu_seconds, keep, wall_cap=min(args.wall_cap, 25))
    docw = None
    if not args.skip_wp:
        docw = run_kernel(args, args.pages, args.threads, args.wp_cpu_seconds, keep,
                          ["--wp-async", "--ro-share", "0.5", "--dump-ms", "100000", "--dump-on-scan",
                           "--writes-after-scan"], "-wp", wall_cap=min(args.wall_cap, 25))
    k, k1 = kernel_figures(doc), kernel_figures(doc1)
    print_kernel(k, f"{args.threads} threads")
    print_kernel(k1, "1 thread")
    knobs, note = knobs_of(doc)
    print(f"knobs: {knobs}" + (f" ({note})" if note else ""))
    kernel_checks(k, k1)
    if docw is not None:
        w = wp_figures(docw)
        check_wp(w)
        if args.wp_model:
            compare_wp(w, run_wp_model(args))
        else:
            print("info no --wp-model: the WP_ASYNC run is checked against the model's rule only")
    keys = model_numa_keys(args.vmemsim)
    if keys is None:
        if FAILED:
            print(f"{len(FAILED)} check(s) failed")
            return 1
        print("SKIP: the model has no NUMA scanner in this build (`vmemsim describe numa` fails): the kernel "
              "checks above passed, the kernel figures are not compared with the model")
        return 77
    m = run_model(args, doc, k, knobs, keys, tmp)
    m1 = run_model(args, doc1, k1, knobs, keys, tmp)
    print_model(m, f"{args.threads} vCPUs")
    print_model(m1, "1 vCPU")
    compare(k, m, k1, m1, args.sample_ms)
    compare_pacing(k, m, args.sample_ms)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
