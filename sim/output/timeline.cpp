#include "sim/output/timeline.hpp"

#include <nlohmann/json.hpp>

namespace vmemsim::output {

int Timeline::track(int pid, const std::string& process, const std::string& thread) {
  tracks_.push_back({pid, process, thread});
  return static_cast<int>(tracks_.size() - 1);
}

void Timeline::slice(int track, const char* name, core::TimeNs start, core::TimeNs end) {
  if (enabled_ && track >= 0) slices_.push_back({track, name, start, end});
}

std::string Timeline::to_json() const {
  using nlohmann::json;
  json ev = json::array();
  for (std::size_t i = 0; i < tracks_.size(); ++i) {
    const auto& t = tracks_[i];
    ev.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", t.pid}, {"tid", i}, {"args", {{"name", t.process}}}});
    ev.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", t.pid}, {"tid", i}, {"args", {{"name", t.thread}}}});
  }
  for (const auto& s : slices_) {
    // trace-event times are microseconds (floating point allowed)
    ev.push_back({{"ph", "X"},
                  {"name", s.name},
                  {"pid", tracks_[static_cast<std::size_t>(s.track)].pid},
                  {"tid", s.track},
                  {"ts", static_cast<double>(s.start) / 1000.0},
                  {"dur", static_cast<double>(s.end - s.start) / 1000.0}});
  }
  return json({{"traceEvents", ev}, {"displayTimeUnit", "ns"}}).dump() + "\n";
}

}  // namespace vmemsim::output
