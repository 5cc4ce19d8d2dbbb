// A tracker: how a VMM policy finds out which guest pages were accessed (and so which look
// cold). It registers guest memory with the mechanism it uses (userfaultfd modes, A bits,
// page_idle, DAMON regions), runs one tracking round at a time, and reports what it saw to the
// victim selector as events (VictimSelector::inserted/accessed/removed/scan_done); it never
// picks victims and never does eviction I/O (the shared Evictor does).
//
// Lifecycle, driven by ComposedPolicy (composed.hpp): start() before any vCPU runs; then, in
// the VMM agent, begin() once and round() per interval; before an eviction, the evictor asks
// needs_sync() and, under sync mode, recheck(); the handler thread asks resolve() to clear the
// tracking state of a page whose access faulted.
#pragma once
#include <cstdint>

#include "models/reclaim/selector.hpp"
#include "models/uffd/uffd.hpp"

namespace vmemsim::reclaim {

using core::TimeNs;
class VmmEnv;
class Evictor;

class Tracker {
 public:
  virtual ~Tracker() = default;
  // Before any vCPU runs: register guest memory (uffd modes and features).
  virtual void start() = 0;
  // In the agent, once: spends the CPU time of start().
  virtual void begin(VmmEnv& env) = 0;
  // The time between the start of two rounds.
  virtual TimeNs interval() const = 0;
  // One round: arm tracking, wait, collect. Reports to `sel` (every resident page it knows of
  // either accessed() or left idle, then scan_done()), tells the evictor's truth meter what it
  // reported, and calls Evictor::next_round() when the round's observation is complete.
  // Returns the time from which "accessed in this round" counts (for the truth metrics).
  virtual TimeNs round(VmmEnv& env, VictimSelector& sel) = 0;
  // Whether evicting a page this tracker reported cold races with a vCPU touching it unless
  // faults block (UFFDIO_SET_MODE(sync)) while the pages are written out and zapped.
  virtual bool needs_sync() const = 0;
  // After the victims are claimed, before SET_MODE(sync): make a touch of a victim visible to
  // recheck() (a tracker that marked every page in round() has nothing to do).
  virtual void arm(VmmEnv& env, Evictor& ev) {
    (void)env;
    (void)ev;
  }
  // Under sync mode: drop from the eviction (Evictor::drop) the claimed pages that are no
  // longer cold. Spends its CPU time.
  virtual void recheck(VmmEnv& env, Evictor& ev) = 0;
  // The handler thread: clears the tracking state of a page whose access faulted with
  // `reason` (not MISSING, which the evictor serves).
  virtual uffd::IoctlResult resolve(const uffd::FaultMsg& m) = 0;
  // Between rounds, at a fault: brings the selector up to date with every access and residency
  // change until now, as a round would report them, so a victim can be chosen at this fault
  // (a fixed frame limit, ComposedPolicy::limit_at_faults). Only a tracker that can see every
  // access at any moment can do this -- the ground-truth oracle of the baselines; a mechanism
  // learns of accesses only at its rounds, and keeps the default (false: nothing reported).
  virtual bool report_now(VmmEnv& env, VictimSelector& sel) {
    (void)env;
    (void)sel;
    return false;
  }
};

}  // namespace vmemsim::reclaim
