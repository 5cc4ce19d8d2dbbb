// A watchdog on simulated progress: a run whose actors keep taking steps while the simulated
// clock stands still can never reach its duration (a cost that rounds to 0 ns in a loop, a
// clock that no longer resolves 1 ns). The engine reports every actor step to one watchdog;
// after `limit` consecutive steps at the same simulated time it trips, and the engine ends the
// run with an error naming the time and the actor, instead of spinning forever.
#pragma once
#include <cstdint>

#include "sim/core/types.hpp"

namespace vmemsim::core {

class ProgressWatchdog {
 public:
  // Every actor may legitimately step at the same instant (all vCPUs start at t = 0, a burst of
  // faults is handled at one time): the limit is a multiple of the actor count.
  static std::uint64_t limit_for(std::uint64_t actors) {
    const std::uint64_t l = actors * 1024;
    return l < kMinLimit ? kMinLimit : l;
  }
  explicit ProgressWatchdog(std::uint64_t limit) : limit_(limit) {}

  // One actor step at simulated time `now`; false once `limit` steps in a row saw no advance.
  bool step(TimeNs now) {
    if (now != last_) {
      last_ = now;
      still_ = 0;
      return true;
    }
    return ++still_ < limit_;
  }
  std::uint64_t steps_without_progress() const { return still_; }
  TimeNs stuck_at() const { return last_; }
  std::uint64_t limit() const { return limit_; }

 private:
  static constexpr std::uint64_t kMinLimit = 1'000'000;
  std::uint64_t limit_;
  std::uint64_t still_ = 0;
  TimeNs last_ = -1;
};

}  // namespace vmemsim::core
