// `vmemsim trace convert|stats` and `vmemsim replay`: trace files outside a simulation
// (models/workload/trace_reader.hpp, models/reclaim/replay.hpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vmemsim::cli {

struct TraceConvertOptions {
  std::string in, out, from = "auto", to;  // to: "" = pagetrace
  bool zstd = false;                       // also when `out` ends in .zst
};
int cmd_trace_convert(const TraceConvertOptions& o);

struct TraceStatsOptions {
  std::string trace, format = "auto";
  bool json = false;
};
int cmd_trace_stats(const TraceStatsOptions& o);

struct ReplayOptions {
  std::string trace, format = "auto", policy, frames;
  std::uint64_t seed = 0;
  bool json = false;
  bool per_limit = false;  // simulate each limit even when one stack-distance pass would do
};
int cmd_replay(const ReplayOptions& o);

}  // namespace vmemsim::cli
