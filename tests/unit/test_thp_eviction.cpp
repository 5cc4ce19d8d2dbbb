// The evictor on an anon THP guest (models/reclaim/evictor.hpp, vms[].vmm.thp_eviction): `split`
// moves 4 KiB pages, so a batch that covers a PMD mapping in part splits it and defers the folio
// split; `pmd` moves whole PMD ranges: a range goes only when every resident subpage is cold, as
// one batch and one whole-PMD MADV_DONTNEED (zap_huge_pmd: 512 frames freed at once, no split),
// and a refault on one subpage brings back the 512 pages with one UFFDIO_COPY (small PTEs, which
// MADV_COLLAPSE can collapse again). Refault amplification from the evictor's own stats.
#include <catch2/catch.hpp>

#include <functional>

#include "models/reclaim/vmm.hpp"
#include "models/thp/thp.hpp"
#include "tests/unit/kernel_fixture.hpp"
#include "tests/unit/vmm_fixture.hpp"

using namespace vmemsim;
using core::Gfn;
namespace pte = mm::pte;
using thp::kPmdPages;

namespace {

constexpr std::uint64_t H = kPmdPages;

// A 4-PMD anon guest on rfc-v1. PMD 0 is 4 KiB pages (faulted with THP off) whose first 100
// pages the guest keeps touching; PMDs 1-3 are PMD-mapped folios, written once before the VMM
// starts and never touched again, except one read of PMD 2 at round `refault_round`.
struct Run {
  test::VmmWorld w{mm::Variant::RfcV1, mm::Backing::Anon, 4 * H, 0, 100'000'000};
  std::unique_ptr<thp::ThpVm> t;
  std::unique_ptr<reclaim::VmmPolicy> pol;
  test::FakeEnv env;
  std::uint64_t free_after_first_eviction = 0, free_before = 0;
  bool refetched = false;

  explicit Run(const char* mode, unsigned refault_round = 4, std::function<void(Run&)> after_refetch = {}) {
    for (std::uint64_t g = 0; g < H; ++g) REQUIRE(w.vm.fault(g, true).ok());  // 4 KiB: no THP yet
    thp::ThpConfig cfg;
    cfg.enabled = thp::Enabled::Always;
    t = std::make_unique<thp::ThpVm>(w.as, cfg, &w.vm.uffd());
    w.as.set_huge(t.get());
    w.vm.kernel().thp->enable(t.get());
    for (std::uint64_t pmd = 1; pmd < 4; ++pmd) REQUIRE(w.vm.fault(pmd * H + 3, true).ok());  // do_huge_pmd_anonymous_page
    REQUIRE(t->mapped_pmds() == 3);
    free_before = w.host.free_frames(0);
    const std::string json =
        std::string(R"({"interval": "10ms", "age_threshold": 1, "thp_eviction": ")") + mode + R"("})";
    pol = test::make_policy(*reclaim::find_policy("uffd-ws"), w, json.c_str());
    env.as_ = &w.as;
    unsigned rounds = 0;
    env.on_sleep = [&, refault_round] {
      for (std::uint64_t g = 0; g < 100; ++g) REQUIRE(w.touch(g, false, env.t));
      ++rounds;
      if (rounds == 3) free_after_first_eviction = w.host.free_frames(0);
      if (rounds == refault_round && pte::none(w.as.pte_at(Gfn(2 * H + 7)))) {
        const auto f = w.vm.fault(2 * H + 7, false, 0, env.t);
        REQUIRE(f.result == mm::FaultResult::Blocked);
        REQUIRE(f.reason == mm::UffdReason::Missing);
        pol->handle_fault(test::fault_msg(2 * H + 7, false, f.reason, env.t), env);
        REQUIRE(w.touch(2 * H + 7, false, env.t));
        refetched = true;
        check();
        if (after_refetch) after_refetch(*this);
      }
    };
    pol->run_agent(env, 100'000'000);
    pol->finish();
    check();
  }
  void check() {
    w.host.check_invariants();
    w.as.check_invariants();
    t->check_invariants();
  }
  std::uint64_t stat(const char* k) const { return pol->stats().get(k); }
  const thp::ThpVm::Counters& c() const { return t->counters(); }
};

}  // namespace

SCENARIO("thp_eviction pmd: whole-PMD eviction, 2 MiB refetch", "[thp][vmm][thp_eviction]") {
  GIVEN("three cold PMD mappings and a PTE-mapped range with a hot part") {
    Run r("pmd");
    THEN("each cold PMD goes whole: zap_huge_pmd frees its 512 frames at once, no split") {
      CHECK(r.c().split_pmd == 0);
      CHECK(r.c().split_page == 0);
      CHECK(r.c().deferred_split_page == 0);
      CHECK(r.c().deferred_frames_freed == 0);
      CHECK(r.c().zap_huge_pmd >= 3);
      // The first eviction round freed all three folios' frames (3 x 512) before any deferred
      // split could run.
      CHECK(r.free_after_first_eviction >= r.free_before + 3 * H);
      CHECK(r.t->deferred() == 0);
      CHECK(r.stat("/evicted_pages") % H == 0);
    }
    THEN("the PTE-mapped range with 100 hot pages is not a victim: its 412 cold pages stay") {
      for (std::uint64_t g = 100; g < H; ++g) CHECK(pte::present(r.w.as.pte_at(Gfn(g))));
    }
    THEN("a refault on one subpage fetches the 512 pages of its range: amplification 512") {
      REQUIRE(r.refetched);
      CHECK(r.stat("/refault_faults") == 1);
      CHECK(r.stat("/fetched_pages") == H);
      CHECK(r.stat("/fetched_pages") / r.stat("/refault_faults") == H);
      CHECK(r.env.read == H);  // one tier read of the whole range
    }
  }
  GIVEN("a refetched range") {
    bool checked = false;
    Run r("pmd", 4, [&](Run& x) {
      THEN("UFFDIO_COPY installed 512 small PTEs, which MADV_COLLAPSE makes one PMD again") {
        for (std::uint64_t g = 2 * H; g < 3 * H; ++g) {
          CHECK(pte::present(x.w.as.pte_at(Gfn(g))));
          CHECK_FALSE(pte::huge(x.w.as.pte_at(Gfn(g))));
        }
        const auto m = x.t->madv_collapse(Gfn(2 * H), H);
        CHECK(m.collapsed == 1);
        CHECK(x.t->pmd_mapped(2));
        x.check();
        checked = true;
      }
    });
    REQUIRE(r.refetched);
    CHECK(checked);
  }
}

SCENARIO("thp_eviction split (the default): 4 KiB victims split the PMD mappings", "[thp][vmm][thp_eviction]") {
  Run r("split");
  THEN("the batches that cover PMDs in part split them and defer the folio split") {
    CHECK(r.c().split_pmd > 0);
    CHECK(r.c().deferred_split_page > 0);
    // The PTE-mapped range's 412 cold pages went (gfn order: they start the first batch).
    for (std::uint64_t g = 100; g < H; ++g) CHECK_FALSE(pte::present(r.w.as.pte_at(Gfn(g))));
  }
  THEN("a refault brings back one page") {
    REQUIRE(r.refetched);
    CHECK(r.stat("/refault_faults") == 1);
    CHECK(r.stat("/fetched_pages") == 1);
  }
}

TEST_CASE("thp_eviction: refused on shmem, with prefetch and with enforce fault", "[thp][vmm][thp_eviction]") {
  std::string err;
  {
    test::VmmWorld w(mm::Variant::RfcV1, mm::Backing::Shmem);
    CHECK_FALSE(test::make_policy(*reclaim::find_policy("uffd-ws"), w, R"({"thp_eviction": "pmd"})", &err));
    CHECK(err.find("shmem") != std::string::npos);
  }
  test::VmmWorld w(mm::Variant::RfcV1);
  CHECK_FALSE(test::make_policy(*reclaim::find_policy("uffd-ws"), w, R"({"thp_eviction": "pmd", "prefetch": 4})", &err));
  CHECK(err.find("prefetch") != std::string::npos);
  CHECK_FALSE(test::make_policy(*reclaim::find_policy("exact-lru"), w, R"({"thp_eviction": "pmd", "enforce": "fault"})", &err));
  CHECK(err.find("enforce") != std::string::npos);
  // Without THP state (kernel.thp.enabled never) pmd is accepted and moves 4 KiB pages.
  CHECK(test::make_policy(*reclaim::find_policy("uffd-ws"), w, R"({"thp_eviction": "pmd"})", &err));
}
