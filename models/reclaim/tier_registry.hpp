#pragma once
#include "models/reclaim/tier.hpp"

namespace vmemsim::reclaim {
TierInfo ssd_tier_info();
TierInfo remote_tier_info();
TierInfo compressed_tier_info();
}  // namespace vmemsim::reclaim
