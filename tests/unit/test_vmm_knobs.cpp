// The VMM realism knobs in the shared evictor, driven without SimGrid (vmm_fixture.hpp):
// prefetch on refault (the window, the range UFFDIO_COPY, hits and waste from ground truth), a
// second handler thread faulting on a page whose read is in flight (it waits instead of reading
// the page again), and the tier queue's split of one call into I/Os.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "models/reclaim/tier.hpp"
#include "models/reclaim/vmm.hpp"
#include "tests/unit/vmm_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using test::FakeEnv;
using World = test::VmmWorld;

namespace {

// A fake whose wait_eviction() is observable: the waiting thread would block here.
struct Waited : std::runtime_error {
  Waited() : std::runtime_error("waited") {}
};
class WaitEnv : public FakeEnv {
 public:
  std::function<void(std::uint64_t pages)> on_read;
  int waits = 0;
  void wait_eviction() override {
    ++waits;
    throw Waited();
  }
  void disk_io(std::uint64_t bytes, bool write) override {
    FakeEnv::disk_io(bytes, write);
    if (!write && on_read) on_read(bytes / core::kPageSize);
  }
};

// uffd-ws on 16 pages: all written at boot, pages 0-3 hot, 4-15 evicted by the first rounds.
std::unique_ptr<reclaim::VmmPolicy> evict_cold(World& w, FakeEnv& env, const char* json) {
  auto pol = test::make_policy(*reclaim::find_policy("uffd-ws"), w, json);
  env.as_ = &w.as;
  env.on_sleep = [&] {
    for (std::uint64_t g = 0; g < 4; ++g) REQUIRE(w.touch(g, false, env.t));
  };
  pol->run_agent(env, 5000000);
  env.on_sleep = nullptr;
  for (std::uint64_t g = 4; g < 16; ++g) REQUIRE(pte::none(w.as.pte_at(Gfn(g))));
  return pol;
}

}  // namespace

SCENARIO("prefetch on refault reads the evicted neighbours in the same I/O and installs them", "[vmm][prefetch]") {
  GIVEN("uffd-ws with prefetch 3 and pages 4-15 evicted") {
    World w(Variant::RfcV1);
    FakeEnv env;
    auto pol = evict_cold(w, env, R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 4, "prefetch": 3})");
    const auto& s = pol->stats();
    const std::uint64_t read0 = env.read;
    WHEN("page 9 faults") {
      REQUIRE(w.vm.fault(9, false, 0, env.t).result == FaultResult::Blocked);
      pol->handle_fault(test::fault_msg(9, false, UffdReason::Missing), env);
      THEN("9 and the 3 pages after it come back in one read; only 9 is a refault") {
        CHECK(env.read - read0 == 4);
        for (std::uint64_t g = 9; g <= 12; ++g) CHECK(pte::present(w.as.pte_at(Gfn(g))));
        CHECK(pte::none(w.as.pte_at(Gfn(8))));
        CHECK(pte::none(w.as.pte_at(Gfn(13))));
        CHECK(s.get("/fetched_pages") == 1);
        CHECK(s.get("/prefetch/pages") == 3);
        CHECK(s.get("/evicted_now") == 8);
        CHECK(s.get("/tier_bytes/read") == 4 * 4096);
        w.as.check_invariants();
      }
      AND_WHEN("the guest reads 10, the run ends") {
        REQUIRE(w.touch(10, false, env.t + 1000));
        pol->finish();
        THEN("one hit (10), two wasted (11, 12), from the truth") {
          CHECK(s.get("/prefetch/hits") == 1);
          CHECK(s.get("/prefetch/wasted") == 2);
          CHECK(w.truth().lost_writes == 0);
        }
      }
    }
    WHEN("page 15 faults (the end of guest memory)") {
      REQUIRE(w.vm.fault(15, true, 0, env.t).result == FaultResult::Blocked);
      pol->handle_fault(test::fault_msg(15, true, UffdReason::Missing), env);
      THEN("the window extends before it instead: 12-15") {
        CHECK(env.read - read0 == 4);
        for (std::uint64_t g = 12; g <= 15; ++g) CHECK(pte::present(w.as.pte_at(Gfn(g))));
        CHECK(pte::none(w.as.pte_at(Gfn(11))));
      }
    }
    WHEN("page 5 faults: the window stops at resident page 3") {
      pol->handle_fault(test::fault_msg(5, false, UffdReason::Missing), env);
      THEN("5-8 come back; then 4 faults and has no evicted neighbour left on its side") {
        CHECK(env.read - read0 == 4);
        CHECK(pte::present(w.as.pte_at(Gfn(8))));
        pol->handle_fault(test::fault_msg(4, false, UffdReason::Missing), env);
        CHECK(env.read - read0 == 5);
        CHECK(s.get("/prefetch/pages") == 3);
        CHECK(s.get("/fetched_pages") == 2);
      }
    }
  }
  GIVEN("the default (prefetch 0)") {
    World w(Variant::RfcV1);
    FakeEnv env;
    auto pol = evict_cold(w, env, R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 4})");
    const std::uint64_t read0 = env.read;
    pol->handle_fault(test::fault_msg(9, false, UffdReason::Missing), env);
    THEN("one page per refault, and no prefetch stats are registered") {
      CHECK(env.read - read0 == 1);
      CHECK(pte::none(w.as.pte_at(Gfn(10))));
      CHECK(pol->stats().find("/prefetch/pages") == nullptr);
    }
  }
}

SCENARIO("a prefetched page evicted again unread is wasted", "[vmm][prefetch]") {
  World w(Variant::RfcV1);
  FakeEnv env;
  auto pol = evict_cold(w, env, R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 4, "prefetch": 2})");
  pol->handle_fault(test::fault_msg(6, true, UffdReason::Missing), env);  // 6, prefetched 7, 8
  REQUIRE(pte::present(w.as.pte_at(Gfn(8))));
  env.on_sleep = [&] {
    for (std::uint64_t g = 0; g < 4; ++g) REQUIRE(w.touch(g, false, env.t));
    REQUIRE(w.touch(7, false, env.t));
  };
  pol->run_agent(env, env.t + 5000000);  // 6 and 8 go cold again, 7 is used
  CHECK(pte::none(w.as.pte_at(Gfn(8))));
  CHECK(pte::present(w.as.pte_at(Gfn(7))));
  CHECK(pol->stats().get("/prefetch/wasted") == 1);  // 8, at its eviction
  CHECK(pol->stats().get("/prefetch/hits") == 0);    // 7 is still resident: not counted yet
  pol->finish();
  CHECK(pol->stats().get("/prefetch/hits") == 1);
  CHECK(pol->stats().get("/prefetch/wasted") == 1);
}

SCENARIO("a second handler thread faulting on a page whose read is in flight waits for it", "[vmm][handler_threads]") {
  World w(Variant::RfcV1);
  WaitEnv env;
  auto pol = evict_cold(w, env, R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 4, "prefetch": 2,
                                   "handler_threads": 2})");
  CHECK(pol->handler_threads() == 2);
  const std::uint64_t read0 = env.read;
  int nested = 0;
  // While thread 1 reads 9-11 from the tier, thread 2 takes the faults of another vCPU on 9 and on
  // its neighbour 10: both wait (no second read), and one on 13 (not in that read) is served.
  env.on_read = [&](std::uint64_t) {
    if (nested++) return;
    CHECK_THROWS_AS(pol->handle_fault(test::fault_msg(9, false, UffdReason::Missing), env), Waited);
    CHECK_THROWS_AS(pol->handle_fault(test::fault_msg(10, true, UffdReason::Missing), env), Waited);
    pol->handle_fault(test::fault_msg(13, false, UffdReason::Missing), env);
  };
  pol->handle_fault(test::fault_msg(9, false, UffdReason::Missing), env);
  CHECK(env.waits == 2);
  CHECK(env.read - read0 == 3 + 3);  // 9-11, then 13-15
  CHECK(pol->stats().get("/fetched_pages") == 2);
  CHECK(pol->stats().get("/prefetch/pages") == 4);
  CHECK(pol->stats().get("/handled_faults") == 4);
  for (std::uint64_t g : {9, 10, 11, 13, 14, 15}) CHECK(pte::present(w.as.pte_at(Gfn(g))));
  CHECK(w.truth().lost_writes == 0);
  w.as.check_invariants();
}

TEST_CASE("the tier queue splits a call into I/Os of at most max_io_pages", "[reclaim][tier]") {
  reclaim::TierQueue q;
  CHECK(q.split(4096) == std::vector<std::uint64_t>{4096 * 4096});  // 0: one I/O per call
  q.max_io_pages = 3;
  CHECK(q.split(7) == std::vector<std::uint64_t>{3 * 4096, 3 * 4096, 4096});
  CHECK(q.split(3) == std::vector<std::uint64_t>{3 * 4096});
  q.max_io_pages = 1;
  CHECK(q.split(2) == std::vector<std::uint64_t>{4096, 4096});
}
