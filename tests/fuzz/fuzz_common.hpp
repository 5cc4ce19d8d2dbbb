// Shared by the fuzz targets (tests/fuzz/README.md). The property every target checks: an input
// ends in success or in a core::InputError whose problems each carry a JSON pointer ("" or
// "/...") and a message -- what `vmemsim` turns into `file:/pointer: message` and exit 2. Any
// other exception (exit 1 in the CLI), a crash, a sanitizer report or a hang is a finding: the
// target aborts so that libFuzzer (or the replay driver) keeps the input.
#pragma once
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "sim/core/error.hpp"
#include "sim/core/json_input.hpp"

#ifndef VMEMSIM_SOURCE_DIR
#define VMEMSIM_SOURCE_DIR "."
#endif

namespace vmemsim::fuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what.c_str());
  std::abort();
}

// Outcomes so far, for the replay driver's report.
inline std::size_t g_accepted = 0, g_rejected = 0;

template <class F>
int run_one(F&& f) {
  try {
    f();
    ++g_accepted;
  } catch (const core::InputError& e) {
    ++g_rejected;
    if (e.problems().empty()) finding("InputError without problems");
    for (const auto& p : e.problems()) {
      if (!p.pointer.empty() && p.pointer[0] != '/') finding("problem pointer '" + p.pointer + "' is not a JSON pointer");
      if (p.message.empty()) finding("problem at '" + p.pointer + "' without a message");
    }
  } catch (const std::exception& e) {
    finding(std::string("escaped as an internal error (exit 1): ") + e.what());
  }
  return 0;
}

}  // namespace vmemsim::fuzz
