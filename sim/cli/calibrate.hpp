// vmemsim calibrate: measures, on the running kernel, the operations whose costs the model
// charges (faults, userfaultfd ioctls, PTE changes, TLB shootdowns, page clear/copy), each as the
// median of repeated runs; prints them against the model's defaults and the published figures of
// KERNEL-MODEL.md §8, and optionally writes a host profile that a scenario opts into with its
// `host_profile` key (sim/scenario/host_profile.hpp maps measurements onto the cost keys).
//
// A measurement whose feature is missing or not permitted (no userfaultfd, no PAGEMAP_SCAN, one
// CPU) is skipped with its reason; the command never fails for that. It runs in the calling
// process: ~5-15 s with the default 16384-page regions on a 2-CPU virtual machine (a MISSING
// fault served across idle vCPUs is the slow part).
#pragma once
#include <cstdint>
#include <string>

namespace vmemsim::cli {

struct CalibrateOptions {
  std::string out;              // write the profile here (temp file + rename); "" = table only
  unsigned repeats = 5;         // runs of each measurement; the median is kept
  std::uint64_t pages = 16384;  // 4 KiB pages in each measured region (16384 = 64 MiB)
  bool json = false;            // print the table as JSON
};

int cmd_calibrate(const CalibrateOptions& opt);

}  // namespace vmemsim::cli
