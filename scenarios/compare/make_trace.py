#!/usr/bin/env python3
"""Writes the page trace of the compare "trace" workload (sweep-trace.json) as a lackey text
file: one 64 MiB guest (16384 pages), replayed once by one vCPU at the workload's rate.

The pattern: a hot quarter of memory takes most references (20 % writes) and moves every phase
(the shifting workload's offsets 0, 0.4, 0.7, in turn); the end of every phase is a sequential
read of all memory (the scan-polluted workload's scan). Cold references are uniform. Seeded, so
the same arguments write the same file. run.sh converts it to the compact pagetrace format with
`vmemsim trace convert`.

Usage: make_trace.py OUT.lackey [--refs N] [--seed S]"""
import argparse
import random

PAGES = 16384                    # 64 MiB of 4 KiB pages
HOT = PAGES // 4
OFFSETS = [0.0, 0.4, 0.7]        # hot-set start, fraction of memory, per phase
PHASE = 500_000                  # references per phase (2 s at 250 k/s)
HOT_P, WRITE_P = 0.99, 0.2
BASE = 0x10000000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--refs", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    lines, n, phase = [], 0, 0
    with open(a.out, "w") as f:
        def emit(page, write):
            lines.append(f" {'S' if write else 'L'} {BASE + page * 4096:08x},8\n")
        while n < a.refs:
            start = int(OFFSETS[phase % len(OFFSETS)] * PAGES)
            body = min(PHASE - PAGES, a.refs - n)
            for _ in range(body):
                r = rng.random()
                if r < HOT_P:
                    p = (start + int(r / HOT_P * HOT)) % PAGES
                else:
                    p = rng.randrange(PAGES)
                emit(p, rng.random() < WRITE_P)
            n += body
            scan = min(PAGES, a.refs - n)
            for p in range(scan):
                emit(p, False)
            n += scan
            phase += 1
            f.writelines(lines)
            lines.clear()


if __name__ == "__main__":
    main()
