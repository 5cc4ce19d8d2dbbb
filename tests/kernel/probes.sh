#!/usr/bin/env bash
# The targeted experiments behind FINDINGS.md: tiny patterns run by kernel_runner in --trace
# mode (a full PAGEMAP_SCAN after every op, plus /proc/self/pagemap with --pagemap), and
# probe_scan_args for the PAGEMAP_SCAN argument cases. Changes no sysfs or sysctl value.
#   bash tests/kernel/probes.sh [OUT=/dev/stdout]
# probes.out in this directory is this script's output on the machine FINDINGS.md describes.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/dev/stdout}
KR=$(mktemp /tmp/kr.XXXXXX)
PS=$(mktemp /tmp/probe_scan_args.XXXXXX)
trap 'rm -f "$KR" "$PS"' EXIT
g++ -std=c++20 -O2 -pthread -o "$KR" "$HERE/kernel_runner.cpp" || exit 1
g++ -std=c++20 -O2 -o "$PS" "$HERE/probe_scan_args.cpp" || exit 1

# Long dump lines as runs: "[first..last]=cats" for each stretch of equal pages.
rle() {
  awk '/^(scan|wpm|after) /{
    i = index($0, ":"); printf "%s", substr($0, 1, i); n = split(substr($0, i + 1), a, " ");
    s = 1; for (k = 2; k <= n + 1; k++) if (k > n || a[k] != a[s]) {
      if (s == k - 1) printf " [%d]=%s", s - 1, a[s]; else printf " [%d..%d]=%s", s - 1, k - 2, a[s]; s = k }
    print ""; next } { print }'
}

# run TITLE HEADER-ARGS RUNNER-OPTIONS <<< ops
run() {
  local title=$1 header=$2 opts=$3
  echo "=== $title"
  echo "pattern seed=0 $header"
  local body
  body=$(cat)
  echo "$body" | sed 's/^/  | /'
  { echo "pattern seed=0 $header"; echo "$body"; } | "$KR" file - --trace $opts 2>&1 | grep -v '^# pattern'
  local rc=${PIPESTATUS[1]}
  [ "$rc" -eq 0 ] || echo "(exit $rc)"
  echo
}

{
  echo "# $(uname -srvm)"
  echo "# THP enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)," \
    "shmem_enabled: $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null)"
  if [ -r /proc/config.gz ]; then
    echo "# config: $(zcat /proc/config.gz | grep -E '^(# )?CONFIG_(MEM_SOFT_DIRTY|PT_RECLAIM|PTE_MARKER_UFFD_WP)[ =]' | tr '\n' ' ')"
  fi
  echo "# dump: 3 hex digits per page = PAGE_IS_* bits: 001 WPALLOWED 002 WRITTEN 004 FILE 008 PRESENT"
  echo "#       010 SWAPPED 020 PFNZERO 040 HUGE 080 SOFT_DIRTY 100 GUARD; '---' = not returned"
  echo "# pagemap: P present, S swap/marker, W uffd-wp, X exclusive, F file/shared, G guard, :PFN"
  echo

  for b in anon shmem; do
    for m in "wp=async" "wp=sync" "wp=sync registered=0"; do
      run "a. untouched pages, then a read of page 0 ($b, $m); 1024 pages: pages 512.. have no PTE table" \
        "pages=1024 backing=$b $m" "" <<'EOF' | rle
scan
read 0
scan
EOF
    done
  done

  for m in "wp=sync registered=0" "wp=async"; do
    run "a'. none PTE versus no PTE table: small MADV_DONTNEEDs keep the table, one covering 2 MiB frees it (anon, $m)" \
      "pages=1024 backing=anon $m" "" <<'EOF' | rle
write 0
write 600
dontneed 0 1
dontneed 600 601
write 0
write 600
dontneed 0 1024
EOF
  done

  for b in anon shmem; do
    for m in "wp=async" "wp=async unpopulated=0" "wp=sync" "wp=sync unpopulated=0"; do
      run "b/c. WRITEPROTECT over untouched pages, read, write ($b, $m)" "pages=4 backing=$b $m" "--pagemap" <<'EOF'
wp 0 2
read 0
write 0
write 1
unwp 2 3
wp 3 4
write 3
EOF
    done
  done

  for b in anon shmem; do
    for m in "wp=async" "wp=sync"; do
      run "d. MADV_DONTNEED over protected pages and markers, then touches ($b, $m)" "pages=6 backing=$b $m" "--pagemap" <<'EOF'
write 0
write 1
write 2
read 3
wp 0 6
write 2
dontneed 0 6
read 0
write 1
write 2
write 3
read 4
write 5
EOF
    done
  done

  for m in "wp=async" "wp=sync"; do
    run "d'. PUNCH_HOLE on shmem: protected, unprotected, zapped, marker pages ($m)" "pages=8 backing=shmem $m" "--pagemap" <<'EOF'
write 0
write 1
write 2
write 3
wp 1 2
wp 4 5
dontneed 3 4
punch 0 6
read 0
read 1
read 2
read 3
read 4
read 5
unwp 0 8
EOF
  done

  for b in anon shmem; do
    run "e. UNWP of markers, protected zero page and protected page ($b, wp=async)" "pages=4 backing=$b wp=async" "--pagemap" <<'EOF'
wp 0 4
read 1
write 2
wp 2 3
unwp 0 4
write 0
EOF
  done

  for b in anon shmem; do
    run "e. ScanWpMatching on a sync WP registration: without and with PM_SCAN_CHECK_WPASYNC ($b)" "pages=4 backing=$b wp=sync" "" <<'EOF'
write 0
wp 1 2
scanwpm 0 4 ret=0x2
scanwpm 0 4 ret=0x1ff
scanwpm 0 4 ret=0x0
EOF
    run "e. (same, --check-wpasync) ($b)" "pages=4 backing=$b wp=sync" "--check-wpasync" <<'EOF'
scanwpm 0 4 ret=0x2
EOF
  done

  for b in anon shmem; do
    for r in 0x2 0x1ff 0x0; do
      run "f. PM_SCAN_WP_MATCHING, category_mask WRITTEN, return_mask $r ($b, wp=async; pages 512.. have no PTE table)" \
        "pages=1024 backing=$b wp=async" "" <<EOF | rle
write 0
read 1
write 2
wp 2 3
wp 3 4
write 5
wp 5 6
write 5
scanwpm 0 1024 ret=$r
write 4
scanwpm 2 6 ret=$r
EOF
    done
  done

  run "g. reads of untouched pages in a plain (unregistered) anon mapping, MADV_NOHUGEPAGE" \
    "pages=4 backing=anon wp=sync registered=0" "--pagemap" <<'EOF'
read 0
read 1
read 2
EOF
  run "g. (same without MADV_NOHUGEPAGE: THP left to the system setting)" \
    "pages=4 backing=anon wp=sync registered=0" "--pagemap --thp" <<'EOF'
read 0
read 1
read 2
EOF

  echo "=== scan mechanics: probe_scan_args"
  "$PS"
} >"$OUT"
