// Kernel reclaim of shmem (models/vmscan + mm): a page-cache page goes to swap from the cache
// (shmem_writeout(): the slot takes its place, the PTE goes -- with a marker where it was
// uffd-protected), comes back through the fault path (shmem_swapin_folio()) before any
// userfault, and a PUNCH_HOLE frees its slot. A large shmem folio is reclaimed whole, its PTEs
// unmapped by the kernel variant's folio_unmap_pte_batch() rule: 6.18 one PTE at a time, the
// series' later base in batches capped at one on a uffd-wp VMA, seed 002 (rmap hunk) on an
// RWP one too; without that cap a batch of RWP PTEs leaves one marker and drops the rest.
#include <catch2/catch.hpp>

#include "kernel_fixture.hpp"
#include "models/mm/pte.hpp"
#include "models/mm/rmap.hpp"
#include "models/thp/thp.hpp"
#include "models/vmscan/lru.hpp"

using namespace vmemsim;
using core::Gfn;
namespace pte = mm::pte;
using thp::kPmdPages;
using Pte = mm::Pte;

namespace {

using test::RecEnv;

// One node, one shmem VM of one PMD range (plus `extra` pages), shmem THP always, reclaim.
struct ShmemReclaim {
  mm::HostMemory host;
  std::unique_ptr<test::TestVm> vm;
  std::unique_ptr<thp::ThpVm> t;
  std::unique_ptr<vmscan::Reclaimer> lru;
  RecEnv env;
  ShmemReclaim(mm::Variant v, bool rmap_hunk = true, std::uint64_t frames = 4 * kPmdPages) : host({frames}) {
    host.setup_watermarks(128, 10);
    auto c = test::vm_config(kPmdPages, 1, mm::Backing::Shmem, v);
    c.patches.rmap_uffd_protected = rmap_hunk;
    vm = std::make_unique<test::TestVm>(c, host);
    thp::ThpConfig tc;
    tc.shmem_enabled = thp::ShmemEnabled::Always;
    t = std::make_unique<thp::ThpVm>(as(), tc, &vm->uffd());
    std::vector<mm::AddressSpace*> by_vm{&as()};
    vmscan::LruConfig lc;
    lc.swap_pages = 1 << 16;
    lru = std::make_unique<vmscan::ClassicLru>(host, by_vm, lc);
    host.set_observer(lru.get());
    lru->adopt_used_frames();
  }
  mm::AddressSpace& as() { return vm->as(); }
  Pte pte(std::uint64_t g) { return as().pte_at(Gfn(g)); }
  void touch(std::uint64_t g, bool write = false) {
    for (int i = 0; i < 4 && !pte::accessible(pte(g), write); ++i) REQUIRE(vm->fault(g, write).ok());
    REQUIRE(pte::accessible(pte(g), write));
  }
  // 4 KiB pages first (THP off while they fault in), then THP on: khugepaged's collapse_file()
  // makes them one huge page-cache folio; a registration that keeps the PTE table (uffd-wp, or
  // RWP with seed 002's khugepaged hunk) leaves it PTE-mapped once every page is read back.
  void pte_mapped_huge(uffd::Modes m) {
    for (unsigned i = 0; i < kPmdPages; ++i) touch(i, true);
    REQUIRE(vm->uffd().register_range(m, {}).error.empty());
    as().set_huge(t.get());
    vm->kernel().thp->enable(t.get());
    REQUIRE(t->scan_and_collapse(0, true).result == thp::ScanResult::Succeed);
    REQUIRE(t->counters().retract_refused_uffd == 1);
    for (unsigned i = 0; i < kPmdPages; ++i) touch(i);
    REQUIRE(t->huge_cached(0));
    REQUIRE(!pte::huge(pte(0)));
  }
  unsigned count(bool (*pred)(Pte)) {
    unsigned n = 0;
    for (unsigned i = 0; i < kPmdPages; ++i) n += pred(pte(i));
    return n;
  }
  void check() {
    host.check_invariants();
    as().check_invariants();
    t->check_invariants();
    lru->check_invariants();
  }
};

bool is_marker(Pte p) { return pte::marker(p); }
bool is_present(Pte p) { return pte::present(p); }
bool is_rwp(Pte p) { return pte::protnone(p) && pte::uffd(p); }

uffd::Modes rwp_mode() {
  uffd::Modes m;
  m.rwp = true;
  return m;
}
uffd::Modes wp_mode() {
  uffd::Modes m;
  m.wp = true;
  return m;
}

}  // namespace

TEST_CASE("folio_unmap_pte_batch() per kernel variant on a PTE-mapped large shmem folio", "[reclaim][shmem][rmap]") {
  SECTION("6.18 (upstream): file folios are not batched") {
    ShmemReclaim h(mm::Variant::Upstream);
    h.pte_mapped_huge(wp_mode());
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(0), 0, kPmdPages) == 1);
  }
  SECTION("the series' base: a uffd-wp VMA is capped at one PTE") {
    ShmemReclaim h(mm::Variant::RfcV1);
    h.pte_mapped_huge(wp_mode());
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(0), 0, kPmdPages) == 1);
  }
  SECTION("rwp with seed 002's rmap hunk: an RWP VMA is capped too") {
    ShmemReclaim h(mm::Variant::Rwp, true);
    h.pte_mapped_huge(rwp_mode());
    h.vm->uffd().rwprotect(Gfn(0), kPmdPages, true);
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(0), 0, kPmdPages) == 1);
  }
  SECTION("rwp without it: one batch over PTEs of the same bits, broken where the bits change") {
    ShmemReclaim h(mm::Variant::Rwp, false);
    h.pte_mapped_huge(rwp_mode());
    h.vm->uffd().rwprotect(Gfn(0), kPmdPages, true);
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(0), 0, kPmdPages) == kPmdPages);
    h.vm->uffd().rwprotect(Gfn(100), 1, false);  // one page accessed: its PTE differs
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(0), 0, kPmdPages) == 100);
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(100), 0, kPmdPages) == 1);
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(101), 0, kPmdPages) == kPmdPages - 101);
    CHECK(mm::folio_unmap_pte_batch(h.as(), Gfn(0), 0, 1) == 1);  // a small folio
  }
}

TEST_CASE("kernel reclaim swaps a large shmem folio out whole; RWP state per the batch rule", "[reclaim][shmem]") {
  SECTION("with seed 002's rmap hunk every protected PTE leaves a marker; the fault brings RWP back") {
    ShmemReclaim h(mm::Variant::Rwp, true);
    h.pte_mapped_huge(rwp_mode());
    h.vm->uffd().rwprotect(Gfn(0), kPmdPages, true);
    for (unsigned i = 0; i < kPmdPages; ++i) (void)h.as().page_table().test_and_clear_young(Gfn(i));
    const std::uint64_t got = h.lru->shrink_node(h.env, 0, 1, false);
    CHECK(got == kPmdPages);  // the whole folio
    CHECK(h.as().shmem_swapped() == kPmdPages);
    CHECK(h.count(is_marker) == kPmdPages);
    CHECK(h.lru->counters().rmap_unmap_steps == kPmdPages);
    CHECK(h.lru->vm_uffd_dropped(h.as().vm()) == 0);
    CHECK(h.env.written == kPmdPages * core::kPageSize);
    h.check();
    // A read: swap-in first (the fault reports the read), then the marker restores RWP.
    const auto o = h.vm->fault(7, false);
    CHECK(o.read_bytes == core::kPageSize);
    CHECK(h.as().shmem_swapped() == kPmdPages - 1);
    REQUIRE(h.vm->fault(7, false).ok());
    CHECK(is_rwp(h.pte(7)));
    h.check();
    // PUNCH_HOLE of a page on swap frees its slot.
    const std::uint64_t used = h.lru->swap_used();
    REQUIRE(h.vm->uffd().punch_hole({Gfn(9)}).error.empty());
    CHECK(h.lru->swap_used() == used - 1);
    CHECK(!h.as().in_file(Gfn(9)));
    h.check();
  }
  SECTION("without it one batch clears all 512 RWP PTEs, leaving a marker on the first only") {
    ShmemReclaim h(mm::Variant::Rwp, false);
    h.pte_mapped_huge(rwp_mode());
    h.vm->uffd().rwprotect(Gfn(0), kPmdPages, true);
    for (unsigned i = 0; i < kPmdPages; ++i) (void)h.as().page_table().test_and_clear_young(Gfn(i));
    CHECK(h.lru->shrink_node(h.env, 0, 1, false) == kPmdPages);
    CHECK(h.lru->counters().rmap_unmap_steps == 1);
    CHECK(h.count(is_marker) == 1);
    CHECK(h.lru->vm_uffd_dropped(h.as().vm()) == kPmdPages - 1);
    h.check();
    // Page 7 comes back by an ordinary shmem fault: not read-write-protected, its access unseen.
    REQUIRE(h.vm->fault(7, false).ok());
    REQUIRE(h.vm->fault(7, false).ok());
    CHECK(pte::accessible(h.pte(7), false));
    CHECK(!is_rwp(h.pte(7)));
    h.check();
  }
  SECTION("a small shmem page: unmapped and swapped from the page cache, back on a fault") {
    ShmemReclaim h(mm::Variant::Upstream);
    for (unsigned i = 0; i < 4; ++i) h.touch(i, true);
    for (unsigned i = 0; i < 4; ++i) (void)h.as().page_table().test_and_clear_young(Gfn(i));
    CHECK(h.lru->shrink_node(h.env, 0, 4, false) == 4);
    CHECK(h.as().shmem_swapped() == 4);
    CHECK(!pte::present(h.pte(2)));
    CHECK(h.as().in_file(Gfn(2)));
    h.check();
    h.touch(2, true);
    CHECK(h.as().shmem_swapped() == 3);
    CHECK(h.lru->counters().pswpin == 1);
    h.check();
  }
}
