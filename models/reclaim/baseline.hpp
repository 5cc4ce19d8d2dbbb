// The baseline policies: a victim selector from selector_registry() (random, fifo, clock,
// exact-lru) fed by the ground-truth tracker (track_oracle.cpp), a fixed memory target that
// sizes each eviction, and the shared evictor. One file per policy names its selector.
#pragma once
#include <memory>
#include <span>

#include "models/reclaim/vmm.hpp"

namespace vmemsim::reclaim {

// Evictor 4.125 B + a list-ordered selector's 8 B, rounded up.
constexpr std::uint64_t kBaselineBytesPerPage = 13;

// interval, memory_target, memory_target_ratio, enforce, batch_pages, read_via, then the selector's own
std::span<const core::ParamSpec> baseline_params(const char* selector);
std::unique_ptr<VmmPolicy> make_baseline(core::Params& p, const PolicyContext& ctx, const char* selector);

}  // namespace vmemsim::reclaim
