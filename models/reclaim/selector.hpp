// A victim selector: the part of a VMM policy (or of `vmemsim replay`) that decides which
// resident pages to evict, given what a tracker has told it about accesses.
//
// The split of a policy (issue "policy library"): a *tracker* finds out which pages were
// accessed (uffd faults, PAGEMAP_SCAN, A bits, page_idle, DAMON, or -- in replay and for the
// perfect-knowledge baselines -- every access), a *selector* orders the resident pages, and one
// shared *evictor* does the I/O. The selector never looks at page tables or ground truth: it
// knows exactly what the events below told it, so the same selector runs inside a VM and in
// trace replay, and a selector given perfect events (exact-lru, opt) is the reference the
// tracking policies are measured against.
//
// Contract, checked by the selector contract test for every registered selector:
//  - pick() returns only pages that are resident (inserted and not removed since), each once,
//    at most `want` of them;
//  - pick() does not forget a page: a page leaves only through removed(), which the caller
//    invokes for every page it actually evicts (and for pages freed by other routes);
//  - the same events with the same seed give the same picks.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sim/core/params.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::reclaim {

// One access as the tracker reports it. `t` is simulated time (replay: the reference index
// unless the trace has timestamps). `next_use` is filled only for selectors that declare
// wants_future(): the `t` of the next access to the same page, or kNever.
struct Access {
  static constexpr std::uint64_t kNever = ~0ull;
  core::Gfn gfn;
  core::TimeNs t = 0;
  bool write = false;
  std::uint64_t next_use = kNever;
};

class VictimSelector {
 public:
  virtual ~VictimSelector() = default;
  // The page became resident through this access (a miss / fault that brought it in).
  virtual void inserted(const Access& a) = 0;
  // A resident page was seen accessed (a hit). Scan-based trackers report each page seen
  // accessed once per scan, with t = the scan time, then call scan_done().
  virtual void accessed(const Access& a) = 0;
  // The page is no longer resident (evicted by the caller, or freed by another route).
  virtual void removed(core::Gfn g) = 0;
  // A scan-based tracker finished one round of accessed() calls at time t: pages it did not
  // report in this round were idle for one more scan.
  virtual void scan_done(core::TimeNs t) { (void)t; }
  // Appends up to `want` victims, best first. Does not remove them (see the contract above);
  // may update internal state (CLOCK's hand and reference bits).
  virtual void pick(std::uint64_t want, std::vector<core::Gfn>& out) = 0;
  // True when accessed()/inserted() need Access::next_use (OPT).
  virtual bool wants_future() const { return false; }
  // True when, given every access, the selector evicts in exact LRU order: its misses then
  // have the stack property (a cache of n frames holds what one of n - 1 holds), so replay
  // gets every frame limit from one stack-distance pass (models/reclaim/replay.hpp).
  virtual bool lru_stack_property() const { return false; }
};

struct SelectorContext {
  std::uint64_t pages = 0;  // pages the VM (or trace) can have: gfns are < pages
  std::uint64_t seed = 0;   // for randomized selectors
};

struct SelectorInfo {
  const char* name;
  const char* summary;
  std::span<const core::ParamSpec> params;
  // Bytes of selector state per page, for the resource estimate.
  std::uint64_t bytes_per_page;
  // Reads and validates the parameters (problems go to p's sink); builds the selector.
  std::unique_ptr<VictimSelector> (*make)(core::Params& p, const SelectorContext& ctx);
  // A threshold rule (the age selector): pick() offers only pages past its threshold, so it
  // may return fewer than `want` -- none at all -- while pages are resident. It is not a
  // demand-paging replacement order; the demand-paging checks of the selector contract skip
  // it, and the policy contract test covers it inside its policies.
  bool threshold = false;
};

// One line per selector in selector_registry.cpp; files are models/reclaim/select_<name>.cpp.
const std::vector<SelectorInfo>& selector_registry();
const SelectorInfo* find_selector(std::string_view name);

}  // namespace vmemsim::reclaim
