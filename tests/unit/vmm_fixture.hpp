// A VMM policy driven without SimGrid: a recording fake of the engine's VmmEnv and a small VM
// whose vCPU accesses the test makes by hand (shared by test_vmm_policy and
// test_policy_contract).
#pragma once
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "models/mm/address_space.hpp"
#include "models/reclaim/vmm.hpp"
#include "tests/unit/kernel_fixture.hpp"

namespace vmemsim::test {

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
  void net_transfer(const std::string& server, std::uint64_t, bool) override { log.push_back("net:" + server); }
  void mmap_write_lock() override {
    log.push_back("lock");
    as_->set_mmap_write_locked(true);
  }
  void mmap_write_unlock() override {
    log.push_back("unlock");
    as_->set_mmap_write_locked(false);
  }
  void wake_blocked_faults() override { log.push_back("wake"); }
  void wait_eviction() override { log.push_back("wait_eviction"); }
  void eviction_done() override { log.push_back("eviction_done"); }
  // The allocator's slow path: what the test says reclaim would free (nothing by default).
  bool alloc_slow_path(core::NodeId n) override {
    log.push_back("alloc_slow_path");
    return on_alloc_fail ? on_alloc_fail(n) : false;
  }
  std::function<bool(core::NodeId)> on_alloc_fail;
  // A read from host swap in a VMM thread: 10 us.
  void swap_read(std::uint64_t bytes) override {
    log.push_back("swap_read");
    swapped_in += bytes / core::kPageSize;
    t += 10000;
  }
  std::uint64_t swapped_in = 0;
  void slice(const char* what, core::TimeNs, core::TimeNs) override { log.push_back(std::string("slice:") + what); }
  mm::AddressSpace* as_ = nullptr;
};

struct VmmWorld {
  mm::HostMemory host;
  TestVm vm;
  mm::AddressSpace& as;
  // `prefault` pages are written before the VMM registers guest memory (the guest booted).
  VmmWorld(mm::Variant v, mm::Backing b = mm::Backing::Anon, std::uint64_t pages = 16, std::uint64_t prefault = 16,
           core::TimeNs duration = 100000000, mm::KernelPatches patches = {})
      : host(std::vector<std::uint64_t>{pages * 4}), vm(cfg(v, b, pages, duration, patches), host, 2), as(vm.as()) {
    // hugetlb: the pool holds the whole guest (hugetlb_reserve_pages at mmap time).
    if (b == mm::Backing::Hugetlb) REQUIRE(host.reserve_hugetlb(0, pages / 512));
    for (std::uint64_t g = 0; g < prefault; ++g)
      if (!mm::pte::accessible(as.pte_at(core::Gfn(g)), true)) REQUIRE(vm.fault(g, true).ok());  // hugetlb: once per huge page
  }
  static mm::AddressSpaceConfig cfg(mm::Variant v, mm::Backing b, std::uint64_t pages, core::TimeNs duration,
                                    mm::KernelPatches patches) {
    mm::AddressSpaceConfig c;
    c.pages = pages;
    c.variant = v;
    c.backing = b;
    c.fallback = {{0}};
    c.epoch_ns = 1000000;
    c.duration_ns = duration;
    c.patches = patches;
    return c;
  }
  // A vCPU access: fault until the PTE allows it (async mode), then the MMU sets the accessed
  // bit and the truth is updated. Returns false if the access blocked (a sync userfault).
  bool touch(std::uint64_t g, bool write, core::TimeNs t) {
    for (int i = 0; i < 4; ++i) {
      if (mm::pte::accessible(as.pte_at(core::Gfn(g)), write)) {
        as.slots()[g].pte |= mm::pte::kAccessed;
        as.truth().note_access(as.slots()[g], t, write, 0, 0);
        return true;
      }
      auto f = vm.fault(g, write, 0, t);
      if (!f.ok()) return false;
    }
    return false;
  }
  const mm::TruthStats& truth() const { return as.truth().stats(); }
};

// A future for a policy that needs one (opt): each page referenced once, in gfn order. The
// fixture's accesses are made by hand, so this is not their future; it gives opt a fixed order.
inline std::shared_ptr<reclaim::FutureRefs> test_future(std::uint64_t pages) {
  std::vector<std::uint32_t> refs(pages);
  for (std::uint64_t g = 0; g < pages; ++g) refs[g] = static_cast<std::uint32_t>(g);
  return std::make_shared<reclaim::FutureRefs>(refs, pages);
}

// Builds the policy as build_world() does and opens its userfaultfd (start()). Returns null,
// with the reader's message in *error, when the policy rejects this kernel variant / backing.
inline std::unique_ptr<reclaim::VmmPolicy> make_policy(const reclaim::PolicyInfo& info, VmmWorld& w, const char* json,
                                                        std::string* error = nullptr, std::uint64_t seed = 0) {
  core::Json j = core::Json::parse(json);
  core::ErrorSink sink("t");
  core::Params p(&j, "", &sink, nullptr);
  reclaim::PolicyContext ctx;
  ctx.caps = &w.as.caps();
  ctx.backing = w.as.config().backing;
  ctx.seed = seed;
  ctx.uffd = &w.vm.uffd();
  if (info.needs_future) ctx.future = test_future(w.as.pages());
  auto pol = info.make(p, ctx);
  p.finish();
  if (error && !sink.empty()) {
    *error = sink.problems().front().message;
    return nullptr;
  }
  sink.throw_if_any();
  REQUIRE(pol);
  pol->start();
  return pol;
}

// A sync userfault's message; `t` is when the vCPU raised it (the start of its stall).
inline uffd::FaultMsg fault_msg(std::uint64_t g, bool write, mm::UffdReason r, core::TimeNs t = 0) {
  return {core::Gfn(g), write, r, core::NodeId(0), t};
}

}  // namespace vmemsim::test
