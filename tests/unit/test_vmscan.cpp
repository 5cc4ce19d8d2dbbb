// Kernel reclaim (models/vmscan): the classic active/inactive LRU, folio_check_references(),
// swap-out through try_to_unmap() (the uffd bit rides in the swap entry), refault distance,
// kswapd against the watermarks and direct reclaim; the multi-generational LRU's generations,
// aging, eviction and refaults; each through the real fault paths.
#include <catch2/catch.hpp>

#include <set>

#include "kernel_fixture.hpp"
#include "models/mm/pte.hpp"
#include "models/vmscan/lru.hpp"
#include "models/vmscan/mglru.hpp"
#include "sim/core/rng.hpp"

using namespace vmemsim;
using core::Gfn;
namespace pte = mm::pte;

namespace {

using test::RecEnv;

// One host node of `frames` frames, one anon VM of `pages` pages, reclaim over them.
struct ReclaimHost {
  mm::HostMemory host;
  std::unique_ptr<test::TestVm> vm;
  std::unique_ptr<vmscan::Reclaimer> lru;
  RecEnv env;

  ReclaimHost(std::uint64_t frames, std::uint64_t pages, std::uint64_t swap_pages = 1 << 20,
              mm::Variant v = mm::Variant::Upstream, bool mglru = false, vmscan::LruConfig c = {})
      : host({frames}) {
    host.setup_watermarks(128, 10);
    vm = std::make_unique<test::TestVm>(test::vm_config(pages, 1, mm::Backing::Anon, v), host);
    c.swap_pages = swap_pages;
    std::vector<mm::AddressSpace*> by_vm{&vm->as()};
    if (mglru) lru = std::make_unique<vmscan::MgLru>(host, by_vm, c);
    else lru = std::make_unique<vmscan::ClassicLru>(host, by_vm, c);
    host.set_observer(lru.get());
    lru->adopt_used_frames();
  }
  mm::AddressSpace& as() { return vm->as(); }
  vmscan::MgLru& mg() { return dynamic_cast<vmscan::MgLru&>(*lru); }
  // A guest write to page g (fault if needed), leaving the PTE young as the vCPU's access does.
  void touch(std::uint64_t g, bool write = true) {
    if (!pte::accessible(as().pte_at(Gfn(g)), write)) REQUIRE(vm->fault(g, write).ok());
    as().page_table().slots()[g].pte |= pte::kAccessed | (write ? pte::kDirty : 0);
  }
  void clear_young(std::uint64_t g) { (void)as().page_table().test_and_clear_young(Gfn(g)); }
  std::uint64_t step() {
    std::uint64_t scanned = 0;
    return lru->shrink_step(env, 0, false, scanned);
  }
  void check() {
    host.check_invariants();
    as().check_invariants();
    lru->check_invariants();
    CHECK(lru->inactive(0) + lru->active(0) == host.used(0));
    std::uint64_t swapped = 0;
    for (std::uint64_t g = 0; g < as().pages(); ++g) swapped += pte::swap(as().pte_at(Gfn(g))) ? 1 : 0;
    CHECK(swapped == lru->swap_used());
    CHECK(swapped == as().swap_ptes());
  }
};

}  // namespace

SCENARIO("new anon pages start on the inactive list; unreferenced ones are swapped out", "[reclaim][lru]") {
  GIVEN("64 pages written once, then their young bits cleared") {
    ReclaimHost h(1024, 64);
    for (std::uint64_t g = 0; g < 64; ++g) h.touch(g);
    CHECK(h.lru->inactive(0) == 64);
    CHECK(h.lru->active(0) == 0);
    for (std::uint64_t g = 0; g < 64; ++g) h.clear_young(g);
    WHEN("reclaim asks for 32 folios") {
      const auto got = h.lru->shrink_node(h.env, 0, 32, false);
      THEN("the 32 oldest (lowest gfns, the list's tail) go to swap and their frames are freed") {
        CHECK(got == 32);
        CHECK(h.host.used(0) == 32);
        for (std::uint64_t g = 0; g < 32; ++g) CHECK(pte::swap(h.as().pte_at(Gfn(g))));
        for (std::uint64_t g = 32; g < 64; ++g) CHECK(pte::present(h.as().pte_at(Gfn(g))));
        CHECK(h.env.written == 32 * core::kPageSize);
        CHECK(h.env.flushes == 1);  // one flush per mm per batch
        CHECK(h.lru->counters().pswpout == 32);
        CHECK(h.lru->counters().pgsteal_kswapd == 32);
        h.check();
      }
    }
  }
}

SCENARIO("folio_check_references: referenced once is kept, twice is activated", "[reclaim][lru]") {
  GIVEN("32 pages on the inactive list, the even ones young") {
    ReclaimHost h(1024, 32);
    for (std::uint64_t g = 0; g < 32; ++g) h.touch(g);
    for (std::uint64_t g = 0; g < 32; ++g)
      if (g % 2) h.clear_young(g);
    WHEN("one shrink step looks at all of them") {
      h.step();
      THEN("the odd pages are reclaimed, the even ones rotate with PG_referenced and their young bit cleared") {
        for (std::uint64_t g = 0; g < 32; ++g) {
          INFO("gfn " << g);
          CHECK(pte::swap(h.as().pte_at(Gfn(g))) == (g % 2 == 1));
        }
        CHECK(h.lru->counters().pgrotated == 16);
        CHECK(h.lru->inactive(0) == 16);
        for (std::uint64_t g = 0; g < 32; g += 2) CHECK_FALSE(pte::young(h.as().pte_at(Gfn(g))));
        h.check();
      }
      AND_WHEN("the even pages are touched again and reclaim looks again") {
        for (std::uint64_t g = 0; g < 32; g += 2) h.touch(g);
        h.step();
        THEN("referenced twice: they move to the active list, nothing is reclaimed") {
          CHECK(h.lru->active(0) == 16);
          CHECK(h.lru->inactive(0) == 0);
          CHECK(h.lru->counters().pswpout == 16);
          h.check();
        }
      }
    }
  }
}

SCENARIO("shrink_active_list deactivates anon folios and clears their young bits", "[reclaim][lru]") {
  GIVEN("16 active pages and an empty inactive list") {
    ReclaimHost h(1024, 16);
    for (std::uint64_t g = 0; g < 16; ++g) h.touch(g);
    h.step();  // referenced once: rotate
    for (std::uint64_t g = 0; g < 16; ++g) h.touch(g);
    h.step();  // twice: all active
    REQUIRE(h.lru->active(0) == 16);
    for (std::uint64_t g = 0; g < 16; ++g) h.touch(g);
    WHEN("reclaim runs with the inactive list low") {
      const auto got = h.lru->shrink_node(h.env, 0, 4, false);
      THEN("the active tail is deactivated (young bits cleared), and then reclaimed as unreferenced") {
        CHECK(h.lru->counters().pgdeactivate == 16);
        CHECK(h.lru->counters().pgrefill == 16);
        // shrink_folio_list() finishes its isolated batch whatever the goal: all 16.
        CHECK(got == 16);
        h.check();
      }
    }
  }
}

SCENARIO("the uffd bit rides in the swap entry; a refault within the workingset is activated", "[reclaim][uffd]") {
  GIVEN("a WP-registered VM whose 8 pages are write-protected, then reclaimed") {
    ReclaimHost h(1024, 8);
    for (std::uint64_t g = 0; g < 8; ++g) h.touch(g);
    auto& u = h.vm->uffd();
    uffd::Modes m;
    m.wp = true;
    uffd::Features f;
    f.wp_async = true;
    REQUIRE(u.register_range(m, f).error.empty());
    REQUIRE(u.writeprotect(Gfn(0), 8, true).error.empty());
    for (std::uint64_t g = 0; g < 8; ++g) h.clear_young(g);
    REQUIRE(h.lru->shrink_node(h.env, 0, 8, false) == 8);
    THEN("every swap entry keeps the uffd bit") {
      for (std::uint64_t g = 0; g < 8; ++g) CHECK((pte::swap(h.as().pte_at(Gfn(g))) && pte::uffd(h.as().pte_at(Gfn(g)))));
    }
    WHEN("page 3 faults back in") {
      const auto f = h.vm->fault(3, false);
      THEN("a swap-in: the read is the vCPU's to wait for, the PTE is write-protected again, the slot freed") {
        CHECK(f.ok());
        CHECK(f.read_bytes == core::kPageSize);
        CHECK(pte::present(h.as().pte_at(Gfn(3))));
        CHECK(pte::uffd(h.as().pte_at(Gfn(3))));
        CHECK(h.lru->counters().pswpin == 1);
        CHECK(h.lru->swap_used() == 7);
        // distance 7 (evictions after it) > active list 0: not in the workingset
        CHECK(h.lru->counters().workingset_activate_anon == 0);
        h.check();
      }
    }
    WHEN("MADV_DONTNEED zaps the swapped pages") {
      for (std::uint64_t g = 0; g < 8; ++g) h.as().zap(Gfn(g));
      THEN("their slots are freed") {
        CHECK(h.lru->swap_used() == 0);
        h.check();
      }
    }
  }
}

SCENARIO("workingset_refault: a refault whose distance fits the active list is activated", "[reclaim][workingset]") {
  GIVEN("16 active pages, 24 inactive ones reclaimed in one step (oldest first)") {
    ReclaimHost h(1024, 40);
    for (std::uint64_t g = 0; g < 16; ++g) h.touch(g);
    h.step();
    for (std::uint64_t g = 0; g < 16; ++g) h.touch(g);
    h.step();
    REQUIRE(h.lru->active(0) == 16);
    for (std::uint64_t g = 16; g < 40; ++g) h.touch(g);
    for (std::uint64_t g = 16; g < 40; ++g) h.clear_young(g);
    REQUIRE(h.step() == 24);  // inactive (24) is not low against active (16): no aging
    WHEN("the last page evicted faults back: distance 1, within the 16 active pages") {
      REQUIRE(h.vm->fault(39, false).ok());
      THEN("it comes back on the active list") {
        CHECK(h.lru->counters().workingset_refault_anon == 1);
        CHECK(h.lru->counters().workingset_activate_anon == 1);
        CHECK(h.lru->active(0) == 17);
        h.check();
      }
    }
    WHEN("the first page evicted faults back: distance 24, beyond the active list") {
      REQUIRE(h.vm->fault(16, false).ok());
      THEN("it starts on the inactive list like a new page") {
        CHECK(h.lru->counters().workingset_refault_anon == 1);
        CHECK(h.lru->counters().workingset_activate_anon == 0);
        CHECK(h.lru->active(0) == 16);
        h.check();
      }
    }
  }
}

SCENARIO("pinned and KSM frames are not reclaimed", "[reclaim][lru]") {
  GIVEN("8 unreferenced pages, page 2 pinned") {
    ReclaimHost h(1024, 8);
    for (std::uint64_t g = 0; g < 8; ++g) h.touch(g);
    for (std::uint64_t g = 0; g < 8; ++g) h.clear_young(g);
    const mm::Pfn pinned(pte::pfn(h.as().pte_at(Gfn(2))));
    h.host.get(pinned);
    h.lru->shrink_node(h.env, 0, 8, false);
    THEN("everything but the pinned page is swapped; it moved to the active list") {
      for (std::uint64_t g = 0; g < 8; ++g) CHECK(pte::swap(h.as().pte_at(Gfn(g))) == (g != 2));
      CHECK(h.lru->active(0) == 1);
      h.host.put(pinned);
      h.check();
    }
  }
}

TEST_CASE("kswapd wakes below the low watermark and reclaims to the high one; direct reclaim frees a cluster",
          "[reclaim][kswapd]") {
  mm::HostMemory host({2048});
  host.setup_watermarks(1024, 10);  // min 256 pages, low/high above it
  auto vm = std::make_unique<test::TestVm>(test::vm_config(4096, 1), host);
  vmscan::LruConfig c;
  c.swap_pages = 1 << 20;
  auto lru = std::make_shared<vmscan::ClassicLru>(host, std::vector<mm::AddressSpace*>{&vm->as()}, c);
  host.set_observer(lru.get());
  vmscan::Kswapd k("kswapd0.h0", 0, 0, 0, lru, true);
  RecEnv env;
  const auto& w = host.watermarks(0);
  std::uint64_t g = 0;
  while (host.free_frames(0) >= w.low) {
    REQUIRE(vm->fault(g, true).ok());
    (void)vm->as().page_table().test_and_clear_young(Gfn(g));
    ++g;
  }
  CHECK(k.next_wakeup(5) == 5);  // below low: run now
  while (k.next_wakeup(env.t) == env.t && env.t < 1'000'000'000) k.run_batch(env, env.t);
  CHECK(host.free_frames(0) >= w.high);
  CHECK(lru->counters().pgsteal_kswapd > 0);
  CHECK(k.next_wakeup(env.t) > env.t);  // balanced: asleep until the next poll
  lru->check_invariants();
  // Fill the node completely: the next fault fails, direct reclaim frees a cluster.
  while (host.free_frames(0) > 0) REQUIRE(vm->fault(g++, true).ok());
  CHECK(vm->fault(g, true).result == mm::FaultResult::Oom);
  CHECK(k.direct_reclaim(env, 0) == c.cluster);
  CHECK(vm->fault(g, true).ok());
  CHECK(lru->counters().pgsteal_direct == c.cluster);
  lru->check_invariants();
  host.check_invariants();
}

TEST_CASE("randomized: LRU and swap accounting hold after every reclaim step", "[reclaim][random]") {
  const bool mglru = GENERATE(false, true);
  INFO((mglru ? "mglru" : "classic"));
  ReclaimHost h(600, 1000, 5000, mm::Variant::Upstream, mglru);
  core::Rng rng = core::Rng::stream(7, "test/reclaim");
  for (int step = 0; step < 300; ++step) {
    for (int i = 0; i < 50; ++i) {
      const std::uint64_t g = rng.below(1000);
      const bool w = rng.below(4) == 0;
      if (h.host.free_frames(0) == 0 && !pte::present(h.as().pte_at(Gfn(g)))) continue;
      if (rng.below(20) == 0) {
        h.as().zap(Gfn(g));
        continue;
      }
      h.touch(g, w);
    }
    if (h.host.free_frames(0) < 100) h.lru->shrink_node(h.env, 0, 64, rng.below(2) == 0);
    h.check();
  }
  CHECK(h.lru->counters().pswpout > 0);
  CHECK(h.lru->counters().pswpin > 0);
}

SCENARIO("MGLRU: new folios join max_seq - 1; aging moves young ones up and opens a generation", "[reclaim][mglru]") {
  GIVEN("a node with 32 folios, the lruvec as lru_gen_init_lruvec() leaves it") {
    ReclaimHost h(1024, 32, 1 << 20, mm::Variant::Upstream, true);
    for (std::uint64_t g = 0; g < 32; ++g) h.touch(g);
    auto& m = h.mg();
    CHECK(m.max_seq(0) == 3);
    CHECK(m.min_seq(0) == 0);
    CHECK(m.gen_size(0, 2) == 32);
    CHECK(h.lru->active(0) == 32);  // max_seq - 1 counts as active (lru_gen_is_active)
    for (std::uint64_t g = 0; g < 32; ++g) h.clear_young(g);
    WHEN("pages 0-7 are touched and the node ages") {
      for (std::uint64_t g = 0; g < 8; ++g) h.touch(g);
      h.env.t = 5000;
      m.age(h.env, 0);
      THEN("the young folios sit in the old max_seq, the rest where they were, under a new empty youngest") {
        CHECK(m.max_seq(0) == 4);
        CHECK(m.min_seq(0) == 1);  // four generations were live: inc_min_seq() retired seq 0
        CHECK(m.gen_size(0, 4) == 0);
        CHECK(m.gen_size(0, 3) == 8);
        CHECK(m.gen_size(0, 2) == 24);
        for (std::uint64_t g = 0; g < 8; ++g) CHECK(m.seq_of(mm::Pfn(pte::pfn(h.as().pte_at(Gfn(g))))) == 3);
        CHECK(!pte::young(h.as().pte_at(Gfn(0))));  // the walk cleared the young bits
        CHECK(h.lru->counters().lru_gen_aging == 1);
        CHECK(h.env.cpu_ns == 32 * h.lru->config().walk_ns);  // every mapping PTE visited
        h.check();
      }
    }
  }
}

SCENARIO("MGLRU eviction: the oldest generation first; young once is kept, young twice activated", "[reclaim][mglru]") {
  GIVEN("16 folios aged twice: 0-7 young at both agings, 8-15 never") {
    ReclaimHost h(1024, 16, 1 << 20, mm::Variant::Upstream, true);
    auto& m = h.mg();
    for (std::uint64_t g = 0; g < 16; ++g) h.touch(g);
    for (std::uint64_t g = 0; g < 16; ++g) h.clear_young(g);
    for (int a = 0; a < 2; ++a) {
      for (std::uint64_t g = 0; g < 8; ++g) h.touch(g);
      m.age(h.env, 0);
    }
    REQUIRE(m.max_seq(0) == 5);
    REQUIRE(m.min_seq(0) == 2);
    REQUIRE(m.gen_size(0, 2) == 8);  // 8-15, folded up from seq 2 -> stays the oldest
    REQUIRE(m.gen_size(0, 4) == 8);  // 0-7
    WHEN("reclaim runs one step") {
      const auto got = h.step();
      THEN("only the never-young folios of the oldest generation are swapped, and the generation is dropped") {
        CHECK(got == 8);
        for (std::uint64_t g = 8; g < 16; ++g) CHECK(pte::swap(h.as().pte_at(Gfn(g))));
        for (std::uint64_t g = 0; g < 8; ++g) CHECK(pte::present(h.as().pte_at(Gfn(g))));
        CHECK(m.min_seq(0) == 4);  // seqs 2 and 3 are empty now: dropped
        h.check();
      }
    }
    WHEN("8-15 are used again before reclaim looks at them") {
      for (std::uint64_t g = 8; g < 16; ++g) h.touch(g);
      CHECK(h.step() == 0);
      THEN("the first look finds them young: PG_referenced, to max_seq - 1 (FOLIOREF_KEEP)") {
        for (std::uint64_t g = 8; g < 16; ++g) CHECK(m.seq_of(mm::Pfn(pte::pfn(h.as().pte_at(Gfn(g))))) == m.max_seq(0) - 1);
        CHECK(h.lru->counters().pgactivate == 0);
        CHECK(h.lru->counters().pswpout == 0);
        h.check();
      }
      AND_WHEN("the node ages, and they are young at the next look too") {
        m.age(h.env, 0);  // nothing is young now: no promotion
        for (std::uint64_t g = 8; g < 16; ++g) h.touch(g);
        h.step();
        THEN("0-7, unused, are swapped; 8-15 are activated to max_seq (FOLIOREF_ACTIVATE)") {
          CHECK(h.lru->counters().pswpout == 8);
          for (std::uint64_t g = 0; g < 8; ++g) CHECK(pte::swap(h.as().pte_at(Gfn(g))));
          CHECK(h.lru->counters().pgactivate == 8);
          for (std::uint64_t g = 8; g < 16; ++g) CHECK(m.seq_of(mm::Pfn(pte::pfn(h.as().pte_at(Gfn(g))))) == m.max_seq(0));
          h.check();
        }
      }
    }
  }
}

SCENARIO("MGLRU refaults: recent while max_seq moved less than MAX_NR_GENS", "[reclaim][mglru][workingset]") {
  GIVEN("8 folios evicted from the oldest generation") {
    ReclaimHost h(1024, 8, 1 << 20, mm::Variant::Upstream, true);
    auto& m = h.mg();
    for (std::uint64_t g = 0; g < 8; ++g) h.touch(g);
    for (std::uint64_t g = 0; g < 8; ++g) h.clear_young(g);
    REQUIRE(h.lru->shrink_node(h.env, 0, 8, false) == 8);
    WHEN("page 0 faults back at once") {
      REQUIRE(h.vm->fault(0, false).ok());
      THEN("the refault is recent: PG_workingset, counted, and the folio joins min_seq + 1 or min_seq") {
        CHECK(h.lru->counters().workingset_refault_anon == 1);
        CHECK(h.lru->counters().workingset_activate_anon == 1);
        const auto s = m.seq_of(mm::Pfn(pte::pfn(h.as().pte_at(Gfn(0)))));
        CHECK(s <= m.min_seq(0) + 1);
        h.check();
      }
    }
    WHEN("the node ages four more times before page 1 faults back") {
      for (int a = 0; a < 4; ++a) m.age(h.env, 0);
      REQUIRE(h.vm->fault(1, false).ok());
      THEN("the refault is not recent") {
        CHECK(h.lru->counters().workingset_refault_anon == 1);
        CHECK(h.lru->counters().workingset_activate_anon == 0);
        h.check();
      }
    }
  }
}

TEST_CASE("MGLRU min_ttl: kswapd counts the passes that find every generation too young", "[reclaim][mglru]") {
  vmscan::LruConfig c;
  c.min_ttl_ns = 1'000'000'000;
  ReclaimHost h(1024, 16, 1 << 20, mm::Variant::Upstream, true, c);
  for (std::uint64_t g = 0; g < 16; ++g) h.touch(g);
  auto& m = h.mg();
  h.env.t = 100'000'000;
  m.kswapd_age(h.env, 0);  // four generations, the oldest born at 0 -> 100 ms old < 1 s
  CHECK(h.lru->counters().lru_gen_min_ttl_oom == 1);
  h.env.t = 2'000'000'000;
  m.kswapd_age(h.env, 0);
  CHECK(h.lru->counters().lru_gen_min_ttl_oom == 1);  // 2 s old: reclaimable
}

SCENARIO("demotion: reclaim on a CPU node migrates folios to its lower tier before it swaps", "[reclaim][demotion]") {
  GIVEN("a DRAM node of 64 frames with CPUs and a CPU-less node of 64, demotion_enabled, 48 pages on node 0") {
    const bool mglru = GENERATE(false, true);
    INFO((mglru ? "mglru" : "classic"));
    mm::HostMemory host({64, 64});
    host.setup_watermarks(16, 10);
    test::TestVm vm(test::vm_config(48, 2), host);
    vmscan::LruConfig c;
    c.swap_pages = 1024;
    c.demotion = true;
    c.demote_target = {1, -1};
    c.cluster = 8;
    std::unique_ptr<vmscan::Reclaimer> lru;
    if (mglru) lru = std::make_unique<vmscan::MgLru>(host, std::vector<mm::AddressSpace*>{&vm.as()}, c);
    else lru = std::make_unique<vmscan::ClassicLru>(host, std::vector<mm::AddressSpace*>{&vm.as()}, c);
    host.set_observer(lru.get());
    for (std::uint64_t g = 0; g < 48; ++g) REQUIRE(vm.fault(g, true).ok());
    REQUIRE(host.used(0) == 48);
    RecEnv env;
    WHEN("node 0 reclaims 16 folios") {
      REQUIRE(lru->shrink_node(env, 0, 16, false) == 16);
      THEN("they are demoted to node 1, still mapped, and nothing is written to swap") {
        CHECK(lru->counters().pgdemote_kswapd == 16);
        CHECK(lru->counters().pswpout == 0);
        CHECK(env.written == 0);
        CHECK(host.used(0) == 32);
        CHECK(host.used(1) == 16);
        std::uint64_t on1 = 0;
        for (std::uint64_t g = 0; g < 48; ++g) {
          CHECK(pte::present(vm.as().pte_at(Gfn(g))));
          on1 += pte::node(vm.as().pte_at(Gfn(g))) == 1;
        }
        CHECK(on1 == 16);
        lru->check_invariants();
        host.check_invariants();
        vm.as().check_invariants();
      }
    }
    WHEN("node 1 is at its min watermark") {
      std::vector<mm::Pfn> fill;
      while (host.free_frames(1) > host.watermarks(1).min) fill.push_back(*host.alloc_on(core::NodeId(1), mm::Mapper{}));
      REQUIRE(lru->shrink_node(env, 0, 8, false) == 8);
      THEN("demotion fails and the folios are swapped instead") {
        CHECK(lru->counters().pgdemote_kswapd == 0);
        CHECK(lru->counters().pgdemote_fail >= 8);
        CHECK(lru->counters().pswpout == 8);
        CHECK(env.written == 8 * core::kPageSize);
      }
    }
  }
}
