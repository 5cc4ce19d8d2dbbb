#!/usr/bin/env python3
"""KSM on the live kernel against the rule the model implements (KERNEL-MODEL.md §3 item 11).

Three commands:

  ksm_compare.py live --runner build/tests/ksm_kernel_runner [--keep DIR]
      Runs ksm_runner on small layouts with fast knobs (pages_to_scan 1000, sleep_millisecs 10)
      and checks what 6.18 does against the expectations written in FINDINGS.md ("KSM"):
      steady-state pages_shared / pages_sharing / ksm_zero_pages / stable_node_chains /
      stable_node_dups equal to what the layout gives (expected() below), the checksum gate
      (no merge before the first full scan has ended), and the uffd-wp interplay (a merge drops
      the uffd-wp bit of every PTE it rebuilds: PAGEMAP_SCAN reports those pages WRITTEN, and
      a sync-WP write to a merged page reaches no handler while one to an unmerged protected
      page does). Exit 0, 1 (a check failed), 77 (the runner skipped; its reason is printed).

  ksm_compare.py model --runner ... --vmemsim build/vmemsim [--keep DIR]
      Runs the same layout (4 mappings: image pages identical across, zero pages, pages over K
      contents within each mapping, unique pages) on the kernel and on the model (`vmemsim run`
      on a generated scenario with a kernel.ksm section and vms[i].content), and compares the
      steady state and the passes to the first merge. Exit 77 when the runner skips or this
      build has no KSM model (`vmemsim describe ksm` fails).

  ksm_compare.py analyze FILE.json...
      Prints a saved runner document's figures (tests/kernel/ksm_probes.sh writes them).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

COUNTERS = ["pages_shared", "pages_sharing", "pages_unshared", "pages_volatile", "pages_scanned",
            "pages_skipped", "full_scans", "ksm_zero_pages", "stable_node_chains", "stable_node_dups",
            "general_profit"]
# Compared exactly: once ksmd has reached a steady state these depend only on the layout and
# max_page_sharing / use_zero_pages, not on when ksmd ran.
STEADY = ["pages_shared", "pages_sharing", "ksm_zero_pages", "stable_node_chains", "stable_node_dups"]

FAILS = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def groups(layout, use_zero_pages):
    """Sizes of the groups of identical pages of a layout (volatile pages excluded)."""
    m, k = layout["mappings"], layout["contents"]
    g = []
    if layout["zero"] and not use_zero_pages:
        g.append(m * layout["zero"])
    per = [layout["dup"] // k + (1 if c < layout["dup"] % k else 0) for c in range(k)] if layout["dup"] else []
    if layout["dup_local"]:
        g += [p for _ in range(m) for p in per]
    else:
        g += [m * p for p in per]
    g += [m] * layout["same"]
    g += [1] * (m * layout["unique"])
    return g


def expected(layout, knobs):
    """Steady state of a layout: a group of P identical pages with max_page_sharing X merges
    into q = P // X full KSM pages plus one more when the remainder r >= 2 (a lone remainder
    page has no partner in the unstable tree once every dup is full); a group needing more than
    one KSM page is a stable_node chain whose dups are its KSM pages. With use_zero_pages every
    zero page is mapped to the kernel's zero page instead (ksm_zero_pages)."""
    x = knobs["max_page_sharing"]
    e = dict(pages_shared=0, pages_sharing=0, ksm_zero_pages=0, stable_node_chains=0, stable_node_dups=0,
             unmerged=0)
    if knobs["use_zero_pages"]:
        e["ksm_zero_pages"] = layout["mappings"] * layout["zero"]
    for p in groups(layout, knobs["use_zero_pages"]):
        if p < 2:
            e["unmerged"] += p
            continue
        q, r = divmod(p, x)
        dups = q + (1 if r >= 2 else 0)
        merged = p - (1 if r == 1 and q else 0)
        e["unmerged"] += p - merged
        e["pages_shared"] += dups
        e["pages_sharing"] += merged - dups
        if dups > 1:
            e["stable_node_chains"] += 1
            e["stable_node_dups"] += dups
    return e


def figures(doc):
    r = doc["run"]
    s = r["samples"]
    s0, last = s[0], s[-1]
    ends, prev = [], s0["full_scans"]
    for x in s:
        if x["full_scans"] != prev:
            ends += [x["t_ms"]] * (x["full_scans"] - prev)
            prev = x["full_scans"]
    f = {c: last[c] for c in COUNTERS}
    for c in ("pages_scanned", "pages_skipped", "full_scans"):
        f["d_" + c] = last[c] - s0[c]
    f["pass_end_ms"] = [round(t) for t in ends]
    f["pass_ms"] = [round(b - a) for a, b in zip([0.0] + ends, ends)]
    f["first_merge_ms"] = r["first_merge_ms"]
    f["first_merge_full_scans"] = r["first_merge_full_scans"]
    f["full_scans_before_first_merge"] = r.get("full_scans_at_sample_before_first_merge")
    f["stop"] = r["stop"]
    f["run_ms"] = r["run_ms"]
    f["ksm_stat"] = r["ksm_stat"]
    f["knobs"] = r["knobs"]
    f["layout"] = r["layout"]
    f["wp"] = r.get("wp")
    return f


def print_figures(name, f):
    print(f"--- {name}: layout {f['layout']}")
    print(f"    knobs {f['knobs']}")
    print(f"    stop {f['stop']} after {f['run_ms']:.0f} ms; first merge seen at {f['first_merge_ms']:.0f} ms with "
          f"full_scans +{f['first_merge_full_scans']} (+{f['full_scans_before_first_merge']} at the sample before)")
    print(f"    pass ends (ms) {f['pass_end_ms'][:10]}  pass lengths {f['pass_ms'][:10]}")
    print("    " + ", ".join(f"{c} {f[c]}" for c in COUNTERS if c not in ("pages_scanned", "pages_skipped", "full_scans")))
    print(f"    during the run: pages_scanned +{f['d_pages_scanned']}, pages_skipped +{f['d_pages_skipped']}, "
          f"full_scans +{f['d_full_scans']}")
    e = expected(f["layout"], f["knobs"])
    print(f"    expected from the layout: {e}")
    if f["wp"]:
        print(f"    wp: {json.dumps(f['wp'])}")


def run_runner(runner, name, args, keep):
    out = os.path.join(keep, name + ".json")
    cmd = [runner] + args + ["--out", out]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=110)
    if p.returncode == 77:
        print(p.stderr.strip())
        sys.exit(77)
    if p.returncode != 0:
        print(p.stderr)
        raise SystemExit(f"ksm_runner failed ({p.returncode})")
    with open(out) as fh:
        return json.load(fh)


FAST = ["--pages-to-scan", "1000", "--sleep-ms", "10", "--sample-ms", "5", "--steady-scans", "4", "--seconds", "15"]


def steady_checks(name, f):
    e = expected(f["layout"], f["knobs"])
    check(f["stop"] == "steady", f"{name}: steady state reached ({f['stop']} after {f['run_ms']:.0f} ms)")
    for c in STEADY:
        check(f[c] == e[c], f"{name}: {c} {f[c]} == {e[c]} (from the layout)")
    # Each merged page has an rmap item in the stable tree; the others are unshared or volatile
    # (smart_scan counts the items it skips as volatile), so together they are the rest.
    rest = f["layout"]["mappings"] * f["layout"]["pages"] - f["pages_shared"] - f["pages_sharing"]
    check(f["pages_unshared"] + f["pages_volatile"] + f["ksm_zero_pages"] == rest,
          f"{name}: pages_unshared + pages_volatile + ksm_zero_pages {f['pages_unshared']} + {f['pages_volatile']} + "
          f"{f['ksm_zero_pages']} == pages - shared - sharing = {rest}")
    # The checksum gate: a page is tried only once its checksum is unchanged since the last
    # visit, so nothing merges during the first pass.
    check(f["first_merge_full_scans"] >= 1,
          f"{name}: first merge seen after the first full scan (full_scans +{f['first_merge_full_scans']})")


def wp_checks(name, f, sync):
    w = f["wp"]
    lay = f["layout"]
    before = w["before"]
    check(all(v["written"] == 0 and v["pagemap_uffd_wp"] == v["pages"] for v in before.values()),
          f"{name}: before ksmd runs every page is protected (uffd-wp set, !WRITTEN)")
    after = w["after_merge"]
    ksm = after.get("dup/ksm", {"pages": 0, "written": 0, "pagemap_uffd_wp": 0})
    k = lay["contents"]
    check(ksm["pages"] == lay["dup"], f"{name}: every duplicated page is merged ({ksm['pages']} of {lay['dup']})")
    # replace_page() builds the sharer's PTE from vm_page_prot: uffd-wp lost, PAGEMAP_SCAN
    # says WRITTEN; the page that became the KSM page kept its PTE (write_protect_page() only
    # clears the write bit), one per content.
    check(ksm["written"] == ksm["pages"] - k and ksm["pagemap_uffd_wp"] == k,
          f"{name}: merged pages WRITTEN {ksm['written']} == {ksm['pages']} - {k} contents, uffd-wp kept "
          f"{ksm['pagemap_uffd_wp']} == {k} (the pages that became the KSM pages)")
    z = after.get("zero/zeropfn")
    if lay["zero"] and f["knobs"]["use_zero_pages"]:
        check(z is not None and z["pages"] == lay["zero"] and z["written"] == lay["zero"] and z["pagemap_uffd_wp"] == 0,
              f"{name}: every zero page mapped to the zero page lost uffd-wp and is WRITTEN ({z})")
    u = after.get("unique/plain", {})
    check(u.get("written") == 0 and u.get("pagemap_uffd_wp") == u.get("pages"),
          f"{name}: unmerged pages stay protected ({u})")
    wm, wu = w["write_merged"], w["write_unmerged"]
    check(wm["ksm_before"] == 1 and wm["pfn_changed"] == 1 and wm["ksm_after"] == 0,
          f"{name}: a write to a merged page breaks COW (new frame)")
    if sync:
        check(wm["handler_msgs"] == 0, f"{name}: a sync-WP write to a merged page reaches no handler "
                                       f"({wm['handler_msgs']} messages)")
        check(wu["handler_msgs"] == 1, f"{name}: a sync-WP write to an unmerged protected page reaches the handler "
                                       f"({wu['handler_msgs']} message)")
    else:
        check(wu["cats_before"] & 2 == 0 and wu["cats_after"] & 2 == 2 and wu["handler_msgs"] == 0,
              f"{name}: WP_ASYNC: a write to an unmerged protected page makes it WRITTEN, no message")


def live(args, keep):
    q = ["--mappings", "4", "--pages", "512", "--zero", "128", "--dup", "128", "--contents", "8", "--same", "128"]
    runs = [
        ("quarters", q),
        ("quarters-zeropages", q + ["--use-zero-pages", "1"]),
        ("quarters-local-mps16", q + ["--dup-local", "--max-page-sharing", "16"]),
        ("chain-mps2", ["--mappings", "1", "--pages", "301", "--dup", "301", "--contents", "1",
                        "--max-page-sharing", "2"]),
        ("wp-async", ["--mappings", "1", "--pages", "512", "--zero", "64", "--dup", "256", "--contents", "4",
                      "--wp", "async", "--use-zero-pages", "1"]),
        ("wp-sync", ["--mappings", "1", "--pages", "512", "--dup", "256", "--contents", "4", "--wp", "sync"]),
    ]
    for name, a in runs:
        doc = run_runner(args.runner, name, a + FAST, keep)
        check(doc["restored"]["run"] == doc["initial"]["run"] and
              all(doc["restored"][k] == v for k, v in doc["initial"].items() if k != "run"),
              f"{name}: /sys/kernel/mm/ksm restored ({doc['restored']})")
        f = figures(doc)
        print_figures(name, f)
        steady_checks(name, f)
        if f["wp"]:
            wp_checks(name, f, sync=f["layout"]["wp"] == "sync")


# --- the model side ---------------------------------------------------------------------------

def model_ksm_keys(vmemsim):
    """The keys of kernel.ksm, or None when this build has no KSM model."""
    p = subprocess.run([vmemsim, "describe", "ksm"], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    return re.findall(r"^\s{2}(\w+) \(", p.stdout, re.M)


def scenario(name, layout, knobs, duration_ms, sample_ms):
    """The runner's layout as a model scenario: one VM per mapping, all from one image (the
    pages identical across mappings), zero pages, pages over K contents within the VM, unique
    pages; kernel.ksm with the runner's knobs (sysfs names)."""
    mem = layout["pages"] * 4096
    vms = []
    for i in range(layout["mappings"]):
        vms.append({"name": f"vm{i}", "vcpus": 1, "memory": str(mem), "backing": "anon", "mergeable": True,
                    "content": {"image": "img", "image_pages": layout["same"], "zero_pages": layout["zero"],
                                "dup_pages": layout["dup"], "dup_contents": layout["contents"]},
                    "workload": {"type": "idle"}})
    ksm = {"run": 1, **{k: knobs[k] for k in ("pages_to_scan", "sleep_millisecs", "max_page_sharing",
                                               "merge_across_nodes", "use_zero_pages", "smart_scan")}}
    return {"name": name, "seed": 1, "duration": f"{int(duration_ms)}ms",
            "hosts": [{"name": "h0", "nodes": [{"cores": 2, "memory": "2GiB"}]}],
            "vms": vms, "kernel": {"ksm": ksm}, "output": {"sampling_interval": f"{int(sample_ms)}ms"}}


def find_key(node, key):
    if isinstance(node, dict):
        if key in node:
            return node
        for v in node.values():
            got = find_key(v, key)
            if got is not None:
                return got
    if isinstance(node, list):
        for v in node:
            got = find_key(v, key)
            if got is not None:
                return got
    return None


def model(args, keep):
    lay = ["--mappings", "4", "--pages", "512", "--zero", "128", "--dup", "128", "--contents", "8", "--dup-local",
           "--same", "128"]
    doc = run_runner(args.runner, "model-layout", lay + FAST, keep)
    kf = figures(doc)
    print_figures("kernel", kf)
    steady_checks("kernel", kf)
    keys = model_ksm_keys(args.vmemsim)
    if keys is None:
        print("SKIP: this build has no KSM model (`vmemsim describe ksm` fails): the model comparison is not "
              "verified; the kernel checks above ran" + (" and passed" if not FAILS else ""))
        return 1 if FAILS else 77
    # Long enough for the kernel's passes to a steady state at the model's pacing.
    passes = max(kf["d_full_scans"], 6)
    per_pass_ms = 4 * 512 / kf["knobs"]["pages_to_scan"] * kf["knobs"]["sleep_millisecs"]
    sc = scenario("ksm-kdiff", kf["layout"], kf["knobs"], max(200, (passes + 2) * per_pass_ms), 10)
    path = os.path.join(keep, "ksm-kdiff.json")
    with open(path, "w") as fh:
        json.dump(sc, fh, indent=1)
    out = os.path.join(keep, "ksm-kdiff-out")
    cmd = [args.vmemsim, "run", path, "--out", out, "-q"]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=100)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        raise SystemExit(f"vmemsim run failed ({p.returncode}); the scenario is {path}")
    with open(os.path.join(out, "result.json")) as fh:
        res = json.load(fh)
    daemons = res.get("summary", {}).get("kernel", {}).get("daemons", {})
    ms = find_key(daemons, "pages_sharing")
    if ms is None:
        raise SystemExit("the model's result has no pages_sharing under summary.kernel.daemons")
    print("model: " + ", ".join(f"{c} {ms.get(c)}" for c in COUNTERS))
    # Steady state: exact (both run until nothing changes; the counts are the layout's).
    for c in STEADY:
        check(ms.get(c) == kf[c], f"model {c} {ms.get(c)} == kernel {kf[c]}")
    rest = 4 * 512 - ms.get("pages_shared", 0) - ms.get("pages_sharing", 0)
    check(ms.get("pages_unshared", 0) + ms.get("pages_volatile", 0) + ms.get("ksm_zero_pages", 0) == rest,
          "model: unshared + volatile + ksm_zero_pages == pages - shared - sharing")
    # Passes to the first merge: the checksum gate makes it the second pass on both; the
    # model's time series gives the full_scans at its first merge.
    ts = res.get("timeseries") or res.get("series") or {}
    tk = find_key(ts, "pages_sharing")
    if tk and isinstance(tk.get("pages_sharing"), list) and isinstance(tk.get("full_scans"), list):
        sh, fs = tk["pages_sharing"], tk["full_scans"]
        cum = 0
        first = None
        for a, b in zip(sh, fs):
            cum_prev = cum
            cum += b  # full_scans per sample (a delta series) or cumulative: both start at 0
            if a and first is None:
                first = cum_prev
        check(first is not None and first >= 1, f"model: first merge after the first full scan ({first})")
    else:
        print("not verified: the model's time series of pages_sharing / full_scans was not found")
    return 1 if FAILS else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "analyze":
        for path in sys.argv[2:]:
            with open(path) as fh:
                print_figures(os.path.basename(path), figures(json.load(fh)))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["live", "model"])
    ap.add_argument("--runner", required=True)
    ap.add_argument("--vmemsim")
    ap.add_argument("--keep")
    args = ap.parse_args()
    keep = args.keep or tempfile.mkdtemp(prefix="vmemsim-ksm-")
    os.makedirs(keep, exist_ok=True)
    if args.mode == "live":
        live(args, keep)
        rc = 1 if FAILS else 0
    else:
        if not args.vmemsim:
            raise SystemExit("model needs --vmemsim")
        rc = model(args, keep)
    n = len(FAILS)
    print(f"{'all checks passed' if not n else str(n) + ' checks failed'} (runs kept in {keep})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
