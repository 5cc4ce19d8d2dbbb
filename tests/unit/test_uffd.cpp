// models/uffd + the fault dispatch in models/mm: every PTE transition of KERNEL-MODEL.md §3
// items 1, 2, 5-10, table-driven where the shape allows, and the RFC selftests' scenarios
// (async and sync modes, PAGEMAP_SCAN cold detection, GUP through PROT_NONE, SET_MODE with
// faults pending, cleanup on close) at model level.
#include <catch2/catch.hpp>

#include <functional>

#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/uffd/uffd.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;
using test::TestVm;
using uffd::Uffd;

namespace {

struct Fix {
  HostMemory host{std::vector<std::uint64_t>{64}};
  TestVm vm;
  AddressSpace& as;
  Uffd& u;
  Fix(Variant v, Backing b, std::uint64_t pages = 8) : vm(cfg(v, b, pages), host, 2), as(vm.as()), u(vm.uffd()) {}
  static AddressSpaceConfig cfg(Variant v, Backing b, std::uint64_t pages) {
    AddressSpaceConfig c;
    c.pages = pages;
    c.backing = b;
    c.variant = v;
    c.fallback = {{0}};
    c.epoch_ns = 1000;
    c.duration_ns = 100000;
    return c;
  }
  // Makes gfn resident and writable the ordinary way, as a write fault before registration.
  void populate(std::uint64_t g) {
    const UffdVma saved = as.uffd_vma();
    as.uffd_vma() = UffdVma{};
    REQUIRE(vm.fault(g, true).ok());
    as.uffd_vma() = saved;
  }
  // The NUMA scanner's change_prot_numa() on a present PTE.
  void numa_protnone(std::uint64_t g) { as.page_table().protnone(Gfn(g), false, PnOrigin::Numa); }
  FaultOutcome fault(std::uint64_t g, bool write, core::TimeNs now = 0) { return vm.fault(g, write, 0, now); }
  std::string kind(const FaultOutcome& o) const { return vm.kind_name(o.kind); }
  Pte pte(std::uint64_t g) const { return vm.pte(g); }
  const TruthStats& truth() const { return as.truth().stats(); }
};

uffd::Modes modes(bool missing, bool wp, bool minor, bool rwp) { return {missing, wp, minor, rwp}; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// §3.2 + §3.6: where a fault goes, by kernel variant, PTE state and registration.

struct DispatchRow {
  const char* what;
  Variant variant;
  Backing backing;
  uffd::Modes modes;
  uffd::Features features;
  std::function<void(Fix&)> setup;  // brings gfn 0 into the state under test
  bool write;
  const char* kind;  // the fault kind's registered name
  FaultResult result;
  UffdReason reason;
  std::function<bool(Pte)> after;  // the PTE afterwards
  std::uint64_t spurious;
};

TEST_CASE("fault dispatch by variant, PTE state and registration", "[uffd][mm]") {
  auto deact = [](Fix& f) { f.populate(0); REQUIRE(f.u.deactivate(Gfn(0), 1).error.empty()); };
  auto numa_pn = [](Fix& f) { f.populate(0); f.numa_protnone(0); };
  auto rwp_pn = [](Fix& f) { f.populate(0); REQUIRE(f.u.rwprotect(Gfn(0), 1, true).error.empty()); };
  auto wp = [](Fix& f) { f.populate(0); REQUIRE(f.u.writeprotect(Gfn(0), 1, true).error.empty()); };
  auto none = [](Fix&) {};
  auto cached = [](Fix& f) { f.populate(0); f.as.zap(Gfn(0)); };  // shmem: folio stays in the cache
  auto present_rw = [](Pte p) { return pte::accessible(p, true); };
  auto present_ro = [](Pte p) { return pte::accessible(p, false) && !pte::writable(p); };
  auto unchanged_pn = [](Pte p) { return pte::protnone(p); };
  const uffd::Features async_minor{false, true, true, false};
  const uffd::Features sync_minor{false, true, false, false};
  const uffd::Features async_rwp{false, false, false, true};
  const uffd::Features none_f{};

  const std::vector<DispatchRow> table = {
      {"upstream: PROT_NONE is always a NUMA hint", Variant::Upstream, Backing::Anon, modes(false, false, false, false),
       none_f, numa_pn, false, "numa_hint", FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"rfc-v1 async: restored in place without mkwrite", Variant::RfcV1, Backing::Anon, modes(false, false, true, false),
       async_minor, deact, false, "uffd_minor_async", FaultResult::Done, UffdReason::Minor, present_ro, 0},
      {"rfc-v1 sync: the vCPU blocks on a minor message", Variant::RfcV1, Backing::Anon, modes(false, false, true, false),
       sync_minor, deact, true, "uffd_minor_sync", FaultResult::Blocked, UffdReason::Minor, unchanged_pn, 0},
      {"rfc-v1: a NUMA PROT_NONE in a MINOR VMA goes to uffd (spurious)", Variant::RfcV1, Backing::Anon,
       modes(false, false, true, false), async_minor, numa_pn, false, "uffd_minor_async", FaultResult::Done,
       UffdReason::Minor, present_ro, 1},
      {"rfc-v1: an unregistered VMA keeps NUMA hinting", Variant::RfcV1, Backing::Anon, modes(false, false, false, false),
       none_f, numa_pn, false, "numa_hint", FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"rwp async: restored with write permission", Variant::Rwp, Backing::Anon, modes(false, false, false, true), async_rwp,
       rwp_pn, true, "uffd_rwp_async", FaultResult::Done, UffdReason::Rwp, present_rw, 0},
      {"rwp sync: blocks on an RWP message", Variant::Rwp, Backing::Anon, modes(false, false, false, true), none_f, rwp_pn,
       false, "uffd_rwp_sync", FaultResult::Blocked, UffdReason::Rwp, unchanged_pn, 0},
      {"rwp: a NUMA PROT_NONE (no uffd bit) stays NUMA's", Variant::Rwp, Backing::Anon, modes(false, false, false, true),
       async_rwp, numa_pn, false, "numa_hint", FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"MISSING: a missing anon page goes to the handler", Variant::Upstream, Backing::Anon, modes(true, false, false, false),
       none_f, none, false, "uffd_missing", FaultResult::Blocked, UffdReason::Missing, pte::none, 0},
      {"shmem MINOR async (rfc-v1 06/12): mapped from the cache", Variant::RfcV1, Backing::Shmem,
       modes(false, false, true, false), uffd::Features{false, false, true, false}, cached, false, "uffd_minor_async",
       FaultResult::Done, UffdReason::Minor, present_rw, 0},
      {"shmem MINOR upstream: sync message", Variant::Upstream, Backing::Shmem, modes(false, false, true, false), none_f,
       cached, false, "uffd_minor_sync", FaultResult::Blocked, UffdReason::Minor, pte::none, 0},
      {"shmem unregistered: page-cache hit maps it", Variant::Upstream, Backing::Shmem, modes(false, false, false, false),
       none_f, cached, false, "shmem_minor", FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"WP_ASYNC: marker dropped, write granted", Variant::Upstream, Backing::Anon, modes(false, true, false, false),
       uffd::Features{true, false, false, false}, wp, true, "uffd_wp_async", FaultResult::Done, UffdReason::Wp,
       [](Pte p) { return pte::accessible(p, true) && !pte::uffd(p); }, 0},
      {"WP sync: blocks on a WP message", Variant::Upstream, Backing::Anon, modes(false, true, false, false), none_f, wp, true,
       "uffd_wp_sync", FaultResult::Blocked, UffdReason::Wp, [](Pte p) { return pte::uffd(p) && !pte::writable(p); }, 0},
  };
  for (const auto& row : table) {
    DYNAMIC_SECTION(row.what) {
      Fix f(row.variant, row.backing);
      REQUIRE(f.u.register_range(row.modes, row.features).error.empty());
      row.setup(f);
      const FaultOutcome o = f.fault(0, row.write, 10);
      CHECK(f.kind(o) == row.kind);
      CHECK(o.result == row.result);
      if (o.result == FaultResult::Blocked) CHECK(o.reason == row.reason);
      CHECK(row.after(f.pte(0)));
      CHECK(f.truth().spurious_uffd == row.spurious);
      f.as.check_invariants();
    }
  }
}

TEST_CASE("rfc-v1 async restore without mkwrite makes a write take a second fault", "[uffd]") {
  Fix f(Variant::RfcV1, Backing::Anon);
  f.u.register_range(modes(false, false, true, false), {false, true, true, false});
  f.populate(0);
  f.u.deactivate(Gfn(0), 1);
  CHECK(f.kind(f.fault(0, true)) == "uffd_minor_async");
  CHECK_FALSE(pte::accessible(f.pte(0), true));
  CHECK(f.kind(f.fault(0, true)) == "wp_reuse");
  CHECK(pte::accessible(f.pte(0), true));
  CHECK(f.as.numa_faults_recorded() == 1);  // the uffd path fed task_numa_fault() (rfc-v1 cover letter)
}

TEST_CASE("the mmap write lock of SET_MODE stalls faults", "[uffd]") {
  Fix f(Variant::RfcV1, Backing::Anon);
  f.u.register_range(modes(false, false, true, false), {false, true, true, false});
  f.populate(0);
  f.u.deactivate(Gfn(0), 1);
  f.as.set_mmap_write_locked(true);
  CHECK(f.fault(0, false).result == FaultResult::LockWait);
  CHECK(pte::protnone(f.pte(0)));
  CHECK(f.as.lock_waits() == 1);
  f.as.set_mmap_write_locked(false);
  CHECK(f.fault(0, false).ok());
}

// ---------------------------------------------------------------------------------------------
// §3.5: the ioctls.

SCENARIO("UFFDIO_DEACTIVATE: anon PROT_NONE keeps the page, shmem zaps it", "[uffd]") {
  GIVEN("an rfc-v1 anon VMA with a resident page, a NUMA-hinted page and a hole") {
    Fix f(Variant::RfcV1, Backing::Anon);
    f.u.register_range(modes(true, false, true, false), {false, true, true, false});
    f.populate(0);
    f.populate(1);
    f.numa_protnone(1);
    auto r = f.u.deactivate(Gfn(0), 3);
    THEN("only the present, accessible PTE changes; the frame stays") {
      CHECK(r.ptes == 1);
      CHECK(r.flushed);
      CHECK(pte::protnone(f.pte(0)));
      CHECK_FALSE(pte::uffd(f.pte(0)));  // plain PROT_NONE: the same encoding as NUMA's
      CHECK(f.pte(0) & pte::kPresent);
      CHECK(f.as.resident_total() == 2);
      CHECK(f.as.truth().pn_origin(Gfn(0)) == PnOrigin::Uffd);
      CHECK(f.as.truth().pn_origin(Gfn(1)) == PnOrigin::Numa);  // skipped, still NUMA's in truth
      CHECK(pte::none(f.pte(2)));
      CHECK(f.as.tlb_flushes() == 1);
    }
  }
  GIVEN("a shmem VMA") {
    Fix f(Variant::RfcV1, Backing::Shmem);
    f.u.register_range(modes(true, false, true, false), {false, false, true, false});
    f.populate(0);
    f.u.deactivate(Gfn(0), 1);
    THEN("the PTE is zapped but the folio stays in the page cache") {
      CHECK(pte::none(f.pte(0)));
      CHECK(f.as.in_page_cache(Gfn(0)));
      CHECK(f.as.resident_total() == 1);
      f.as.check_invariants();
    }
  }
  GIVEN("the wrong kernel or registration") {
    Fix r(Variant::Rwp, Backing::Anon);
    CHECK_FALSE(r.u.deactivate(Gfn(0), 1).error.empty());
    Fix v(Variant::RfcV1, Backing::Anon);
    CHECK(v.u.deactivate(Gfn(0), 1).error.find("MODE_MINOR") != std::string::npos);
  }
}

SCENARIO("UFFDIO_RWPROTECT marks with the uffd bit, promotes NUMA PROT_NONE, tags swap entries", "[uffd]") {
  Fix f(Variant::Rwp, Backing::Anon);
  REQUIRE(f.u.register_range(modes(true, false, false, true), {false, false, false, true}).error.empty());
  f.populate(0);
  f.populate(1);
  f.populate(2);
  f.numa_protnone(1);
  f.as.swap_out(Gfn(2), 7);
  auto r = f.u.rwprotect(Gfn(0), 4, true);
  CHECK(r.ptes == 3);
  CHECK((pte::protnone(f.pte(0)) && pte::uffd(f.pte(0))));
  CHECK((pte::protnone(f.pte(1)) && pte::uffd(f.pte(1))));
  CHECK(f.as.truth().pn_origin(Gfn(1)) == PnOrigin::Uffd);
  CHECK((pte::swap(f.pte(2)) && pte::uffd(f.pte(2))));
  CHECK(pte::none(f.pte(3)));  // NONE stays NONE
  WHEN("the swapped page comes back") {
    REQUIRE(f.kind(f.fault(2, false)) == "swap_in");
    THEN("rwp re-applies PROT_NONE from the swap entry's bit") {
      CHECK((pte::protnone(f.pte(2)) && pte::uffd(f.pte(2))));
      f.as.check_invariants();
    }
  }
  WHEN("protection is cleared") {
    f.u.rwprotect(Gfn(0), 4, false);
    CHECK(pte::accessible(f.pte(0), true));
    CHECK(pte::accessible(f.pte(1), true));
    CHECK((pte::swap(f.pte(2)) && !pte::uffd(f.pte(2))));
  }
}

TEST_CASE("registration refuses what the variant lacks (EINVAL)", "[uffd]") {
  Fix up(Variant::Upstream, Backing::Anon);
  CHECK(up.u.register_range(modes(false, false, true, false), {false, true, false, false}).error.find("MINOR_ANON") !=
        std::string::npos);
  CHECK_FALSE(up.u.register_range(modes(false, false, false, true), {}).error.empty());
  CHECK_FALSE(up.u.set_mode(true).error.empty());
  Fix shm(Variant::Upstream, Backing::Shmem);
  CHECK(shm.u.register_range(modes(false, false, true, false), {}).error.empty());  // shmem MINOR is upstream
  Fix rwp(Variant::Rwp, Backing::Anon);
  CHECK(rwp.u.register_range(modes(false, true, false, true), {}).error.find("exclusive") != std::string::npos);
  CHECK_FALSE(rwp.u.register_range(modes(false, false, true, false), {false, true, false, false}).error.empty());
}

TEST_CASE("CONTINUE, COPY, ZEROPAGE", "[uffd]") {
  Fix f(Variant::RfcV1, Backing::Anon);
  f.u.register_range(modes(true, false, true, false), {false, true, false, false});
  f.populate(0);
  f.u.deactivate(Gfn(0), 1);
  CHECK(f.u.cont(Gfn(0)).ptes == 1);
  CHECK(pte::accessible(f.pte(0), true));
  CHECK(f.u.copy(Gfn(1), NodeId(0), false, 0, 0).ptes == 1);
  CHECK(f.as.resident_total() == 2);
  CHECK(f.u.copy(Gfn(1), NodeId(0), false, 0, 0).error == "EEXIST");
  CHECK(f.u.copy(Gfn(2), NodeId(0), true, 0, 0).ptes == 1);
  CHECK(pte::zero_page(f.pte(2)));
  CHECK(f.truth().lost_writes == 0);  // the copies carried the pages' data (version 0)
  f.as.check_invariants();
  Fix s(Variant::Upstream, Backing::Shmem);
  s.u.register_range(modes(true, false, true, false), {});
  s.populate(3);
  s.as.zap(Gfn(3));
  CHECK(s.u.cont(Gfn(3)).ptes == 1);
  CHECK(pte::accessible(s.pte(3), true));
  // shmem_mfill_atomic_pte(): a COPY into an index the page cache holds is EEXIST even over a
  // none PTE (6.18: written memfd page, MADV_DONTNEED, UFFDIO_COPY -> EEXIST, data kept).
  s.as.zap(Gfn(3));
  CHECK(s.u.copy(Gfn(3), NodeId(0), false, 5, 0).error == "EEXIST");
  CHECK(pte::none(s.pte(3)));
  CHECK(s.truth().lost_writes == 0);
  s.as.check_invariants();
}

SCENARIO("MADV_DONTNEED frees anon frames but only zaps shmem; PUNCH_HOLE frees", "[uffd]") {
  Fix a(Variant::Upstream, Backing::Anon);
  a.populate(0);
  a.u.dontneed({Gfn(0)});
  CHECK(pte::none(a.pte(0)));
  CHECK(a.as.resident_total() == 0);
  CHECK(a.host.used(0) == 0);
  CHECK(a.kind(a.fault(0, true)) == "anon_alloc");  // a fresh, unprotected page
  Fix s(Variant::Upstream, Backing::Shmem);
  s.populate(0);
  s.u.dontneed({Gfn(0)});
  CHECK(pte::none(s.pte(0)));
  CHECK(s.as.resident_total() == 1);
  CHECK(s.kind(s.fault(0, false)) == "shmem_minor");
  s.u.punch_hole({Gfn(0)});
  CHECK(s.as.resident_total() == 0);
  CHECK_FALSE(s.as.in_page_cache(Gfn(0)));
  CHECK(s.host.used(0) == 0);
  s.as.check_invariants();
}

TEST_CASE("swap entries keep the uffd bit; a NUMA PROT_NONE is lost", "[uffd]") {
  Fix f(Variant::Upstream, Backing::Anon);
  f.u.register_range(modes(false, true, false, false), {true, false, false, false});
  f.populate(0);
  f.populate(1);
  f.u.writeprotect(Gfn(0), 1, true);
  f.numa_protnone(1);
  f.as.swap_out(Gfn(0), 5);
  f.as.swap_out(Gfn(1), 6);
  CHECK(pte::uffd(f.pte(0)));
  CHECK_FALSE(pte::uffd(f.pte(1)));
  CHECK(pte::pfn(f.pte(0)) == 5);
  REQUIRE(f.as.swap_in(Gfn(1), NodeId(0)));
  CHECK(pte::accessible(f.pte(1), true));  // no PROT_NONE comes back
  REQUIRE(f.as.swap_in(Gfn(0), NodeId(0)));
  CHECK((pte::uffd(f.pte(0)) && !pte::writable(f.pte(0))));  // still write-protected
  f.as.check_invariants();
}

SCENARIO("PAGEMAP_SCAN categories and masks", "[uffd]") {
  GIVEN("rfc-v1 anon: two deactivated pages, a NUMA-hinted one, a touched one, a zero page") {
    Fix f(Variant::RfcV1, Backing::Anon, 8);
    f.u.register_range(modes(true, false, true, false), {false, true, true, false});
    for (std::uint64_t g : {0, 1, 3, 4}) f.populate(g);
    f.u.deactivate(Gfn(0), 8);
    f.fault(4, false);  // touched after deactivation: restored
    // Page 3's PROT_NONE becomes a NUMA scanner's: same PTE encoding, origin NUMA in truth.
    f.as.page_table().restore(Gfn(3), true, false);
    f.numa_protnone(3);
    REQUIRE(f.fault(5, false).result == FaultResult::Blocked);  // MISSING registered
    f.u.copy(Gfn(5), NodeId(0), true, 0, 0);  // zero page
    uffd::ScanArgs a;
    a.len = 8;
    a.category_mask = uffd::cat::kUffdDeactivated;
    a.return_mask = uffd::cat::kUffdDeactivated | uffd::cat::kPresent;
    auto r = f.u.pagemap_scan(a);
    THEN("still-deactivated pages are reported cold, and so is the NUMA page (seed 000)") {
      REQUIRE(r.regions.size() == 2);
      CHECK((r.regions[0].start == 0 && r.regions[0].len == 2));
      CHECK((r.regions[1].start == 3 && r.regions[1].len == 1));
      CHECK(r.regions[0].categories == (uffd::cat::kUffdDeactivated | uffd::cat::kPresent));
      CHECK(r.walked == 8);
      CHECK(r.cost_ns == 700 + 8 * 5);
    }
    THEN("inverted and anyof masks select the complement") {
      uffd::ScanArgs b;
      b.len = 8;
      b.category_mask = uffd::cat::kPresent;
      b.category_inverted = uffd::cat::kPresent;  // !PRESENT
      auto nr = f.u.pagemap_scan(b);
      std::uint64_t n = 0;
      for (auto& reg : nr.regions) n += reg.len;
      CHECK(n == 3);  // the holes: pages 2, 6 and 7
      uffd::ScanArgs c;
      c.len = 8;
      c.category_anyof_mask = uffd::cat::kPfnZero | uffd::cat::kSwapped;
      auto zr = f.u.pagemap_scan(c);
      REQUIRE(zr.regions.size() == 1);
      CHECK(zr.regions[0].start == 5);
      uffd::ScanArgs d = a;
      d.max_pages = 1;
      CHECK(f.u.pagemap_scan(d).matched == 1);
    }
  }
  GIVEN("rwp: ACCESSED means no uffd bit") {
    Fix f(Variant::Rwp, Backing::Anon, 4);
    f.u.register_range(modes(false, false, false, true), {false, false, false, true});
    f.populate(0);
    f.populate(1);
    f.u.rwprotect(Gfn(0), 4, true);
    f.fault(1, false);
    CHECK((f.u.categories(Gfn(1)) & uffd::cat::kAccessed));
    CHECK_FALSE((f.u.categories(Gfn(0)) & uffd::cat::kAccessed));
    CHECK_FALSE((f.u.categories(Gfn(0)) & uffd::cat::kUffdDeactivated));
  }
}

TEST_CASE("unregister/close restores uffd-owned PTE state", "[uffd]") {
  Fix f(Variant::Rwp, Backing::Anon);
  f.u.register_range(modes(false, false, false, true), {false, false, false, true});
  f.populate(0);
  f.populate(1);
  f.u.rwprotect(Gfn(0), 2, true);
  f.u.unregister();
  CHECK(pte::accessible(f.pte(0), true));
  CHECK(pte::accessible(f.pte(1), true));
  CHECK_FALSE(f.u.registered());
  Fix g(Variant::RfcV1, Backing::Anon);
  g.u.register_range(modes(false, false, true, false), {false, true, false, false});
  g.populate(0);
  g.u.deactivate(Gfn(0), 1);
  g.u.unregister();
  CHECK(pte::accessible(g.pte(0), true));
  CHECK(g.kind(g.fault(1, true)) == "anon_alloc");  // no MISSING/MINOR any more
}

SCENARIO("GUP through PROT_NONE (seed 002 gup_can_follow_protnone)", "[uffd]") {
  auto setup = [](Fix& f) {
    f.populate(0);
    if (f.as.config().variant == Variant::Rwp) {
      f.u.register_range(modes(false, false, false, true), {false, false, false, true});
      f.u.rwprotect(Gfn(0), 1, true);
    } else {
      f.u.register_range(modes(false, false, true, false), {false, true, true, false});
      f.u.deactivate(Gfn(0), 1);
    }
  };
  auto gup = [](Fix& f, bool write, bool honor, bool& invisible) {
    return f.as.gup(Gfn(0), write, honor, 0, NodeId(0), 0, invisible);
  };
  bool invisible = false;
  GIVEN("rfc-v1 and a GUP without FOLL_HONOR_NUMA_FAULT") {
    Fix f(Variant::RfcV1, Backing::Anon);
    setup(f);
    auto o = gup(f, false, false, invisible);
    THEN("a read follows the PTE silently: the access never reaches uffd") {
      CHECK(o.ok());
      CHECK(invisible);
      CHECK(pte::protnone(f.pte(0)));
      CHECK(f.truth().gup_invisible == 1);
    }
    THEN("a write cannot: a PROT_NONE PTE is never pte_write(), so FOLL_WRITE faults") {
      auto w = gup(f, true, false, invisible);
      CHECK(f.kind(w) == "uffd_minor_async");
      CHECK_FALSE(invisible);
    }
  }
  GIVEN("rfc-v1 and FOLL_HONOR_NUMA_FAULT") {
    Fix f(Variant::RfcV1, Backing::Anon);
    setup(f);
    auto o = gup(f, false, true, invisible);
    CHECK(f.kind(o) == "uffd_minor_async");
    CHECK_FALSE(invisible);
  }
  GIVEN("rwp with the 07/14 guard") {
    Fix f(Variant::Rwp, Backing::Anon);
    setup(f);
    auto o = gup(f, false, false, invisible);
    CHECK(f.kind(o) == "uffd_rwp_async");
    CHECK_FALSE(invisible);
  }
  GIVEN("rwp without the guard (kernel.patches.gup_rwp_fault=false)") {
    auto c = Fix::cfg(Variant::Rwp, Backing::Anon, 8);
    c.patches.gup_rwp_fault = false;
    HostMemory host({16});
    TestVm vm(c, host, 1);
    Uffd& u = vm.uffd();
    u.register_range(modes(false, false, false, true), {false, false, false, true});
    REQUIRE(vm.fault(0, true).ok());
    u.rwprotect(Gfn(0), 1, true);
    CHECK(vm.as().gup(Gfn(0), false, false, 0, NodeId(0), 0, invisible).ok());
    CHECK(invisible);
  }
}

TEST_CASE("SET_MODE changes no PTE and flips async for the whole context", "[uffd]") {
  Fix f(Variant::RfcV1, Backing::Anon, 4);
  f.u.register_range(modes(false, false, true, false), {false, true, true, false});
  for (std::uint64_t g = 0; g < 4; ++g) f.populate(g);
  f.u.deactivate(Gfn(0), 4);
  std::vector<Pte> before;
  for (std::uint64_t g = 0; g < 4; ++g) before.push_back(f.pte(g));
  auto r = f.u.set_mode(false);
  CHECK(r.ptes == 0);
  CHECK_FALSE(r.flushed);
  CHECK(r.cost_ns == 700 + 2000);
  for (std::uint64_t g = 0; g < 4; ++g) CHECK(f.pte(g) == before[g]);
  CHECK(f.fault(0, false).result == FaultResult::Blocked);  // sync now
  f.u.set_mode(true);
  CHECK(f.fault(0, false).ok());  // the pending fault retries and auto-resolves
}

TEST_CASE("data versions: one bump per write-epoch, taken lazily", "[uffd][mm]") {
  Fix f(Variant::Upstream, Backing::Anon);
  f.populate(0);
  GroundTruth& t = f.as.truth();
  PageSlot& s = f.as.slots()[0];
  CHECK(t.data_version(Gfn(0)) == 0);
  t.note_access(s, 10, true, 0, 0);
  t.note_access(s, 20, true, 0, 0);
  CHECK(t.data_version(Gfn(0)) == 1);
  CHECK(t.data_version(Gfn(0)) == 1);
  t.note_access(s, 30, false, 0, 0);
  CHECK(t.data_version(Gfn(0)) == 1);
  t.note_access(s, 40, true, 0, 0);
  CHECK(t.data_version(Gfn(0)) == 2);
  CHECK(t.last_access(Gfn(0)) == 40);
}

// ---------------------------------------------------------------------------------------------
// The context's message queue and SET_MODE's wake rule (fs/userfaultfd.c, rfc-v1 10/12).

namespace {
uffd::FaultMsg msg(std::uint64_t g, UffdReason r, bool write = false) { return {Gfn(g), write, r, NodeId(0)}; }
}  // namespace

SCENARIO("the uffd context queues sync faults; SET_MODE(async) wakes only MINOR/RWP waiters", "[uffd][queue]") {
  GIVEN("rfc-v1 in sync mode with two MISSING and two MINOR faults queued") {
    Fix f(Variant::RfcV1, Backing::Anon);
    REQUIRE(f.u.register_range(modes(true, false, true, false), {false, true, false, false}).error.empty());
    CHECK_FALSE(f.u.async());
    f.u.enqueue(msg(1, UffdReason::Missing), 10);
    f.u.enqueue(msg(2, UffdReason::Minor), 11);
    f.u.enqueue(msg(3, UffdReason::Missing, true), 12);
    f.u.enqueue(msg(4, UffdReason::Minor, true), 13);
    CHECK(f.u.queued() == 4);
    WHEN("SET_MODE(async)") {
      REQUIRE(f.u.set_mode(true).error.empty());
      THEN("exactly the MINOR waiters are woken, once; the MISSING ones wait for read() in order") {
        CHECK(f.u.async());
        CHECK(f.u.take_woken() == std::vector<unsigned>{11, 13});
        CHECK(f.u.take_woken().empty());
        CHECK(f.u.queued() == 2);
        auto a = f.u.read();
        REQUIRE(a);
        CHECK(a->waiter == 10);
        CHECK(a->msg.gfn == Gfn(1));
        CHECK(a->msg.reason == UffdReason::Missing);
        auto b = f.u.read();
        REQUIRE(b);
        CHECK(b->waiter == 12);
        CHECK(b->msg.write);
        CHECK_FALSE(f.u.read());
        CHECK(f.u.queued() == 0);
        CHECK(f.truth().spurious_uffd == 0);  // none PTEs: no PROT_NONE behind these messages
      }
    }
    WHEN("SET_MODE(sync) again") {
      REQUIRE(f.u.set_mode(false).error.empty());
      THEN("nothing is woken and the queue is intact") {
        CHECK(f.u.take_woken().empty());
        CHECK(f.u.queued() == 4);
        CHECK(f.u.read()->waiter == 10);
      }
    }
  }
  GIVEN("rwp with a MISSING, an RWP and a WP message queued") {
    Fix f(Variant::Rwp, Backing::Anon);
    REQUIRE(f.u.register_range(modes(true, false, false, true), {}).error.empty());
    f.u.enqueue(msg(0, UffdReason::Missing), 1);
    f.u.enqueue(msg(1, UffdReason::Rwp), 2);
    f.u.enqueue(msg(2, UffdReason::Wp, true), 3);
    f.u.set_mode(true);
    THEN("the RWP waiter is woken; MISSING and WP still need the handler") {
      CHECK(f.u.take_woken() == std::vector<unsigned>{2});
      CHECK(f.u.read()->waiter == 1);
      CHECK(f.u.read()->waiter == 3);
    }
  }
}

SCENARIO("read() of a message for a NUMA PROT_NONE is a spurious notification", "[uffd][queue]") {
  GIVEN("rfc-v1 sync MINOR: page 2 NUMA-hinted, page 3 deactivated, page 5 missing") {
    Fix f(Variant::RfcV1, Backing::Anon);
    REQUIRE(f.u.register_range(modes(true, false, true, false), {false, true, false, false}).error.empty());
    f.populate(2);
    f.populate(3);
    f.numa_protnone(2);
    f.u.deactivate(Gfn(3), 1);
    const std::uint64_t numa_before = f.as.numa_faults_recorded();
    for (std::uint64_t g : {2, 3, 5}) {
      const FaultOutcome o = f.fault(g, false);
      REQUIRE(o.result == FaultResult::Blocked);
      f.u.enqueue({Gfn(g), false, o.reason, NodeId(0)}, static_cast<unsigned>(g));
    }
    CHECK(f.truth().spurious_uffd == 0);  // queued, not yet consumed
    WHEN("the handler reads them") {
      auto a = f.u.read();
      REQUIRE(a);
      CHECK(a->msg.reason == UffdReason::Minor);
      THEN("the NUMA page's message counts as spurious, the deactivated and missing pages' do not") {
        CHECK(f.truth().spurious_uffd == 1);
        f.u.read();
        f.u.read();
        CHECK(f.truth().spurious_uffd == 1);
        // rfc-v1 feeds task_numa_fault() from the minor path: both PROT_NONE messages, not MISSING.
        CHECK(f.as.numa_faults_recorded() == numa_before + 2);
      }
    }
  }
  GIVEN("the uffd_feeds_numa patch switched off") {
    auto c = Fix::cfg(Variant::RfcV1, Backing::Anon, 4);
    c.patches.uffd_feeds_numa = false;
    HostMemory host({16});
    TestVm vm(c, host);
    REQUIRE(vm.uffd().register_range(modes(false, false, true, false), {false, true, false, false}).error.empty());
    vm.as().uffd_vma() = UffdVma{};
    REQUIRE(vm.fault(0, true).ok());
    vm.as().uffd_vma().minor = true;
    vm.as().page_table().protnone(Gfn(0), false, PnOrigin::Numa);
    vm.uffd().enqueue(msg(0, UffdReason::Minor), 0);
    vm.uffd().read();
    THEN("the notification is still spurious, but NUMA gets no statistics") {
      CHECK(vm.as().truth().stats().spurious_uffd == 1);
      CHECK(vm.as().numa_faults_recorded() == 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// uffd-wp markers and UFFDIO_WRITEPROTECT over PROT_NONE (KERNEL-MODEL.md §2 NONE+marker, §3.8-9).

TEST_CASE("UFFDIO_WRITEPROTECT on a none PTE installs a marker only where the VMA uses markers", "[uffd][marker]") {
  SECTION("anon without WP_UNPOPULATED: none stays none") {
    Fix f(Variant::Upstream, Backing::Anon);
    REQUIRE(f.u.register_range(modes(false, true, false, false), {}).error.empty());
    CHECK(f.u.writeprotect(Gfn(0), 1, true).ptes == 0);
    CHECK(pte::none(f.pte(0)));
  }
  SECTION("anon with WP_UNPOPULATED") {
    Fix f(Variant::Upstream, Backing::Anon);
    uffd::Features ft;
    ft.wp_unpopulated = true;
    REQUIRE(f.u.register_range(modes(false, true, false, false), ft).error.empty());
    CHECK(f.u.writeprotect(Gfn(0), 2, true).ptes == 2);
    CHECK(pte::marker(f.pte(0)));
    CHECK(pte::marker(f.pte(1)));
    CHECK(f.u.writeprotect(Gfn(0), 1, false).ptes == 1);  // MM_CP_UFFD_WP_RESOLVE drops it
    CHECK(pte::none(f.pte(0)));
  }
  SECTION("anon with WP_ASYNC, which implies WP_UNPOPULATED (6.18 userfaultfd_api)") {
    Fix f(Variant::Upstream, Backing::Anon);
    REQUIRE(f.u.register_range(modes(false, true, false, false), {true, false, false, false}).error.empty());
    CHECK(f.u.features().wp_unpopulated);
    CHECK(f.u.writeprotect(Gfn(0), 1, true).ptes == 1);
    CHECK(pte::marker(f.pte(0)));
    CHECK((f.u.categories(Gfn(0)) & uffd::cat::kWpAllowed));
  }
  SECTION("shmem always") {
    Fix f(Variant::Upstream, Backing::Shmem);
    REQUIRE(f.u.register_range(modes(false, true, false, false), {}).error.empty());
    CHECK(f.u.writeprotect(Gfn(0), 1, true).ptes == 1);
    CHECK(pte::marker(f.pte(0)));
  }
}

TEST_CASE("a fault on a marker carries the uffd bit into the new PTE", "[uffd][marker]") {
  SECTION("anon read: the zero page, write-protected; the write then reaches the WP handler") {
    Fix f(Variant::Upstream, Backing::Anon);
    uffd::Features ft;
    ft.wp_unpopulated = true;
    REQUIRE(f.u.register_range(modes(false, true, false, false), ft).error.empty());
    f.u.writeprotect(Gfn(0), 1, true);
    CHECK(f.kind(f.fault(0, false)) == "zero_map");
    CHECK(pte::zero_page(f.pte(0)));
    CHECK(pte::uffd(f.pte(0)));
    const FaultOutcome w = f.fault(0, true);
    CHECK(f.kind(w) == "uffd_wp_sync");
    CHECK(w.result == FaultResult::Blocked);
    CHECK(w.reason == UffdReason::Wp);
    f.as.check_invariants();
  }
  SECTION("anon write: a new frame, present but write-protected") {
    Fix f(Variant::Upstream, Backing::Anon);
    uffd::Features ft;
    ft.wp_unpopulated = true;
    REQUIRE(f.u.register_range(modes(false, true, false, false), ft).error.empty());
    f.u.writeprotect(Gfn(1), 1, true);
    CHECK(f.kind(f.fault(1, true)) == "anon_alloc");
    CHECK((pte::present(f.pte(1)) && pte::uffd(f.pte(1)) && !pte::writable(f.pte(1))));
    CHECK_FALSE((f.u.categories(Gfn(1)) & uffd::cat::kWritten));
    f.as.check_invariants();
  }
  SECTION("shmem: mapped from a new page-cache folio with the bit") {
    Fix f(Variant::Upstream, Backing::Shmem);
    REQUIRE(f.u.register_range(modes(false, true, false, false), {}).error.empty());
    f.u.writeprotect(Gfn(2), 1, true);
    CHECK(f.kind(f.fault(2, false)) == "shmem_alloc");
    CHECK((pte::present(f.pte(2)) && pte::uffd(f.pte(2)) && !pte::writable(f.pte(2))));
    f.as.check_invariants();
  }
}

TEST_CASE("PAGEMAP_SCAN reports a marker as SWAPPED and not WRITTEN", "[uffd][marker]") {
  Fix f(Variant::Upstream, Backing::Anon, 4);
  REQUIRE(f.u.register_range(modes(false, true, false, false), {true, false, false, false}).error.empty());
  f.populate(1);
  f.u.writeprotect(Gfn(0), 1, true);  // page 0: marker
  const std::uint32_t c0 = f.u.categories(Gfn(0));
  CHECK((c0 & uffd::cat::kSwapped));
  CHECK_FALSE((c0 & uffd::cat::kWritten));
  CHECK_FALSE((c0 & uffd::cat::kPresent));
  const std::uint32_t c1 = f.u.categories(Gfn(1));  // a present page never protected
  CHECK((c1 & uffd::cat::kPresent));
  CHECK((c1 & uffd::cat::kWritten));
  uffd::ScanArgs a;
  a.len = 4;
  a.category_mask = uffd::cat::kSwapped;
  a.return_mask = uffd::cat::kSwapped | uffd::cat::kWritten;
  auto r = f.u.pagemap_scan(a);
  REQUIRE(r.regions.size() == 1);
  CHECK(r.regions[0].start == 0);
  CHECK(r.regions[0].len == 1);
  CHECK(r.regions[0].categories == uffd::cat::kSwapped);
}

TEST_CASE("MADV_DONTNEED drops anon markers; shmem keeps a marker where a protected PTE was", "[uffd][marker]") {
  SECTION("anon") {
    Fix f(Variant::Upstream, Backing::Anon);
    REQUIRE(f.u.register_range(modes(false, true, false, false), {true, false, false, false}).error.empty());
    f.populate(0);
    f.u.writeprotect(Gfn(0), 2, true);  // page 0 protected, page 1 a marker
    REQUIRE(pte::marker(f.pte(1)));
    CHECK(f.u.dontneed({Gfn(0), Gfn(1)}).ptes == 2);
    CHECK(pte::none(f.pte(0)));
    CHECK(pte::none(f.pte(1)));
    CHECK(f.as.resident_total() == 0);
    f.as.check_invariants();
  }
  SECTION("shmem") {
    Fix f(Variant::Upstream, Backing::Shmem);
    REQUIRE(f.u.register_range(modes(false, true, false, false), {}).error.empty());
    f.populate(0);
    f.populate(2);
    f.u.writeprotect(Gfn(0), 2, true);  // page 0 protected, page 1 a marker; page 2 unprotected
    f.u.dontneed({Gfn(0), Gfn(1), Gfn(2)});
    CHECK(pte::marker(f.pte(0)));  // zap_install_uffd_wp_if_needed()
    CHECK(pte::marker(f.pte(1)));  // a marker is left alone
    CHECK(pte::none(f.pte(2)));
    CHECK(f.as.in_page_cache(Gfn(0)));
    CHECK(f.as.resident_total() == 2);
    f.as.check_invariants();
  }
}

TEST_CASE("UFFDIO_WRITEPROTECT over a PROT_NONE PTE replaces it by the VMA's protection", "[uffd][marker]") {
  // change_pte_range() rebuilds the PTE with pte_modify(oldpte, vma->vm_page_prot): the NUMA
  // hint is lost, the uffd-wp bit is set, and write permission returns only through a fault.
  Fix f(Variant::Upstream, Backing::Anon);
  REQUIRE(f.u.register_range(modes(false, true, false, false), {}).error.empty());
  f.populate(0);
  f.populate(1);
  f.numa_protnone(0);
  f.numa_protnone(1);
  CHECK(f.u.writeprotect(Gfn(0), 1, true).ptes == 1);
  CHECK_FALSE(pte::protnone(f.pte(0)));
  CHECK((pte::present(f.pte(0)) && pte::uffd(f.pte(0)) && !pte::writable(f.pte(0))));
  CHECK(f.as.truth().pn_origin(Gfn(0)) == PnOrigin::None);
  CHECK(pte::accessible(f.pte(0), false));  // a read no longer takes the NUMA hinting fault
  // Resolving rebuilds every present PTE of the range too, protected or not.
  CHECK(f.u.writeprotect(Gfn(1), 1, false).ptes == 1);
  CHECK_FALSE(pte::protnone(f.pte(1)));
  CHECK_FALSE(pte::uffd(f.pte(1)));
  CHECK(f.as.truth().pn_origin(Gfn(1)) == PnOrigin::None);
  CHECK(pte::accessible(f.pte(1), false));
  CHECK(f.as.numa_faults_recorded() == 0);
  f.as.check_invariants();
}

TEST_CASE("PageTable::restore marks the PTE young", "[mm][marker]") {
  Fix f(Variant::Upstream, Backing::Anon);
  f.populate(0);
  f.numa_protnone(0);
  REQUIRE_FALSE(pte::young(f.pte(0)));
  CHECK(f.kind(f.fault(0, false)) == "numa_hint");  // do_numa_page: pte_modify + pte_mkyoung
  CHECK(pte::young(f.pte(0)));
  CHECK(pte::writable(f.pte(0)));
}
