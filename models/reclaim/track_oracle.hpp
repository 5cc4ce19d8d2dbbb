// The ground-truth tracker of the baseline policies (see track_oracle.cpp).
#pragma once
#include <memory>

#include "models/reclaim/evictor.hpp"
#include "models/reclaim/tracker.hpp"

namespace vmemsim::reclaim {

std::unique_ptr<Tracker> make_oracle_tracker(TimeNs interval, Evictor& ev, StatSet& stats);

}  // namespace vmemsim::reclaim
