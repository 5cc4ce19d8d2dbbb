// Strong ids and the time type shared by every layer.
// Model time is integer nanoseconds (DESIGN.md "Time and the vCPU quantum"); ids are
// thin wrappers so a gfn can never be passed where a pfn is expected.
#pragma once
#include <cstdint>
#include <compare>

namespace vmemsim::core {

using TimeNs = std::int64_t;  // simulated nanoseconds since the start of the run

constexpr TimeNs kNsPerUs = 1000;
constexpr TimeNs kNsPerMs = 1000 * kNsPerUs;
constexpr TimeNs kNsPerSec = 1000 * kNsPerMs;
constexpr std::uint64_t kPageSize = 4096;
constexpr int kPageShift = 12;

template <class Tag, class Rep>
struct StrongId {
  Rep v{};
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep x) : v(x) {}
  constexpr auto operator<=>(const StrongId&) const = default;
};

struct GfnTag {};
struct PfnTag {};
struct NodeTag {};
struct VmTag {};
using Gfn = StrongId<GfnTag, std::uint64_t>;  // guest frame number (page index in a VM)
using Pfn = StrongId<PfnTag, std::uint32_t>;  // host frame number (global across nodes)
using NodeId = StrongId<NodeTag, std::uint16_t>;
using VmId = StrongId<VmTag, std::uint16_t>;

}  // namespace vmemsim::core
