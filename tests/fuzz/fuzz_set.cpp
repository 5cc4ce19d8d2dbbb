// Fuzz target: the `--set /json/pointer=value` parser. The input is one --set argument per line;
// the first byte picks the shipped scenario they apply to. Same path as `vmemsim validate
// SCENARIO --set ...`, plus the read-back of the resolved scenario.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/scenario/scenario.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace vmemsim;

namespace {
const std::vector<std::string> kBases = {"quickstart.json", "numa-fleet.json", "uffd-anon-async.json",
                                         "uffd-rwp.json", "phase-shift.json"};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<core::Json> bases = [] {
    std::vector<core::Json> v;
    for (const auto& b : kBases) v.push_back(scenario::read_json_file(VMEMSIM_SOURCE_DIR "/scenarios/" + b));
    return v;
  }();
  if (size == 0) return 0;
  const std::size_t pick = data[0] % bases.size();
  const std::string file = VMEMSIM_SOURCE_DIR "/scenarios/" + kBases[pick];
  scenario::Overrides ov;
  std::string cur;
  for (std::size_t i = 1; i < size; ++i) {
    if (data[i] == '\n') {
      ov.sets.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  if (!cur.empty()) ov.sets.push_back(cur);
  return fuzz::run_one([&] {
    scenario::Scenario sc = scenario::parse_scenario(bases[pick], file, ov);
    (void)sc.resolved.dump();
    scenario::Scenario again = scenario::parse_scenario(sc.resolved, file);
    if (again.resolved != sc.resolved) fuzz::finding("the resolved scenario does not read back to itself");
  });
}
