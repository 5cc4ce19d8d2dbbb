// shmem THP (models/thp, kernel.thp.shmem_enabled): huge page-cache folios at fault time, the
// PMD mapping of a file folio (do_set_pmd) and its split (the PMD is cleared, the folio stays),
// khugepaged's file path (collapse_file, retract_page_tables, try_collapse_pte_mapped_thp) and
// the VMA-level uffd guard per variant: userfaultfd_wp() on 6.18, userfaultfd_protected() with
// seed 002's khugepaged hunk, and the counterfactual guard off. Frame accounting after each step.
#include <catch2/catch.hpp>

#include "kernel_fixture.hpp"
#include "models/thp/khugepaged.hpp"
#include "models/thp/thp.hpp"

using namespace vmemsim;
using core::Gfn;
namespace pte = mm::pte;
using thp::kPmdPages;
using thp::ScanResult;
using Pte = mm::Pte;

namespace {

struct ShmemFix {
  mm::HostMemory host;
  std::unique_ptr<test::TestVm> vm;
  std::unique_ptr<thp::ThpVm> t;
  ShmemFix(thp::ThpConfig cfg = {}, mm::Variant v = mm::Variant::Upstream, bool seed002 = true) : host({4 * kPmdPages}) {
    auto c = test::vm_config(kPmdPages, 1, mm::Backing::Shmem, v);
    c.patches.khugepaged_uffd_protected = seed002;
    vm = std::make_unique<test::TestVm>(c, host);
    t = std::make_unique<thp::ThpVm>(as(), cfg, &vm->uffd());
    enable();
  }
  void enable() {
    as().set_huge(t.get());
    vm->kernel().thp->enable(t.get());
  }
  void disable() {
    as().set_huge(nullptr);
    vm->kernel().thp->enable(nullptr);
  }
  mm::AddressSpace& as() { return vm->as(); }
  Pte pte(std::uint64_t g) { return as().pte_at(Gfn(g)); }
  void touch(std::uint64_t g, bool write = false) {
    for (int i = 0; i < 3 && !pte::accessible(pte(g), write); ++i) REQUIRE(vm->fault(g, write).ok());
    REQUIRE(pte::accessible(pte(g), write));
    as().slots()[g].pte |= pte::kAccessed | (write ? pte::kDirty : 0);
  }
  void populate_small() {
    disable();
    for (unsigned i = 0; i < kPmdPages; ++i) touch(i, true);
    enable();
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
  }
  uffd::Uffd& u() { return vm->uffd(); }
};

thp::ThpConfig shmem_on() {
  thp::ThpConfig c;
  c.shmem_enabled = thp::ShmemEnabled::Always;
  return c;
}

bool is_huge(Pte p) { return pte::huge(p); }
bool is_marker(Pte p) { return pte::marker(p); }
bool is_present(Pte p) { return pte::present(p); }
bool is_rwp(Pte p) { return pte::protnone(p) && pte::uffd(p); }

}  // namespace

TEST_CASE("shmem THP: a fault allocates a huge page-cache folio and maps it by one PMD", "[thp][shmem]") {
  ShmemFix f(shmem_on());
  f.touch(5);
  CHECK(f.count(is_huge) == kPmdPages);
  CHECK(f.t->huge_cached(0));
  CHECK(f.t->counters().file_alloc == 1);
  CHECK(f.t->counters().file_mapped == 1);
  f.check();
  SECTION("never: 4 KiB pages") {
    ShmemFix g;
    g.touch(5);
    CHECK(g.count(is_huge) == 0);
    CHECK(!g.t->huge_cached(0));
  }
  SECTION("a zap of one page clears the file PMD, the folio stays; the next fault maps the PMD again") {
    REQUIRE(f.u().dontneed({Gfn(7)}).error.empty());
    CHECK(f.count(is_present) == 0);
    CHECK(f.t->huge_cached(0));
    f.check();
    f.touch(300);
    CHECK(f.count(is_huge) == kPmdPages);
    CHECK(f.t->counters().file_mapped == 2);
    f.check();
  }
  SECTION("UFFDIO_WRITEPROTECT splits the file PMD (pgtable_split_needed) and leaves markers") {
    uffd::Modes m;
    m.wp = true;
    REQUIRE(f.u().register_range(m, {}).error.empty());
    f.u().writeprotect(Gfn(0), kPmdPages, true);
    CHECK(f.count(is_huge) == 0);
    CHECK(f.count(is_marker) == kPmdPages);
    f.touch(9);  // a marker: mapped by a PTE, write-protected
    CHECK(!pte::huge(f.pte(9)));
    CHECK(pte::uffd(f.pte(9)));
    f.check();
  }
  SECTION("PUNCH_HOLE of one subpage splits the folio in the cache") {
    REQUIRE(f.u().punch_hole({Gfn(7)}).error.empty());
    CHECK(!f.t->huge_cached(0));
    f.check();
  }
}

TEST_CASE("shmem THP: khugepaged's file path and the VMA-level uffd guard", "[thp][shmem]") {
  SECTION("never: MADV_COLLAPSE collapses 4 KiB pages and maps the PMD; khugepaged does not scan") {
    ShmemFix f;
    f.populate_small();
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::VmaCheck);
    const auto mc = f.t->madv_collapse(Gfn(0), kPmdPages);
    CHECK(mc.pmds.at(0).second == ScanResult::Succeed);
    CHECK(f.count(is_huge) == kPmdPages);
    CHECK(f.t->counters().file_collapse == 1);
    f.check();
  }
  SECTION("khugepaged: collapse_file, retract_page_tables, and the next fault maps the PMD") {
    ShmemFix f(shmem_on());
    f.populate_small();
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::Succeed);
    CHECK(f.count(is_present) == 0);  // unmapped, table retracted
    CHECK(f.t->counters().retract == 1);
    f.check();
    f.touch(17);
    CHECK(f.count(is_huge) == kPmdPages);
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::PmdMapped);
    f.check();
  }
  SECTION("an empty range is SCAN_TRUNCATED; holes in a MISSING-registered VMA refuse") {
    ShmemFix f(shmem_on());
    CHECK(f.t->madv_collapse(Gfn(0), kPmdPages).pmds.at(0).second == ScanResult::Truncated);
    f.disable();
    f.touch(3, true);
    f.enable();
    uffd::Modes m;
    m.missing = true;
    REQUIRE(f.u().register_range(m, {}).error.empty());
    CHECK(f.t->madv_collapse(Gfn(0), kPmdPages).pmds.at(0).second == ScanResult::ExceedNonePte);
    f.check();
  }
  SECTION("uffd-wp (6.18): the PTE table is kept with its markers; SCAN_PTE_UFFD_WP after") {
    ShmemFix f(shmem_on());
    f.populate_small();
    uffd::Modes m;
    m.wp = true;
    REQUIRE(f.u().register_range(m, {}).error.empty());
    f.u().writeprotect(Gfn(0), 8, true);
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::Succeed);  // collapse_file
    CHECK(f.t->counters().retract_refused_uffd == 1);
    CHECK(f.count(is_marker) == 8);
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::PteUffd);
    CHECK(std::string(f.t->result_name(ScanResult::PteUffd)) == "SCAN_PTE_UFFD_WP");
    f.touch(3);
    CHECK(pte::uffd(f.pte(3)));  // the marker brought the page back write-protected
    CHECK(f.t->uffd_state_destroyed() == 0);
    f.check();
    SECTION("guard off (counterfactual): retract drops the markers; the pages come back unprotected") {
      thp::ThpConfig cfg = shmem_on();
      cfg.uffd_guard = false;
      ShmemFix g(cfg);
      g.populate_small();
      REQUIRE(g.u().register_range(m, {}).error.empty());
      g.u().writeprotect(Gfn(0), 8, true);
      CHECK(g.t->scan_and_collapse(0, true).result == ScanResult::Succeed);
      CHECK(g.t->counters().uffd_marker_lost == 8);
      CHECK(g.t->untracked_pages() == 8);
      g.touch(3, true);  // the PMD: no write fault reaches the handler
      CHECK(g.count(is_huge) == kPmdPages);
      g.as().truth().note_access(g.as().slots()[3], 500, true, 0, 0);
      CHECK(g.t->untracked_pages_accessed() >= 1);
      g.check();
    }
  }
}

TEST_CASE("shmem THP on rwp: seed 002's khugepaged hunk keeps RWP state", "[thp][shmem][rwp]") {
  uffd::Modes m;
  m.rwp = true;
  // 4 KiB pages, all read-write-protected, then khugepaged passes.
  auto setup = [&](ShmemFix& f) {
    f.populate_small();
    REQUIRE(f.u().register_range(m, {}).error.empty());
    f.u().rwprotect(Gfn(0), kPmdPages, true);
    REQUIRE(f.count(is_rwp) == kPmdPages);
  };
  SECTION("with it (userfaultfd_protected): the table stays, the markers restore RWP, SCAN_PTE_UFFD") {
    ShmemFix f(shmem_on(), mm::Variant::Rwp, true);
    setup(f);
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::Succeed);  // collapse_file
    CHECK(f.count(is_marker) == kPmdPages);
    CHECK(f.t->counters().retract_refused_uffd == 1);
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::PteUffd);
    CHECK(std::string(f.t->result_name(ScanResult::PteUffd)) == "SCAN_PTE_UFFD");
    // A read of a marker maps the page read-write-protected: the access faults as RWP.
    REQUIRE(f.vm->fault(40, false).ok());
    CHECK(is_rwp(f.pte(40)));
    CHECK(f.t->uffd_state_destroyed() == 0);
    f.check();
  }
  SECTION("without it (userfaultfd_wp only): retract drops the RWP markers, the PMD maps untracked") {
    ShmemFix f(shmem_on(), mm::Variant::Rwp, false);
    setup(f);
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::Succeed);
    CHECK(f.t->counters().retract == 1);
    CHECK(f.t->counters().uffd_marker_lost == kPmdPages);
    CHECK(f.t->untracked_pages() == kPmdPages);
    f.touch(40);
    CHECK(f.count(is_huge) == kPmdPages);
    CHECK(f.count(is_rwp) == 0);
    f.as().truth().note_access(f.as().slots()[40], 500, false, 0, 0);
    CHECK(f.t->untracked_pages_accessed() == 1);
    f.check();
  }
}

TEST_CASE("shmem THP: khugepaged_enter_vma judges the memfd VMA on its flags before MADV_HUGEPAGE",
          "[thp][shmem][khugepaged]") {
  // shmem_allowable_huge_orders() reads vma->vm_flags: the VMM's mmap and its one MADV_HUGEPAGE
  // both see a VMA without VM_HUGEPAGE, so under advise the mm never reaches khugepaged's list
  // (tests/kernel/FINDINGS.md "shmem collapse": full_scans does not move on the live kernel).
  thp::ThpConfig cfg;
  cfg.shmem_enabled = thp::ShmemEnabled::Advise;
  cfg.hugepage_advised = true;
  ShmemFix f(cfg);
  f.populate_small();
  CHECK(f.t->vma_allowed());  // faults would allocate huge folios: the VMA has VM_HUGEPAGE now
  CHECK(!f.t->khugepaged_entered());
  thp::Khugepaged k("khugepaged.h0", 0, 0, {f.t.get()}, cfg);
  k.do_scan(4096);
  CHECK(k.pages_scanned() == 0);
  CHECK(k.full_scans() == 0);
  CHECK(f.t->counters().file_collapse == 0);
  CHECK(!f.t->summary()["khugepaged_entered"].get<bool>());
  SECTION("a second MADV_HUGEPAGE enters it; khugepaged collapses, the next fault maps the PMD") {
    f.t->enter_khugepaged();
    CHECK(f.t->khugepaged_entered());
    k.do_scan(kPmdPages);  // one range: the one PMD of this VM
    CHECK(k.pages_scanned() == kPmdPages);
    CHECK(k.pages_collapsed() == kPmdPages);
    CHECK(f.t->counters().file_collapse == 1);
    CHECK(f.count(is_huge) == 0);  // khugepaged leaves the PMD to the next fault
    f.touch(0);
    CHECK(f.count(is_huge) == kPmdPages);
    f.check();
  }
  SECTION("without VM_HUGEPAGE a repeated call does not enter it either") {
    thp::ThpConfig c2 = cfg;
    c2.hugepage_advised = false;
    ShmemFix g(c2);
    g.t->enter_khugepaged();
    CHECK(!g.t->khugepaged_entered());
  }
  SECTION("always, within_size and force: entered at mmap; never and deny: not") {
    for (auto e : {thp::ShmemEnabled::Always, thp::ShmemEnabled::WithinSize, thp::ShmemEnabled::Force}) {
      thp::ThpConfig c2;
      c2.shmem_enabled = e;
      c2.hugepage_advised = false;
      CHECK(ShmemFix(c2).t->khugepaged_entered());
    }
    for (auto e : {thp::ShmemEnabled::Never, thp::ShmemEnabled::Deny}) {
      thp::ThpConfig c2;
      c2.shmem_enabled = e;
      ShmemFix g(c2);
      g.t->enter_khugepaged();
      CHECK(!g.t->khugepaged_entered());
    }
  }
}
