#!/usr/bin/python3
"""THP collapse: the live kernel (thp_runner) against the model (thp_model), layout by layout.

Usage: thp_compare.py --runner <thp_kernel_runner> --model <thp_model> [--khugepaged] [--shmem]
Each layout of thp_layouts.hpp is built, MADV_COLLAPSEd (or left to khugepaged), and checked for a
PMD mapping on both sides; a layout passes when `huge`, AnonHugePages (ShmemPmdMapped with
--shmem), MADV_COLLAPSE's return and errno agree, with --shmem wp_kept too, and with both
options folio_huge (the page cache holds one PMD-sized folio: collapse_file() ran).
Exit 0 all agree, 1 a disagreement, 77 the runner skipped (no THP, userfaultfd or PAGEMAP_SCAN).
"""
import argparse
import subprocess
import sys


def parse(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        if not f or f[0] != "layout":
            continue
        kv = dict(zip(f[2::2], f[3::2]))
        out[f[1]] = kv
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--khugepaged", action="store_true",
                    help="collapse by khugepaged (sleep lowered and restored by the runner) instead of MADV_COLLAPSE")
    ap.add_argument("--shmem", action="store_true",
                    help="the layouts on a memfd: MADV_COLLAPSE's file path, and the uffd-wp state kept (wp_kept)")
    a = ap.parse_args()
    extra = (["--khugepaged"] if a.khugepaged else []) + (["--shmem"] if a.shmem else [])
    live = subprocess.run([a.runner, *extra], capture_output=True, text=True)
    if live.returncode == 77:
        print(live.stdout.strip() or "SKIP")
        return 77
    if live.returncode != 0:
        print(f"runner failed ({live.returncode}): {live.stderr.strip()}")
        return 1
    model = subprocess.run([a.model, *extra], capture_output=True, text=True, check=True)
    k, m = parse(live.stdout), parse(model.stdout)
    bad = 0
    print(f"{'layout':34} {'kernel':>8} {'model':>8}  model scan_result")
    for name, kv in k.items():
        mv = m.get(name)
        keys = ("huge", "anon_huge_kb", "collapse_ret", "errno") + (("wp_kept",) if a.shmem else ()) \
            + (("folio_huge",) if a.shmem and a.khugepaged else ())
        same = mv is not None and all(kv[x] == mv.get(x) for x in keys)
        bad += not same
        kd = "huge" if kv["huge"] == "1" else "4k/" + kv["errno"]
        md = ("huge" if mv["huge"] == "1" else "4k/" + mv["errno"]) if mv else "missing"
        kept = f" wp_kept {kv.get('wp_kept')}/{mv.get('wp_kept') if mv else '?'}" if a.shmem else ""
        if a.shmem and a.khugepaged:
            kept += f" folio_huge {kv.get('folio_huge')}/{mv.get('folio_huge') if mv else '?'}"
        print(f"{name:34} {kd:>8} {md:>8}  {mv.get('result', '?') if mv else ''}{kept}  {'ok' if same else 'MISMATCH'}")
    if set(m) - set(k):
        print("model-only layouts:", sorted(set(m) - set(k)))
        bad += 1
    print(f"{len(k) - bad} of {len(k)} layouts agree")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
