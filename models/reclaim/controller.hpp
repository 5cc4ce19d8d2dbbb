// A memory-target controller: how many pages a policy wants evicted now. The selector orders
// the candidates, the controller sizes the eviction. Without one, a policy evicts every page
// its selector offers (the age rule's "old enough" set); with a fixed target it evicts only
// the excess of resident memory over the target.
#pragma once
#include <cstdint>
#include <limits>

#include "models/mm/address_space.hpp"

namespace vmemsim::reclaim {

class Controller {
 public:
  virtual ~Controller() = default;
  // Pages to evict at this decision point (max = as many as the selector offers).
  virtual std::uint64_t want(const mm::AddressSpace& as) = 0;
};

// `memory_target`: evict down to a fixed number of resident pages (0 = no limit).
class FixedTarget final : public Controller {
 public:
  explicit FixedTarget(std::uint64_t target_pages) : target_(target_pages) {}
  std::uint64_t want(const mm::AddressSpace& as) override {
    if (!target_) return std::numeric_limits<std::uint64_t>::max();
    const std::uint64_t res = as.resident_total();
    return res > target_ ? res - target_ : 0;
  }

 private:
  std::uint64_t target_;
};

}  // namespace vmemsim::reclaim
