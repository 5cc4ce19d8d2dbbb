// The layouts of the THP collapse comparison (tests/kernel/README.md "THP"), shared by the live
// runner (thp_runner.cpp) and the model (thp_model.cpp). Header-only, no kernel or model headers.
//
// Each layout is one 2 MiB-aligned anon mapping (one PMD range), built in this order:
//   1. touch: write every page, except page i when hole_every && i % hole_every == 0 (a hole);
//      the mapping has no MADV_HUGEPAGE yet, so with THP in madvise mode every fault is 4 KiB;
//   2. uffd: UFFDIO_API (WP_ASYNC + WP_UNPOPULATED when wp_async) and UFFDIO_REGISTER MODE_WP;
//   3. protect: UFFDIO_WRITEPROTECT over the first 8 pages or the whole range (with
//      WP_UNPOPULATED a hole gets a uffd-wp marker);
//   4. write: under WP_ASYNC, write every touched page, or every other one, before the collapse;
//   5. MADV_HUGEPAGE, then MADV_COLLAPSE over the range;
//   6. result: is the range PMD-mapped (PAGE_IS_HUGE on its first page; AnonHugePages in smaps).
#pragma once
#include <cstdint>

namespace thp_layouts {

constexpr unsigned kPages = 512;
enum class Protect { None, First8, All };
enum class Write { None, All, Half };

struct Layout {
  const char* name;
  bool uffd;
  bool wp_async;
  unsigned hole_every;
  Protect protect;
  Write write;
};

constexpr Layout kLayouts[] = {
    {"plain-full", false, false, 0, Protect::None, Write::None},
    {"plain-holes", false, false, 16, Protect::None, Write::None},
    {"plain-untouched", false, false, 1, Protect::None, Write::None},
    {"wp-none-protected", true, false, 0, Protect::None, Write::None},
    {"wp-some-protected", true, false, 0, Protect::First8, Write::None},
    {"wp-all-protected", true, false, 0, Protect::All, Write::None},
    {"wp-holes-none-protected", true, false, 16, Protect::None, Write::None},
    {"wp-async-markers", true, true, 16, Protect::All, Write::None},
    {"wp-async-all-written", true, true, 0, Protect::All, Write::All},
    {"wp-async-half-written", true, true, 0, Protect::All, Write::Half},
    {"wp-async-markers-written", true, true, 16, Protect::All, Write::All},
    {"wp-async-some-protected-written", true, true, 0, Protect::First8, Write::All},
};

inline bool touched(const Layout& l, unsigned i) { return !(l.hole_every && i % l.hole_every == 0); }
inline bool written_after(const Layout& l, unsigned i) {
  if (!touched(l, i)) return false;
  return l.write == Write::All || (l.write == Write::Half && i % 2 == 0);
}

}  // namespace thp_layouts
