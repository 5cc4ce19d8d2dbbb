#!/usr/bin/python3
"""Integration test of tools/vmemsim-plot.

    /usr/bin/python3 tests/integration/test_plot.py <vmemsim-binary> <source-dir>

Renders every plot type from the small committed fixtures in tests/fixtures/plot/ (four
short quickstart runs, two with a synthetic stall-latency histogram, and a fake sweep
directory: theta x memory x seed, 2x2x2, one point failed), plus end-to-end plots of a
fresh 300 ms run and a fresh 4-point sweep of the given binary, and checks the files: PNG signature, IHDR dimensions,
non-trivial size, coloured data pixels (decoded), SVG/PDF headers, byte-identical re-render.
Then the error cases: exit 2 with a helpful message and no output file.
Exit 0 = pass, 1 = fail, 77 = skipped (no matplotlib for /usr/bin/python3).
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

FAILS = []


def check(cond, what, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {what}" + (f"  -- {detail}" if detail and not cond else ""))
    if not cond:
        FAILS.append(what)
    return cond


# -- PNG reading (8-bit RGB/RGBA, non-interlaced: what matplotlib's Agg writes) --------------
def png_info(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, chunks = 8, []
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append((typ, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    if chunks[0][0] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    return {"w": w, "h": h, "depth": depth, "ctype": ctype, "interlace": interlace,
            "idat": b"".join(c for t, c in chunks if t == b"IDAT"), "size": len(data)}


def png_pixels(info):
    """Rows of raw pixel bytes after undoing the PNG filters."""
    bpp = {2: 3, 6: 4}[info["ctype"]]
    raw = zlib.decompress(info["idat"])
    stride = info["w"] * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(info["h"]):
        ft, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows, bpp


def coloured_fraction(info):
    """Fraction of pixels that are clearly coloured (data), not white/grey/black (frame, text)."""
    rows, bpp = png_pixels(info)
    coloured = total = 0
    for row in rows[::2]:
        for x in range(0, len(row), bpp * 2):
            r, g, b = row[x], row[x + 1], row[x + 2]
            total += 1
            if max(r, g, b) - min(r, g, b) > 60:
                coloured += 1
    return coloured / total


class Plot:
    def __init__(self, tool, workdir):
        self.tool, self.workdir = tool, workdir
        self.env = dict(os.environ, MPLCONFIGDIR=os.path.join(workdir, "mplconfig"))

    def __call__(self, *args):
        p = subprocess.run([sys.executable, self.tool, *args], cwd=self.workdir, env=self.env,
                           capture_output=True, text=True, timeout=300)
        return p.returncode, p.stdout, p.stderr


def check_png(path, what, width, height, min_colour=0.002):
    info = png_info(path) if os.path.exists(path) else None
    if not check(info is not None, f"{what}: {os.path.basename(path)} is a PNG", "missing or bad signature"):
        return
    if callable(width):
        ok_w = width(info["w"])
    else:
        ok_w = info["w"] == width
    check(ok_w and info["h"] == height, f"{what}: PNG is {info['w']}x{info['h']}",
          f"expected {'a suitable width' if callable(width) else width} x {height}")
    check(info["size"] > 15000, f"{what}: PNG has {info['size']} bytes (> 15000)")
    frac = coloured_fraction(info)
    check(frac > min_colour, f"{what}: {frac:.1%} of the pixels are data colours (> {min_colour:.1%})")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 1
    binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"skip: {sys.executable} cannot import matplotlib (Debian package python3-matplotlib)")
        return 77
    tool = os.path.join(src, "tools", "vmemsim-plot")
    fx = os.path.join(src, "tests", "fixtures", "plot")
    runs = os.path.join(fx, "runs")
    sweep = os.path.join(fx, "sweep")
    r_q1, r_q2 = os.path.join(runs, "quickstart-s1"), os.path.join(runs, "quickstart-s2", "result.json")
    r_t1, r_t2 = os.path.join(runs, "theta1.2-s1"), os.path.join(runs, "theta1.2-s2", "result.json")

    print("== the tool")
    with open(tool) as f:
        first = f.readline().strip()
    check(first == "#!/usr/bin/python3", "tools/vmemsim-plot starts with #!/usr/bin/python3", first)
    check(os.access(tool, os.X_OK), "tools/vmemsim-plot is executable")

    print("== fixtures")
    sizes = []
    for d, _, files in os.walk(fx):
        for n in files:
            if n.endswith(".json") or n.endswith(".csv"):
                sizes.append((os.path.getsize(os.path.join(d, n)), os.path.relpath(os.path.join(d, n), fx)))
    check(len(sizes) >= 12, f"{len(sizes)} fixture files")
    big = [n for s, n in sizes if s >= 30 * 1024]
    check(not big, "every fixture file < 30 KB", ", ".join(big))

    with tempfile.TemporaryDirectory(prefix="vmemsim-plot-test-") as tmp:
        plot = Plot(tool, tmp)
        out = lambda n: os.path.join(tmp, n)  # noqa: E731

        def render(what, args, outfile, expect_stderr=None):
            rc, so, se = plot(*args, "-o", out(outfile))
            ok = check(rc == 0, f"{what}: exit 0", se.strip())
            check(so.strip() == out(outfile), f"{what}: prints the written path", so.strip())
            if expect_stderr is not None:
                check(expect_stderr in se, f"{what}: stderr mentions '{expect_stderr}'", se.strip())
            return ok

        print("== timeseries")
        if render("timeseries 4 runs", ["timeseries", r_q1, r_q2, r_t1, r_t2, "--metric", "resident_pages"], "ts_runs.png"):
            check_png(out("ts_runs.png"), "timeseries 4 runs", 1080, 540)
        if render("timeseries 3 metrics", ["timeseries", r_q1, "--metric", "accesses", "--metric", "remote_ratio",
                                           "--metric", "fault_time_ns"], "ts_metrics.png"):
            check_png(out("ts_metrics.png"), "timeseries 3 metrics", 1080, 3 * 432)
        if render("timeseries host, one VM-less metric", ["timeseries", r_q1, "--host", "host0", "--metric", "free_pages.node0"],
                  "ts_host.png"):
            check_png(out("ts_host.png"), "timeseries host", 1080, 540)
        if render("timeseries --per-second as SVG", ["timeseries", r_q1, r_t1, "--metric", "faults", "--vm", "web",
                                                     "--per-second"], "ts.svg"):
            with open(out("ts.svg")) as f:
                svg = f.read()
            check(svg.startswith("<?xml") and "<svg" in svg[:2000], "SVG header")
            check("faults / s" in svg or len(svg) > 20000, "SVG is non-trivial")
            rc, _, _ = plot("timeseries", r_q1, r_t1, "--metric", "faults", "--vm", "web", "--per-second", "-o", out("ts2.svg"))
            with open(out("ts2.svg")) as f:
                check(rc == 0 and f.read() == svg, "SVG re-render is byte-identical")

        print("== compare")
        if render("compare seeds grouped", ["compare", r_q1, r_q2, r_t1, r_t2, "--metric", "resident_pages_total"], "cmp.png"):
            check_png(out("cmp.png"), "compare seeds grouped", lambda w: w >= 1080, 540)
        if render("compare suffix metric, split seeds", ["compare", r_q1, r_q2, r_t1, r_t2, "--metric", "faults.anon_alloc",
                                                         "--vm", "web", "--split-seeds"], "cmp_split.png"):
            check_png(out("cmp_split.png"), "compare split seeds", lambda w: w >= 1080, 540)
        if render("compare p99 of a histogram as PDF", ["compare", r_q1, r_t1, "--metric", "stall_latency_ns",
                                                        "--stat", "p99"], "cmp.pdf"):
            with open(out("cmp.pdf"), "rb") as f:
                pdf = f.read()
            check(pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF"), "PDF header and trailer")
            check(len(pdf) > 5000, f"PDF has {len(pdf)} bytes (> 5000)")

        print("== sweep")
        if render("sweep x=theta hue=memory", ["sweep", sweep, "--x", "theta", "--y", "resident_pages_total",
                                               "--hue", "/vms/0/memory"], "sweep.png", expect_stderr="p005"):
            check_png(out("sweep.png"), "sweep x=theta hue=memory", lambda w: w > 1080, 540)
        if render("sweep categorical x, one VM", ["sweep", sweep, "--x", "/vms/0/memory", "--y", "true_wss_pages.100ms",
                                                  "--vm", "web"], "sweep_cat.png", expect_stderr="skipped"):
            check_png(out("sweep_cat.png"), "sweep categorical x", 1080, 540)

        print("== cdf")
        if render("cdf of a histogram", ["cdf", r_q1, r_t1, "--metric", "stall_latency"], "cdf.png"):
            check_png(out("cdf.png"), "cdf histogram", 1080, 540)
        if render("cdf of time-series samples", ["cdf", r_q1, "--metric", "fault_time_ns"], "cdf_ts.png"):
            check_png(out("cdf_ts.png"), "cdf time series", 1080, 540)

        print("== determinism")
        rc, _, _ = plot("timeseries", r_q1, r_q2, r_t1, r_t2, "--metric", "resident_pages", "-o", out("ts_runs2.png"))
        with open(out("ts_runs.png"), "rb") as a, open(out("ts_runs2.png"), "rb") as b:
            check(rc == 0 and a.read() == b.read(), "PNG re-render is byte-identical")

        print("== end to end: a fresh run of the binary")
        run_dir = out("fresh")
        p = subprocess.run([binary, "run", os.path.join(src, "scenarios", "quickstart.json"), "--out", run_dir,
                            "--set", "/duration=300ms", "-q"], cwd=tmp, capture_output=True, text=True, timeout=300)
        if check(p.returncode == 0 and os.path.exists(os.path.join(run_dir, "result.json")),
                 "vmemsim run writes result.json", p.stderr.strip()):
            if render("timeseries of a fresh result", ["timeseries", run_dir, "--metric", "resident_pages",
                                                       "--metric", "true_wss_pages.100ms"], "fresh_ts.png"):
                check_png(out("fresh_ts.png"), "fresh timeseries", 1080, 2 * 432)
            if render("compare of a fresh result", ["compare", run_dir, "--metric", "faults"], "fresh_cmp.png"):
                check_png(out("fresh_cmp.png"), "fresh compare", lambda w: w >= 1080, 540)

            sweep_dir = out("fresh_sweep")
            p = subprocess.run([binary, "sweep", os.path.join(src, "scenarios", "quickstart.json"),
                                "--axis", "/vms/0/workload/theta=0.8,1.2", "--axis", "/seed=1..2",
                                "--set", "/duration=200ms", "--out", sweep_dir, "-j", "2", "-q"],
                               cwd=tmp, capture_output=True, text=True, timeout=300)
            if check(p.returncode == 0 and os.path.exists(os.path.join(sweep_dir, "index.json")),
                     "vmemsim sweep writes index.json", p.stderr.strip()):
                if render("sweep of a fresh sweep directory", ["sweep", sweep_dir, "--x", "theta",
                                                               "--y", "resident_pages_total"], "fresh_sweep.png"):
                    check_png(out("fresh_sweep.png"), "fresh sweep", lambda w: w > 1080, 540)

        print("== errors (exit 2, a message, no output)")
        cases = [
            ("missing file", ["timeseries", out("nope.json"), "--metric", "accesses"], ["no such file"]),
            ("unknown metric", ["timeseries", r_q1, "--metric", "resident_page"],
             ["unknown metric 'resident_page'", "did you mean: resident_pages", "available in timeseries"]),
            ("unknown metric (compare)", ["compare", r_q1, "--metric", "anon_aloc"],
             ["unknown metric", "faults.anon_alloc"]),
            ("VM not in the result", ["compare", r_q1, "--metric", "accesses", "--vm", "wbe"],
             ["VM 'wbe' is not in", "did you mean: web", "VMs there: batch, web"]),
            ("unknown sweep axis", ["sweep", sweep, "--x", "thet", "--y", "accesses"],
             ["axis 'thet' is not in", "/vms/0/workload/theta"]),
            ("not a sweep directory", ["sweep", runs, "--x", "theta", "--y", "accesses"], ["no index.json"]),
            ("no histogram in the result", ["cdf", r_q2, "--metric", "stall_latency"],
             ["unknown metric 'stall_latency'", "no histograms"]),
            ("stat that does not apply", ["compare", r_q1, "--metric", "resident_pages_total", "--stat", "p99"],
             ["--stat p99 does not apply"]),
            ("unsupported output format", ["timeseries", r_q1, "--metric", "accesses", "-o", out("x.jpg")],
             ["unsupported format '.jpg'"]),
            ("missing --metric", ["timeseries", r_q1], ["--metric"]),
        ]
        before = set(os.listdir(tmp))
        for what, args, needles in cases:
            if "-o" not in args:
                args = args + ["-o", out("err.png")]
            rc, so, se = plot(*args)
            check(rc == 2, f"{what}: exit 2", f"exit {rc}")
            missing = [n for n in needles if n not in se]
            check(not missing, f"{what}: message says {', '.join(repr(n) for n in needles)}",
                  f"stderr was: {se.strip()}")
        check(set(os.listdir(tmp)) == before, "errors wrote no files", str(set(os.listdir(tmp)) - before))

        keep = os.environ.get("VMEMSIM_PLOT_KEEP")
        if keep:
            import shutil
            os.makedirs(keep, exist_ok=True)
            for n in os.listdir(tmp):
                if n.endswith((".png", ".svg", ".pdf")):
                    shutil.copy(out(n), keep)

    print(f"\n{'PASS' if not FAILS else 'FAIL'}: {len(FAILS)} failed check(s)" + (": " + "; ".join(FAILS) if FAILS else ""))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
