// KSM (models/ksm): page content, ksmd's checksum gate, unstable and stable trees, chains of
// dups, per-node trees, the zero page, COW breaks, the uffd-wp loss of replace_page() and the
// NUMA scanner's KSM skip, each through the real fault paths and ksmd passes.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "kernel_fixture.hpp"
#include "models/ksm/ksm.hpp"
#include "models/numa/balancer.hpp"

using namespace vmemsim;
using core::Gfn;
using test::node;
namespace pte = mm::pte;

namespace {

constexpr core::TimeNs kMs = 1'000'000;

// A host of `nodes` nodes and VMs with the given content descriptions, ksmd over them.
struct KsmHost {
  mm::HostMemory host;
  std::vector<std::unique_ptr<test::TestVm>> vms;
  std::vector<std::unique_ptr<ksm::KsmVm>> kvms;
  std::unique_ptr<ksm::Ksmd> ksmd;

  KsmHost(unsigned nodes, std::uint64_t frames, std::vector<std::pair<std::uint64_t, mm::ContentSpec>> specs,
          ksm::KsmConfig cfg = {})
      : host(std::vector<std::uint64_t>(nodes, frames)) {
    host.setup_watermarks(128, 10);
    std::vector<ksm::KsmVm*> ptrs;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      auto c = test::vm_config(specs[i].first, nodes);
      c.vm = static_cast<std::uint16_t>(i);
      vms.push_back(std::make_unique<test::TestVm>(c, host));
      vms.back()->as().enable_content(specs[i].second);
      kvms.push_back(std::make_unique<ksm::KsmVm>(vms.back()->as()));
      ptrs.push_back(kvms.back().get());
    }
    ksmd = std::make_unique<ksm::Ksmd>("ksmd.h0", 0, 0, host, ptrs, cfg);
  }
  mm::AddressSpace& as(unsigned i) { return vms[i]->as(); }
  // The guest touches every page by writing (QEMU -mem-prealloc), on node `n`.
  void populate(unsigned i, unsigned n = 0) {
    for (std::uint64_t g = 0; g < as(i).pages(); ++g) REQUIRE(as(i).fault(Gfn(g), true, 0, node(n), 0).ok());
  }
  // One full scan from the cursor to the end of the mm_slot list.
  void pass() {
    const auto before = ksmd->counters().full_scans;
    ksmd->scan(1u << 30);
    REQUIRE(ksmd->counters().full_scans == before + 1);
    check();
  }
  // A guest write of `c` to page g of VM i, through the fault path like a vCPU.
  void write(unsigned i, std::uint64_t g, std::uint64_t c) {
    if (!pte::accessible(as(i).pte_at(Gfn(g)), true)) REQUIRE(as(i).fault(Gfn(g), true, 0, node(0), 0).ok());
    REQUIRE(pte::accessible(as(i).pte_at(Gfn(g)), true));
    as(i).set_content(Gfn(g), c);
  }
  std::uint64_t pfn(unsigned i, std::uint64_t g) { return pte::pfn(as(i).pte_at(Gfn(g))); }
  const ksm::Ksmd::Counters& c() const { return ksmd->counters(); }
  // Frame accounting: frames in use = the distinct frames mapped (anon, no page cache), and
  // the KSM counters agree with the per-VM ones.
  void check() {
    host.check_invariants();
    std::set<std::uint32_t> mapped;
    std::uint64_t merging = 0, ptes = 0;
    for (std::size_t i = 0; i < vms.size(); ++i) {
      as(i).check_invariants();
      merging += kvms[i]->merging_pages();
      for (std::uint64_t g = 0; g < as(i).pages(); ++g) {
        const auto p = as(i).pte_at(Gfn(g));
        if (pte::present(p) && !pte::zero_page(p)) {
          mapped.insert(pte::pfn(p));
          ++ptes;
        }
      }
    }
    std::uint64_t used = 0;
    for (unsigned n = 0; n < host.node_count(); ++n) used += host.used(n);
    CHECK(used == mapped.size());
    CHECK(c().pages_shared + c().pages_sharing == merging);
    // frames_saved has no lag: the PTEs beyond one per mapped frame, plus the KSM zero pages.
    CHECK(ksmd->frames_saved() == ptes - mapped.size() + ksmd->ksm_zero_pages());
  }
};

mm::ContentSpec image(std::uint64_t pages, std::uint32_t id = 1) {
  mm::ContentSpec s;
  s.image = id;
  s.image_pages = pages;
  return s;
}

}  // namespace

SCENARIO("identical pages of VMs booted from one image merge on the second pass", "[ksm][merge]") {
  GIVEN("three VMs of 64 pages, all from image 1, populated") {
    KsmHost h(1, 4096, {{64, image(64)}, {64, image(64)}, {64, image(64)}});
    for (unsigned i = 0; i < 3; ++i) h.populate(i);
    REQUIRE(h.host.used(0) == 192);
    WHEN("ksmd makes its first full scan") {
      h.pass();
      THEN("every page was seen for the first time: checksums taken, nothing merged") {
        CHECK(h.c().pages_scanned == 192);
        CHECK(h.c().pages_shared == 0);
        CHECK(h.ksmd->pages_volatile() == 192);
        CHECK(h.host.used(0) == 192);
      }
      AND_WHEN("a second scan runs") {
        h.pass();
        THEN("VM 1's page is the KSM page, VM 0's and VM 2's map it read-only; 128 frames freed") {
          CHECK(h.c().pages_shared == 64);
          CHECK(h.c().pages_sharing == 128);
          CHECK(h.c().pages_unshared == 0);
          CHECK(h.ksmd->pages_volatile() == 0);
          CHECK(h.c().frames_freed == 128);
          CHECK(h.host.used(0) == 64);
          for (std::uint64_t g = 0; g < 64; ++g) {
            CHECK(h.pfn(0, g) == h.pfn(1, g));
            CHECK(h.pfn(2, g) == h.pfn(1, g));
            CHECK_FALSE(pte::writable(h.as(0).pte_at(Gfn(g))));
            CHECK(h.host.is_ksm(core::Pfn(h.pfn(1, g))));
          }
          CHECK(h.ksmd->general_profit() == 128 * 4096 - 192 * 64);
          CHECK(h.kvms[1]->merging_pages() == 64);
        }
      }
    }
  }
}

SCENARIO("a page that changes between visits is volatile and never merged", "[ksm][volatile]") {
  GIVEN("two VMs from one image, page 0 of VM 0 rewritten before every pass") {
    KsmHost h(1, 4096, {{16, image(16)}, {16, image(16)}});
    h.populate(0);
    h.populate(1);
    for (unsigned k = 0; k < 4; ++k) {
      h.write(0, 0, mm::content::unique(0, 1000 + k));
      h.pass();
    }
    THEN("page 0 stays unmerged and counts as volatile; the other 15 merged") {
      CHECK_FALSE(h.host.is_ksm(core::Pfn(h.pfn(0, 0))));
      CHECK(h.c().pages_shared == 15);
      CHECK(h.c().pages_sharing == 15);
      CHECK(h.ksmd->pages_volatile() >= 1);
    }
  }
}

SCENARIO("a write to a KSM page breaks COW; the counters notice on ksmd's next visit", "[ksm][cow]") {
  GIVEN("two merged VMs") {
    KsmHost h(1, 4096, {{8, image(8)}, {8, image(8)}});
    h.populate(0);
    h.populate(1);
    h.pass();
    h.pass();
    REQUIRE(h.c().pages_sharing == 8);
    const auto used = h.host.used(0);
    WHEN("VM 0 writes page 3") {
      const auto kpfn = h.pfn(0, 3);
      const auto copies = h.vms[0]->faults("cow_copy");
      h.write(0, 3, mm::content::unique(0, 77));
      THEN("the write copied the page into a new writable frame; the KSM page stays for VM 1") {
        CHECK(h.vms[0]->faults("cow_copy") == copies + 1);
        CHECK(h.as(0).ksm_cow_breaks() == 1);
        CHECK(h.pfn(0, 3) != kpfn);
        CHECK(h.pfn(1, 3) == kpfn);
        CHECK(h.host.used(0) == used + 1);
        CHECK(h.c().pages_sharing == 8);  // sysfs lags: the rmap item is still on the stable node
        CHECK(h.ksmd->frames_saved() == 7);  // the live figure does not
      }
      AND_WHEN("VM 1 writes the page too, and ksmd passes") {
        h.write(1, 3, mm::content::unique(1, 78));
        THEN("the last mapper copies as well (a KSM folio is never reused) and the KSM frame is freed") {
          CHECK(h.as(1).ksm_cow_breaks() == 1);
          CHECK(h.host.is_free(core::Pfn(kpfn)));
          CHECK(h.host.used(0) == used + 1);
        }
        h.pass();
        CHECK(h.c().pages_shared == 7);
        CHECK(h.c().pages_sharing == 7);
      }
    }
  }
}

SCENARIO("max_page_sharing splits a popular content into a chain of dups", "[ksm][chain]") {
  GIVEN("one VM whose 10 pages hold one content, max_page_sharing 4") {
    mm::ContentSpec s;
    s.dup_pages = 10;
    s.dup_contents = 1;
    ksm::KsmConfig cfg;
    cfg.max_page_sharing = 4;
    KsmHost h(1, 4096, {{10, s}}, cfg);
    h.populate(0);
    h.pass();
    h.pass();
    THEN("three KSM pages of 4, 4 and 2 mappers form one chain of three dups") {
      CHECK(h.c().pages_shared == 3);
      CHECK(h.c().pages_sharing == 7);
      CHECK(h.c().stable_node_chains == 1);
      CHECK(h.c().stable_node_dups == 3);
      CHECK(h.host.used(0) == 3);
    }
    AND_WHEN("every dup fills up and a page more comes") {
      // Two more passes change nothing: every page is on a dup already.
      h.pass();
      CHECK(h.c().pages_shared == 3);
      CHECK(h.c().stable_node_dups == 3);
    }
    AND_WHEN("the mappers of two dups break away") {
      for (std::uint64_t g = 0; g < 8; ++g) h.write(0, g, mm::content::unique(0, 500 + g));
      h.pass();
      THEN("the counters drop on the next visits, but the stale dups stay until a lookup of that content") {
        CHECK(h.c().pages_shared == 1);
        CHECK(h.c().pages_sharing == 1);
        CHECK(h.c().stable_node_chains == 1);
        CHECK(h.c().stable_node_dups == 3);
      }
      AND_WHEN("page 0 gets the popular content back (a stable_tree_search for it)") {
        h.write(0, 0, mm::content::dup(0, 0));
        h.pass();
        THEN("the stale dups are pruned, the chain collapses into a plain stable node, page 0 joins it") {
          CHECK(h.c().pages_shared == 1);
          CHECK(h.c().pages_sharing == 2);
          CHECK(h.c().stable_node_chains == 0);
          CHECK(h.c().stable_node_dups == 0);
        }
      }
    }
  }
}

SCENARIO("merge_across_nodes=0 keeps one tree per node", "[ksm][numa]") {
  for (bool across : {true, false}) {
    GIVEN("two VMs from one image, one populated on node 0 and one on node 1; merge_across_nodes " << across) {
      ksm::KsmConfig cfg;
      cfg.merge_across_nodes = across;
      KsmHost h(2, 4096, {{32, image(32)}, {32, image(32)}}, cfg);
      h.populate(0, 0);
      h.populate(1, 1);
      h.pass();
      h.pass();
      THEN("pages merge across nodes only when allowed") {
        CHECK(h.c().pages_shared == (across ? 32u : 0u));
        CHECK(h.host.used(0) + h.host.used(1) == (across ? 32u : 64u));
      }
    }
  }
}

SCENARIO("zero pages: one KSM page of zeroes, or the zero page with use_zero_pages", "[ksm][zero]") {
  mm::ContentSpec s;
  s.zero_pages = 16;
  GIVEN("a VM of 16 zero-filled pages, written at boot (private frames)") {
    WHEN("use_zero_pages is 0") {
      KsmHost h(1, 4096, {{16, s}});
      h.populate(0);
      h.pass();
      h.pass();
      THEN("they merge like any content into one KSM page") {
        CHECK(h.c().pages_shared == 1);
        CHECK(h.c().pages_sharing == 15);
        CHECK(h.ksmd->ksm_zero_pages() == 0);
        CHECK(h.host.used(0) == 1);
      }
    }
    WHEN("use_zero_pages is 1") {
      ksm::KsmConfig cfg;
      cfg.use_zero_pages = true;
      KsmHost h(1, 4096, {{16, s}}, cfg);
      h.populate(0);
      h.pass();
      h.pass();
      THEN("each is mapped to the zero page, counted in ksm_zero_pages, and every frame is freed") {
        CHECK(h.c().pages_shared == 0);
        CHECK(h.ksmd->ksm_zero_pages() == 16);
        CHECK(h.c().frames_freed == 16);
        CHECK(h.host.used(0) == 0);
        CHECK(pte::zero_page(h.as(0).pte_at(Gfn(5))));
        CHECK(h.ksmd->general_profit() == 16 * 4096 - 16 * 64);
      }
      AND_WHEN("the guest writes one of them, and ksmd passes again") {
        h.write(0, 5, mm::content::unique(0, 9));
        h.pass();
        THEN("the COW from the zero page drops it from ksm_zero_pages, and the rmap items of zero pages are gone") {
          CHECK(h.ksmd->ksm_zero_pages() == 15);
          CHECK(h.c().rmap_items == 1);
        }
      }
    }
  }
}

SCENARIO("a merge rebuilds the sharer's PTE: its uffd-wp bit is lost (Linux 6.18)", "[ksm][uffd]") {
  for (bool keep : {false, true}) {
    GIVEN("two VMs from one image, both uffd-wp registered with every page write-protected; keep_uffd_wp "
          << keep) {
      ksm::KsmConfig cfg;
      cfg.keep_uffd_wp = keep;
      KsmHost h(1, 4096, {{8, image(8)}, {8, image(8)}}, cfg);
      for (unsigned i = 0; i < 2; ++i) {
        h.populate(i);
        auto& u = h.vms[i]->uffd();
        uffd::Modes m;
        m.wp = true;
        uffd::Features f;
        f.wp_async = true;
        REQUIRE(u.register_range(m, f).error.empty());
        REQUIRE(u.writeprotect(Gfn(0), 8, true).error.empty());
        for (std::uint64_t g = 0; g < 8; ++g) REQUIRE_FALSE(u.categories(Gfn(g)) & uffd::cat::kWritten);
      }
      h.pass();
      h.pass();
      REQUIRE(h.c().pages_sharing == 8);
      THEN("VM 1's pages became KSM pages in place and keep the bit; VM 0's were replaced") {
        for (std::uint64_t g = 0; g < 8; ++g) {
          CHECK(pte::uffd(h.as(1).pte_at(Gfn(g))));
          // PAGEMAP_SCAN's PAGE_IS_WRITTEN is "uffd-wp bit clear": merged pages read as written.
          CHECK(pte::uffd(h.as(0).pte_at(Gfn(g))) == keep);
          CHECK(static_cast<bool>(h.vms[0]->uffd().categories(Gfn(g)) & uffd::cat::kWritten) == !keep);
          CHECK_FALSE(h.vms[1]->uffd().categories(Gfn(g)) & uffd::cat::kWritten);
        }
        CHECK(h.kvms[0]->uffd_wp_lost() == (keep ? 0u : 8u));
        CHECK(h.ksmd->uffd_wp_lost() == (keep ? 0u : 8u));
      }
    }
  }
}

SCENARIO("a merge rebuilds a deactivated sharer's PTE: rfc-v1 tracking loses it", "[ksm][uffd]") {
  GIVEN("two rfc-v1 VMs from one image, MINOR-registered on anon, every page deactivated (PROT_NONE)") {
    mm::HostMemory host({4096});
    std::vector<std::unique_ptr<test::TestVm>> vms;
    std::vector<std::unique_ptr<ksm::KsmVm>> kvms;
    std::vector<ksm::KsmVm*> ptrs;
    for (unsigned i = 0; i < 2; ++i) {
      auto c = test::vm_config(8, 1, mm::Backing::Anon, mm::Variant::RfcV1);
      c.vm = static_cast<std::uint16_t>(i);
      vms.push_back(std::make_unique<test::TestVm>(c, host));
      auto& as = vms.back()->as();
      as.enable_content(image(8));
      for (std::uint64_t g = 0; g < 8; ++g) REQUIRE(as.fault(Gfn(g), true, 0, node(0), 0).ok());
      auto& u = vms.back()->uffd();
      REQUIRE(u.register_range({false, false, true, false}, {false, true, true, false}).error.empty());
      REQUIRE(u.deactivate(Gfn(0), 8).error.empty());
      kvms.push_back(std::make_unique<ksm::KsmVm>(as));
      ptrs.push_back(kvms.back().get());
    }
    ksm::Ksmd ksmd("ksmd.h0", 0, 0, host, ptrs, {});
    WHEN("ksmd makes two full scans") {
      ksmd.scan(1u << 30);
      ksmd.scan(1u << 30);
      THEN("the pages merge; the replaced sharer's PTEs are accessible again, with no access") {
        CHECK(ksmd.counters().pages_sharing == 8);
        for (std::uint64_t g = 0; g < 8; ++g) {
          CHECK(pte::protnone(vms[1]->as().pte_at(Gfn(g))));   // the KSM page itself: write_protect_page keeps it
          CHECK_FALSE(pte::protnone(vms[0]->as().pte_at(Gfn(g))));  // replace_page: vm_page_prot
          // PAGEMAP_SCAN no longer reports it deactivated: the VMM takes it for a page in use.
          CHECK_FALSE(vms[0]->uffd().categories(Gfn(g)) & uffd::cat::kUffdDeactivated);
          CHECK(vms[1]->uffd().categories(Gfn(g)) & uffd::cat::kUffdDeactivated);
          CHECK(vms[0]->as().truth().last_access(Gfn(g)) < 0);  // never accessed by the guest
        }
        CHECK(ksmd.stats()["protnone_lost_truth"] == 8);
        host.check_invariants();
        vms[0]->as().check_invariants();
        vms[1]->as().check_invariants();
      }
    }
  }
}

SCENARIO("the NUMA scanner skips KSM pages", "[ksm][numa]") {
  GIVEN("a 2-thread VM on node 0 whose 1024 pages sit on node 1: 512 of one content, 512 unique") {
    mm::ContentSpec s;
    s.dup_pages = 512;
    s.dup_contents = 1;
    KsmHost h(2, 4096, {{1024, s}});
    auto& as = h.as(0);
    as.add_task(node(0), 1000);
    as.add_task(node(0), 1001);
    std::vector<std::vector<core::TimeNs>> lat(2, std::vector<core::TimeNs>(2, 190));
    lat[0][0] = lat[1][1] = 90;
    auto hn = std::make_shared<numa::HostNuma>(h.host, std::vector<unsigned>{2, 2}, lat);
    hn->cfg.mode = numa::kNormal;
    hn->cfg.scan_size_mb = 4;
    h.vms[0]->kernel().numa->configure(hn);
    h.populate(0, 1);
    h.pass();
    h.pass();
    REQUIRE(h.c().pages_shared == 2);  // 256 + 256 mappers
    WHEN("task_numa_work scans the whole 4 MiB") {
      h.vms[0]->kernel().numa->task_numa_work(0, 1000 * kMs);
      THEN("only the 512 unique pages were made PROT_NONE") {
        CHECK(h.vms[0]->kernel().numa->stats().numa_pte_updates == 512);
        for (std::uint64_t g = 0; g < 512; ++g) CHECK_FALSE(pte::protnone(as.pte_at(Gfn(g))));
      }
    }
  }
}

// A DaemonEnv whose clock advances by the CPU the daemon charges.
struct ClockEnv : kernel::DaemonEnv {
  core::TimeNs t = 0;
  core::TimeNs now() override { return t; }
  void cpu(core::TimeNs d) override { t += d; }
  void tlb_flush(core::VmId) override {}
  void slice(const char*, core::TimeNs, core::TimeNs) override {}
  void swap_io(std::uint64_t, bool) override {}
};

SCENARIO("time to steady-state sharing is read off the full scans", "[ksm][steady]") {
  GIVEN("two VMs from one image, ksmd run as the engine runs it (batches of pages_to_scan every sleep_millisecs)") {
    ksm::KsmConfig cfg;
    cfg.pages_to_scan = 4;
    KsmHost h(1, 4096, {{8, image(8)}, {8, image(8)}}, cfg);
    h.populate(0);
    h.populate(1);
    ClockEnv env;
    auto run_for = [&](core::TimeNs until) {
      while (env.t < until) {
        env.t = h.ksmd->next_wakeup(env.t);
        h.ksmd->run_batch(env, env.t);
      }
    };
    WHEN("only one full scan has run") {
      run_for(90 * kMs);  // 16 pages at 4 per 20 ms; the 5th batch finds the end of the list
      THEN("nothing merged yet (the checksum gate), and no steady state is claimed") {
        CHECK(h.c().full_scans == 1);
        CHECK(h.ksmd->stats()["steady_sharing"]["reached"] == false);
      }
    }
    WHEN("it runs long enough for sharing to settle") {
      run_for(400 * kMs);
      const auto st = h.ksmd->stats()["steady_sharing"];
      THEN("sharing settled at the end of the second full scan, when the 8 image pages merged") {
        CHECK(h.c().pages_sharing == 8);
        CHECK(st["reached"] == true);
        CHECK(st["at_full_scan"] == 2);
        CHECK(st["profit_pages"] == 8);
        CHECK(st["at_ns"].get<core::TimeNs>() > 80 * kMs);
        CHECK(st["at_ns"].get<core::TimeNs>() < 200 * kMs);
        CHECK(h.ksmd->cpu_ns() == h.c().cpu_ns);
      }
      AND_WHEN("a guest writes a shared page") {
        h.write(0, 2, mm::content::unique(0, 5));
        run_for(800 * kMs);
        THEN("the steady state restarts at the scan that noticed the COW break") {
          const auto st2 = h.ksmd->stats()["steady_sharing"];
          CHECK(h.c().pages_sharing == 7);
          CHECK(st2["profit_pages"] == 7);
          CHECK(st2["at_ns"].get<core::TimeNs>() > 400 * kMs);
        }
      }
    }
  }
}

TEST_CASE("content follows the data: zero-page reads, COW, swap and migration", "[ksm][content]") {
  mm::HostMemory host({64, 64});
  auto c = test::vm_config(8, 2);
  test::TestVm vm(c, host);
  auto& as = vm.as();
  mm::ContentSpec s;
  s.image = 2;
  s.image_pages = 4;
  s.zero_pages = 4;
  as.enable_content(s);
  // A read of an image page needs its data: a frame, not the zero page; a zero page's read maps
  // the zero page.
  REQUIRE(vm.fault(0, false).ok());
  CHECK_FALSE(pte::zero_page(as.pte_at(Gfn(0))));
  REQUIRE(vm.fault(5, false).ok());
  CHECK(pte::zero_page(as.pte_at(Gfn(5))));
  CHECK(as.content(Gfn(0)) == mm::content::image(2, 0));
  // Migration and swap keep the page's data.
  REQUIRE(as.migrate_page(Gfn(0), node(1)) == mm::MigrateResult::Migrated);
  CHECK(as.content(Gfn(0)) == mm::content::image(2, 0));
  as.swap_out(Gfn(0), 7);
  REQUIRE(vm.fault(0, false).ok());
  CHECK(as.content(Gfn(0)) == mm::content::image(2, 0));
  // UFFDIO_COPY installs the source buffer's content (the tier copy's); UFFDIO_ZEROPAGE zeroes.
  as.zap(Gfn(0));
  REQUIRE(vm.uffd().copy(Gfn(0), node(0), false, 0, 0, mm::content::image(2, 3)).error.empty());
  CHECK(as.content(Gfn(0)) == mm::content::image(2, 3));
  as.zap(Gfn(0));
  REQUIRE(vm.uffd().copy(Gfn(0), node(0), true, 0, 0).error.empty());
  CHECK(as.content(Gfn(0)) == mm::content::kZero);
  // A guest write draws new content: unique, or a shared one with write_shared.
  core::Rng r = core::Rng::stream(1, "t");
  as.content_write(Gfn(1), r);
  CHECK(as.content(Gfn(1)) >> 62 == 3);
  host.check_invariants();
  as.check_invariants();
}

TEST_CASE("the layout N/4 zero, N/4 over 16 contents, N/2 unique is exact", "[ksm][content]") {
  mm::HostMemory host({1024});
  test::TestVm vm(test::vm_config(256, 1), host);
  mm::ContentSpec s;
  s.zero_pages = 64;
  s.dup_pages = 64;
  s.dup_contents = 16;
  vm.as().enable_content(s);
  std::map<std::uint64_t, unsigned> count;
  for (std::uint64_t g = 0; g < 256; ++g) ++count[vm.as().content(Gfn(g))];
  CHECK(count[mm::content::kZero] == 64);
  unsigned dup = 0, uniq = 0;
  for (const auto& [k, n] : count) {
    if (k >> 62 == 2) {
      CHECK(n == 4);
      ++dup;
    }
    if (k >> 62 == 3) uniq += n == 1;
  }
  CHECK(dup == 16);
  CHECK(uniq == 128);
}

TEST_CASE("randomized: frame accounting holds after every ksmd pass", "[ksm][random]") {
  mm::ContentSpec s;
  s.image = 1;
  s.image_pages = 48;
  s.zero_pages = 16;
  s.dup_pages = 32;
  s.dup_contents = 4;
  s.write_shared = 0.3;
  ksm::KsmConfig cfg;
  cfg.max_page_sharing = 3;
  cfg.use_zero_pages = GENERATE(false, true);
  cfg.merge_across_nodes = GENERATE(true, false);
  KsmHost h(2, 2048, {{128, s}, {128, s}, {128, s}}, cfg);
  core::Rng r = core::Rng::stream(42, "ksm-random");
  for (unsigned pass = 0; pass < 30; ++pass) {
    for (unsigned k = 0; k < 60; ++k) {
      const unsigned i = static_cast<unsigned>(r.below(3));
      const Gfn g(r.below(128));
      auto& as = h.as(i);
      const auto op = r.below(10);
      const unsigned n = static_cast<unsigned>(r.below(2));
      const auto p = as.pte_at(g);
      if (op < 5) {  // a guest write
        if (!pte::accessible(p, true)) REQUIRE(as.fault(g, true, 0, node(n), 0).ok());
        as.content_write(g, r);
      } else if (op < 7) {  // a read
        if (!pte::accessible(p, false)) REQUIRE(as.fault(g, false, 0, node(n), 0).ok());
      } else if (op < 8) {  // MADV_DONTNEED
        as.zap(g);
      } else if (op < 9) {  // swap out (an anon frame)
        if (pte::present(p) && !pte::zero_page(p)) as.swap_out(g, static_cast<std::uint32_t>(g.v));
      } else if (pte::present(p) && !pte::zero_page(p)) {  // a NUMA migration attempt
        (void)as.migrate_page(g, node(n));
      }
    }
    h.pass();
  }
  CHECK(h.c().merges > 0);
}

TEST_CASE("RSS counts a KSM page in every sharer, owned frames count it once", "[ksm][rss]") {
  // VmRSS (the mm's rss_stat) against HostMemory::owned: after merging, each VM still maps all
  // its pages, but the merged frames are owned by one of them.
  ksm::KsmConfig cfg;
  cfg.use_zero_pages = true;
  mm::ContentSpec spec = image(12);
  spec.zero_pages = 4;  // pages 12..15 hold zeroes: the zero page after merging
  KsmHost h(1, 4096, {{16, spec}, {16, spec}, {16, spec}}, cfg);
  for (unsigned i = 0; i < 3; ++i) h.populate(i);
  for (unsigned i = 0; i < 3; ++i) {
    CHECK(h.as(i).rss_pages() == 16);
    CHECK(h.as(i).resident_total() == 16);
  }
  h.pass();
  h.pass();  // check() runs every VM's check_invariants(): the recount equals the counter
  REQUIRE(h.c().pages_shared == 12);
  REQUIRE(h.ksmd->ksm_zero_pages() == 12);
  std::uint64_t owned = 0;
  for (unsigned i = 0; i < 3; ++i) {
    CHECK(h.as(i).rss_pages() == 12);  // the 12 image pages; the zero page counts in none
    owned += h.as(i).resident_total();
  }
  CHECK(owned == 12);  // one frame per shared page, all in one owner's count
  CHECK(h.host.used(0) == 12);
  unsigned owner = 0;
  while (h.as(owner).resident_total() == 0) ++owner;
  CHECK(h.as(owner).resident_total() == 12);
  const unsigned other = (owner + 1) % 3;

  SECTION("a COW break replaces a mapping: RSS stays, the writer owns one more frame") {
    h.write(other, 3, mm::content::unique(other, 5));
    CHECK(h.as(other).rss_pages() == 12);
    CHECK(h.as(other).resident_total() == 1);
    h.write(other, 13, mm::content::unique(other, 6));  // the KSM zero page: COW to a new frame
    CHECK(h.as(other).rss_pages() == 13);
    CHECK(h.as(other).resident_total() == 2);
    h.check();
  }
  SECTION("zapping a shared page lowers the zapper's RSS only; the frame stays with its owner") {
    h.as(other).zap(Gfn(3));
    h.as(other).zap(Gfn(12));  // a KSM zero page: no RSS to drop
    CHECK(h.as(other).rss_pages() == 11);
    CHECK(h.as(owner).rss_pages() == 12);
    CHECK(h.as(owner).resident_total() == 12);
    h.as(owner).zap(Gfn(4));  // the owner drops its mapping: the frame lives on for the other two
    CHECK(h.as(owner).rss_pages() == 11);
    CHECK(h.as(other).rss_pages() == 11);
    CHECK(h.host.used(0) == 12);
    h.check();
  }
}
