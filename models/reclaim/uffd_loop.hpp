// The RFC's working-set loop (uffd tracker + age selector + fixed target + evictor), shared by
// the policies that name one mechanism of it: uffd-ws (whichever the kernel and backing give),
// uffd-minor-async, uffd-rwp-async, uffd-shmem-zap, and naive-async (no SET_MODE(sync)).
#pragma once
#include <memory>
#include <span>

#include "models/reclaim/vmm.hpp"

namespace vmemsim::reclaim {

// Which mechanism a named policy insists on (Any: uffd-ws picks by variant and backing).
enum class UffdMechanism { Any, MinorAnon, RwpAnon, ShmemZap, HugetlbZap };

// 6.25 B by construction (evictor 4 B + residency bit, age selector 2 B, scan bitmap 1 bit),
// rounded up with room for the candidate list.
constexpr std::uint64_t kUffdLoopBytesPerPage = 8;

// interval, age_threshold, batch_pages, memory_target, read_via[, recheck_after_sync when sync]
std::span<const core::ParamSpec> uffd_loop_params(bool sync);
std::unique_ptr<VmmPolicy> make_uffd_loop(core::Params& p, const PolicyContext& ctx, bool sync, UffdMechanism need);

}  // namespace vmemsim::reclaim
