// Host profiles: costs measured on a running kernel by `vmemsim calibrate`, which a scenario opts
// into with its top-level `host_profile` key (KERNEL-MODEL.md §9: default costs stay bare-metal
// published figures; a measured host is something a scenario chooses).
//
// Lifecycle: `vmemsim calibrate` (sim/cli/calibrate.cpp) takes the medians of its repeated
// measurements (median()), turns them into the scenario's cost keys (derive_costs()) and writes
// profile_json() to a file. The scenario reader (scenario.cpp) later calls
// read_host_profile_costs() and merge_profile_costs(): the profile's values become the defaults
// of kernel.costs, and values the scenario gives explicitly still win.
//
// Everything here is pure (no clock, no system calls but reading the profile file), so the unit
// tests cover it; the measuring itself lives in the CLI.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/params.hpp"

namespace vmemsim::scenario {

using core::Json;

constexpr int kHostProfileVersion = 1;  // the profile's "vmemsim_host_profile" member

// The median of `xs` (the mean of the two middle values for an even count); NaN when empty.
double median(std::vector<double> xs);

// Medians measured on a host by measurement id (the m::k* names below; ns unless the name says
// otherwise). Ids absent from `ns` were not measured (feature missing, not permitted); `pages` is
// the size of each measured region and `cpus` the number of CPUs the measurement could use.
struct Measurements {
  std::map<std::string, double> ns;
  std::uint64_t pages = 0;
  unsigned cpus = 0;

  std::optional<double> get(const std::string& id) const;
};

// Measurement ids (each a median over repeats; "per page" = total time / pages).
namespace m {
inline constexpr const char* kFirstTouch = "first_touch_write_ns";       // anon write fault of a new page
inline constexpr const char* kFirstTouchCold = "first_touch_cold_ns";    // the same, once, before any warm-up
inline constexpr const char* kReadFault = "read_fault_ns";               // read fault of untouched anon memory
inline constexpr const char* kPageClear = "clear_4k_ns";                 // memset(0) of a cold 4 KiB page
inline constexpr const char* kMemcpy = "memcpy_4k_ns";                   // memcpy of a cold 4 KiB page
inline constexpr const char* kUffdCopy = "uffdio_copy_ns";               // UFFDIO_COPY of one page, no fault waiting
inline constexpr const char* kMissingRoundtrip = "missing_roundtrip_ns";  // MISSING fault served by a handler thread
inline constexpr const char* kWpAsyncFault = "wp_async_fault_ns";        // write to a WP_ASYNC-protected page
inline constexpr const char* kUffdNoopIoctl = "uffd_noop_ioctl_ns";      // UFFDIO_WRITEPROTECT changing no PTE
inline constexpr const char* kWpPerPte = "writeprotect_per_pte_ns";      // UFFDIO_WRITEPROTECT of the region / pages
inline constexpr const char* kMprotectPerPte = "mprotect_per_pte_ns";    // mprotect(PROT_READ) of the region / pages
inline constexpr const char* kScanPerPte = "pagemap_scan_per_pte_ns";    // PAGEMAP_SCAN of the region / pages
inline constexpr const char* kDontneed = "dontneed_per_page_ns";         // MADV_DONTNEED of the region / pages
// mprotect toggling one page between PROT_READ and PROT_READ|PROT_WRITE, per call. Both
// directions change _PAGE_RW, so both flush on x86 (pte_flags_need_flush()); a page without a PTE
// changes nothing and flushes nothing.
inline constexpr const char* kMprotectUnpopulated = "mprotect_unpopulated_ns";  // the page has no PTE
std::string mprotect_flush(unsigned k);  // populated, with k other threads of the process spinning
inline constexpr unsigned kSpinners[] = {0, 1, 2, 4, 8};
inline constexpr const char* kIpisPerFlush = "tlb_ipis_per_flush_k1";  // IPIs the spinning CPU took per flush (a count)
inline constexpr const char* kIpiLost = "ipi_lost_ns";                 // time the spinning thread lost per IPI
}  // namespace m

// One cost key of the scenario with its value derived from the measurements.
struct DerivedCost {
  std::string key;  // as under kernel.costs: "minor_fault_ns", "uffd/ioctl_ns", ...
  std::int64_t ns = 0;
  std::string how;  // the derivation, in words, with the numbers used
};

struct Derivation {
  std::vector<DerivedCost> costs;                 // in the order of the scenario's keys
  std::map<std::string, std::string> not_derived;  // key -> why (a measurement is missing)
};

// Maps measurements onto the scenario's cost keys (the formulas are in host_profile.cpp).
Derivation derive_costs(const Measurements& ms);

// Every cost key a profile may set, as "name" under kernel.costs or "uffd/name" under
// kernel.costs.uffd (the keys of sim/scenario/scenario.cpp).
const std::vector<std::string>& profile_cost_keys();

// The profile document: {"vmemsim_host_profile": 1, "metadata": ..., "kernel": {"costs": ...},
// "measurements": ..., "derivation": ..., "not_derived": ...}.
Json profile_json(const Json& metadata, const Measurements& ms, const Derivation& d);
// The measurements of a profile document (what profile_json() wrote).
Measurements measurements_from_json(const Json& profile);

// Reads and checks a profile file; returns its kernel.costs object (nested like the scenario's,
// only keys of profile_cost_keys(), integers in [0, 1e9]) or nullopt with the reason in *why.
std::optional<Json> read_host_profile_costs(const std::string& path, std::string* why);

// Where a scenario's `host_profile` value points: relative paths are relative to the directory
// of the scenario file.
std::string host_profile_path(const std::string& scenario_file, const std::string& value);

// Fills the profile's costs into `doc`'s kernel.costs wherever a key is absent or null (null
// means "the default"); keys the scenario gives keep their values. Leaves a kernel or costs
// member that is not an object alone (the reader reports it).
void merge_profile_costs(Json& doc, const Json& costs);

// Makes a relative `host_profile` of `doc` absolute (relative to `scenario_file`'s directory),
// for a copy of the scenario that is written elsewhere (a sweep point's scenario.json).
void anchor_host_profile(Json& doc, const std::string& scenario_file);

}  // namespace vmemsim::scenario
