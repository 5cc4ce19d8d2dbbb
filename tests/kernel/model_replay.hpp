// The model half of the kernel differential test: replays a tests/kernel Pattern on the
// modelled upstream kernel (mm::AddressSpace + the registered fault mechanisms + uffd::Uffd)
// and records the same ScanDumps that kernel_runner.cpp records on the live kernel.
//
// Each op is what kernel_runner does, in model terms:
//   Read/Write     an access as the vCPU executor makes it (models/mm/vcpu.cpp slow path):
//                  fault until pte::accessible(), then set accessed/dirty like the MMU. A sync
//                  WP fault (FaultResult::Blocked) is answered as the runner's handler thread
//                  answers it: read() the message, UFFDIO_WRITEPROTECT(clear) of that page,
//                  retry.
//   Wp/Unwp        Uffd::writeprotect
//   DontNeed       Uffd::dontneed;  PunchHole  Uffd::punch_hole (shmem only)
//   Scan           Uffd::pagemap_scan of every page, category_mask 0, every category returned
//   ScanWpMatching Uffd::pagemap_scan of [lo, hi) with PM_SCAN_WP_MATCHING (| CHECK_WPASYNC
//                  in async mode, or always with check_wpasync), category_mask WRITTEN,
//                  return_mask = op.arg; arg 0 is the runner's "no output vector" (nothing
//                  returned); then a plain Scan.
// The AddressSpace, HostMemory and ground-truth invariants are checked after every op.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pattern.hpp"

namespace vmemsim::kdiff {

struct ModelOptions {
  bool check_wpasync = false;  // kernel_runner --check-wpasync
  bool invariants = true;      // check_invariants() after every op
  bool trace = false;          // record the full categories after every op
};

// Counters over one replay: what the pattern exercised, for coverage reports.
struct ModelStats {
  std::uint64_t wp_messages = 0;          // sync WP faults answered by the handler
  std::uint64_t other_messages = 0;       // any other uffd message (never expected)
  std::uint64_t faults = 0;               // AddressSpace::fault() calls
  std::uint64_t dontneed_protected = 0;   // pages DONTNEED/PUNCH_HOLE'd while write-protected
  std::uint64_t reprotected = 0;          // pages protected again after losing a protection
  std::uint64_t touched_after_drop = 0;   // touches of a page zapped while protected
};

struct ModelRun {
  std::vector<ScanDump> dumps;
  // trace only: the categories of every page after op i (a plain scan), for every op.
  std::vector<std::vector<std::uint32_t>> after;
  ModelStats stats;
  // Set when the model failed: an op the kernel runner completes returned an error, an
  // access did not resolve, or an invariant broke. error_op is the op's index.
  std::string error;
  std::uint64_t error_op = 0;
  bool ok() const { return error.empty(); }
};

ModelRun run_model(const Pattern& p, const ModelOptions& o = {});

// The ops of the pattern counted by kind (Op::Kind as index).
std::vector<std::uint64_t> count_ops(const Pattern& p);

}  // namespace vmemsim::kdiff
