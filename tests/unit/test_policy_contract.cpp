// The contract every registered VMM policy keeps, each run with its own default parameters on
// a small VM driven without SimGrid (vmm_fixture.hpp), on every kernel variant / backing it
// accepts, under a seeded random access pattern with a hot set, first touches, and writes that
// race the eviction:
//  - victims are resident: each round, the pages that left residency are exactly as many as
//    the policy says it evicted (a non-resident victim would be counted but change nothing),
//    and the frame accounting stays consistent (no frame freed twice or leaked);
//  - no lost write unless the policy is declared unsafe (PolicyInfo::safe), or the kernel's
//    rwp 07/14 GUP guard made the VMM's own eviction read fault (a documented kernel finding,
//    bounded by those faults; without the guard the same policy loses nothing);
//  - the same seed gives the same decisions (eviction sets, I/O log, every stat);
//  - the stats are self-consistent (evicted_now == evicted - fetched, tier bytes match the I/O
//    the tier did, counters never decrease, truth-based counts bounded by what they count).
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "models/reclaim/vmm.hpp"
#include "sim/core/rng.hpp"
#include "tests/unit/vmm_fixture.hpp"

using namespace vmemsim;
using mm::Backing;
using mm::Variant;
namespace pte = mm::pte;

namespace {

constexpr std::uint64_t kPages = 64, kPrefault = 40, kHot = 12;

struct Setup {
  Variant v;
  Backing b;
  const char* label;
  bool gup_rwp_fault = true;  // rwp v2 07/14
  // Guest size, pages written before the VMM starts, random accesses per round. hugetlb: 8
  // huge pages, 6 of them populated, one random access per round so that some huge pages go
  // cold and some come back.
  std::uint64_t pages = kPages, prefault = kPrefault;
  int randoms = 8;
};
const Setup kSetups[] = {{Variant::RfcV1, Backing::Anon, "rfc-v1 anon"},
                         {Variant::Rwp, Backing::Anon, "rwp anon"},
                         {Variant::Rwp, Backing::Anon, "rwp anon without the 07/14 GUP guard", false},
                         {Variant::RfcV1, Backing::Shmem, "rfc-v1 shmem"},
                         {Variant::Rwp, Backing::Shmem, "rwp shmem"},
                         {Variant::Upstream, Backing::Anon, "upstream anon"},
                         {Variant::RfcV1, Backing::Hugetlb, "rfc-v1 hugetlb", true, 8 * 512, 6 * 512, 1}};
constexpr core::TimeNs kDuration = 12'000'000'000;

struct Run {
  bool accepted = false;
  std::vector<std::string> log;
  std::vector<std::vector<std::uint64_t>> evicted;  // per round: the pages that left residency
  std::vector<std::uint64_t> stats;                 // final values, StatSet order
  std::uint64_t lost = 0, rounds = 0, read_faults = 0;
};

Run drive(const reclaim::PolicyInfo& info, const Setup& su, std::uint64_t seed) {
  Run run;
  mm::KernelPatches patches;
  patches.gup_rwp_fault = su.gup_rwp_fault;
  const std::uint64_t P = su.pages;
  test::VmmWorld w(su.v, su.b, P, su.prefault, kDuration, patches);
  std::string err;
  if (!reclaim::policy_accepts_backing(info, su.b)) return run;  // refused by the scenario reader
  auto pol = test::make_policy(info, w, "{}", &err, seed);
  if (!pol) return run;
  run.accepted = true;
  const reclaim::StatSet& st = pol->stats();
  test::FakeEnv env;
  env.as_ = &w.as;
  core::Rng rng(seed);

  auto resident = [&](std::uint64_t g) {
    if (!w.as.anon()) return w.as.in_page_cache(core::Gfn(g));
    const auto p = w.as.pte_at(core::Gfn(g));
    return pte::present(p) && !pte::zero_page(p);
  };
  // A vCPU access. With `serve`, a sync userfault is handed to the policy's handler (as the
  // engine's handler actor would) and the access retried; without (mid-eviction, where the
  // handler could wait on the batch being written), the access is retried next round.
  std::vector<std::pair<std::uint64_t, bool>> retry;
  auto access = [&](std::uint64_t g, bool write, bool serve) {
    for (int i = 0; i < 8; ++i) {
      if (pte::accessible(w.as.pte_at(core::Gfn(g)), write)) {
        w.as.slots()[g].pte |= pte::kAccessed;
        w.as.truth().note_access(w.as.slots()[g], env.t, write, 0, 0);
        return;
      }
      const auto f = w.vm.fault(g, write, 0, env.t);
      if (f.result == mm::FaultResult::Blocked) {
        if (!serve) {
          retry.emplace_back(g, write);
          return;
        }
        // The message carries the address the kernel reports (haddr on hugetlb).
        pol->handle_fault(test::fault_msg(w.vm.uffd().msg_address(core::Gfn(g)).v, write, f.reason, env.t), env);
      } else {
        REQUIRE(f.ok());
      }
    }
    FAIL("access to gfn " << g << " did not complete");
  };

  std::vector<bool> was_resident(P, false);
  std::vector<std::uint64_t> last(st.all().size(), 0);
  std::uint64_t evicted_mark = 0;
  auto settle = [&] {
    // What the last eviction did: pages resident when the vCPUs last ran and not now (only an
    // eviction removes a page here) must be exactly the pages the policy counted.
    std::vector<std::uint64_t> gone;
    for (std::uint64_t g = 0; g < P; ++g)
      if (was_resident[g] && !resident(g)) gone.push_back(g);
    INFO(info.name << " round " << run.rounds);
    CHECK(st.get("/evicted_pages") - evicted_mark == gone.size());
    run.evicted.push_back(gone);
    w.as.check_invariants();
    // Counters never decrease.
    const auto all = st.all();
    for (std::size_t k = 0; k < all.size(); ++k) {
      if (all[k].kind == reclaim::StatKind::Counter) CHECK(all[k].value() >= last[k]);
      last[k] = all[k].value();
    }
    ++run.rounds;
  };
  auto snapshot = [&] {
    for (std::uint64_t g = 0; g < P; ++g) was_resident[g] = resident(g);
    evicted_mark = st.get("/evicted_pages");
  };

  env.on_sleep = [&] {
    settle();
    auto pending = std::move(retry);
    retry.clear();
    for (auto [g, write] : pending) access(g, write, true);
    for (std::uint64_t g = 0; g < kHot; ++g) access(g, g % 3 == 0, true);  // the hot set
    for (int i = 0; i < su.randoms; ++i) access(rng.below(P), rng.below(2) == 0, true);
    snapshot();
  };
  env.on_tier_write = [&] {  // vCPUs keep running while the batch is written out
    for (int i = 0; i < 2; ++i) access(kHot + rng.below(P - kHot), true, false);
  };
  snapshot();
  pol->run_agent(env, kDuration);
  settle();
  pol->finish();

  run.log = env.log;
  run.lost = w.truth().lost_writes;
  run.read_faults = st.get("/eviction_read_faults");
  for (const auto& s : st.all()) run.stats.push_back(s.value());

  // Stats self-consistency.
  INFO(info.name << " on " << su.label);
  const std::uint64_t ev = st.get("/evicted_pages"), fe = st.get("/fetched_pages");
  CHECK(st.get("/evicted_now") == ev - fe);
  CHECK(fe <= ev);
  CHECK(env.written == ev);
  CHECK(env.read == fe);
  CHECK(st.get("/tier_bytes/written") == ev * core::kPageSize);
  CHECK(st.get("/tier_bytes/read") == fe * core::kPageSize);
  CHECK(st.get("/tier_bytes/stored") == (ev - fe) * core::kPageSize);  // ssd: one page per page
  CHECK(st.get("/false_cold_evictions") <= fe);
  CHECK(st.get("/evicted_while_hot") <= ev);
  CHECK(st.get("/first_touch_faults") + st.get("/refault_faults") <= st.get("/handled_faults"));
  CHECK(w.as.resident_total() + (ev - fe) <= P);
  // Refault amplification: a refault brings back one page, or a whole huge page on hugetlb.
  CHECK(fe == st.get("/refault_faults") * w.vm.uffd().page_pages());
  CHECK_FALSE(w.as.mmap_write_locked());
  if (info.oracle) {  // an oracle reports exactly what happened
    CHECK(st.get("/false_cold_pages_total") == 0);
    CHECK(st.get("/false_hot_pages_total") == 0);
  }
  // Keys are unique and every stat has a unit.
  std::set<std::string> keys;
  for (const auto& s : st.all()) {
    CHECK(keys.insert(s.key).second);
    CHECK(s.unit != nullptr);
  }
  return run;
}

// Whether the policy accepts this kernel variant and backing (the scenario reader's check).
bool accepts(const reclaim::PolicyInfo& info, const Setup& su) {
  core::Json j = core::Json::object();
  core::ErrorSink sink("t");
  core::Params p(&j, "", &sink, nullptr);
  reclaim::PolicyContext ctx;
  ctx.caps = &mm::kernel_caps(su.v);
  ctx.backing = su.b;
  if (!reclaim::policy_accepts_backing(info, su.b)) return false;  // the scenario reader's check
  (void)info.make(p, ctx);
  p.finish();
  return sink.empty();
}

}  // namespace

TEST_CASE("every registered policy keeps the policy contract", "[vmm][contract]") {
  for (const auto& info : reclaim::policy_registry()) {
    int runs_on = 0;
    for (const Setup& su : kSetups) runs_on += accepts(info, su);
    INFO(info.name);
    CHECK(runs_on >= 1);  // a registered policy runs somewhere
    for (const Setup& su : kSetups) {
      DYNAMIC_SECTION(info.name << " on " << su.label) {
        const Run a = drive(info, su, 7);
        REQUIRE(a.accepted == accepts(info, su));
        if (a.accepted) {
          CHECK(a.rounds >= 5);
          std::size_t evicted = 0;
          for (const auto& e : a.evicted) evicted += e.size();
          CHECK(evicted > 0);  // the pattern leaves cold pages: every policy evicts some
          // A safe policy loses no write of its own making. The one documented exception is the
          // kernel's: with the rwp 07/14 guard, the VMM's own O_DIRECT read of a victim faults,
          // the handler unprotects the page, and a vCPU write before MADV_DONTNEED slips through
          // (README "uffd-rwp.json loses writes that way"); each such loss needs such a fault.
          if (info.safe) {
            if (a.read_faults == 0) CHECK(a.lost == 0);
            else CHECK(a.lost <= a.read_faults);
          }
          const Run b = drive(info, su, 7);  // same seed, same decisions
          CHECK(b.log == a.log);
          CHECK(b.evicted == a.evicted);
          CHECK(b.stats == a.stats);
          CHECK(b.lost == a.lost);
        }
      }
    }
  }
}

TEST_CASE("exact-lru evicts the least recently used pages down to its target", "[vmm][contract]") {
  // 64 resident pages touched once each in a shuffled order, 2 ms apart (the truth's epoch is
  // 1 ms): with a target of half the guest, the first decision evicts the 32 touched first.
  test::VmmWorld w(Variant::RfcV1, Backing::Anon, kPages, kPages, kDuration);
  auto pol = test::make_policy(*reclaim::find_policy("exact-lru"), w, R"({"interval": "1s"})");
  test::FakeEnv env;
  env.as_ = &w.as;
  std::vector<std::uint64_t> order(kPages);
  for (std::uint64_t g = 0; g < kPages; ++g) order[g] = (g * 37) % kPages;
  bool first = true;
  env.on_sleep = [&] {
    if (!first) return;
    first = false;
    for (std::uint64_t g : order) {
      env.t += 2'000'000;
      REQUIRE(w.touch(g, false, env.t));
    }
  };
  pol->run_agent(env, 2'500'000'000);
  for (std::size_t i = 0; i < order.size(); ++i) {
    INFO("gfn " << order[i] << " touched " << i << "th");
    CHECK(pte::present(w.as.pte_at(core::Gfn(order[i]))) == (i >= kPages / 2));
  }
  CHECK(pol->stats().get("/evicted_pages") == kPages / 2);
  CHECK(pol->stats().get("/false_cold_pages_total") == 0);
  CHECK(pol->stats().get("/false_hot_pages_total") == 0);
}

TEST_CASE("wp-async-written: pages that are only read look cold and are evicted", "[vmm][contract]") {
  // Pages 0-7 are written every round, 8-15 only read, 16-63 idle. Upstream write-protection
  // sees writes only: the read-hot pages go with the idle ones, and come back by MISSING faults.
  test::VmmWorld w(Variant::Upstream, Backing::Anon, kPages, kPages, kDuration);
  auto pol = test::make_policy(*reclaim::find_policy("wp-async-written"), w, R"({"interval": "10ms", "age_threshold": 1})");
  test::FakeEnv env;
  env.as_ = &w.as;
  std::uint64_t refetched = 0;
  env.on_sleep = [&] {
    for (std::uint64_t g = 0; g < 16; ++g) {
      const bool write = g < 8;
      if (!w.touch(g, write, env.t)) {  // evicted: the MISSING fault fetches it back
        const auto f = w.vm.fault(g, write, 0, env.t);
        REQUIRE(f.result == mm::FaultResult::Blocked);
        REQUIRE(f.reason == mm::UffdReason::Missing);
        // The message carries the address the kernel reports (haddr on hugetlb).
        pol->handle_fault(test::fault_msg(w.vm.uffd().msg_address(core::Gfn(g)).v, write, f.reason), env);
        REQUIRE(w.touch(g, write, env.t));
        ++refetched;
      }
    }
  };
  pol->run_agent(env, 100'000'000);
  pol->finish();
  const auto& st = pol->stats();
  CHECK(st.get("/fetched_pages") == refetched);
  CHECK(refetched >= 8 * 3);                              // the read-hot pages, round after round
  CHECK(st.get("/false_cold_pages_total") >= 8 * 3);      // reported cold although read
  for (std::uint64_t g = 0; g < 8; ++g) CHECK(pte::present(w.as.pte_at(core::Gfn(g))));  // written: kept
  for (std::uint64_t g = 16; g < kPages; ++g) CHECK_FALSE(pte::present(w.as.pte_at(core::Gfn(g))));
}

TEST_CASE("abit-harvest: young bits find the read-hot pages without faults; one shootdown per pass", "[vmm][contract]") {
  test::VmmWorld w(Variant::RfcV1, Backing::Anon, kPages, kPages, kDuration);
  auto pol = test::make_policy(*reclaim::find_policy("abit-harvest"), w, R"({"interval": "10ms", "age_threshold": 1})");
  test::FakeEnv env;
  env.as_ = &w.as;
  const std::uint64_t minor_before = w.vm.faults("uffd_minor_async") + w.vm.faults("uffd_minor_sync");
  env.on_sleep = [&] {
    for (std::uint64_t g = 0; g < 16; ++g) REQUIRE(w.touch(g, false, env.t));  // read-hot, never faults
  };
  pol->run_agent(env, 100'000'000);
  const auto& st = pol->stats();
  for (std::uint64_t g = 0; g < 16; ++g) CHECK(pte::present(w.as.pte_at(core::Gfn(g))));
  for (std::uint64_t g = 16; g < kPages; ++g) CHECK_FALSE(pte::present(w.as.pte_at(core::Gfn(g))));
  CHECK(st.get("/evicted_pages") == kPages - 16);
  CHECK(st.get("/fetched_pages") == 0);
  CHECK(w.vm.faults("uffd_minor_async") + w.vm.faults("uffd_minor_sync") == minor_before);  // no tracking faults
  CHECK(st.get("/false_cold_pages_total") == 0);
  // Each pass that cleared a bit flushed once; the one eviction marked its victims (one run:
  // 16-63) and flushed for that and for the zap.
  CHECK(st.get("/tlb_flushes") >= st.get("/scans"));
  CHECK(st.get("/tlb_flushes") <= st.get("/scans") + 2);
}

TEST_CASE("idle-page: the bitmap read finds the read-hot pages; rmap walks cost per page, no shootdown", "[vmm][contract]") {
  test::VmmWorld w(Variant::RfcV1, Backing::Anon, kPages, kPages, kDuration);
  auto pol = test::make_policy(*reclaim::find_policy("idle-page"), w,
                               R"({"interval": "10ms", "age_threshold": 1, "rmap_per_page_ns": 400})");
  test::FakeEnv env;
  env.as_ = &w.as;
  const std::uint64_t minor_before = w.vm.faults("uffd_minor_async") + w.vm.faults("uffd_minor_sync");
  env.on_sleep = [&] {
    for (std::uint64_t g = 0; g < 16; ++g) REQUIRE(w.touch(g, false, env.t));  // read-hot, never faults
  };
  pol->run_agent(env, 100'000'000);
  const auto& st = pol->stats();
  for (std::uint64_t g = 0; g < 16; ++g) CHECK(pte::present(w.as.pte_at(core::Gfn(g))));
  for (std::uint64_t g = 16; g < kPages; ++g) CHECK_FALSE(pte::present(w.as.pte_at(core::Gfn(g))));
  CHECK(st.get("/evicted_pages") == kPages - 16);
  CHECK(st.get("/fetched_pages") == 0);
  CHECK(w.vm.faults("uffd_minor_async") + w.vm.faults("uffd_minor_sync") == minor_before);
  CHECK(st.get("/false_cold_pages_total") == 0);
  // Every round marks the 16 hot pages (and the cold ones until they are evicted); the hot
  // ones are never still idle at the read, the cold ones always are.
  CHECK(st.get("/pages_marked_idle") >= kPages + 16 * (st.get("/scans") - 1));
  CHECK(st.get("/pages_still_idle") == st.get("/pages_marked_idle") - 16 * st.get("/scans"));
  // One rmap walk per marked page and one per page still flagged idle at the read.
  CHECK(st.get("/rmap_walks") == 2 * st.get("/pages_marked_idle"));
  CHECK(st.get("/cpu_ns/mark") >= 400 * st.get("/pages_marked_idle"));
  // The mark and the read never flush; only the eviction does (mark victims, zap).
  CHECK(st.get("/tlb_flushes") <= 2);
}

TEST_CASE("damon: sampled regions find the idle pages; regions stay within bounds; same seed, same result", "[vmm][contract]") {
  auto run = [](std::uint64_t& regions, std::uint64_t& evicted, std::uint64_t& fc) {
    test::VmmWorld w(Variant::RfcV1, Backing::Anon, kPages, kPages, kDuration);
    auto pol = test::make_policy(*reclaim::find_policy("damon"), w,
                                 R"({"sample_interval": "1ms", "aggr_interval": "20ms", "min_nr_regions": 4,
                                     "max_nr_regions": 16, "age_threshold": 2})");
    test::FakeEnv env;
    env.as_ = &w.as;
    env.on_sleep = [&] {
      for (std::uint64_t g = 0; g < 16; ++g) REQUIRE(w.touch(g, false, env.t));  // hot: the first 16
    };
    pol->run_agent(env, 400'000'000);
    const auto& st = pol->stats();
    for (std::uint64_t g = 0; g < 16; ++g) CHECK(pte::present(w.as.pte_at(core::Gfn(g))));
    CHECK(st.get("/regions") >= 1);
    CHECK(st.get("/regions_max_seen") <= 16);
    CHECK(st.get("/samples") == 20 * st.get("/scans"));
    regions = st.get("/regions");
    evicted = st.get("/evicted_pages");
    fc = st.get("/false_cold_pages_total");
  };
  std::uint64_t r1, e1, f1, r2, e2, f2;
  run(r1, e1, f1);
  run(r2, e2, f2);
  CHECK(e1 > 0);               // idle regions were paged out
  CHECK(e1 <= kPages - 16);
  CHECK(f1 == 0);              // a region with a touched page is never all-cold here
  CHECK(r1 == r2);
  CHECK(e1 == e2);
}
