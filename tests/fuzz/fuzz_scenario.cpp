// Fuzz target: the scenario reader. The input is a scenario file's text; it goes through the same
// path as `vmemsim validate FILE` (parse_json_text, parse_scenario), and a scenario that reads
// must also give a resolved scenario that dumps, estimates and reads back to itself.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/scenario/resources.hpp"
#include "sim/scenario/scenario.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace vmemsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  return fuzz::run_one([&] {
    // Relative host_profile paths resolve against the scenarios directory, as for a shipped file.
    const std::string file = VMEMSIM_SOURCE_DIR "/scenarios/fuzz.json";
    scenario::Scenario sc = scenario::parse_scenario(core::parse_json_text(text, file), file);
    (void)sc.resolved.dump();
    (void)scenario::estimate_resources(sc);
    scenario::Scenario again = scenario::parse_scenario(sc.resolved, file);
    if (again.resolved != sc.resolved) fuzz::finding("the resolved scenario does not read back to itself");
  });
}
