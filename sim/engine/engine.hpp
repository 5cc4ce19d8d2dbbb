// The run loop: builds the SimGrid platform from the scenario, starts one actor per vCPU, a
// VMM agent and a uffd handler per VM with a VMM policy, and the sampler; runs the simulation
// and hands back the deterministic result body.
// This directory is the only place that includes SimGrid (DESIGN.md "The dividing line").
#pragma once
#include <string>
#include <vector>

#include "sim/core/params.hpp"
#include "sim/scenario/scenario.hpp"

namespace vmemsim::engine {

struct RunOptions {
  // --log=... options passed through to SimGrid. They change what SimGrid prints, never the
  // result; SimGrid settings (--cfg) are part of the scenario instead (Scenario::simgrid_cfg).
  std::vector<std::string> simgrid_log;
  bool progress = false;                  // progress line on stderr
  bool check_invariants = false;          // verify model invariants at every sample
  bool timeline = false;                  // collect the Chrome trace-event timeline
};

struct RunOutcome {
  core::Json body;             // deterministic result body
  std::string timeline;        // trace-event JSON when requested
  double wall_seconds = 0;     // not part of the body
  std::uint64_t accesses = 0;  // simulated accesses (for the run section)
};

// One simulation per process: SimGrid's engine is a per-process singleton.
RunOutcome run(const scenario::Scenario& sc, const RunOptions& opt);

}  // namespace vmemsim::engine
