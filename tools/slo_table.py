#!/usr/bin/python3
"""The far-memory SLO table: refault rate against cold age, and the cold age that meets a target.

    tools/slo_table.py RESULT... [--target 0.2] [--vm V]

Production far memory (Lagar-Cavilla et al., "Software-Defined Far Memory in Warehouse-Scale
Computers", ASPLOS 2019) picks, per job, the cold-age threshold that keeps the promotion rate
(pages brought back from far memory per minute, as a percentage of the working set) under a
target: 0.2 %/min there. Each vmemsim result carries that rate per VM
(summary.vms.<vm>.far_memory_slo.refault_pct_of_wss_per_min: the VMM's refetches plus kernel
swap-ins over the mean true WSS of the longest wss window). Given runs that differ in the cold
age (e.g. a sweep over vms.0.vmm.age_threshold), this prints one row per (run, VM) -- cold age,
refault rate, mean resident pages -- and per VM the shortest cold age whose rate stays under
the target (the one that saves most memory while meeting it), or why the data do not say.

Cold age = the policy's tracking interval x age_threshold (the time a page must stay idle
before the age selector evicts it); a VM whose VMM has no such keys shows "-" and is left out
of the choice. Only the standard library: it runs with any python3.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from plot_lib import results  # noqa: E402
from plot_lib.errors import EXIT_USAGE, PlotError  # noqa: E402


def cold_age_ns(run, vm):
    for v in run.scenario.get("vms") or []:
        if v.get("name") == vm:
            vmm = v.get("vmm") or {}
            if isinstance(vmm.get("interval"), int) and isinstance(vmm.get("age_threshold"), int):
                return vmm["interval"] * vmm["age_threshold"]
    return None


def rows(runs, vm_filter):
    labels = results.run_labels(runs, with_seed=True)
    out = []
    for r, label in zip(runs, labels):
        for vm, s in ((r.data.get("summary") or {}).get("vms") or {}).items():
            if vm_filter and vm != vm_filter:
                continue
            slo = s.get("far_memory_slo")
            if slo is None:
                raise PlotError(f"{r.path}: VM '{vm}' has no far_memory_slo (a result of an older vmemsim)")
            out.append({"label": label, "vm": vm, "cold_age_ns": cold_age_ns(r, vm),
                        "rate": slo["refault_pct_of_wss_per_min"], "wss": slo["true_wss_mean_pages"],
                        "resident": s.get("resident_pages_total")})
    # by VM, then cold age (runs without one last), as given otherwise
    return sorted(out, key=lambda r: (r["vm"], r["cold_age_ns"] is None, r["cold_age_ns"] or 0))


def choose(rs, target):
    """Per VM: (cold age ns or None, reason)."""
    verdict = {}
    for vm in dict.fromkeys(r["vm"] for r in rs):
        aged = sorted((r for r in rs if r["vm"] == vm and r["cold_age_ns"] is not None), key=lambda r: r["cold_age_ns"])
        ok = [r for r in aged if r["rate"] <= target]
        if not aged:
            verdict[vm] = (None, "no run has a cold age (interval x age_threshold)")
        elif not ok:
            verdict[vm] = (None, f"no tested cold age meets it (longest {results.format_ns(aged[-1]['cold_age_ns'])}: "
                                 f"{aged[-1]['rate']:.3g} %/min)")
        elif ok[0] is aged[0]:
            verdict[vm] = (ok[0]["cold_age_ns"], "the shortest tested: a shorter one may meet it too")
        else:
            verdict[vm] = (ok[0]["cold_age_ns"], "shortest tested cold age under the target")
    return verdict


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    p.add_argument("results", nargs="+", metavar="RESULT", help="result.json files or run directories")
    p.add_argument("--target", type=float, default=0.2, help="refault rate target, %% of WSS per minute (default 0.2)")
    p.add_argument("--vm", help="only this VM")
    args = p.parse_args(argv)
    try:
        rs = rows(results.load_runs(args.results), args.vm)
    except PlotError as e:
        print(f"slo_table: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"| run | VM | cold age | refaults, % of WSS/min | mean true WSS (pages) | resident at end (pages) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rs:
        age = results.format_ns(r["cold_age_ns"]) if r["cold_age_ns"] is not None else "-"
        print(f"| {r['label']} | {r['vm']} | {age} | {r['rate']:.3g} | {r['wss']:.0f} | {r['resident']} |")
    print()
    for vm, (age, why) in choose(rs, args.target).items():
        print(f"{vm}: cold age for <= {args.target:g} %/min: {results.format_ns(age) if age is not None else 'none'} ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
