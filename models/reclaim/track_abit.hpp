// The accessed-bit harvesting tracker (see track_abit.cpp).
#pragma once
#include <memory>

#include "models/reclaim/evictor.hpp"
#include "models/reclaim/tracker.hpp"

namespace vmemsim::reclaim {

std::unique_ptr<Tracker> make_abit_tracker(TimeNs interval, Evictor& ev, StatSet& stats);

}  // namespace vmemsim::reclaim
