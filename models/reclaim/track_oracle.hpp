// The ground-truth tracker of the baseline policies (see track_oracle.cpp).
#pragma once
#include <memory>

#include "models/reclaim/evictor.hpp"
#include "models/reclaim/future.hpp"
#include "models/reclaim/tracker.hpp"

namespace vmemsim::reclaim {

// `future`: the VM's future references, for a selector that wants them (opt); else null.
std::unique_ptr<Tracker> make_oracle_tracker(TimeNs interval, Evictor& ev, StatSet& stats,
                                             std::shared_ptr<FutureRefs> future = nullptr);

}  // namespace vmemsim::reclaim
