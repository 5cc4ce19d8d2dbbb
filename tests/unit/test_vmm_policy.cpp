// The uffd working-set loop (uffd-ws, naive-async) with a recording fake of the engine
// (VmmEnv): what it marks, scans, evicts and fetches must follow from PTE state, the mmap lock
// must be released, and the lost-write oracle must see exactly the writes that raced an
// eviction. The contract every registered policy keeps is test_policy_contract.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <string>

#include "models/mm/address_space.hpp"
#include "models/reclaim/vmm.hpp"
#include "tests/unit/kernel_fixture.hpp"
#include "tests/unit/vmm_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;

using test::FakeEnv;
using World = test::VmmWorld;

namespace {
std::unique_ptr<reclaim::VmmPolicy> make(const reclaim::PolicyInfo& info, World& w, const char* json) {
  return test::make_policy(info, w, json);
}
uffd::FaultMsg msg(std::uint64_t g, bool write, UffdReason r) { return test::fault_msg(g, write, r); }
}  // namespace

TEST_CASE("the uffd working-set loop evicts exactly the cold pages", "[vmm]") {
  for (const char* name : {"uffd-ws", "naive-async"}) {
    const auto& info = *reclaim::find_policy(name);
    for (Variant v : {Variant::RfcV1, Variant::Rwp}) {
      DYNAMIC_SECTION(info.name << " on " << variant_name(v)) {
        World w(v);
        auto pol = make(info, w, R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 4})");
        FakeEnv env;
        env.as_ = &w.as;
        env.on_sleep = [&] {  // pages 0-3 are hot: touched in every interval
          for (std::uint64_t g = 0; g < 4; ++g) REQUIRE(w.touch(g, g % 2 == 0, env.t));
        };
        pol->run_agent(env, 5000000);
        const auto& s = pol->stats();
        THEN("exactly the cold pages were evicted, and the lock was released") {
          for (std::uint64_t g = 0; g < 4; ++g) CHECK(pte::present(w.as.pte_at(Gfn(g))));
          for (std::uint64_t g = 4; g < 16; ++g) CHECK(pte::none(w.as.pte_at(Gfn(g))));
          CHECK(s.get("/evicted_pages") == 12);
          CHECK(s.get("/evicted_now") == 12);
          CHECK(env.written == 12);
          CHECK(s.get("/tier_bytes/written") == 12 * 4096);
          CHECK(w.as.resident_total() == 4);
          CHECK_FALSE(w.as.mmap_write_locked());
          CHECK(w.truth().lost_writes == 0);
          CHECK(s.get("/scans") >= 2);
          CHECK(s.get("/last_scan/wss_estimate_pages") == 4);
          CHECK(s.get("/last_scan/false_cold_pages") == 0);
          w.as.check_invariants();
        }
        THEN("eviction runs under SET_MODE(sync) unless the policy is the naive one") {
          auto first_write = std::find(env.log.begin(), env.log.end(), "tier_write");
          auto first_lock = std::find(env.log.begin(), env.log.end(), "lock");
          const bool sync = std::string(info.name) != "naive-async";
          if (sync) {
            CHECK(first_lock < first_write);
            CHECK(std::count(env.log.begin(), env.log.end(), "wake") >= 1);  // back to async
          } else {
            CHECK(first_lock == env.log.end());
          }
        }
        THEN("a touched evicted page comes back from the tier through a MISSING fault") {
          auto f = w.vm.fault(7, false, 0, env.t);
          REQUIRE(f.result == FaultResult::Blocked);
          REQUIRE(f.reason == UffdReason::Missing);
          pol->handle_fault(msg(7, false, UffdReason::Missing), env);
          CHECK(pte::present(w.as.pte_at(Gfn(7))));
          CHECK(pol->stats().get("/fetched_pages") == 1);
          CHECK(pol->stats().get("/evicted_now") == 11);
          CHECK(env.read == 1);
          CHECK(w.truth().lost_writes == 0);
        }
      }
    }
  }
}

SCENARIO("UFFDIO_COPY on a full host runs the allocator's slow path in the handler, then retries", "[vmm]") {
  World w(Variant::RfcV1);
  auto pol = make(*reclaim::find_policy("uffd-ws"), w, R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 4})");
  FakeEnv env;
  env.as_ = &w.as;
  pol->run_agent(env, 5000000);
  REQUIRE(pol->stats().get("/evicted_now") > 0);
  REQUIRE(pte::none_or_marker(w.as.pte_at(Gfn(7))));
  // Another tenant takes every free frame.
  std::vector<mm::Pfn> taken;
  while (auto p = w.host.alloc_on(NodeId(0), mm::Mapper{})) taken.push_back(*p);
  REQUIRE(w.vm.fault(7, false, 0, env.t).result == FaultResult::Blocked);
  WHEN("reclaim frees a frame") {
    int calls = 0;
    env.on_alloc_fail = [&](NodeId n) {
      CHECK(n == NodeId(0));
      ++calls;
      w.host.put(taken.back());
      taken.pop_back();
      return true;
    };
    pol->handle_fault(msg(7, false, UffdReason::Missing), env);
    THEN("the fetched page is installed after one slow-path call") {
      CHECK(calls == 1);
      CHECK(pte::present(w.as.pte_at(Gfn(7))));
      CHECK(pol->stats().get("/fetched_pages") == 1);
    }
  }
  WHEN("nothing can be freed") {
    THEN("the run fails with the host out of memory, and the page's marker stays") {
      CHECK_THROWS_AS(pol->handle_fault(msg(7, false, UffdReason::Missing), env), core::InternalError);
      CHECK(pte::none_or_marker(w.as.pte_at(Gfn(7))));
    }
  }
}

SCENARIO("evicting a page kernel reclaim swapped out reads it back from swap first (double paging)", "[vmm]") {
  World w(Variant::RfcV1);
  auto pol = make(*reclaim::find_policy("uffd-ws"), w, R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 4})");
  FakeEnv env;
  env.as_ = &w.as;
  bool swapped = false;
  env.on_tier_write = [&] {
    // While the first batch (gfns 4-7) is written, kswapd swaps out gfn 14, a candidate of the
    // third batch that the recheck has already confirmed cold.
    if (swapped) return;
    w.as.swap_out(Gfn(14), 0);
    swapped = true;
  };
  pol->run_agent(env, 5000000);
  THEN("the eviction read swapped it in once, then the VMM evicted it like the others") {
    REQUIRE(swapped);
    CHECK(pol->stats().get("/eviction_swap_ins") == 1);
    CHECK(env.swapped_in == 1);
    CHECK(pte::none_or_marker(w.as.pte_at(Gfn(14))));
    CHECK(w.as.swap_ptes() == 0);
    CHECK(w.truth().lost_writes == 0);
  }
}

SCENARIO("the lost-write oracle sees a write that races the eviction", "[vmm]") {
  for (const char* name : {"uffd-ws", "naive-async"}) {
    DYNAMIC_SECTION(name) {
      World w(Variant::RfcV1);
      auto pol = make(*reclaim::find_policy(name), w,
                      R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 16})");
      FakeEnv env;
      env.as_ = &w.as;
      env.on_sleep = [&] { REQUIRE(w.touch(0, true, env.t)); };
      bool wrote = false, blocked = false;
      // While pwrite is copying the cold pages out, a vCPU writes page 9.
      env.on_tier_write = [&] {
        if (wrote || blocked) return;
        if (w.touch(9, true, env.t)) wrote = true;
        else blocked = true;
      };
      pol->run_agent(env, 2500000);
      REQUIRE(pte::none(w.as.pte_at(Gfn(9))));
      REQUIRE(w.vm.fault(9, false, 0, env.t).result == FaultResult::Blocked);
      pol->handle_fault(msg(9, false, UffdReason::Missing), env);
      if (std::string(name) == "uffd-ws") {
        THEN("sync mode blocked the write, so nothing is lost") {
          CHECK(blocked);
          CHECK_FALSE(wrote);
          CHECK(w.truth().lost_writes == 0);
        }
      } else {
        THEN("async mode let it through and MADV_DONTNEED dropped it") {
          CHECK(wrote);
          CHECK(w.truth().lost_writes == 1);
          REQUIRE(w.truth().lost_log.size() == 1);
          CHECK(w.truth().lost_log[0].gfn == 9);
          CHECK(w.truth().lost_log[0].fetched_version + 1 == w.truth().lost_log[0].latest_version);
        }
      }
    }
  }
}

SCENARIO("a candidate touched while an earlier batch is in flight is dropped from the eviction", "[vmm]") {
  // uffd-ws in sync mode with more candidates than one batch: while batch 1 is being written,
  // a vCPU reads page 15 (a later batch), blocks, the handler resolves it, and the vCPU then
  // writes it. The page must not be evicted afterwards: its write would be lost.
  World w(Variant::RfcV1);
  auto pol = make(*reclaim::find_policy("uffd-ws"), w,
                  R"({"interval": "1ms", "age_threshold": 1, "batch_pages": 2})");
  FakeEnv env;
  env.as_ = &w.as;
  env.on_sleep = [&] { REQUIRE(w.touch(0, true, env.t)); };
  bool done = false;
  env.on_tier_write = [&] {
    if (done) return;
    done = true;
    REQUIRE_FALSE(w.touch(15, false, env.t));  // sync: blocks
    pol->handle_fault(msg(15, false, UffdReason::Minor), env);
    REQUIRE(w.touch(15, true, env.t));
  };
  pol->run_agent(env, 1500000);
  pol->finish();
  CHECK(done);
  CHECK(pte::present(w.as.pte_at(Gfn(15))));
  CHECK(w.truth().lost_writes == 0);
  CHECK(pol->stats().get("/evicted_pages") == 14);  // cold pages 1-15, less page 15
}
