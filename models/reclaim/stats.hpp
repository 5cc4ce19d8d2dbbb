// The statistics a VMM policy's components publish. Each component (tracker, selector, evictor,
// controller) registers the counters and gauges it keeps -- a name, where its value lives, a
// kind and a unit -- and the recorder writes whatever is registered: no policy field is named
// outside the component that owns it.
//
// `key` is a JSON pointer below the VM's summary "vmm" object ("/cpu_ns/scan" nests); a stat
// with a `series` name is also sampled into the VM's time series under that key: a counter as
// its increase over each sampling interval, a gauge as its value at the sampling instant.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::reclaim {

enum class StatKind { Counter, Gauge };

struct Stat {
  const char* key;     // JSON pointer below summary.vms.<vm>.vmm
  const char* series;  // key in timeseries.vms.<vm>, or nullptr (summary only)
  StatKind kind;
  const char* unit;  // pages, bytes, ns, count
  const std::uint64_t* u = nullptr;
  const std::int64_t* i = nullptr;  // TimeNs values (never negative)
  // A JSON pointer (below "vmm") that the recorder writes as the sum of every stat naming it,
  // e.g. "/cpu_ns/tracking": components report parts of a whole without knowing each other.
  const char* sum = nullptr;
  std::uint64_t value() const { return u ? *u : static_cast<std::uint64_t>(*i); }
};

// The registered stats of one policy. Components register references to their own fields, so
// the set must not outlive them (the policy owns both).
class StatSet {
 public:
  void counter(const char* key, const std::uint64_t& v, const char* unit, const char* series = nullptr,
               const char* sum = nullptr) {
    stats_.push_back({key, series, StatKind::Counter, unit, &v, nullptr, sum});
  }
  void counter(const char* key, const std::int64_t& v, const char* unit, const char* series = nullptr,
               const char* sum = nullptr) {
    stats_.push_back({key, series, StatKind::Counter, unit, nullptr, &v, sum});
  }
  void gauge(const char* key, const std::uint64_t& v, const char* unit, const char* series = nullptr) {
    stats_.push_back({key, series, StatKind::Gauge, unit, &v, nullptr, nullptr});
  }
  std::span<const Stat> all() const { return stats_; }
  const Stat* find(std::string_view key) const {
    for (const auto& s : stats_)
      if (key == s.key) return &s;
    return nullptr;
  }
  // The value of a registered stat (one that is not registered is a programming error).
  std::uint64_t get(std::string_view key) const {
    const Stat* s = find(key);
    VMEMSIM_CHECK(s, "no VMM stat registered as " << key);
    return s->value();
  }

 private:
  std::vector<Stat> stats_;
};

}  // namespace vmemsim::reclaim
