// The VMM policy contract, run against every registered policy with a recording fake of the
// engine (VmmEnv): what it marks, scans, evicts and fetches must follow from PTE state, the
// mmap lock must be released, and the lost-write oracle must see exactly the writes that
// raced an eviction.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <string>

#include "models/mm/address_space.hpp"
#include "models/reclaim/vmm.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;

namespace {

// The engine's side of a VMM: time advances on every call that takes simulated time; the
// tier (ssd by default) spends its time in disk_io, 1 us per page.
class FakeEnv : public reclaim::VmmEnv {
 public:
  core::TimeNs t = 0;
  std::vector<std::string> log;
  std::function<void()> on_sleep, on_tier_write;
  std::uint64_t written = 0, read = 0;
  core::TimeNs now() override { return t; }
  void sleep(core::TimeNs d) override {
    t += d;
    if (on_sleep) on_sleep();
  }
  void cpu(core::TimeNs d) override { t += d; }
  void disk_io(std::uint64_t bytes, bool write) override {
    const std::uint64_t pages = bytes / core::kPageSize;
    if (write) {
      log.push_back("tier_write");
      written += pages;
      t += static_cast<core::TimeNs>(pages) * 1000;
      if (on_tier_write) on_tier_write();
    } else {
      read += pages;
      t += 1000;
    }
  }
  void net_transfer(const std::string& server, std::uint64_t bytes, bool to_server) override {
    log.push_back("net:" + server);
  }
  void mmap_write_lock() override { log.push_back("lock"); locked_ = true; as_->set_mmap_write_locked(true); }
  void mmap_write_unlock() override { log.push_back("unlock"); locked_ = false; as_->set_mmap_write_locked(false); }
  void wake_blocked_faults() override { log.push_back("wake"); }
  void wait_eviction() override { log.push_back("wait_eviction"); }
  void eviction_done() override { log.push_back("eviction_done"); }
  bool alloc_slow_path(core::NodeId n) override {
    log.push_back("alloc_slow_path");
    return on_alloc_fail ? on_alloc_fail(n) : false;
  }
  std::function<bool(core::NodeId)> on_alloc_fail;
  void swap_read(std::uint64_t bytes) override {
    log.push_back("swap_read");
    swapped_in += bytes / core::kPageSize;
    t += 10000;
  }
  std::uint64_t swapped_in = 0;
  void slice(const char* what, core::TimeNs, core::TimeNs) override { log.push_back(std::string("slice:") + what); }
  AddressSpace* as_ = nullptr;
  bool locked_ = false;
};

struct World {
  HostMemory host{std::vector<std::uint64_t>{64}};
  test::TestVm vm;
  AddressSpace& as;
  explicit World(Variant v) : vm(cfg(v), host, 2), as(vm.as()) {
    for (std::uint64_t g = 0; g < 16; ++g) REQUIRE(vm.fault(g, true).ok());
  }
  static AddressSpaceConfig cfg(Variant v) {
    AddressSpaceConfig c;
    c.pages = 16;
    c.variant = v;
    c.fallback = {{0}};
    c.epoch_ns = 1000000;
    c.duration_ns = 100000000;
    return c;
  }
  // A vCPU access: fault until the PTE allows it (async mode), then the MMU sets the accessed
  // bit and the truth is updated. Returns false if the access blocked (sync mode).
  bool touch(std::uint64_t g, bool write, core::TimeNs t) {
    for (int i = 0; i < 4; ++i) {
      if (pte::accessible(as.pte_at(Gfn(g)), write)) {
        as.slots()[g].pte |= pte::kAccessed;
        as.truth().note_access(as.slots()[g], t, write, 0, 0);
        return true;
      }
      auto f = vm.fault(g, write, 0, t);
      if (!f.ok()) return false;
    }
    return false;
  }
  const TruthStats& truth() const { return as.truth().stats(); }
};

// Builds the policy as build_world() does and opens its userfaultfd (start()).
std::unique_ptr<reclaim::VmmPolicy> make(const reclaim::PolicyInfo& info, World& w, const char* json) {
  core::Json j = core::Json::parse(json);
  core::ErrorSink sink("t");
  core::Params p(&j, "", &sink, nullptr);
  reclaim::PolicyContext ctx;
  ctx.caps = &w.as.caps();
  ctx.backing = w.as.config().backing;
  ctx.uffd = &w.vm.uffd();
  auto pol = info.make(p, ctx);
  p.finish();
  sink.throw_if_any();
  REQUIRE(pol);
  pol->start();
  return pol;
}

uffd::FaultMsg msg(std::uint64_t g, bool write, UffdReason r) { return {Gfn(g), write, r, NodeId(0)}; }

}  // namespace

TEST_CASE("every registered policy honours the VMM contract", "[vmm]") {
  for (const auto& info : reclaim::policy_registry()) {
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
          CHECK(s.evicted_pages == 12);
          CHECK(s.evicted_now == 12);
          CHECK(env.written == 12);
          CHECK(s.tier_bytes_written == 12 * 4096);
          CHECK(w.as.resident_total() == 4);
          CHECK_FALSE(w.as.mmap_write_locked());
          CHECK(w.truth().lost_writes == 0);
          CHECK(s.scans >= 2);
          CHECK(s.wss_estimate == 4);
          CHECK(s.false_cold == 0);
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
          CHECK(pol->stats().fetched_pages == 1);
          CHECK(pol->stats().evicted_now == 11);
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
  REQUIRE(pol->stats().evicted_now > 0);
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
      CHECK(pol->stats().fetched_pages == 1);
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
    CHECK(pol->stats().eviction_swap_ins == 1);
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
  CHECK(pol->stats().evicted_pages == 14);  // cold pages 1-15, less page 15
}
