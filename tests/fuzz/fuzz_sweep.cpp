// Fuzz target: the sweep-file reader. The input is a sweep file's text, read as if it were
// scenarios/sweeps/fuzz.json (so "base": "../quickstart.json" names a shipped scenario); every
// point is expanded and validated as `vmemsim sweep FILE --dry-run` does, with at most 64 points
// so that one input stays fast.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/cli/sweep.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace vmemsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  return fuzz::run_one([&] {
    const std::string file = VMEMSIM_SOURCE_DIR "/scenarios/sweeps/fuzz.json";
    (void)cli::check_sweep_document(file, core::parse_json_text(text, file), 64);
  });
}
