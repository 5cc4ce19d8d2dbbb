#!/usr/bin/env bash
# Benchmarks (not tests). Usage: bash bench/run_bench.sh   (after tools/build.sh)
#  1. fast path vs a bare loop doing the same generator draw + PTE check (Google Benchmark),
#     with the ratio per generator;
#  2. whole-scenario wall time of scenarios/quickstart.json (3 runs);
#  3. simulator memory per simulated 4 KiB page: peak RSS of an 8 GiB all-resident VM minus
#     the same scenario with a 4 MiB VM, divided by the page count; then the same with the
#     uffd-ws VMM policy tracking every page.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build
out=$(mktemp -d)
echo "## fast path (1 GiB resident anon VM, write_ratio 0.2)"
$B/bench/vmemsim_bench --benchmark_min_time=1 --benchmark_format=json >"$out/fast.json" 2>/dev/null
/usr/bin/python3 - "$out/fast.json" <<'PY'
import json, sys
r = {b["name"]: b["items_per_second"] for b in json.load(open(sys.argv[1]))["benchmarks"]}
print("| generator | bare loop (M/s) | vmemsim vCPU (M/s) | bare/vCPU |")
print("|---|---|---|---|")
for g in ["uniform", "zipf", "hot_cold", "sequential"]:
    b, v = r[f"BM_bare/{g}"], r[f"BM_vcpu/{g}"]
    print(f"| {g} | {b/1e6:.1f} | {v/1e6:.1f} | {b/v:.2f} |")
PY
echo
echo "## whole scenario: scenarios/quickstart.json"
for i in 1 2 3; do
  $B/vmemsim run scenarios/quickstart.json -q --out "$out/q$i" >/dev/null
  /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"run $i: {r['wall_seconds']:.2f} s wall, {r['accesses_per_wall_second']/1e6:.1f} M simulated accesses/s\")" "$out/q$i/run.json"
done
echo
echo "## memory per simulated page"
$B/vmemsim run bench/large-vm.json -q --out "$out/big" >/dev/null
$B/vmemsim run bench/large-vm.json -q --out "$out/small" --set /vms/0/memory='"4MiB"' \
  --set /vms/0/vcpu_groups/0/workload/region_size='"1MiB"' --set /vms/0/vcpu_groups/1/workload/region_offset='"1MiB"' \
  --set /vms/0/vcpu_groups/1/workload/region_size='"1MiB"' --set /vms/0/vcpu_groups/2/workload/region_offset='"2MiB"' \
  --set /vms/0/vcpu_groups/2/workload/region_size='"1MiB"' --set /vms/0/vcpu_groups/3/workload/region_offset='"3MiB"' \
  --set /vms/0/vcpu_groups/3/workload/region_size='"1MiB"' >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
big, small = (json.load(open(f"{d}/{n}/run.json")) for n in ("big", "small"))
res = json.load(open(f"{d}/big/result.json"))["summary"]["vms"]["big"]
pages = res["pages"]
print(f"resident pages: {res['resident_pages_total']} of {pages}")
print(f"peak RSS {big['peak_rss_bytes']/2**20:.0f} MiB vs {small['peak_rss_bytes']/2**20:.0f} MiB baseline")
print(f"bytes per simulated 4 KiB page: {(big['peak_rss_bytes'] - small['peak_rss_bytes']) / pages:.1f}")
PY
echo
echo "## memory per simulated page with the uffd-ws VMM policy (rfc-v1; every page first-touched through the handler)"
U=(--set /kernel/variant=rfc-v1 --set '/vmm={"policy":"uffd-ws","interval":"2s","age_threshold":100}' --set /duration='"14s"')
$B/vmemsim run bench/large-vm.json -q --out "$out/bigu" "${U[@]}" >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
big, small = (json.load(open(f"{d}/{n}/run.json")) for n in ("bigu", "small"))
res = json.load(open(f"{d}/bigu/result.json"))["summary"]["vms"]["big"]
print(f"resident pages: {res['resident_pages_total']} of {res['pages']}, scans: {res['vmm']['scans']}")
print(f"bytes per simulated 4 KiB page (peak, incl. PAGEMAP_SCAN output buffers): "
      f"{(big['peak_rss_bytes'] - small['peak_rss_bytes']) / res['pages']:.1f}")
PY
rm -rf "$out"
echo
echo "## memory per simulated page with NUMA balancing on (kernel.numa_balancing=1; 4 threads, so the scanner runs)"
$B/vmemsim run bench/large-vm.json -q --out "$out/bign" --set /kernel/numa/numa_balancing=1 >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
big, small = (json.load(open(f"{d}/{n}/run.json")) for n in ("bign", "small"))
res = json.load(open(f"{d}/bign/result.json"))["summary"]["vms"]["big"]
print(f"resident pages: {res['resident_pages_total']} of {res['pages']}, numa_pte_updates: {res['kernel']['numa']['numa_pte_updates']}")
print(f"bytes per simulated 4 KiB page: {(big['peak_rss_bytes'] - small['peak_rss_bytes']) / res['pages']:.1f}")
PY
