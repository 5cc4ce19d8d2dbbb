// `vmemsim sweep --backend slurm`: the points of a sweep as one Slurm array job.
//
// Lifecycle: cmd_sweep() (sweep.cpp) has validated the sweep and written every point's
// scenario.json; run_slurm() writes <out>/slurm/points.txt (one point directory per line) and
// <out>/slurm/sweep.sbatch (`#SBATCH --array=0-(N-1)`, task k runs this same vmemsim binary on
// line k+1 and records its exit status in points/<id>/exit_status), submits it with
// `sbatch --parsable`, polls squeue until the job has left the queue (sacct, when accounting is
// enabled, explains tasks that left no exit status), and reports every point through
// SweepRun::finish(), exactly as the local backend does. The output directory and the binary
// must be on a file system the compute nodes share.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "sim/cli/sweep.hpp"

namespace vmemsim::cli {

// The sbatch script for `tasks` array tasks (exposed for tests and --dry-run style inspection).
std::string slurm_script(const SweepRun& run, std::size_t tasks, const SweepOptions& opt);

// Runs points[todo] as a Slurm array job; returns true when interrupted (SIGINT/SIGTERM:
// the job is cancelled, finished points are kept).
bool run_slurm(SweepRun& run, const std::vector<std::size_t>& todo, const SweepOptions& opt);

}  // namespace vmemsim::cli
