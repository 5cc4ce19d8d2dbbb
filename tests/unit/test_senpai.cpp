// The senpai policy's controller (models/reclaim/senpai.cpp) driven by real refaults: a VM whose
// vCPU touches a hot set every tick, a tier slow enough that a refault of a hot page costs more
// stall than the pressure target allows. While nothing refaults the target is probed down (cold
// pages go first, least recently seen first); once it cuts into the hot set, the refaults' stall
// -- measured per fault, from the vCPU's fault to the ioctl that resolves it -- pushes the
// pressure over target and the controller backs off.
#include <catch2/catch.hpp>

#include <vector>

#include "models/reclaim/vmm.hpp"
#include "tests/unit/vmm_fixture.hpp"

using namespace vmemsim;
using mm::Backing;
using mm::Variant;
namespace pte = mm::pte;

namespace {

constexpr std::uint64_t kPages = 64, kHot = 16;
constexpr core::TimeNs kTierRead = 20'000'000;  // 20 ms per page read back

// The fixture's engine with a slow tier read (writes as the fixture's).
class SlowTierEnv final : public test::FakeEnv {
 public:
  void disk_io(std::uint64_t bytes, bool write) override {
    if (write) return FakeEnv::disk_io(bytes, write);
    read += bytes / core::kPageSize;
    t += kTierRead;
  }
};

struct Tick {
  std::uint64_t target, probes, backoffs, pressure_ppm;
  std::uint64_t refaults;  // refaults the vCPU took in this tick's interval
};

}  // namespace

TEST_CASE("senpai probes its target down without refaults and backs off when refault stall exceeds the target",
          "[vmm][senpai]") {
  test::VmmWorld w(Variant::RfcV1, Backing::Anon, kPages, kPages, 40'000'000'000);
  // One probe per tick, 10 % at most; 0.001 of 2 vCPUs' second is 2 ms of stall per tick.
  auto pol = test::make_policy(*reclaim::find_policy("senpai"), w,
                               R"({"interval": "1s", "probe_interval": "1s", "pressure": 0.001, "max_probe": 0.1})");
  const reclaim::StatSet& st = pol->stats();
  SlowTierEnv env;
  env.as_ = &w.as;
  std::vector<Tick> ticks;
  core::TimeNs stall = 0;  // the vCPU's own count of the time it waited on refaults
  std::uint64_t refaults = 0;
  env.on_sleep = [&] {
    // The state after the previous decision, then this interval's accesses: the hot set only.
    std::uint64_t now_refaults = 0;
    for (std::uint64_t g = 0; g < kHot; ++g) {
      if (w.touch(g, g % 2 == 0, env.t)) continue;
      const auto f = w.vm.fault(g, g % 2 == 0, 0, env.t);
      REQUIRE(f.result == mm::FaultResult::Blocked);
      REQUIRE(f.reason == mm::UffdReason::Missing);  // only an evicted page blocks in async mode
      const core::TimeNs t0 = env.t;
      pol->handle_fault(test::fault_msg(g, g % 2 == 0, f.reason, t0), env);
      stall += env.t - t0;
      REQUIRE(w.touch(g, g % 2 == 0, env.t));
      ++now_refaults;
    }
    refaults += now_refaults;
    ticks.push_back({st.get("/senpai/target_pages"), st.get("/senpai/probes"), st.get("/senpai/backoffs"),
                     st.get("/senpai/pressure_ppm"), now_refaults});
  };
  pol->run_agent(env, 30'000'000'000);
  pol->finish();

  // The stall the policy measured is exactly the vCPU's wait on the pages it fetched back.
  CHECK(st.get("/fetched_pages") == refaults);
  CHECK(st.get("/refault_stall_ns") == static_cast<std::uint64_t>(stall));
  CHECK(st.get("/senpai/stall_ns") <= st.get("/refault_stall_ns"));
  REQUIRE(refaults > 0);

  // Phase 1: no refault yet. The first limit is the resident memory (all 64 pages); after one
  // grace tick every tick probes 10 % off, evicting cold pages only, least recently seen first.
  std::size_t first_refault = 0;
  while (first_refault < ticks.size() && ticks[first_refault].refaults == 0) ++first_refault;
  REQUIRE(first_refault >= 8);
  CHECK(ticks[1].target == kPages);
  // ticks[i] is the state after decision i; the refaults it lists are those of the interval
  // that decision i + 1 observes.
  for (std::size_t i = 2; i <= first_refault; ++i) {
    INFO("tick " << i);
    CHECK(ticks[i].target < ticks[i - 1].target);
    CHECK(ticks[i].target == ticks[i - 1].target * 9 / 10);  // floor(target * (1 - max_probe))
    CHECK(ticks[i].probes == ticks[i - 1].probes + 1);
    CHECK(ticks[i].backoffs == 0);
    CHECK(ticks[i].pressure_ppm == 0);
  }
  // The first refault came once the target cut into the hot set (below 16 pages).
  CHECK(ticks[first_refault - 1].target >= kHot);
  CHECK(ticks[first_refault].target < kHot);

  // Phase 2: the refaults' stall (20 ms a page over 2 vCPUs' ~1 s: about 10 000 ppm each)
  // exceeds the 2 ms target; the controller backs off and the target rises again.
  REQUIRE(first_refault + 1 < ticks.size());
  const Tick& after = ticks[first_refault + 1];  // the decision that saw the refaults
  CHECK(after.pressure_ppm >= 9'000 * ticks[first_refault].refaults);
  CHECK(after.backoffs == 1);
  CHECK(after.target > ticks[first_refault].target);
  // From then on it hovers at the hot set: every backoff follows a tick with refaults, and the
  // hot set is never more than a few pages short of resident.
  std::uint64_t backoffs = 0;
  for (std::size_t i = first_refault + 1; i < ticks.size(); ++i) {
    INFO("tick " << i);
    if (ticks[i].backoffs > backoffs) CHECK(ticks[i - 1].refaults > 0);
    backoffs = ticks[i].backoffs;
    CHECK(ticks[i].target >= kHot - 4);
    CHECK(ticks[i].target <= kPages);
  }
  CHECK(backoffs >= 2);
  CHECK(st.get("/senpai/ticks") == ticks.size());
  // Cold pages (16-63) were evicted and never touched again; they stay out.
  for (std::uint64_t g = kHot; g < kPages; ++g) CHECK_FALSE(pte::present(w.as.pte_at(core::Gfn(g))));
}

TEST_CASE("senpai never probes below min_target", "[vmm][senpai]") {
  test::VmmWorld w(Variant::RfcV1, Backing::Anon, kPages, kPages, 40'000'000'000);
  auto pol = test::make_policy(*reclaim::find_policy("senpai"), w,
                               R"({"interval": "1s", "probe_interval": "1s", "max_probe": 0.5, "min_target": "128KiB"})");
  SlowTierEnv env;
  env.as_ = &w.as;
  env.on_sleep = [&] {
    for (std::uint64_t g = 0; g < 4; ++g) REQUIRE(w.touch(g, false, env.t));  // well inside 32 pages
  };
  pol->run_agent(env, 15'000'000'000);
  CHECK(pol->stats().get("/senpai/target_pages") == 32);
  CHECK(w.as.resident_total() == 32);
  CHECK(pol->stats().get("/senpai/backoffs") == 0);
  for (std::uint64_t g = 0; g < 4; ++g) CHECK(pte::present(w.as.pte_at(core::Gfn(g))));
}

TEST_CASE("senpai rejects a target range that is empty and a kernel without SET_MODE", "[vmm][senpai]") {
  {
    test::VmmWorld w(Variant::RfcV1, Backing::Anon, kPages, kPages);
    std::string err;
    CHECK_FALSE(test::make_policy(*reclaim::find_policy("senpai"), w, R"({"min_target": "2MiB", "max_target": "1MiB"})",
                                  &err));
    CHECK_THAT(err, Catch::Contains("max_target"));
  }
  {
    test::VmmWorld w(Variant::Upstream, Backing::Anon, kPages, kPages);
    std::string err;
    CHECK_FALSE(test::make_policy(*reclaim::find_policy("senpai"), w, "{}", &err));
    CHECK_THAT(err, Catch::Contains("senpai"));
  }
}
