// A memory-target controller: how many pages a policy wants evicted now. The selector orders
// the candidates, the controller sizes the eviction. Without one, a policy evicts every page
// its selector offers (the age rule's "old enough" set); with a fixed target it evicts only
// the excess of resident memory over the target; a feedback controller (senpai.cpp) moves its
// target with what the VMM observed since its previous decision.
#pragma once
#include <cstdint>
#include <limits>

#include "models/mm/address_space.hpp"
#include "models/reclaim/stats.hpp"

namespace vmemsim::reclaim {

// What the VMM observed between two decisions of its agent loop, as ComposedPolicy hands it to
// the controller before each want(). Everything here is something the VMM itself can measure:
// its clock, the refaults its handler thread served, and how long each kept a vCPU waiting.
struct Observation {
  core::TimeNs now = 0;      // the decision's time
  core::TimeNs elapsed = 0;  // wall (simulated) time since the previous decision
  // Pages fetched back from the tier since the previous decision (MISSING faults on pages this
  // VMM evicted) and the vCPU time they stalled: for each such fault, from the instant the
  // vCPU raised it to the ioctl that resolved it, plus the faults that waited for a page's
  // eviction write to finish (Evictor::refault_stall_ns()).
  std::uint64_t refaults = 0;
  core::TimeNs refault_stall_ns = 0;
  unsigned vcpus = 1;             // vCPUs of the VM (the stall time is summed over them)
  std::uint64_t resident = 0;     // resident pages now: the VMM's RSS of guest memory (rss_pages())
};

class Controller {
 public:
  virtual ~Controller() = default;
  // Once, as the policy is built: the controller registers the stats it keeps (none by default).
  virtual void register_stats(StatSet& s) { (void)s; }
  // Before each want(): what happened since the previous decision (ignored by default).
  virtual void observe(const Observation& o) { (void)o; }
  // Pages to evict at this decision point (max = as many as the selector offers).
  virtual std::uint64_t want(const mm::AddressSpace& as) = 0;
};

// `memory_target`: evict down to a fixed number of resident pages (0 = no limit). Resident is
// what the VMM sees of itself, its RSS (AddressSpace::rss_pages()), not the host frames it
// owns: with KSM a merged page is owned by one VM only, yet every sharer maps it and would
// fault it back if it were dropped, and a VMM has no way to read frame ownership anyway.
class FixedTarget final : public Controller {
 public:
  explicit FixedTarget(std::uint64_t target_pages) : target_(target_pages) {}
  std::uint64_t want(const mm::AddressSpace& as) override {
    if (!target_) return std::numeric_limits<std::uint64_t>::max();
    const std::uint64_t res = as.rss_pages();
    return res > target_ ? res - target_ : 0;
  }

 private:
  std::uint64_t target_;
};

}  // namespace vmemsim::reclaim
