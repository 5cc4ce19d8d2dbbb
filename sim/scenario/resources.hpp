// What a run will cost, estimated from the validated scenario before any state is built
// (the reader's rule: resource estimates are checked before allocating).
//
// Lifecycle: `vmemsim run` calls check_resources() after load_scenario() and before the engine
// builds the platform and the world; a scenario that would not fit is an input error (exit 2)
// naming the key that drives the largest share, with the estimate and the limit. `vmemsim
// sweep` uses default_point_timeout() for points without --point-timeout.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/scenario/scenario.hpp"

namespace vmemsim::scenario {

// Bytes of simulator state per simulated 4 KiB guest page, by mechanism (bench/README.md
// measures 24 B with every mechanism off and +6.3 B with uffd-ws; these round up):
constexpr std::uint64_t kBytesPerPageSlot = 16;   // PTE + ground truth (models/mm/ground_truth.hpp)
constexpr std::uint64_t kBytesPerFrame = 12;      // host frame: rmap, refcount, mapcount (host_memory.hpp)
constexpr std::uint64_t kBytesPerFreedFrame = 4;  // the per-node free list, once frames are recycled
constexpr std::uint64_t kBytesPerPageContent = 8;  // a page's content word, if described or scanned by KSM (models/mm/content.hpp)
// THP on (kernel.thp.enabled != never, models/thp/thp.hpp): 1 bit per PMD always, and 2 KiB of
// frame numbers per large folio whose PMD was split but the folio not yet (a PTE-mapped THP):
// at most 4 B per page when every folio is in that state, ~0 when folios stay PMD-mapped.
constexpr std::uint64_t kBytesPerPageThp = 4;
// The page cache of a shmem or hugetlb guest (AddressSpace::cache_): a frame number per page.
constexpr std::uint64_t kBytesPerPageCache = 4;
constexpr std::uint64_t kBytesPerPageKsm = 12;     // ksmd's rmap item per page of a mergeable VM (models/ksm/ksm.hpp)
constexpr std::uint64_t kBytesPerPageNuma = 8;    // NUMA balancing's per-folio cpupid + pfn (models/numa, bench/README.md)
// One element of a per-interval series: the recorder's vectors (with growth headroom), then the
// result document and its text.
constexpr std::uint64_t kBytesPerSeriesValue = 64;
constexpr std::uint64_t kSeriesPerVm = 32;        // fixed series per VM besides per-node, per-fault-kind, per-window
constexpr std::uint64_t kActorResidentBytes = 64 << 10;  // stack pages an actor touches, plus its objects
constexpr std::uint64_t kDefaultStackBytes = 8192ull << 10;  // SimGrid's contexts/stack-size default (8 MiB)
constexpr std::uint64_t kBaseBytes = 48ull << 20;  // the process before any state: binary, SimGrid, allocator

struct ResourcePart {
  std::string pointer;  // the key that drives it
  std::string what;     // in words
  std::uint64_t bytes = 0;
};

struct ResourceEstimate {
  std::uint64_t resident = 0;       // bytes of memory the run may touch
  std::uint64_t address_space = 0;  // virtual: resident + every actor's whole stack + reserved arrays
  std::uint64_t actors = 0, stack_bytes = 0;
  std::uint64_t frame_bytes = 0;  // host frame arrays, reserved for all of DRAM
  std::string frames_pointer;     // the host with the most frames ("/hosts/0/nodes")
  std::vector<ResourcePart> parts;  // what `resident` is made of, largest first
};

ResourceEstimate estimate_resources(const Scenario& sc);

// The memory a run may use: `max_memory` when non-zero, else MemAvailable (/proc/meminfo);
// the address-space limit is RLIMIT_AS. Throws core::InputError (exit 2) when the estimate
// exceeds either, with the estimate, the limit and the pointer of the key that drives it.
void check_resources(const Scenario& sc, std::uint64_t max_memory);

// Available memory in bytes (MemAvailable), or 0 when unknown.
std::uint64_t available_memory();

// The wall time a sweep point may take when no --point-timeout is given: a minute plus its
// simulated accesses at 1 M per wall second (the fast path runs 20-100 M/s; faults, handlers and
// daemons slow it down, rarely 20-fold), plus its samples. A point past it is stuck, not slow.
double default_point_timeout(const Scenario& sc);

}  // namespace vmemsim::scenario
