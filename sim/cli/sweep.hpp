// vmemsim sweep: axes over a base scenario, one `vmemsim run` process per point
// (DESIGN.md "Sweeps and scale-out").
//
// Lifecycle: cmd_sweep() reads the sweep (a sweep file, or a scenario plus --axis options),
// expands the points and validates every one of them as a full scenario before anything is
// written (a bad point is an input error of the sweep: exit 2). It then writes each point's
// scenario.json, reuses points whose result.json already matches (resume), and hands the rest
// to a backend: run_local() below, or run_slurm() (slurm.hpp). A backend reports how each
// point's process ended through SweepRun::finish(), which reads the result, records status,
// error and stderr tail, and rewrites index.json and summary.csv (atomically, throttled).
//
// Layout of the output directory:
//   index.json, summary.csv
//   points/<id>/scenario.json   the base scenario with the point's overrides (and --cfg) applied
//   points/<id>/result.json     written by `vmemsim run` (atomically)
//   points/<id>/stderr.log      the point's stderr (removed when empty)
// <id> is the run id `vmemsim run` would give the point: a stable hash of its resolved scenario.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/params.hpp"
#include "sim/scenario/scenario.hpp"

namespace vmemsim::cli {

using core::Json;
using OJson = nlohmann::ordered_json;  // index.json keeps axis order

struct SweepOptions {
  std::string file;                  // a sweep file, or the base scenario when axes are given
  std::vector<std::string> axes;     // CLI form: "/pointer=v1,v2,..." or "/pointer=a..b"
  std::vector<std::string> sets;     // CLI form: fixed overrides applied to every point
  std::vector<std::string> metrics;  // CLI form: summary metric pointers into result.json
  bool zip = false;                  // CLI form: zip the axes instead of the cartesian product
  std::string name;                  // CLI form: sweep name (default <scenario name>-sweep)
  std::string out_dir;               // default results/<sweep name>
  unsigned jobs = 0;                 // 0 = the CPUs this process may use
  double point_timeout = 0;          // seconds; 0 = derived from each point's scenario
  std::size_t max_points = 10000;    // a sweep with more points is refused (exit 2)
  std::string backend = "local";     // local | slurm
  std::string partition, time;       // Slurm: #SBATCH --partition / --time
  std::vector<std::string> sbatch_args;  // Slurm: extra sbatch options, e.g. --account=x
  double wait_timeout = 86400;       // Slurm: give up (scancel) after this many seconds
  bool dry_run = false;
  bool quiet = false;
  std::vector<std::string> simgrid_cfg;  // --cfg=name:value: appended to every point's /simgrid/cfg
  std::vector<std::string> simgrid_log;  // --log=...: passed to every point's `vmemsim run`
};

// Reads and checks a sweep file's document as `vmemsim sweep FILE --dry-run` does, writing
// nothing: the sweep's keys, its base scenario, the axes and every point as a full scenario.
// Returns the number of points; throws core::InputError. The sweep fuzz target's entry point.
std::size_t check_sweep_document(const std::string& path, const Json& doc, std::size_t max_points);

// Exit code: 0 every point ok, 1 some point failed or timed out, 130 interrupted.
// Throws core::InputError (exit 2) for a bad sweep, before anything is written.
int cmd_sweep(const SweepOptions& opt);

// How a point's process ended, as its backend saw it.
struct PointExit {
  enum class Kind { Exited, Signaled, TimedOut, Interrupted, Lost };
  Kind kind = Kind::Exited;
  int code = 0;        // exit status (Exited) or signal number (Signaled)
  std::string detail;  // TimedOut/Lost: why, in words
};

struct SweepPoint {
  std::string id;
  std::vector<std::size_t> value_index;  // per axis, into that axis's values
  Json scenario;                         // what points/<id>/scenario.json holds
  Json resolved;                         // the resolved scenario (equals result.json's "scenario")
  std::string dir;                       // absolute points/<id>
  std::string status = "pending";        // pending | ok | failed | timeout | skipped
  double default_timeout_s = 0;          // used when no --point-timeout is given
  bool reused = false;                   // ok from an earlier run of the sweep
  std::string error, stderr_tail;
  std::vector<std::pair<std::string, Json>> metrics;  // flattened summary metric columns
};

struct SweepAxis {
  std::string pointer;
  std::vector<Json> values;
};

class SweepRun {
 public:
  std::string name, file, base, mode, out_dir;  // out_dir absolute
  Json sets = Json::object();                   // fixed overrides (pointer -> value)
  std::vector<SweepAxis> axes;
  std::vector<std::string> metrics;
  std::vector<std::string> simgrid_cfg;  // --cfg settings appended to every point (index.json)
  std::vector<std::string> simgrid_log;  // --log options given to every point's `vmemsim run`
  std::vector<SweepPoint> points;
  std::string binary;  // absolute path of this vmemsim binary
  bool progress = false, quiet = false;

  // Records how point i ended: reads its result and stderr, sets status, rewrites the index
  // and summary (at most once a second unless `force`).
  void finish(std::size_t i, const PointExit& e);
  // True (and metrics filled in) when points[i].dir/result.json exists for this scenario.
  bool load_result(std::size_t i);
  void write_outputs(bool force);
  std::string values_text(const SweepPoint& p) const;  // "/a=1 /b=x"

  // Progress line on stderr (TTY only): `to_run` points launched by this invocation.
  void progress_start(std::size_t to_run);
  void progress_draw(std::size_t running, bool final = false);
  void note(const std::string& line);  // a message line that does not break the progress bar

 private:
  std::chrono::steady_clock::time_point last_write_{}, started_{}, last_draw_{};
  std::size_t to_run_ = 0, done_ = 0, bad_ = 0;
  bool drawn_ = false;
};

// ---- shared by the backends ----

// Blocks SIGINT/SIGTERM/SIGCHLD in this process so they are taken with wait_signal(); a signal
// ignored when the sweep started (a background job of a script) stays ignored.
void block_sweep_signals();
// Waits until `deadline` or a signal; returns SIGINT/SIGTERM/SIGCHLD, or 0 at the deadline.
int wait_signal(std::chrono::steady_clock::time_point deadline);

// posix_spawn of argv[0] (a path, or searched in PATH when `search_path`) in its own process
// group, signals unblocked, stdout/stderr to the given files ("" = inherit). Throws on failure.
// `die_with_parent`: the child (a `vmemsim run`) is told through kParentPidEnv to take SIGKILL
// when this process dies, even by SIGKILL (each point has its own process group, so nothing
// else would reach it).
pid_t spawn_process(const std::vector<std::string>& argv, const std::string& out_path,
                    const std::string& err_path, bool search_path, bool die_with_parent = false);

// Environment variable naming the sweep process that spawned this one.
constexpr const char* kParentPidEnv = "VMEMSIM_SWEEP_PARENT_PID";
// Called first thing by main(): with kParentPidEnv set, asks the kernel for SIGKILL when the
// parent dies (PR_SET_PDEATHSIG), and exits at once if it is already gone.
void die_with_parent_if_asked();

// Runs a short command to completion (PATH search) and captures its output.
struct Captured {
  int status = -1;  // exit status; -1 when it could not start, was killed or timed out
  std::string out, err;
};
Captured run_capture(const std::vector<std::string>& argv, double timeout_s);

// Removes what an earlier, interrupted run of a point may have left: temp files, exit_status,
// stderr.log (never scenario.json or result.json).
void clean_point_dir(const std::string& dir);

// The last `lines` lines of a text file ("" when absent).
std::string tail_lines(const std::string& path, std::size_t lines);

}  // namespace vmemsim::cli
