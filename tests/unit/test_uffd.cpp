// models/uffd + the fault dispatch in models/mm: every PTE transition of KERNEL-MODEL.md §3
// items 1, 2, 5-10, table-driven where the shape allows, and the RFC selftests' scenarios
// (async and sync modes, PAGEMAP_SCAN cold detection, GUP through PROT_NONE, SET_MODE with
// faults pending, cleanup on close) at model level.
#include <catch2/catch.hpp>

#include <functional>

#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/uffd/uffd.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using uffd::Uffd;

namespace {

struct Fix {
  HostMemory host{std::vector<std::uint64_t>{64}};
  AddressSpace as;
  Uffd u;
  Fix(Variant v, Backing b, std::uint64_t pages = 8)
      : as(cfg(v, b, pages), host), u(as, uffd::Costs{}, 2) {}
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
    const UffdVma saved = as.uffd();
    as.uffd() = UffdVma{};
    REQUIRE(as.fault(g, true, 0, 0).ok());
    as.uffd() = saved;
  }
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
  FaultKind kind;
  FaultResult result;
  UffdReason reason;
  std::function<bool(Pte)> after;  // the PTE afterwards
  std::uint64_t spurious;
};

TEST_CASE("fault dispatch by variant, PTE state and registration", "[uffd][mm]") {
  auto deact = [](Fix& f) { f.populate(0); REQUIRE(f.u.deactivate(0, 1).error.empty()); };
  auto numa_pn = [](Fix& f) { f.populate(0); f.as.set_protnone(0, false, PnOrigin::Numa); };
  auto rwp_pn = [](Fix& f) { f.populate(0); REQUIRE(f.u.rwprotect(0, 1, true).error.empty()); };
  auto wp = [](Fix& f) { f.populate(0); REQUIRE(f.u.writeprotect(0, 1, true).error.empty()); };
  auto none = [](Fix&) {};
  auto cached = [](Fix& f) { f.populate(0); f.as.zap(0); };  // shmem: folio stays in the cache
  auto present_rw = [](Pte p) { return pte::accessible(p, true); };
  auto present_ro = [](Pte p) { return pte::accessible(p, false) && !pte::writable(p); };
  auto unchanged_pn = [](Pte p) { return pte::protnone(p); };
  const uffd::Features async_minor{false, true, true, false};
  const uffd::Features sync_minor{false, true, false, false};
  const uffd::Features async_rwp{false, false, false, true};
  const uffd::Features none_f{};

  const std::vector<DispatchRow> table = {
      {"upstream: PROT_NONE is always a NUMA hint", Variant::Upstream, Backing::Anon, modes(false, false, false, false),
       none_f, numa_pn, false, FaultKind::NumaHint, FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"rfc-v1 async: restored in place without mkwrite", Variant::RfcV1, Backing::Anon, modes(false, false, true, false),
       async_minor, deact, false, FaultKind::UffdMinorAsync, FaultResult::Done, UffdReason::Minor, present_ro, 0},
      {"rfc-v1 sync: the vCPU blocks on a minor message", Variant::RfcV1, Backing::Anon, modes(false, false, true, false),
       sync_minor, deact, true, FaultKind::UffdMinorSync, FaultResult::Blocked, UffdReason::Minor, unchanged_pn, 0},
      {"rfc-v1: a NUMA PROT_NONE in a MINOR VMA goes to uffd (spurious)", Variant::RfcV1, Backing::Anon,
       modes(false, false, true, false), async_minor, numa_pn, false, FaultKind::UffdMinorAsync, FaultResult::Done,
       UffdReason::Minor, present_ro, 1},
      {"rfc-v1: an unregistered VMA keeps NUMA hinting", Variant::RfcV1, Backing::Anon, modes(false, false, false, false),
       none_f, numa_pn, false, FaultKind::NumaHint, FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"rwp async: restored with write permission", Variant::Rwp, Backing::Anon, modes(false, false, false, true), async_rwp,
       rwp_pn, true, FaultKind::UffdRwpAsync, FaultResult::Done, UffdReason::Rwp, present_rw, 0},
      {"rwp sync: blocks on an RWP message", Variant::Rwp, Backing::Anon, modes(false, false, false, true), none_f, rwp_pn,
       false, FaultKind::UffdRwpSync, FaultResult::Blocked, UffdReason::Rwp, unchanged_pn, 0},
      {"rwp: a NUMA PROT_NONE (no uffd bit) stays NUMA's", Variant::Rwp, Backing::Anon, modes(false, false, false, true),
       async_rwp, numa_pn, false, FaultKind::NumaHint, FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"MISSING: a missing anon page goes to the handler", Variant::Upstream, Backing::Anon, modes(true, false, false, false),
       none_f, none, false, FaultKind::UffdMissing, FaultResult::Blocked, UffdReason::Missing, pte::none, 0},
      {"shmem MINOR async (rfc-v1 06/12): mapped from the cache", Variant::RfcV1, Backing::Shmem,
       modes(false, false, true, false), uffd::Features{false, false, true, false}, cached, false, FaultKind::UffdMinorAsync,
       FaultResult::Done, UffdReason::Minor, present_rw, 0},
      {"shmem MINOR upstream: sync message", Variant::Upstream, Backing::Shmem, modes(false, false, true, false), none_f,
       cached, false, FaultKind::UffdMinorSync, FaultResult::Blocked, UffdReason::Minor, pte::none, 0},
      {"shmem unregistered: page-cache hit maps it", Variant::Upstream, Backing::Shmem, modes(false, false, false, false),
       none_f, cached, false, FaultKind::ShmemMinor, FaultResult::Done, UffdReason::Missing, present_rw, 0},
      {"WP_ASYNC: marker dropped, write granted", Variant::Upstream, Backing::Anon, modes(false, true, false, false),
       uffd::Features{true, false, false, false}, wp, true, FaultKind::UffdWpAsync, FaultResult::Done, UffdReason::Wp,
       [](Pte p) { return pte::accessible(p, true) && !pte::uffd(p); }, 0},
      {"WP sync: blocks on a WP message", Variant::Upstream, Backing::Anon, modes(false, true, false, false), none_f, wp, true,
       FaultKind::UffdWpSync, FaultResult::Blocked, UffdReason::Wp, [](Pte p) { return pte::uffd(p) && !pte::writable(p); },
       0},
  };
  for (const auto& row : table) {
    DYNAMIC_SECTION(row.what) {
      Fix f(row.variant, row.backing);
      REQUIRE(f.u.register_range(row.modes, row.features).error.empty());
      row.setup(f);
      const FaultOutcome o = f.as.fault(0, row.write, 0, 10);
      CHECK(o.kind == row.kind);
      CHECK(o.result == row.result);
      if (o.result == FaultResult::Blocked) CHECK(o.reason == row.reason);
      CHECK(row.after(f.as.pte_at(0)));
      CHECK(f.as.spurious_uffd() == row.spurious);
    }
  }
}

TEST_CASE("rfc-v1 async restore without mkwrite makes a write take a second fault", "[uffd]") {
  Fix f(Variant::RfcV1, Backing::Anon);
  f.u.register_range(modes(false, false, true, false), {false, true, true, false});
  f.populate(0);
  f.u.deactivate(0, 1);
  CHECK(f.as.fault(0, true, 0, 0).kind == FaultKind::UffdMinorAsync);
  CHECK_FALSE(pte::accessible(f.as.pte_at(0), true));
  CHECK(f.as.fault(0, true, 0, 0).kind == FaultKind::WpReuse);
  CHECK(pte::accessible(f.as.pte_at(0), true));
  CHECK(f.as.numa_faults_recorded() == 1);  // 07/12: the uffd path fed task_numa_fault()
}

TEST_CASE("the mmap write lock of SET_MODE stalls faults", "[uffd]") {
  Fix f(Variant::RfcV1, Backing::Anon);
  f.u.register_range(modes(false, false, true, false), {false, true, true, false});
  f.populate(0);
  f.u.deactivate(0, 1);
  f.as.set_mmap_write_locked(true);
  CHECK(f.as.fault(0, false, 0, 0).result == FaultResult::LockWait);
  CHECK(pte::protnone(f.as.pte_at(0)));
  f.as.set_mmap_write_locked(false);
  CHECK(f.as.fault(0, false, 0, 0).ok());
}

// ---------------------------------------------------------------------------------------------
// §3.5: the ioctls.

SCENARIO("UFFDIO_DEACTIVATE: anon PROT_NONE keeps the page, shmem zaps it", "[uffd]") {
  GIVEN("an rfc-v1 anon VMA with a resident page, a NUMA-hinted page and a hole") {
    Fix f(Variant::RfcV1, Backing::Anon);
    f.u.register_range(modes(true, false, true, false), {false, true, true, false});
    f.populate(0);
    f.populate(1);
    f.as.set_protnone(1, false, PnOrigin::Numa);
    auto r = f.u.deactivate(0, 3);
    THEN("only the present, accessible PTE changes; the frame stays") {
      CHECK(r.ptes == 1);
      CHECK(r.flushed);
      CHECK(pte::protnone(f.as.pte_at(0)));
      CHECK_FALSE(pte::uffd(f.as.pte_at(0)));  // plain PROT_NONE: the same encoding as NUMA's
      CHECK(f.as.pte_at(0) & pte::kPresent);
      CHECK(f.as.resident_total() == 2);
      CHECK(f.as.pn_origin(0) == PnOrigin::Uffd);
      CHECK(f.as.pn_origin(1) == PnOrigin::Numa);  // skipped, still NUMA's in truth
      CHECK(pte::none(f.as.pte_at(2)));
      CHECK(f.as.tlb_flushes() == 1);
    }
  }
  GIVEN("a shmem VMA") {
    Fix f(Variant::RfcV1, Backing::Shmem);
    f.u.register_range(modes(true, false, true, false), {false, false, true, false});
    f.populate(0);
    f.u.deactivate(0, 1);
    THEN("the PTE is zapped but the folio stays in the page cache") {
      CHECK(pte::none(f.as.pte_at(0)));
      CHECK(f.as.in_page_cache(0));
      CHECK(f.as.resident_total() == 1);
    }
  }
  GIVEN("the wrong kernel or registration") {
    Fix r(Variant::Rwp, Backing::Anon);
    CHECK_FALSE(r.u.deactivate(0, 1).error.empty());
    Fix v(Variant::RfcV1, Backing::Anon);
    CHECK(v.u.deactivate(0, 1).error.find("MODE_MINOR") != std::string::npos);
  }
}

SCENARIO("UFFDIO_RWPROTECT marks with the uffd bit, promotes NUMA PROT_NONE, tags swap entries", "[uffd]") {
  Fix f(Variant::Rwp, Backing::Anon);
  REQUIRE(f.u.register_range(modes(true, false, false, true), {false, false, false, true}).error.empty());
  f.populate(0);
  f.populate(1);
  f.populate(2);
  f.as.set_protnone(1, false, PnOrigin::Numa);
  f.as.swap_out(2, 7);
  auto r = f.u.rwprotect(0, 4, true);
  CHECK(r.ptes == 3);
  CHECK((pte::protnone(f.as.pte_at(0)) && pte::uffd(f.as.pte_at(0))));
  CHECK((pte::protnone(f.as.pte_at(1)) && pte::uffd(f.as.pte_at(1))));
  CHECK(f.as.pn_origin(1) == PnOrigin::Uffd);
  CHECK((pte::swap(f.as.pte_at(2)) && pte::uffd(f.as.pte_at(2))));
  CHECK(pte::none(f.as.pte_at(3)));  // NONE stays NONE
  WHEN("the swapped page comes back") {
    REQUIRE(f.as.fault(2, false, 0, 0).kind == FaultKind::SwapIn);
    THEN("rwp re-applies PROT_NONE from the swap entry's bit") {
      CHECK((pte::protnone(f.as.pte_at(2)) && pte::uffd(f.as.pte_at(2))));
    }
  }
  WHEN("protection is cleared") {
    f.u.rwprotect(0, 4, false);
    CHECK(pte::accessible(f.as.pte_at(0), true));
    CHECK(pte::accessible(f.as.pte_at(1), true));
    CHECK((pte::swap(f.as.pte_at(2)) && !pte::uffd(f.as.pte_at(2))));
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
  f.u.deactivate(0, 1);
  CHECK(f.u.cont(0).ptes == 1);
  CHECK(pte::accessible(f.as.pte_at(0), true));
  CHECK(f.u.copy(1, 0, false).ptes == 1);
  CHECK(f.as.resident_total() == 2);
  CHECK(f.u.copy(1, 0, false).error == "EEXIST");
  CHECK(f.u.copy(2, 0, true).ptes == 1);
  CHECK(pte::zero_page(f.as.pte_at(2)));
  Fix s(Variant::Upstream, Backing::Shmem);
  s.u.register_range(modes(true, false, true, false), {});
  s.populate(3);
  s.as.zap(3);
  CHECK(s.u.cont(3).ptes == 1);
  CHECK(pte::accessible(s.as.pte_at(3), true));
}

SCENARIO("MADV_DONTNEED frees anon frames but only zaps shmem; PUNCH_HOLE frees", "[uffd]") {
  Fix a(Variant::Upstream, Backing::Anon);
  a.populate(0);
  a.u.dontneed({0});
  CHECK(pte::none(a.as.pte_at(0)));
  CHECK(a.as.resident_total() == 0);
  CHECK(a.host.used(0) == 0);
  CHECK(a.as.fault(0, true, 0, 0).kind == FaultKind::AnonAlloc);  // a fresh, unprotected page
  Fix s(Variant::Upstream, Backing::Shmem);
  s.populate(0);
  s.u.dontneed({0});
  CHECK(pte::none(s.as.pte_at(0)));
  CHECK(s.as.resident_total() == 1);
  CHECK(s.as.fault(0, false, 0, 0).kind == FaultKind::ShmemMinor);
  s.u.punch_hole({0});
  CHECK(s.as.resident_total() == 0);
  CHECK_FALSE(s.as.in_page_cache(0));
  s.as.check_invariants();
}

TEST_CASE("swap entries keep the uffd bit; a NUMA PROT_NONE is lost", "[uffd]") {
  Fix f(Variant::Upstream, Backing::Anon);
  f.u.register_range(modes(false, true, false, false), {true, false, false, false});
  f.populate(0);
  f.populate(1);
  f.u.writeprotect(0, 1, true);
  f.as.set_protnone(1, false, PnOrigin::Numa);
  f.as.swap_out(0, 5);
  f.as.swap_out(1, 6);
  CHECK(pte::uffd(f.as.pte_at(0)));
  CHECK_FALSE(pte::uffd(f.as.pte_at(1)));
  CHECK(pte::pfn(f.as.pte_at(0)) == 5);
  REQUIRE(f.as.swap_in(1, 0));
  CHECK(pte::accessible(f.as.pte_at(1), true));  // no PROT_NONE comes back
  REQUIRE(f.as.swap_in(0, 0));
  CHECK((pte::uffd(f.as.pte_at(0)) && !pte::writable(f.as.pte_at(0))));  // still write-protected
}

SCENARIO("PAGEMAP_SCAN categories and masks", "[uffd]") {
  GIVEN("rfc-v1 anon: two deactivated pages, a NUMA-hinted one, a touched one, a zero page") {
    Fix f(Variant::RfcV1, Backing::Anon, 8);
    f.u.register_range(modes(true, false, true, false), {false, true, true, false});
    for (std::uint64_t g : {0, 1, 3, 4}) f.populate(g);
    f.u.deactivate(0, 8);
    f.as.fault(4, false, 0, 0);  // touched after deactivation: restored
    f.as.slots()[3].pte &= ~pte::kProtNone;
    f.as.set_protnone(3, false, PnOrigin::Numa);  // a NUMA scanner's PROT_NONE
    REQUIRE(f.as.fault(5, false, 0, 0).result == FaultResult::Blocked);  // MISSING registered
    f.u.copy(5, 0, true);  // zero page
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
    f.u.rwprotect(0, 4, true);
    f.as.fault(1, false, 0, 0);
    CHECK((f.u.categories(1) & uffd::cat::kAccessed));
    CHECK_FALSE((f.u.categories(0) & uffd::cat::kAccessed));
    CHECK_FALSE((f.u.categories(0) & uffd::cat::kUffdDeactivated));
  }
}

TEST_CASE("unregister/close restores uffd-owned PTE state", "[uffd]") {
  Fix f(Variant::Rwp, Backing::Anon);
  f.u.register_range(modes(false, false, false, true), {false, false, false, true});
  f.populate(0);
  f.populate(1);
  f.u.rwprotect(0, 2, true);
  f.u.unregister();
  CHECK(pte::accessible(f.as.pte_at(0), true));
  CHECK(pte::accessible(f.as.pte_at(1), true));
  CHECK_FALSE(f.u.registered());
  Fix g(Variant::RfcV1, Backing::Anon);
  g.u.register_range(modes(false, false, true, false), {false, true, false, false});
  g.populate(0);
  g.u.deactivate(0, 1);
  g.u.unregister();
  CHECK(pte::accessible(g.as.pte_at(0), true));
  CHECK(g.as.fault(1, true, 0, 0).kind == FaultKind::AnonAlloc);  // no MISSING/MINOR any more
}

SCENARIO("GUP through PROT_NONE (seed 002 gup_can_follow_protnone)", "[uffd]") {
  auto setup = [](Fix& f) {
    f.populate(0);
    if (f.as.config().variant == Variant::Rwp) {
      f.u.register_range(modes(false, false, false, true), {false, false, false, true});
      f.u.rwprotect(0, 1, true);
    } else {
      f.u.register_range(modes(false, false, true, false), {false, true, true, false});
      f.u.deactivate(0, 1);
    }
  };
  bool invisible = false;
  GIVEN("rfc-v1 and a GUP without FOLL_HONOR_NUMA_FAULT") {
    Fix f(Variant::RfcV1, Backing::Anon);
    setup(f);
    auto o = f.as.gup(0, false, false, 0, 0, invisible);
    THEN("a read follows the PTE silently: the access never reaches uffd") {
      CHECK(o.ok());
      CHECK(invisible);
      CHECK(pte::protnone(f.as.pte_at(0)));
      CHECK(f.as.gup_invisible() == 1);
    }
    THEN("a write cannot: a PROT_NONE PTE is never pte_write(), so FOLL_WRITE faults") {
      auto w = f.as.gup(0, true, false, 0, 0, invisible);
      CHECK(w.kind == FaultKind::UffdMinorAsync);
      CHECK_FALSE(invisible);
    }
  }
  GIVEN("rfc-v1 and FOLL_HONOR_NUMA_FAULT") {
    Fix f(Variant::RfcV1, Backing::Anon);
    setup(f);
    auto o = f.as.gup(0, false, true, 0, 0, invisible);
    CHECK(o.kind == FaultKind::UffdMinorAsync);
    CHECK_FALSE(invisible);
  }
  GIVEN("rwp with the 07/14 guard") {
    Fix f(Variant::Rwp, Backing::Anon);
    setup(f);
    auto o = f.as.gup(0, false, false, 0, 0, invisible);
    CHECK(o.kind == FaultKind::UffdRwpAsync);
    CHECK_FALSE(invisible);
  }
  GIVEN("rwp without the guard (kernel.patches.gup_rwp_fault=false)") {
    auto c = Fix::cfg(Variant::Rwp, Backing::Anon, 8);
    c.patches.gup_rwp_fault = false;
    HostMemory host({16});
    AddressSpace as(c, host);
    Uffd u(as, {}, 1);
    u.register_range(modes(false, false, false, true), {false, false, false, true});
    REQUIRE(as.fault(0, true, 0, 0).ok());
    u.rwprotect(0, 1, true);
    CHECK(as.gup(0, false, false, 0, 0, invisible).ok());
    CHECK(invisible);
  }
}

TEST_CASE("SET_MODE changes no PTE and flips async for the whole context", "[uffd]") {
  Fix f(Variant::RfcV1, Backing::Anon, 4);
  f.u.register_range(modes(false, false, true, false), {false, true, true, false});
  for (std::uint64_t g = 0; g < 4; ++g) f.populate(g);
  f.u.deactivate(0, 4);
  std::vector<Pte> before;
  for (std::uint64_t g = 0; g < 4; ++g) before.push_back(f.as.pte_at(g));
  auto r = f.u.set_mode(false);
  CHECK(r.ptes == 0);
  CHECK_FALSE(r.flushed);
  CHECK(r.cost_ns == 700 + 2000);
  for (std::uint64_t g = 0; g < 4; ++g) CHECK(f.as.pte_at(g) == before[g]);
  CHECK(f.as.fault(0, false, 0, 0).result == FaultResult::Blocked);  // sync now
  f.u.set_mode(true);
  CHECK(f.as.fault(0, false, 0, 0).ok());  // the pending fault retries and auto-resolves
}

TEST_CASE("data versions: one bump per write-epoch, taken lazily", "[uffd][mm]") {
  Fix f(Variant::Upstream, Backing::Anon);
  f.populate(0);
  PageSlot& s = f.as.slots()[0];
  CHECK(f.as.data_version(0) == 0);
  f.as.note_access(s, 10, true, 0, 0);
  f.as.note_access(s, 20, true, 0, 0);
  CHECK(f.as.data_version(0) == 1);
  CHECK(f.as.data_version(0) == 1);
  f.as.note_access(s, 30, false, 0, 0);
  CHECK(f.as.data_version(0) == 1);
  f.as.note_access(s, 40, true, 0, 0);
  CHECK(f.as.data_version(0) == 2);
  CHECK(f.as.last_access(0) == 40);
}
