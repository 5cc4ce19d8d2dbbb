// Optional event timeline in Chrome trace-event format (opens in Perfetto / chrome://tracing):
// one process per VM, one thread per actor (vCPU, VMM agent, uffd handler), complete ("X")
// slices for vCPU stalls, VMM mark/scan/evict phases and SET_MODE windows.
#pragma once
#include <string>
#include <vector>

#include "sim/core/types.hpp"

namespace vmemsim::output {

class Timeline {
 public:
  explicit Timeline(bool enabled) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  // Registers a named track; returns its id.
  int track(int pid, const std::string& process, const std::string& thread);
  void slice(int track, const char* name, core::TimeNs start, core::TimeNs end);
  std::string to_json() const;

 private:
  struct Track {
    int pid;
    std::string process, thread;
  };
  struct Slice {
    int track;
    const char* name;
    core::TimeNs start, end;
  };
  bool enabled_;
  std::vector<Track> tracks_;
  std::vector<Slice> slices_;
};

}  // namespace vmemsim::output
