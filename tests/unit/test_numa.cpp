// NUMA balancing (models/numa): scan pacing, the adaptive period, the hinting fault's
// migration decision, migration failure, the rfc-v1 07/12 skip, and each protnone-conflict
// counter produced by a hand-built event sequence through the real fault paths.
#include <catch2/catch.hpp>

#include "kernel_fixture.hpp"
#include "models/numa/balancer.hpp"

using namespace vmemsim;
using core::Gfn;
using core::NodeId;
using mm::Pte;
namespace pte = mm::pte;

namespace {

constexpr core::TimeNs kMs = 1'000'000;

NodeId node(unsigned n) { return NodeId(static_cast<std::uint16_t>(n)); }

// One VM on a host of `nodes` nodes (2 cores each, `frames` frames each), with one task per
// entry of `task_nodes`, NUMA balancing configured with `cfg`.
struct NumaVm {
  mm::HostMemory host;
  test::TestVm vm;
  std::shared_ptr<numa::HostNuma> hn;

  static mm::AddressSpaceConfig config(std::uint64_t pages, unsigned nodes, mm::Variant v, unsigned vmm_threads,
                                       const mm::KernelPatches& patches) {
    auto c = test::vm_config(pages, nodes, mm::Backing::Anon, v);
    c.vmm_threads = vmm_threads;
    c.patches = patches;
    return c;
  }
  NumaVm(std::uint64_t pages, unsigned nodes, std::uint64_t frames, std::vector<unsigned> task_nodes,
         numa::NumaConfig cfg, mm::Variant v = mm::Variant::Upstream, std::vector<unsigned> cores = {},
         unsigned vmm_threads = 1, mm::KernelPatches patches = {})
      : host(std::vector<std::uint64_t>(nodes, frames)), vm(config(pages, nodes, v, vmm_threads, patches), host) {
    host.setup_watermarks(128, 10);
    for (unsigned t = 0; t < task_nodes.size(); ++t) vm.as().add_task(node(task_nodes[t]), 1000 + t);
    if (cores.empty()) cores.assign(nodes, 2);
    std::vector<std::vector<core::TimeNs>> lat(nodes, std::vector<core::TimeNs>(nodes, 190));
    for (unsigned n = 0; n < nodes; ++n) lat[n][n] = 90;
    hn = std::make_shared<numa::HostNuma>(host, cores, lat);
    hn->cfg = cfg;
    vm.kernel().numa->configure(hn);
  }
  numa::MmNuma& numa() { return *vm.kernel().numa; }
  mm::AddressSpace& as() { return vm.as(); }
  // First touch of pages [a, b) from a thread on node `n` (the VMM's preallocation).
  void populate(std::uint64_t a, std::uint64_t b, unsigned n) {
    for (std::uint64_t g = a; g < b; ++g) REQUIRE(as().fault(Gfn(g), true, ~0u, node(n), 0).ok());
  }
  void check() {
    host.check_invariants();
    as().check_invariants();
  }
};

numa::NumaConfig normal(std::uint64_t scan_size_mb = 4) {
  numa::NumaConfig c;
  c.mode = numa::kNormal;
  c.scan_size_mb = scan_size_mb;
  return c;
}

}  // namespace

SCENARIO("task_numa_work paces the scan by address range, 2 MiB chunks and the 8x virtual cap", "[numa][scan]") {
  GIVEN("a 2-thread mm whose 16 MiB are populated on node 1, threads on node 0, scan_size 4 MiB") {
    NumaVm f(4096, 2, 8192, {0, 0}, normal(4));
    f.populate(0, 4096, 1);
    WHEN("the window opens (scan_delay) and one thread runs task_numa_work") {
      CHECK(f.numa().task_numa_work(0, 999 * kMs) == 0);  // before numa_next_scan: nothing
      CHECK(f.numa().stats().numa_pte_updates == 0);
      const core::TimeNs cost = f.numa().task_numa_work(0, 1000 * kMs);
      THEN("exactly scan_size of address range is made PROT_NONE, with one flush for the chunk") {
        CHECK(f.numa().stats().numa_pte_updates == 1024);
        CHECK(f.numa().scan_offset() == 1024);
        CHECK(f.numa().stats().tlb_flushes == 1);
        CHECK(f.as().tlb_flushes() == 1);
        CHECK(cost > 0);
        for (std::uint64_t g = 0; g < 1024; ++g) REQUIRE(pte::protnone(f.as().pte_at(Gfn(g))));
        CHECK_FALSE(pte::protnone(f.as().pte_at(Gfn(1024))));
        CHECK(f.as().truth().pn_origin(Gfn(5)) == mm::PnOrigin::Numa);
        f.check();
      }
      AND_THEN("the next window is one scan period later, mm-wide, and continues at the offset") {
        CHECK(f.numa().next_scan() == 1000 * kMs + 1000 * kMs);
        CHECK(f.numa().task_numa_work(1, 1500 * kMs) == 0);
        f.numa().task_numa_work(1, 2000 * kMs);
        CHECK(f.numa().stats().numa_pte_updates == 2048);
        CHECK(f.numa().scan_offset() == 2048);
      }
      AND_THEN("four windows complete a pass: numa_scan_seq advances and the offset wraps") {
        for (int w = 1; w < 4; ++w) f.numa().task_numa_work(0, (1000 + 1000 * w) * kMs);
        CHECK(f.numa().stats().numa_pte_updates == 4096);
        CHECK(f.numa().scan_offset() == 4096);
        CHECK(f.numa().scan_seq() == 0);
        // Offset at vm_end: reset_ptenuma_scan() (seq 1); every PTE is still PROT_NONE, so no
        // chunk uses the budget and the walk reaches the end of the VMA list again (seq 2).
        f.numa().task_numa_work(0, 5000 * kMs);
        CHECK(f.numa().scan_seq() == 2);
        CHECK(f.numa().stats().numa_pte_updates == 4096);
        f.check();
      }
    }
  }
  GIVEN("a range whose first 32 MiB were never touched") {
    NumaVm f(16384, 2, 16384, {0, 0}, normal(4));
    f.populate(8192, 16384, 1);
    WHEN("a window runs") {
      f.numa().task_numa_work(0, 1000 * kMs);
      THEN("chunks without a changed PTE do not use the budget, but the virtual range stops at 8x") {
        CHECK(f.numa().stats().numa_pte_updates == 0);
        CHECK(f.numa().scan_offset() == 8192);
        CHECK(f.numa().stats().tlb_flushes == 0);
      }
    }
  }
  GIVEN("a single-threaded process (one vCPU, no VMM thread) whose memory is on the thread's node") {
    NumaVm f(1024, 2, 4096, {0}, normal(4), mm::Variant::Upstream, {}, 0);
    f.populate(0, 1024, 0);
    f.numa().task_numa_work(0, 1000 * kMs);
    THEN("every page is skipped (mm_users == 1 and already local)") { CHECK(f.numa().stats().numa_pte_updates == 0); }
  }
  GIVEN("a 1-vCPU VM: the VMM's main thread shares the mm") {
    NumaVm f(1024, 2, 4096, {0}, normal(4));
    f.populate(0, 1024, 0);
    f.numa().task_numa_work(0, 1000 * kMs);
    THEN("mm_users is 2: local pages are scanned too") { CHECK(f.numa().stats().numa_pte_updates == 1024); }
  }
  GIVEN("zero-page mappings and a page already PROT_NONE") {
    NumaVm f(1024, 2, 4096, {0, 1}, normal(4));
    f.populate(1, 1024, 1);
    REQUIRE(f.as().fault(Gfn(0), false, 0, node(0), 0).ok());  // read fault: the zero page
    f.as().page_table().protnone(Gfn(1), false, mm::PnOrigin::Numa);
    f.numa().task_numa_work(0, 1000 * kMs);
    THEN("they are not counted as updates") {
      CHECK(pte::zero_page(f.as().pte_at(Gfn(0))));
      CHECK_FALSE(pte::protnone(f.as().pte_at(Gfn(0))));
      CHECK(f.numa().stats().numa_pte_updates == 1022);
    }
  }
}

TEST_CASE("update_task_scan_period: each case moves the period the kernel's way", "[numa][period]") {
  using numa::next_scan_period;
  bool slowed = false;
  // No local and no shared faults: double (capped).
  CHECK(next_scan_period(1000, {5, 0, 0}, 0, 5, 250, 15000, slowed) == 2000);
  CHECK(slowed);
  CHECK(next_scan_period(10000, {5, 0, 0}, 0, 5, 250, 15000, slowed) == 15000);
  // A failed migration: double, whatever the ratios.
  CHECK(next_scan_period(1000, {0, 100, 1}, 0, 100, 250, 15000, slowed) == 2000);
  CHECK(slowed);
  // Mostly private (ps >= 7), tested first: slower by (ps - 7) slots (at least one).
  CHECK(next_scan_period(1000, {100, 0, 0}, 10, 90, 250, 15000, slowed) == 1000 + 2 * 100);
  CHECK_FALSE(slowed);
  CHECK(next_scan_period(1000, {100, 0, 0}, 30, 70, 250, 15000, slowed) == 1000 + 100);
  // Mostly shared but local (lr >= 7): slower by (lr - 7) slots.
  CHECK(next_scan_period(1000, {10, 90, 0}, 90, 10, 250, 15000, slowed) == 1000 + 2 * 100);
  // Neither: faster by (7 - max(lr, ps)) slots, floored at scan_min.
  CHECK(next_scan_period(1000, {80, 20, 0}, 50, 50, 250, 15000, slowed) == 1000 - 2 * 100);
  CHECK(next_scan_period(300, {100, 0, 0}, 100, 0, 250, 15000, slowed) == 250);
}

SCENARIO("the hinting fault migrates toward the faulting CPU through the two-stage cpupid filter", "[numa][fault]") {
  GIVEN("three nodes, task 0 on node 0, task 1 on node 1, a page first touched on node 2") {
    NumaVm f(64, 3, 1024, {0, 1}, normal(4));
    f.populate(0, 1, 2);
    auto hint = [&](unsigned task) {
      f.as().page_table().protnone(Gfn(0), false, mm::PnOrigin::Numa);  // as change_prot_numa leaves it
      const unsigned n = f.as().task(task).cpu_node.v;
      return f.as().fault(Gfn(0), false, task, node(n), 2000 * kMs);
    };
    WHEN("task 1 faults first (cpupid unset): the page moves to node 1 at once") {
      REQUIRE(hint(1).ok());
      CHECK(pte::node(f.as().pte_at(Gfn(0))) == 1);
      CHECK(f.numa().stats().numa_pages_migrated == 1);
      // remove_migration_pte(): accessible, not writable, young kept from the old PTE.
      const Pte p = f.as().pte_at(Gfn(0));
      CHECK_FALSE(pte::protnone(p));
      CHECK_FALSE(pte::writable(p));
      f.check();
      AND_WHEN("task 0 on node 0 faults next: the last fault came from node 1, so it stays") {
        REQUIRE(hint(0).ok());
        CHECK(pte::node(f.as().pte_at(Gfn(0))) == 1);
        CHECK(f.numa().stats().numa_pages_migrated == 1);
        CHECK(f.numa().stats().numa_hint_faults == 2);
        CHECK(f.numa().stats().numa_hint_faults_local == 0);
        // The restored PTE is young and (exclusive anon, no uffd-wp) writable again.
        CHECK(pte::young(f.as().pte_at(Gfn(0))));
        CHECK(pte::writable(f.as().pte_at(Gfn(0))));
        AND_WHEN("task 0 faults again: same pid twice in a row, it moves to node 0") {
          REQUIRE(hint(0).ok());
          CHECK(pte::node(f.as().pte_at(Gfn(0))) == 0);
          CHECK(f.numa().stats().numa_pages_migrated == 2);
          f.check();
        }
      }
    }
    WHEN("a thread faults on a page already on its own node") {
      REQUIRE(hint(1).ok());  // now on node 1
      REQUIRE(hint(1).ok());
      THEN("mpol_misplaced() returns early: local, no migration") {
        CHECK(f.numa().stats().numa_hint_faults_local == 1);
        CHECK(f.numa().stats().numa_pages_migrated == 1);
      }
    }
  }
}

SCENARIO("migration fails at the target's high watermark", "[numa][fault]") {
  GIVEN("a target node with no free frames above its high watermark") {
    NumaVm f(64, 2, 512, {0, 1}, normal(4));
    f.populate(0, 1, 1);
    const std::uint64_t high = f.host.watermarks(0).high;
    REQUIRE(high + 1 < 512);
    // Fill node 0 down to its high watermark with another VM's pages.
    mm::HostMemory& h = f.host;
    std::vector<core::Pfn> filler;
    while (h.free_frames(0) > high + 1) filler.push_back(*h.alloc_on(node(0), {core::VmId(9), Gfn(filler.size())}));
    f.as().page_table().protnone(Gfn(0), false, mm::PnOrigin::Numa);
    REQUIRE(f.as().fault(Gfn(0), false, 0, node(0), 2000 * kMs).ok());
    THEN("the page stays, the PTE is restored, and the failure is counted") {
      CHECK(pte::node(f.as().pte_at(Gfn(0))) == 1);
      CHECK_FALSE(pte::protnone(f.as().pte_at(Gfn(0))));
      CHECK(f.numa().stats().migrate_fail_watermark == 1);
      CHECK(f.numa().stats().pgmigrate_fail == 0);  // refused before migrate_pages()
      CHECK(f.numa().stats().numa_pages_migrated == 0);
    }
    for (auto p : filler) h.put(p);
  }
}

SCENARIO("rfc-v1 07/12: task_numa_work skips anonymous VM_UFFD_MINOR VMAs, as a switch", "[numa][uffd]") {
  for (const bool skip : {true, false}) {
    GIVEN(std::string("rfc-v1, a MINOR-registered anon VMA, numab_skip_uffd_minor=") + (skip ? "true" : "false")) {
      mm::KernelPatches patches;
      patches.numab_skip_uffd_minor = skip;
      NumaVm f(1024, 2, 4096, {0, 0}, normal(4), mm::Variant::RfcV1, {}, 1, patches);
      f.populate(0, 1024, 1);
      auto& vm = f.vm;
      REQUIRE(vm.uffd().register_range({false, false, true, false}, {false, true, true, false}).error.empty());
      vm.kernel().numa->task_numa_work(0, 1000 * kMs);
      const auto& s = vm.kernel().numa->stats();
      THEN("the VMA is skipped with reason uffd_minor only when the patch is on") {
        CHECK(s.vma_skips[static_cast<std::size_t>(numa::VmaSkip::UffdMinor)] == (skip ? 1u : 0u));
        CHECK(s.numa_pte_updates == (skip ? 0u : 1024u));
      }
    }
  }
}

SCENARIO("the protnone conflicts arise from PTE state and event order", "[numa][uffd][conflict]") {
  GIVEN("rfc-v1 without the 07/12 skip: uffd MINOR (sync) on anon memory that NUMA scans") {
    mm::KernelPatches patches;
    patches.numab_skip_uffd_minor = false;
    patches.uffd_feeds_numa = false;
    NumaVm f(256, 2, 4096, {0, 0}, normal(4), mm::Variant::RfcV1, {}, 1, patches);
    f.populate(0, 256, 1);
    auto& vm = f.vm;
    auto& nm = f.numa();
    REQUIRE(vm.uffd().register_range({false, false, true, false}, {false, true, false, false}).error.empty());
    WHEN("uffd deactivates page 0, then the NUMA scanner runs") {
      REQUIRE(vm.uffd().deactivate(Gfn(0), 1).error.empty());
      nm.task_numa_work(0, 1000 * kMs);
      THEN("NUMA loses the sample of the page uffd already made PROT_NONE") {
        CHECK(nm.stats().samples_lost_uffd_protnone == 1);
        CHECK(nm.stats().numa_pte_updates == 255);
        CHECK(vm.as().truth().pn_origin(Gfn(0)) == mm::PnOrigin::Uffd);
        CHECK(vm.as().truth().pn_origin(Gfn(1)) == mm::PnOrigin::Numa);
      }
      AND_THEN("PAGEMAP_SCAN reports the NUMA PTE as deactivated: cold to the VMM") {
        CHECK((vm.uffd().categories(Gfn(1)) & uffd::cat::kUffdDeactivated) != 0);
      }
      AND_WHEN("a vCPU touches a NUMA-protected page") {
        const auto r = vm.as().fault(Gfn(1), false, 0, node(0), 1001 * kMs);
        THEN("the fault goes to uffd: blocked, the hinting fault is lost, and the message is spurious") {
          CHECK(r.result == mm::FaultResult::Blocked);
          CHECK(nm.stats().numa_hint_faults == 0);
          vm.uffd().enqueue({Gfn(1), false, r.reason, node(0), 1001 * kMs}, 0);
          const auto p = vm.uffd().read();
          REQUIRE(p);
          CHECK(p->spurious);
          CHECK(vm.as().truth().stats().spurious_uffd == 1);
          CHECK(nm.stats().numa_pages_migrated == 0);
        }
      }
    }
  }
  GIVEN("rwp: RWP PROT_NONE carries the uffd bit") {
    NumaVm f(256, 2, 4096, {0, 0}, normal(4), mm::Variant::Rwp);
    f.populate(0, 256, 1);
    auto& vm = f.vm;
    auto& nm = f.numa();
    REQUIRE(vm.uffd().register_range({false, false, false, true}, {false, false, false, true}).error.empty());
    REQUIRE(vm.uffd().rwprotect(Gfn(0), 1, true).error.empty());
    nm.task_numa_work(0, 1000 * kMs);
    THEN("the NUMA PTE faults into do_numa_page (migrates), the RWP one into uffd") {
      CHECK(nm.stats().samples_lost_uffd_protnone == 1);
      REQUIRE(vm.as().fault(Gfn(1), false, 0, node(0), 1001 * kMs).ok());
      CHECK(nm.stats().numa_hint_faults == 1);
      CHECK(nm.stats().numa_pages_migrated == 1);
      CHECK(vm.faults("uffd_rwp_async") == 0);
      REQUIRE(vm.as().fault(Gfn(0), false, 0, node(0), 1001 * kMs).ok());
      CHECK(vm.faults("uffd_rwp_async") == 1);
      CHECK(nm.stats().numa_hint_faults == 1);
      CHECK(vm.as().truth().stats().spurious_uffd == 0);
      f.check();
    }
  }
}

SCENARIO("a uffd-wp bit survives NUMA scanning and the hinting fault", "[numa][uffd]") {
  GIVEN("upstream, WP_ASYNC on anon, all pages write-protected, memory on node 1") {
    NumaVm f(64, 2, 4096, {0, 0}, normal(4));
    f.populate(0, 64, 1);
    auto& vm = f.vm;
    REQUIRE(vm.uffd().register_range({false, true, false, false}, {true, false, false, false, true}).error.empty());
    REQUIRE(vm.uffd().writeprotect(Gfn(0), 64, true).error.empty());
    vm.kernel().numa->task_numa_work(0, 1000 * kMs);
    REQUIRE(vm.kernel().numa->stats().numa_pte_updates == 64);
    WHEN("page 3 is read (hinting fault, migration) and page 4 written (hint, then WP_ASYNC)") {
      REQUIRE(vm.as().fault(Gfn(3), false, 0, node(0), 1001 * kMs).ok());
      for (int i = 0; i < 3 && !pte::accessible(vm.as().pte_at(Gfn(4)), true); ++i)
        REQUIRE(vm.as().fault(Gfn(4), true, 0, node(0), 1001 * kMs).ok());
      THEN("PAGEMAP_SCAN still says: 3 not written, 4 written, the rest not written") {
        CHECK((vm.uffd().categories(Gfn(3)) & uffd::cat::kWritten) == 0);
        CHECK((vm.uffd().categories(Gfn(4)) & uffd::cat::kWritten) != 0);
        CHECK((vm.uffd().categories(Gfn(10)) & uffd::cat::kWritten) == 0);
        CHECK(pte::uffd(vm.as().pte_at(Gfn(3))));
      }
    }
  }
}

SCENARIO("memory tiering promotes hot pages from a CPU-less node", "[numa][tiering]") {
  GIVEN("node 0 with CPUs, node 1 CPU-less (CXL), tiering mode, a page scanned at 1 s") {
    numa::NumaConfig c;
    c.mode = numa::kMemoryTiering;
    c.scan_size_mb = 4;
    NumaVm f(64, 2, 1 << 20, {0, 0}, c, mm::Variant::Upstream, {2, 0});
    f.populate(0, 2, 1);
    REQUIRE(f.hn->toptier(0));
    REQUIRE_FALSE(f.hn->toptier(1));
    f.numa().task_numa_work(0, 1000 * kMs);
    REQUIRE(pte::protnone(f.as().pte_at(Gfn(0))));
    WHEN("the top tier has ample free memory") {
      REQUIRE(f.as().fault(Gfn(0), false, 0, node(0), 3000 * kMs).ok());
      THEN("it is promoted at once, whatever the latency") {
        CHECK(pte::node(f.as().pte_at(Gfn(0))) == 0);
        CHECK(f.numa().stats().pgpromote_success == 1);
      }
    }
  }
  GIVEN("a top tier without ample free memory") {
    numa::NumaConfig c;
    c.mode = numa::kMemoryTiering;
    c.scan_size_mb = 4;
    NumaVm f(64, 2, 4096, {0, 0}, c, mm::Variant::Upstream, {2, 0});
    f.populate(0, 2, 1);
    f.numa().task_numa_work(0, 1000 * kMs);
    THEN("a page faulted 500 ms after its scan is hot and promoted; one faulted 1.5 s after is not") {
      REQUIRE(f.as().fault(Gfn(0), false, 0, node(0), 1500 * kMs).ok());
      CHECK(pte::node(f.as().pte_at(Gfn(0))) == 0);
      REQUIRE(f.as().fault(Gfn(1), false, 0, node(0), 2500 * kMs).ok());
      CHECK(pte::node(f.as().pte_at(Gfn(1))) == 1);
      CHECK(f.numa().stats().promote_too_cold == 1);
      CHECK(f.numa().stats().pgpromote_success == 1);
      f.check();
    }
  }
}

SCENARIO("a write that reuses the folio resets its last_cpupid (wp_page_reuse)", "[numa][fault]") {
  GIVEN("a page migrated by a hinting fault, so mapped read-only with the migrator's cpupid") {
    NumaVm f(64, 2, 1024, {0, 1}, normal(4));
    f.populate(0, 1, 1);
    f.as().page_table().protnone(Gfn(0), false, mm::PnOrigin::Numa);
    REQUIRE(f.as().fault(Gfn(0), false, 0, node(0), 2000 * kMs).ok());
    REQUIRE(f.numa().stats().numa_pages_migrated == 1);
    REQUIRE(f.numa().last_cpupid(Gfn(0)) != 0xffffu);
    REQUIRE_FALSE(pte::writable(f.as().pte_at(Gfn(0))));
    WHEN("the guest writes it") {
      REQUIRE(f.as().fault(Gfn(0), true, 0, node(0), 2001 * kMs).ok());
      THEN("do_wp_page reuses it and the cpupid is unset again") {
        CHECK(f.vm.faults("wp_reuse") == 1);
        CHECK(f.numa().last_cpupid(Gfn(0)) == 0xffffu);
      }
    }
  }
}

SCENARIO("numa_migrate_preferred moves a thread to an idle CPU on its preferred node", "[numa][placement]") {
  GIVEN("two threads on node 0 (2 cores per node) whose memory is all on node 1") {
    NumaVm f(8192, 2, 16384, {0, 0}, normal(16));
    f.populate(0, 8192, 1);
    // Fill node 0's free memory down to its high watermark so that hinting faults cannot
    // migrate pages there: only the threads can move.
    std::vector<core::Pfn> filler;
    while (f.host.free_frames(0) > f.host.watermarks(0).high + 1)
      filler.push_back(*f.host.alloc_on(node(0), {core::VmId(9), Gfn(filler.size())}));
    WHEN("passes of scanning and hinting faults run from both threads") {
      core::TimeNs now = 1000 * kMs;
      for (int pass = 0; pass < 6; ++pass) {
        for (unsigned t = 0; t < 2; ++t) {
          f.numa().task_numa_work(t, now);
          for (std::uint64_t g = t; g < 8192; g += 2)
            if (pte::protnone(f.as().pte_at(Gfn(g))))
              REQUIRE(f.as().fault(Gfn(g), false, t, f.as().task(t).cpu_node, now).ok());
          f.as().apply_task_move(t);
          now += 1100 * kMs;
        }
      }
      THEN("both prefer node 1 and run there; no page moved; frames and PTEs stay consistent") {
        CHECK(f.numa().task(0).preferred_nid == 1);
        CHECK(f.numa().task(1).preferred_nid == 1);
        CHECK(f.as().task(0).cpu_node.v == 1);
        CHECK(f.as().task(1).cpu_node.v == 1);
        CHECK(f.numa().stats().numa_task_migrated == 2);
        CHECK(f.numa().stats().numa_pages_migrated == 0);
        CHECK(f.numa().stats().migrate_fail_watermark > 0);  // the pages could not come to them
        f.check();
      }
    }
    for (auto p : filler) f.host.put(p);
  }
}

SCENARIO("with no idle CPU on the preferred node, two threads that gain from it swap nodes", "[numa][placement]") {
  GIVEN("one core per node; thread 0 on node 0 uses memory on node 1, thread 1 on node 1 memory on node 0") {
    NumaVm f(8192, 2, 16384, {0, 1}, normal(16), mm::Variant::Upstream, {1, 1});
    f.populate(0, 4096, 1);     // thread 0's half
    f.populate(4096, 8192, 0);  // thread 1's half
    std::vector<core::Pfn> filler;  // no page can migrate: both nodes at their high watermark
    for (unsigned n = 0; n < 2; ++n)
      while (f.host.free_frames(n) > f.host.watermarks(n).high + 1)
        filler.push_back(*f.host.alloc_on(node(n), {core::VmId(9), Gfn(filler.size())}));
    WHEN("each thread takes hinting faults on its own half over several passes") {
      core::TimeNs now = 1000 * kMs;
      for (int pass = 0; pass < 8; ++pass) {
        for (unsigned t = 0; t < 2; ++t) {
          f.numa().task_numa_work(t, now);
          for (std::uint64_t g = t * 4096; g < (t + 1) * 4096; ++g)
            if (pte::protnone(f.as().pte_at(Gfn(g))))
              REQUIRE(f.as().fault(Gfn(g), false, t, f.as().task(t).cpu_node, now).ok());
          f.as().apply_task_move(t);
          now += 1100 * kMs;
        }
      }
      THEN("they swap (migrate_swap) instead of moving to a busy node") {
        CHECK(f.numa().stats().numa_task_swapped >= 1);
        CHECK(f.numa().stats().numa_task_migrated == 0);
        f.as().apply_task_move(0);
        f.as().apply_task_move(1);
        CHECK(f.as().task(0).cpu_node.v == 1);
        CHECK(f.as().task(1).cpu_node.v == 0);
        CHECK(f.numa().stats().numa_pages_migrated == 0);
      }
    }
    for (auto p : filler) f.host.put(p);
  }
}

SCENARIO("memory tiering's promotion rate limit and a pinned folio's migration failure", "[numa][tiering]") {
  GIVEN("a 1 MB/s promotion rate limit (256 pages per 1 s window), a top tier without ample free memory") {
    numa::NumaConfig c;
    c.mode = numa::kMemoryTiering;
    c.scan_size_mb = 4;
    c.promote_rate_limit_mbps = 1;
    NumaVm f(1024, 2, 4096, {0, 0}, c, mm::Variant::Upstream, {2, 0});
    f.populate(0, 300, 1);
    f.numa().task_numa_work(0, 1000 * kMs);
    WHEN("300 scanned pages fault 100 ms later, within one window") {
      for (std::uint64_t g = 0; g < 300; ++g) REQUIRE(f.as().fault(Gfn(g), false, 0, node(0), 1100 * kMs).ok());
      THEN("the window opens at the first candidate: 256 more are allowed, the rest refused") {
        CHECK(f.numa().stats().pgpromote_candidate == 300);
        CHECK(f.numa().stats().pgpromote_success == 256);
        CHECK(f.numa().stats().promote_rate_limited == 44);
        f.check();
      }
    }
  }
  GIVEN("a folio with an extra reference (a GUP pin) under a NUMA PROT_NONE") {
    NumaVm f(64, 2, 1024, {0, 1}, normal(4));
    f.populate(0, 1, 1);
    f.as().page_table().protnone(Gfn(0), false, mm::PnOrigin::Numa);
    const core::Pfn pfn(pte::pfn(f.as().pte_at(Gfn(0))));
    f.host.get(pfn);
    REQUIRE(f.as().fault(Gfn(0), false, 0, node(0), 2000 * kMs).ok());
    THEN("migration fails with -EAGAIN (unexpected references); the PTE is restored read-only") {
      CHECK(f.numa().stats().migrate_fail_busy == 1);
      CHECK(f.numa().stats().pgmigrate_fail == 1);
      CHECK(pte::node(f.as().pte_at(Gfn(0))) == 1);
      CHECK_FALSE(pte::protnone(f.as().pte_at(Gfn(0))));
      CHECK_FALSE(pte::writable(f.as().pte_at(Gfn(0))));
    }
    f.host.put(pfn);
  }
}
