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

  ksm_compare.py model --runner ... --model build/tests/ksm_model [--vmemsim build/vmemsim] [--keep DIR]
      Runs the same layouts and knobs on the kernel and on the model (ksm_model: the runner's
      layout on mm::AddressSpace + ksm::Ksmd, ksmd in batches of pages_to_scan until the same
      steady criterion) and compares: the steady state exactly (pages_shared, pages_sharing,
      ksm_zero_pages, stable_node_chains, stable_node_dups, general_profit, and unshared +
      volatile), the pass of the first merge (the second on both), and the uffd-wp outcome of
      the WP layouts page class by page class. Time is not compared (ksmd's pacing is the
      engine's; the model driver counts passes). With --vmemsim the --dup-local layout also runs
      as a generated scenario through `vmemsim run` (steady state and per-VM ksm_merging_pages
      against the kernel's). Exit 77 when the runner skips.

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


Q = ["--mappings", "4", "--pages", "512", "--zero", "128", "--dup", "128", "--contents", "8", "--same", "128"]
LAYOUTS = [
        ("quarters", Q),
        ("quarters-zeropages", Q + ["--use-zero-pages", "1"]),
        ("quarters-local-mps16", Q + ["--dup-local", "--max-page-sharing", "16"]),
        # One node here, so trees per node are one tree: this checks that the kernel takes the
        # knob (after run=2) and that the model's per-node keys change nothing on one node.
        ("quarters-man0", Q + ["--merge-across-nodes", "0"]),
        ("chain-mps2", ["--mappings", "1", "--pages", "301", "--dup", "301", "--contents", "1",
                        "--max-page-sharing", "2"]),
        ("wp-async", ["--mappings", "1", "--pages", "512", "--zero", "64", "--dup", "256", "--contents", "4",
                      "--wp", "async", "--use-zero-pages", "1"]),
        ("wp-sync", ["--mappings", "1", "--pages", "512", "--dup", "256", "--contents", "4", "--wp", "sync"]),
    ]


def live(args, keep):
    for name, a in LAYOUTS:
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

def run_model(model_bin, a):
    """ksm_model (tests/kernel/ksm_model.cpp) on the runner's layout and knobs."""
    keep = {"--mappings", "--pages", "--zero", "--dup", "--contents", "--same", "--pages-to-scan",
            "--max-page-sharing", "--use-zero-pages", "--merge-across-nodes", "--smart-scan", "--wp",
            "--steady-scans"}
    cmd = [model_bin]
    i = 0
    while i < len(a):
        if a[i] == "--dup-local":
            cmd.append(a[i])
            i += 1
            continue
        if a[i] in keep:
            cmd += [a[i], a[i + 1]]
        i += 2
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        raise SystemExit(f"ksm_model failed ({p.returncode})")
    return json.loads(p.stdout)


def compare(name, f, m):
    mc = m["counters"]
    print(f"    model: stop {m['stop']} after {mc['full_scans']} full scans, first merge during pass "
          f"{m['first_merge_full_scans'] + 1}; " + ", ".join(f"{c} {mc[c]}" for c in COUNTERS if c in mc))
    # The steady state depends only on the layout and the knobs: exact.
    for c in STEADY:
        check(mc[c] == f[c], f"{name}: model {c} {mc[c]} == kernel {f[c]}")
    # How the unmerged rest splits into unshared and volatile depends on how many passes smart
    # scan has skipped pages for (the kernel's last sample lands anywhere in a pass): the sum.
    ku = f["pages_unshared"] + f["pages_volatile"]
    mu = mc["pages_unshared"] + mc["pages_volatile"]
    check(mu == ku, f"{name}: model pages_unshared + pages_volatile {mu} == kernel {ku}")
    # general_profit counts rmap items at 64 B on both: exact once the merges are the same.
    check(mc["general_profit"] == f["general_profit"],
          f"{name}: model general_profit {mc['general_profit']} == kernel {f['general_profit']}")
    # Passes: both stop on the same criterion (merge counters unchanged over 4 full scans), so
    # they make the same number of full scans; the kernel's last sample is taken a little after
    # the pass end it saw, so ksmd may have done one more batch by then (pages_to_scan pages).
    batch = f["knobs"]["pages_to_scan"]
    check(abs(mc["full_scans"] - f["d_full_scans"]) <= 1,
          f"{name}: model full scans {mc['full_scans']} == kernel {f['d_full_scans']} (+-1: a pass end between samples)")
    if mc["full_scans"] == f["d_full_scans"]:
        for c in ("pages_scanned", "pages_skipped"):
            check(0 <= f["d_" + c] - mc[c] <= batch,
                  f"{name}: model {c} {mc[c]} == kernel +{f['d_' + c]} (up to one batch of {batch} more on the kernel)")
    # The checksum gate: the model merges first during pass 2 (one full scan done); the
    # kernel's samples bracket its first merge: full_scans <= 1 at the sample before, >= 1 at it.
    check(m["first_merge_full_scans"] == 1, f"{name}: model's first merge during pass 2")
    kb, ka = f["full_scans_before_first_merge"], f["first_merge_full_scans"]
    check(kb is not None and kb <= 1 <= ka,
          f"{name}: kernel's first merge brackets pass 2 (full_scans +{kb} at the sample before, +{ka} at it)")
    if f["wp"] and m.get("wp"):
        kw, mw = f["wp"], m["wp"]
        for k, v in kw["after_merge"].items():
            mv = mw["after_merge"].get(k, {})
            same = all(mv.get(x) == v[x] for x in ("pages", "written", "pagemap_uffd_wp"))
            check(same, f"{name}: after the merge, {k}: kernel pages/WRITTEN/uffd-wp {v['pages']}/{v['written']}/"
                        f"{v['pagemap_uffd_wp']}, model {mv.get('pages')}/{mv.get('written')}/{mv.get('pagemap_uffd_wp')}")
        check(set(mw["after_merge"]) == set(kw["after_merge"]),
              f"{name}: the same page classes after the merge ({sorted(kw['after_merge'])})")
        for w in ("write_merged", "write_unmerged"):
            kx, mx = kw[w], mw[w]
            check(kx["handler_msgs"] == mx["handler_msgs"] and kx["pfn_changed"] == mx["pfn_changed"] and
                  kx["ksm_before"] == mx["ksm_before"],
                  f"{name}: {w}: handler messages {kx['handler_msgs']}/{mx['handler_msgs']}, new frame "
                  f"{kx['pfn_changed']}/{mx['pfn_changed']} (kernel/model)")


def scenario(name, lay, knobs, duration_ms):
    """A runner layout as a scenario: one VM per mapping, booted from one image (the pages
    identical across mappings), content shares of the VM's pages, the duplicated pages within
    each VM (content.hpp: dup(vm, k), so only --dup-local layouts have a scenario form),
    prefaulted (the runner writes every page), read-only guests (a write would change content)."""
    n = lay["pages"]
    vm = {"name": "vm", "count": lay["mappings"], "vcpus": 1, "memory": str(n * 4096), "prealloc_node": 0,
          "content": {"image": "img", "image_share": lay["same"] / n, "zero_share": lay["zero"] / n,
                      "dup_share": lay["dup"] / n, "dup_contents": lay["contents"]},
          "workload": {"type": "uniform", "write_ratio": 0, "rate": "1K"}}
    ksm = {"run": 1, **{k: knobs[k] for k in ("pages_to_scan", "sleep_millisecs", "max_page_sharing",
                                               "merge_across_nodes", "use_zero_pages", "smart_scan")}}
    return {"name": name, "seed": 1, "duration": f"{int(duration_ms)}ms",
            "hosts": [{"name": "host0", "nodes": [{"cores": 4, "memory": "1GiB"}]}],
            "vms": [vm], "kernel": {"ksm": ksm}, "output": {"sampling_interval": "10ms"}}


def compare_vmemsim(args, keep, name, f):
    """`vmemsim run` on the layout of a --dup-local kernel run: the same steady state through the
    engine (ksmd woken every sleep_millisecs as a host daemon), per-VM ksm_merging_pages as each
    process's /proc/<pid>/ksm_stat."""
    sc = scenario("ksm-kdiff-" + name, f["layout"], f["knobs"], 1000)
    path = os.path.join(keep, sc["name"] + ".json")
    with open(path, "w") as fh:
        json.dump(sc, fh, indent=1)
    out = os.path.join(keep, sc["name"] + "-out")
    cmd = [args.vmemsim, "run", path, "--out", out, "-q"]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=100)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        raise SystemExit(f"vmemsim run failed ({p.returncode}); the scenario is {path}")
    with open(os.path.join(out, "result.json")) as fh:
        res = json.load(fh)
    d = res["summary"]["kernel"]["daemons"]["ksmd.host0"]
    print(f"    vmemsim: " + ", ".join(f"{c} {d.get(c)}" for c in COUNTERS))
    for c in STEADY + ["general_profit"]:
        check(d.get(c) == f[c], f"{name}: vmemsim {c} {d.get(c)} == kernel {f[c]}")
    check(d["pages_unshared"] + d["pages_volatile"] == f["pages_unshared"] + f["pages_volatile"],
          f"{name}: vmemsim pages_unshared + pages_volatile == kernel's")
    km = sorted(int(re.search(r"ksm_merging_pages (\d+)", s).group(1)) for s in f["ksm_stat"])
    ts = res["timeseries"]["vms"]
    mm_ = sorted(int(v["kernel"]["ksm"]["ksm_merging_pages"][-1]) for v in ts.values())
    check(km == mm_, f"{name}: per-VM ksm_merging_pages kernel {km} == vmemsim {mm_}")
    # Informative only (time is the engine's daemon pacing, not compared): passes per second.
    t_s = (res["timeseries"]["t_ns"][-1] - res["timeseries"]["t_ns"][0]) / 1e9 if res["timeseries"]["t_ns"] else 0
    kp = f["d_full_scans"] / (f["run_ms"] / 1e3) if f["run_ms"] else 0
    print(f"    not compared: pass rate, kernel {kp:.1f}/s (pass lengths {f['pass_ms'][:6]} ms), vmemsim "
          f"{d['full_scans']} full scans in {t_s:.2f} s")


def model(args, keep):
    for name, a in LAYOUTS:
        doc = run_runner(args.runner, name, a + FAST, keep)
        f = figures(doc)
        print_figures(name, f)
        steady_checks(name, f)
        compare(name, f, run_model(args.model, a + FAST))
        if args.vmemsim and f["layout"]["dup_local"] or (args.vmemsim and not f["layout"]["dup"]
                                                          and not f["layout"]["wp"]):
            compare_vmemsim(args, keep, name, f)
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
    ap.add_argument("--model", help="ksm_model (tests/kernel/ksm_model.cpp)")
    ap.add_argument("--vmemsim", help="also `vmemsim run` the --dup-local layouts as scenarios")
    ap.add_argument("--keep")
    args = ap.parse_args()
    keep = args.keep or tempfile.mkdtemp(prefix="vmemsim-ksm-")
    os.makedirs(keep, exist_ok=True)
    if args.mode == "live":
        live(args, keep)
        rc = 1 if FAILS else 0
    else:
        if not args.model:
            raise SystemExit("model needs --model")
        rc = model(args, keep)
    n = len(FAILS)
    print(f"{'all checks passed' if not n else str(n) + ' checks failed'} (runs kept in {keep})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
