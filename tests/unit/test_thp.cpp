// THP (models/thp): PMD-mapped faults and their fallbacks, PMD and folio splits where the kernel
// makes each, per-subpage state after a split, khugepaged's collapse and each refusal, the uffd
// guard per variant and its counterfactual, and frame accounting after every pass and split.
#include <catch2/catch.hpp>

#include "kernel_fixture.hpp"
#include "models/thp/khugepaged.hpp"
#include "models/thp/thp.hpp"

using namespace vmemsim;
using core::Gfn;
using test::node;
namespace pte = mm::pte;
using thp::kPmdPages;
using thp::ScanResult;
using Pte = mm::Pte;

namespace {

// One VM of `pmds` PMD ranges on a host of `frames` frames, THP per `cfg` (installed the way the
// kernel.thp section does).
struct ThpFix {
  mm::HostMemory host;
  std::unique_ptr<test::TestVm> vm;
  std::unique_ptr<thp::ThpVm> t;
  ThpFix(std::uint64_t pmds, std::uint64_t frames, thp::ThpConfig cfg = {}, mm::Variant v = mm::Variant::Upstream,
         bool zero_page = false)
      : host({frames}) {
    cfg.enabled = thp::Enabled::Always;
    auto c = test::vm_config(pmds * kPmdPages, 1, mm::Backing::Anon, v);
    c.use_zero_page = zero_page;
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
  void touch(std::uint64_t g, bool write = true) {
    if (!pte::accessible(pte(g), write)) REQUIRE(vm->fault(g, write).ok());
    REQUIRE(pte::accessible(pte(g), write));
    as().slots()[g].pte |= pte::kAccessed | (write ? pte::kDirty : 0);  // the MMU
  }
  // 4 KiB pages over a whole PMD range (THP off while they fault in).
  void populate_small(std::uint64_t pmd, unsigned skip_every = 0) {
    disable();
    for (unsigned i = 0; i < kPmdPages; ++i)
      if (skip_every == 0 || i % skip_every != 0) touch(pmd * kPmdPages + i);
    enable();
  }
  bool huge_all(std::uint64_t pmd) {
    for (unsigned i = 0; i < kPmdPages; ++i)
      if (!pte::huge(pte(pmd * kPmdPages + i))) return false;
    return true;
  }
  void check() {
    host.check_invariants();
    as().check_invariants();
    t->check_invariants();
  }
  uffd::Uffd& u() { return vm->uffd(); }
};

uffd::Modes wp_mode() {
  uffd::Modes m;
  m.wp = true;
  return m;
}
uffd::Features wp_async() {
  uffd::Features f;
  f.wp_async = true;
  return f;
}

}  // namespace

SCENARIO("a fault on a none PMD maps a 2 MiB folio; no free block or a uffd-armed VMA falls back", "[thp]") {
  GIVEN("a host with one free 2 MiB block") {
    ThpFix f(2, 1000);  // frames 0..511 are the only aligned block
    WHEN("the guest writes a page of the first PMD range") {
      REQUIRE(f.vm->fault(7, true).ok());
      THEN("all 512 PTEs map the folio as one PMD") {
        CHECK(f.huge_all(0));
        CHECK(f.t->mapped_pmds() == 1);
        CHECK(f.t->counters().fault_alloc == 1);
        CHECK(f.host.used(0) == 512);
        CHECK(f.u().categories(Gfn(3)) & uffd::cat::kHuge);
        f.check();
      }
      AND_WHEN("the second range faults with no block left") {
        REQUIRE(f.vm->fault(kPmdPages + 1, true).ok());
        THEN("it falls back to one 4 KiB page") {
          CHECK(!pte::huge(f.pte(kPmdPages + 1)));
          // PAGEMAP_SCAN with category_mask PAGE_IS_HUGE finds the PMD-mapped range only
          // (pagemap_thp_category), and its inversion the 4 KiB page and nothing unmapped.
          uffd::ScanArgs a;
          a.start = 0;
          a.len = 2 * kPmdPages;
          a.category_mask = uffd::cat::kHuge;
          a.return_mask = uffd::cat::kHuge;
          auto r = f.u().pagemap_scan(a);
          REQUIRE(r.regions.size() == 1);
          CHECK(r.regions[0].start == 0);
          CHECK(r.regions[0].len == kPmdPages);
          a.category_mask = uffd::cat::kHuge | uffd::cat::kPresent;
          a.category_inverted = uffd::cat::kHuge;
          r = f.u().pagemap_scan(a);
          REQUIRE(r.regions.size() == 1);
          CHECK(r.regions[0].start == kPmdPages + 1);
          CHECK(r.regions[0].len == 1);
          CHECK(pte::none(f.pte(kPmdPages + 2)));
          CHECK(f.t->counters().fault_fallback == 1);
          CHECK(f.host.used(0) == 513);
          f.check();
        }
      }
    }
  }
  GIVEN("defrag=always and 512 frames freed one by one") {
    thp::ThpConfig cfg;
    cfg.defrag = thp::Defrag::Always;
    ThpFix f(2, 1100, cfg);
    f.disable();
    for (unsigned i = 0; i < 2 * kPmdPages; ++i) f.touch(i, true);
    for (unsigned i = 0; i < kPmdPages; ++i) f.as().zap(Gfn(i));
    f.enable();
    REQUIRE(f.host.free_blocks(0) == 0);
    WHEN("a PMD faults") {
      const auto o = f.vm->fault(0, true);
      THEN("direct compaction gathers a block, at its cost") {
        CHECK(f.huge_all(0));
        CHECK(f.t->counters().fault_compact == 1);
        CHECK(o.cost_ns >= cfg.compact_ns);
        f.check();
      }
    }
  }
  GIVEN("a uffd-registered VMA") {
    ThpFix f(1, 4096);
    REQUIRE(f.u().register_range(wp_mode(), {}).error.empty());
    REQUIRE(f.vm->fault(0, true).ok());
    THEN("alloc_anon_folio's rule: order 0") {
      CHECK(!pte::huge(f.pte(0)));
      CHECK(f.t->counters().fault_fallback_uffd == 1);
    }
  }
  GIVEN("THP enabled=madvise on a VM without MADV_HUGEPAGE") {
    ThpFix f(1, 4096);
    thp::ThpConfig k;
    k.enabled = thp::Enabled::Madvise;
    k.hugepage_advised = false;
    f.t = std::make_unique<thp::ThpVm>(f.as(), k, &f.vm->uffd());
    f.enable();
    CHECK(!f.t->vma_allowed());
    REQUIRE(f.vm->fault(0, true).ok());
    CHECK(!pte::huge(f.pte(0)));
    k.hugepage_advised = true;
    CHECK(thp::ThpVm(f.as(), k, nullptr).vma_allowed());
  }
}

SCENARIO("partial operations split the PMD; MADV_DONTNEED defers the folio split", "[thp]") {
  GIVEN("a PMD-mapped folio") {
    ThpFix f(1, 4096);
    REQUIRE(f.vm->fault(0, true).ok());
    f.touch(5, true);
    const auto used = f.host.used(0);
    WHEN("MADV_DONTNEED drops 16 of its pages") {
      std::vector<Gfn> g;
      for (unsigned i = 100; i < 116; ++i) g.push_back(Gfn(i));
      f.u().dontneed(g);
      THEN("the PMD is split, the folio is on the deferred queue, no frame is freed yet") {
        CHECK(!f.huge_all(0));
        CHECK(f.t->counters().split_pmd == 1);
        CHECK(f.t->counters().split_page == 0);
        CHECK(f.t->deferred() == 1);
        CHECK(pte::none(f.pte(100)));
        CHECK(f.host.used(0) == used);
        // per-subpage state: every remaining subpage has the PMD's young and dirty bits
        CHECK(pte::young(f.pte(300)));
        CHECK(pte::dirty(f.pte(300)));
        f.check();
      }
      AND_WHEN("the deferred split runs") {
        CHECK(f.t->deferred_split_scan() == 16);
        THEN("the 16 unmapped frames are freed and the folio is split") {
          CHECK(f.host.used(0) == used - 16);
          CHECK(f.t->counters().split_page == 1);
          CHECK(f.t->deferred() == 0);
          f.check();
        }
      }
      AND_WHEN("the page refaults") {
        REQUIRE(f.vm->fault(100, true).ok());
        THEN("it is a 4 KiB page (the PTE table stays)") {
          CHECK(!pte::huge(f.pte(100)));
          f.check();
        }
      }
    }
    WHEN("MADV_DONTNEED covers the whole PMD") {
      std::vector<Gfn> g;
      for (unsigned i = 0; i < kPmdPages; ++i) g.push_back(Gfn(i));
      const auto blocks = f.host.free_blocks(0);
      f.u().dontneed(g);
      THEN("zap_huge_pmd frees the folio whole, its block back to the node; the next fault is huge again") {
        CHECK(f.t->counters().zap_huge_pmd == 1);
        CHECK(f.t->counters().split_pmd == 0);
        CHECK(f.host.used(0) == 0);
        CHECK(f.host.free_blocks(0) == blocks + 1);
        f.check();
        REQUIRE(f.vm->fault(9, true).ok());
        CHECK(f.huge_all(0));
      }
    }
  }
}

SCENARIO("uffd-wp on a huge PMD: whole keeps it, part splits it, WP_ASYNC writes split it", "[thp][uffd]") {
  GIVEN("a PMD-mapped folio in a WP_ASYNC VMA registered after the fault") {
    ThpFix f(1, 4096);
    REQUIRE(f.vm->fault(0, true).ok());
    REQUIRE(f.u().register_range(wp_mode(), wp_async()).error.empty());
    WHEN("UFFDIO_WRITEPROTECT covers the whole PMD") {
      f.u().writeprotect(Gfn(0), kPmdPages, true);
      THEN("the PMD stays huge and carries the uffd-wp bit") {
        CHECK(f.huge_all(0));
        CHECK(pte::uffd(f.pte(0)));
        CHECK(pte::uffd(f.pte(511)));
        CHECK(f.t->counters().split_pmd == 0);
        f.check();
      }
      AND_WHEN("the guest writes one page (WP_ASYNC)") {
        REQUIRE(f.vm->fault(42, true).ok());
        THEN("the PMD is split and only that subpage loses its protection") {
          CHECK(!f.huge_all(0));
          CHECK(f.t->counters().split_pmd == 1);
          CHECK(f.t->counters().split_page == 0);
          CHECK(!pte::uffd(f.pte(42)));
          CHECK(pte::uffd(f.pte(41)));
          CHECK(pte::uffd(f.pte(43)));
          CHECK((f.u().categories(Gfn(42)) & uffd::cat::kWritten));
          CHECK(!(f.u().categories(Gfn(41)) & uffd::cat::kWritten));
          f.check();
        }
      }
    }
    WHEN("UFFDIO_WRITEPROTECT covers 10 pages of it") {
      f.u().writeprotect(Gfn(10), 10, true);
      THEN("the PMD is split (not the folio) and 10 subpages are protected") {
        CHECK(f.t->counters().split_pmd == 1);
        CHECK(f.t->counters().split_page == 0);
        CHECK(f.t->pte_mapped_large(0));
        CHECK(pte::uffd(f.pte(10)));
        CHECK(pte::uffd(f.pte(19)));
        CHECK(!pte::uffd(f.pte(20)));
        CHECK(!(f.u().categories(Gfn(0)) & uffd::cat::kHuge));
        f.check();
      }
    }
    WHEN("PAGEMAP_SCAN with WP_MATCHING walks part of it") {
      uffd::ScanArgs a;
      a.start = 0;
      a.len = 100;
      a.flags = uffd::kScanWpMatching;
      a.category_mask = uffd::cat::kWritten;
      a.return_mask = uffd::cat::kWritten;
      f.u().pagemap_scan(a);
      THEN("the PMD is split and the walked pages protected") {
        CHECK(f.t->counters().split_pmd == 1);
        CHECK(pte::uffd(f.pte(99)));
        CHECK(!pte::uffd(f.pte(100)));
        f.check();
      }
    }
  }
}

SCENARIO("swap-out and migration split the folio", "[thp]") {
  ThpFix f(1, 4096);
  REQUIRE(f.vm->fault(0, true).ok());
  f.as().swap_out(Gfn(3), 77);
  CHECK(f.t->counters().split_pmd == 1);
  CHECK(f.t->counters().split_page == 1);
  CHECK(pte::swap(f.pte(3)));
  CHECK(f.host.used(0) == 511);
  f.check();
}

namespace {
// A PMD range of 4 KiB pages, each written and young, then khugepaged's scan of it.
struct CollapseFix : ThpFix {
  explicit CollapseFix(thp::ThpConfig cfg = {}, mm::Variant v = mm::Variant::Upstream) : ThpFix(2, 8192, cfg, v) {
    populate_small(0);
  }
  thp::CollapseInfo scan(bool khugepaged = true) {
    auto ci = t->scan_and_collapse(0, khugepaged);
    check();  // frame accounting after every pass
    return ci;
  }
};
}  // namespace

TEST_CASE("khugepaged collapses an eligible range of small pages", "[thp][khugepaged]") {
  CollapseFix f;
  REQUIRE(!f.huge_all(0));
  const auto used = f.host.used(0);
  f.as().truth();  // data versions are per page: a collapse copies them
  const auto ci = f.scan();
  CHECK(ci.result == ScanResult::Succeed);
  CHECK(f.huge_all(0));
  CHECK(pte::writable(f.pte(0)));
  CHECK(f.host.used(0) == used);  // 512 new frames, 512 old ones freed
  CHECK(f.t->counters().collapse_alloc == 1);
  CHECK(f.as().tlb_flushes() >= 1);
  CHECK(ci.cost_ns >= static_cast<core::TimeNs>(kPmdPages) * f.t->config().copy_page_ns);
  // a second scan finds it PMD-mapped
  CHECK(f.scan().result == ScanResult::PmdMapped);
}

TEST_CASE("khugepaged refuses, by scan_result", "[thp][khugepaged]") {
  SECTION("SCAN_EXCEED_NONE_PTE: more holes than max_ptes_none") {
    thp::ThpConfig cfg;
    cfg.max_ptes_none = 10;
    CollapseFix f(cfg);
    for (unsigned i = 0; i < 11; ++i) f.as().zap(Gfn(i * 7));
    CHECK(f.scan().result == ScanResult::ExceedNonePte);
    CHECK(f.t->refusals(ScanResult::ExceedNonePte) == 1);
    CHECK(std::string(f.t->result_name(ScanResult::ExceedNonePte)) == "SCAN_EXCEED_NONE_PTE");
  }
  SECTION("SCAN_EXCEED_NONE_PTE: a single hole in a uffd-armed VMA, whatever max_ptes_none") {
    CollapseFix f;
    f.as().zap(Gfn(5));
    REQUIRE(f.u().register_range(wp_mode(), {}).error.empty());
    CHECK(f.scan().result == ScanResult::ExceedNonePte);
    CHECK(f.scan(false).result == ScanResult::ExceedNonePte);  // MADV_COLLAPSE too
  }
  SECTION("SCAN_EXCEED_SWAP_PTE") {
    thp::ThpConfig cfg;
    cfg.max_ptes_swap = 2;
    CollapseFix f(cfg);
    for (unsigned i = 0; i < 3; ++i) f.as().swap_out(Gfn(i), i);
    CHECK(f.scan().result == ScanResult::ExceedSwapPte);
  }
  SECTION("swap entries within max_ptes_swap are read back") {
    CollapseFix f;
    for (unsigned i = 0; i < 3; ++i) f.as().swap_out(Gfn(i), i);
    const auto ci = f.scan();
    CHECK(ci.result == ScanResult::Succeed);
    CHECK(ci.swapped == 3);
  }
  SECTION("SCAN_EXCEED_SHARED_PTE") {
    thp::ThpConfig cfg;
    cfg.max_ptes_shared = 0;
    CollapseFix f(cfg);
    f.as().ksm_write_protect(Gfn(1));
    f.as().ksm_replace(Gfn(2), core::Pfn(pte::pfn(f.pte(1))), false);
    CHECK(f.scan().result == ScanResult::ExceedSharedPte);
  }
  SECTION("SCAN_PAGE_RO: no writable PTE") {
    CollapseFix f;
    for (unsigned i = 0; i < kPmdPages; ++i) f.as().page_table().wrprotect_clean(Gfn(i));
    CHECK(f.scan().result == ScanResult::PageRo);
  }
  SECTION("SCAN_LACK_REFERENCED_PAGE: no young PTE (khugepaged only)") {
    CollapseFix f;
    for (unsigned i = 0; i < kPmdPages; ++i) f.as().page_table().test_and_clear_young(Gfn(i));
    CHECK(f.scan().result == ScanResult::LackReferencedPage);
    CHECK(f.scan(false).result == ScanResult::Succeed);  // MADV_COLLAPSE does not ask
  }
  SECTION("SCAN_PMD_NULL: never touched") {
    ThpFix f(2, 8192);
    CHECK(f.t->scan_and_collapse(1, true).result == ScanResult::PmdNull);
  }
  SECTION("SCAN_ALLOC_HUGE_PAGE_FAIL: no block and nothing to compact") {
    ThpFix f(1, 600);
    f.populate_small(0);
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::AllocHugePageFail);
    CHECK(f.t->counters().collapse_alloc_failed == 1);
    f.check();
  }
}

TEST_CASE("the uffd guard: refusal per variant, and what the counterfactual destroys", "[thp][khugepaged][uffd]") {
  SECTION("6.18: a uffd-wp PTE refuses with SCAN_PTE_UFFD_WP") {
    CollapseFix f;
    REQUIRE(f.u().register_range(wp_mode(), wp_async()).error.empty());
    f.u().writeprotect(Gfn(0), 4, true);
    CHECK(f.scan().result == ScanResult::PteUffd);
    CHECK(std::string(f.t->result_name(ScanResult::PteUffd)) == "SCAN_PTE_UFFD_WP");
    CHECK(pte::uffd(f.pte(0)));
  }
  SECTION("6.18: a uffd-wp marker on a never-touched page refuses (a swap-format PTE)") {
    ThpFix f(2, 8192);
    f.populate_small(0, 64);  // pages 0, 64, ... never touched
    REQUIRE(f.u().register_range(wp_mode(), wp_async()).error.empty());
    f.u().writeprotect(Gfn(0), 1, true);  // a marker at page 0
    REQUIRE(pte::marker(f.pte(0)));
    CHECK(f.t->scan_and_collapse(0, true).result == ScanResult::PteUffd);
  }
  SECTION("counterfactual, guard off: the collapse drops the protections") {
    thp::ThpConfig cfg;
    cfg.uffd_guard = false;
    CollapseFix f(cfg);
    REQUIRE(f.u().register_range(wp_mode(), wp_async()).error.empty());
    // half protected: a wholly protected range has no writable PTE (SCAN_PAGE_RO)
    f.u().writeprotect(Gfn(0), kPmdPages / 2, true);
    REQUIRE(!(f.u().categories(Gfn(7)) & uffd::cat::kWritten));
    CHECK(f.scan().result == ScanResult::Succeed);
    CHECK(f.huge_all(0));
    CHECK(f.t->counters().uffd_wp_lost == kPmdPages / 2);
    CHECK(f.t->uffd_state_destroyed() == kPmdPages / 2);
    // the VMM now reads every page as written though none was
    CHECK((f.u().categories(Gfn(7)) & uffd::cat::kWritten));
    // ground truth: a page accessed after the collapse, before the VMM re-protects it, is an
    // access no uffd fault reported
    CHECK(f.t->untracked_pages() == kPmdPages / 2);
    CHECK(f.t->untracked_pages_accessed() == 0);
    f.as().truth().note_access(f.as().slots()[3], 500, true, 0, 0);
    f.as().truth().note_access(f.as().slots()[400], 500, true, 0, 0);  // was not protected
    CHECK(f.t->untracked_pages_accessed() == 1);
    f.u().writeprotect(Gfn(0), kPmdPages, true);  // the VMM's next round: tracking back
    CHECK(f.t->untracked_pages() == 0);
    CHECK(f.t->untracked_pages_accessed() == 1);
  }
  SECTION("rwp: an RWP PTE carries the uffd bit and refuses with SCAN_PTE_UFFD") {
    CollapseFix f({}, mm::Variant::Rwp);
    uffd::Modes m;
    m.rwp = true;
    REQUIRE(f.u().register_range(m, {}).error.empty());
    f.u().rwprotect(Gfn(0), kPmdPages, true);
    CHECK(f.scan().result == ScanResult::PteUffd);
    CHECK(std::string(f.t->result_name(ScanResult::PteUffd)) == "SCAN_PTE_UFFD");
  }
  SECTION("rwp, guard off: RWP state destroyed") {
    thp::ThpConfig cfg;
    cfg.uffd_guard = false;
    CollapseFix f(cfg, mm::Variant::Rwp);
    uffd::Modes m;
    m.rwp = true;
    REQUIRE(f.u().register_range(m, {}).error.empty());
    f.u().rwprotect(Gfn(0), kPmdPages, true);
    CHECK(f.scan().result == ScanResult::Succeed);
    CHECK(f.t->counters().uffd_rwp_lost == kPmdPages);
    CHECK(!pte::protnone(f.pte(3)));
  }
  SECTION("rfc-v1: DEACTIVATE's plain PROT_NONE has no uffd bit, the guard does not see it") {
    CollapseFix f({}, mm::Variant::RfcV1);
    uffd::Modes m;
    m.minor = true;
    uffd::Features ft;
    ft.minor_anon = true;
    REQUIRE(f.u().register_range(m, ft).error.empty());
    f.u().deactivate(Gfn(0), kPmdPages);
    CHECK(f.scan().result == ScanResult::Succeed);
    CHECK(f.t->counters().protnone_lost == kPmdPages);
    CHECK(!(f.u().categories(Gfn(3)) & uffd::cat::kUffdDeactivated));
  }
}

TEST_CASE("khugepaged's pass: pages_to_scan in 512s, invariants after every pass", "[thp][khugepaged]") {
  ThpFix f(16, 1 << 15);
  for (std::uint64_t pmd = 0; pmd < 16; ++pmd) f.populate_small(pmd);
  thp::ThpConfig cfg;
  cfg.enabled = thp::Enabled::Always;
  thp::Khugepaged k("khugepaged.h0", 0, 0, {f.t.get()}, cfg);
  const auto p1 = k.do_scan(4096);
  f.check();
  CHECK(k.pages_scanned() == 4096);
  CHECK(k.pages_collapsed() == 4096);
  CHECK(f.t->mapped_pmds() == 8);
  CHECK(p1.flushes.size() == 8);
  k.do_scan(4096);
  f.check();
  CHECK(f.t->mapped_pmds() == 16);
  k.do_scan(4096);
  CHECK(k.full_scans() >= 1);
  CHECK(f.t->refusals(ScanResult::PmdMapped) >= 1);
  f.check();
}

TEST_CASE("MADV_COLLAPSE collapses synchronously, ignoring max_ptes_none", "[thp][khugepaged]") {
  thp::ThpConfig cfg;
  cfg.max_ptes_none = 0;
  ThpFix f(2, 8192, cfg);
  f.populate_small(0, 2);  // every other page a hole
  const auto m = f.t->madv_collapse(Gfn(0), 2 * kPmdPages);
  REQUIRE(m.pmds.size() == 2);
  CHECK(m.pmds[0].second == ScanResult::Succeed);
  CHECK(m.pmds[1].second == ScanResult::PmdNull);
  CHECK(f.huge_all(0));
  f.check();
}

TEST_CASE("KSM and the NUMA scanner split a huge PMD where the kernel does", "[thp][ksm]") {
  SECTION("a KSM merge of a subpage splits the PMD and the folio first") {
    ThpFix f(1, 4096);
    REQUIRE(f.vm->fault(0, true).ok());
    f.as().ksm_write_protect(Gfn(9));
    CHECK(f.t->counters().split_pmd == 1);
    CHECK(f.t->counters().split_page == 1);
    CHECK(f.host.is_ksm(core::Pfn(pte::pfn(f.pte(9)))));
    CHECK(!pte::huge(f.pte(10)));
    f.check();
  }
  SECTION("a protection change over the whole PMD keeps it; over part of it splits it") {
    ThpFix f(2, 8192, {}, mm::Variant::Rwp);
    REQUIRE(f.vm->fault(0, true).ok());
    REQUIRE(f.vm->fault(kPmdPages, true).ok());
    uffd::Modes m;
    m.rwp = true;
    REQUIRE(f.u().register_range(m, {}).error.empty());
    f.u().rwprotect(Gfn(0), kPmdPages, true);       // whole first PMD
    f.u().rwprotect(Gfn(kPmdPages), 100, true);     // part of the second
    CHECK(f.huge_all(0));
    CHECK(pte::protnone(f.pte(300)));
    CHECK(!f.huge_all(1));
    CHECK(f.t->counters().split_pmd == 1);
    f.check();
    // an RWP fault on the huge PMD (sync: blocks; the handler resolves one page, a partial range)
    const auto o = f.vm->fault(7, false);
    CHECK(o.result == mm::FaultResult::Blocked);
    f.u().rwprotect(Gfn(7), 1, false);
    CHECK(f.t->counters().split_pmd == 2);
    CHECK(!pte::protnone(f.pte(7)));
    CHECK(pte::protnone(f.pte(8)));
    f.check();
  }
  SECTION("an async RWP fault restores the whole huge PMD (one entry)") {
    ThpFix f(1, 4096, {}, mm::Variant::Rwp);
    REQUIRE(f.vm->fault(0, true).ok());
    uffd::Modes m;
    m.rwp = true;
    uffd::Features ft;
    ft.rwp_async = true;
    REQUIRE(f.u().register_range(m, ft).error.empty());
    f.u().rwprotect(Gfn(0), kPmdPages, true);
    REQUIRE(f.vm->fault(3, false).ok());
    CHECK(f.huge_all(0));
    CHECK(!pte::protnone(f.pte(3)));
    CHECK(!pte::protnone(f.pte(400)));  // the PMD's other slots: the same entry
    f.check();
  }
}
