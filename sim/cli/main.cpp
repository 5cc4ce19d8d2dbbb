// vmemsim command line: run | validate | sweep | list | describe | calibrate.
// Exit codes: 0 success, 2 bad input (file:/json/pointer: message on stderr), 1 internal error.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "models/kernel/registry.hpp"
#include "models/reclaim/selector.hpp"
#include "models/reclaim/vmm.hpp"
#include "models/workload/generator.hpp"
#include "sim/cli/calibrate.hpp"
#include "sim/cli/trace_cmd.hpp"
#include "sim/cli/sweep.hpp"
#include "sim/core/error.hpp"
#include "sim/core/json_input.hpp"
#include "sim/engine/engine.hpp"
#include "sim/output/result_writer.hpp"
#include "sim/scenario/resources.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/core/units.hpp"

#ifndef VMEMSIM_SOURCE_DIR
#define VMEMSIM_SOURCE_DIR "."
#endif

using namespace vmemsim;
namespace fs = std::filesystem;

namespace {

// A scenario path as given, or else relative to the source tree (so `vmemsim run` works from
// the build directory too).
std::string find_scenario(const std::string& p) {
  if (fs::exists(p) || fs::path(p).is_absolute()) return p;
  fs::path alt = fs::path(VMEMSIM_SOURCE_DIR) / p;
  return fs::exists(alt) ? alt.string() : p;
}

long long peak_rss_bytes() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<long long>(ru.ru_maxrss) * 1024;  // ru_maxrss is in KiB on Linux
}

// --max-memory: bytes or a size string ("8GiB"); "" = what the machine has available.
std::uint64_t parse_max_memory(const std::string& text) {
  if (text.empty()) return 0;
  std::string why;
  auto b = core::parse_size(text, &why);
  if (!b || *b <= 0)
    throw core::InputError("command line", {{"", "--max-memory '" + text + "': " + (why.empty() ? "must be positive" : why)}});
  return static_cast<std::uint64_t>(*b);
}

int cmd_run(const std::string& file, const scenario::Overrides& ov, const std::string& out_dir,
            const std::string& results_root, bool quiet, bool check, const std::string& timeline,
            const std::vector<std::string>& sg_log, const std::string& max_memory) {
  scenario::Scenario sc = scenario::load_scenario(find_scenario(file), ov);
  // Before any state is built: a run that cannot fit is refused with the estimate (exit 2).
  scenario::check_resources(sc, parse_max_memory(max_memory));
  engine::RunOptions opt;
  opt.simgrid_log = sg_log;
  opt.progress = !quiet && ::isatty(STDERR_FILENO);
  opt.check_invariants = check;
  opt.timeline = !timeline.empty();
  engine::RunOutcome r = engine::run(sc, opt);
  if (!timeline.empty()) output::write_file_atomic(timeline, r.timeline);

  const std::string dir = out_dir.empty() ? output::default_run_dir(results_root, sc.name, sc.resolved) : out_dir;
  output::write_file_atomic(dir + "/result.json", r.body.dump(1) + "\n");
  core::Json run = {{"wall_seconds", r.wall_seconds},
                    {"simulated_accesses", r.accesses},
                    {"accesses_per_wall_second", r.wall_seconds > 0 ? static_cast<double>(r.accesses) / r.wall_seconds : 0.0},
                    {"peak_rss_bytes", peak_rss_bytes()},
                    {"scenario_file", sc.file},
                    {"version", "0.1.0"}};
  output::write_file_atomic(dir + "/run.json", run.dump(1) + "\n");
  std::cout << dir << "/result.json\n";
  if (!quiet) {
    std::fprintf(stderr, "[vmemsim] %s: %llu accesses in %.2f s wall (%.1f M/s)\n", sc.name.c_str(),
                 static_cast<unsigned long long>(r.accesses), r.wall_seconds,
                 r.wall_seconds > 0 ? static_cast<double>(r.accesses) / r.wall_seconds / 1e6 : 0.0);
  }
  return 0;
}

int cmd_list() {
  std::cout << "workload generators (vms[].workload.type):\n";
  for (const auto& g : workload::generator_registry()) std::printf("  %-12s %s\n", g.name, g.summary);
  std::cout << "VMM policies (vms[].vmm.policy, or the top-level vmm):\n";
  std::printf("  %-18s %s\n", "none", "no VMM agent: the guest runs untracked");
  for (const auto& p : reclaim::policy_registry()) std::printf("  %-18s %s\n", p.name, p.summary);
  std::cout << "tiers (vmm.tier.kind):\n";
  for (const auto& t : reclaim::tier_registry()) std::printf("  %-12s %s\n", t.name, t.summary);
  std::cout << "kernel variants (kernel.variant):\n";
  for (const auto& v : mm::kernel_variants()) std::printf("  %-12s %s\n", v.name, v.summary);
  std::cout << "kernel sections (kernel.<name>: daemons, and the knobs of per-VM mechanisms; in start order):\n";
  for (const auto& d : kernel::daemon_registry()) std::printf("  %-12s %s\n", d.name, d.summary);
  std::cout << "fault mechanisms (in the order a fault is offered to them):\n";
  for (const auto& m : kernel::fault_mechanisms()) std::printf("  %-12s %s\n", m.name, m.summary);
  std::cout << "victim selectors (vmemsim replay --policy):\n";
  for (const auto& v : reclaim::selector_registry()) std::printf("  %-12s %s\n", v.name, v.summary);
  return 0;
}

int cmd_describe(const std::string& name) {
  if (name == "engine") {
    std::cout << "engine: how the simulation engine runs the scenario\n\nkeys of engine:\n"
              << core::describe_params(scenario::engine_params());
    return 0;
  }
  if (const auto* p = reclaim::find_policy(name)) {
    std::string kinds, keys;
    for (const auto& t : reclaim::tier_registry()) {
      kinds += (kinds.empty() ? "" : "|") + std::string(t.name);
      for (const auto& k : t.params)  // a key several kinds take (queue_depth) once
        if ((keys + ",").find(std::string(", ") + k.name + ",") == std::string::npos) keys += std::string(", ") + k.name;
    }
    std::cout << p->name << ": " << p->summary << "\n";
    if (!p->safe) std::cout << "unsafe: loses guest writes that race its eviction, by design (the lost-write oracle counts them)\n";
    if (p->oracle)
      std::cout << "oracle: its tracker reads the simulator's ground truth (last access of every page) at no cost; a "
                   "bound to compare tracking mechanisms against, not something a VMM can run\n";
    std::cout << "\nparameters of " << p->name << ":\n"
              << core::describe_params(p->params) << "  tier (object: kind " << kinds << keys << ")\n"
              << "      where evicted pages go; each kind's keys: vmemsim describe <kind>\n";
    return 0;
  }
  for (const auto& t : reclaim::tier_registry()) {
    if (name != t.name) continue;
    std::cout << t.name << ": " << t.summary << "\n\nkeys of vmm.tier with kind " << t.name << ":\n"
              << (t.params.empty() ? std::string("  (none)\n") : core::describe_params(t.params));
    return 0;
  }
  if (const auto* d = kernel::find_daemon(name)) {
    std::cout << d->name << ": " << d->summary << "\n\nkeys of kernel." << d->name << ":\n"
              << core::describe_params(d->params);
    return 0;
  }
  const auto* g = workload::find_generator(name);
  if (!g) {
    std::vector<std::string> names;
    for (const auto& x : workload::generator_registry()) names.push_back(x.name);
    for (const auto& x : reclaim::policy_registry()) names.push_back(x.name);
    for (const auto& x : reclaim::tier_registry()) names.push_back(x.name);
    for (const auto& x : kernel::daemon_registry()) names.push_back(x.name);
    names.push_back("engine");
    std::string m = "vmemsim describe: nothing registered as '" + name + "'";
    auto d = core::did_you_mean(name, names);
    if (!d.empty()) m += " (did you mean '" + d + "'?)";
    std::cerr << m << "; see `vmemsim list`\n";
    return 2;
  }
  std::cout << g->name << ": " << g->summary << "\n\nparameters common to every workload:\n"
            << core::describe_params(workload::common_generator_params())
            << "  rate, region_offset, region_size, device_share, device_honor_numa_fault: see scenarios/schema.json\n\n"
            << "parameters of " << g->name << ":\n"
            << core::describe_params(g->params);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cli::die_with_parent_if_asked();
  // Arguments end up in JSON (scenario values, names, file paths in run.json and index.json),
  // and JSON text is UTF-8: anything else is refused here, as bad input, not at write time.
  for (int i = 1; i < argc; ++i) {
    if (!core::valid_utf8(argv[i])) {
      std::cerr << "vmemsim: argument " << i << " is not valid UTF-8\n";
      return 2;
    }
  }
  // SimGrid's own options; CLI11 never sees them. --log=... passes through to SimGrid as it is
  // (it changes what SimGrid prints, not the result). --cfg=name:value settings can change the
  // result: they become part of the scenario (appended to /simgrid/cfg), so the resolved
  // scenario records them and the run id depends on them.
  std::vector<std::string> sg_log, sg_cfg;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i > 0 && a.rfind("--log=", 0) == 0) {
      sg_log.push_back(a);
    } else if (i > 0 && a.rfind("--cfg=", 0) == 0) {
      for (auto& c : scenario::split_simgrid_cfg(a.substr(6))) sg_cfg.push_back(c);
    } else {
      rest.push_back(argv[i]);
    }
  }

  CLI::App app{"vmemsim: deterministic discrete-event simulator of multi-VM hosts"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vmemsim 0.1.0");
  app.footer("SimGrid options (run, validate, sweep): --cfg=name:value is a SimGrid setting, recorded in the\n"
             "scenario's simgrid.cfg (so in the run id); --log=... passes through and changes only what\n"
             "SimGrid prints. README \"SimGrid models\" lists the settings vmemsim makes itself.");

  std::string file = "scenarios/quickstart.json", out_dir, results_root = "results";
  std::uint64_t seed = 0;
  std::vector<std::string> sets;
  bool quiet = false, check = false;
  auto* run = app.add_subcommand("run", "run a scenario and write results/<name>/<run-id>/result.json");
  run->add_option("scenario", file, "scenario file (default scenarios/quickstart.json)");
  auto* seed_opt = run->add_option("--seed", seed, "override the scenario seed");
  run->add_option("--set", sets, "override a value: /json/pointer=value (repeatable)");
  run->add_option("--out", out_dir, "directory for result.json (default results/<name>/<run-id>)");
  run->add_option("--results", results_root, "results root directory (default results)");
  run->add_flag("-q,--quiet", quiet, "no progress or summary on stderr");
  run->add_flag("--check-invariants", check, "verify frame accounting and PTE/rmap consistency at every sample");
  std::string max_memory;
  run->add_option("--max-memory", max_memory,
                  "refuse to start when the estimated memory exceeds this (bytes or e.g. 8GiB; default: MemAvailable)");
  std::string timeline;
  run->add_option("--timeline", timeline, "also write a Chrome trace-event timeline (open in Perfetto) to this file");

  std::string vfile;
  auto* validate = app.add_subcommand("validate", "check a scenario file and print the resolved scenario");
  validate->add_option("scenario", vfile, "scenario file")->required();
  validate->add_option("--set", sets, "override a value: /json/pointer=value (repeatable)");
  bool print_resolved = false;
  validate->add_flag("--print", print_resolved, "print the resolved scenario (all defaults filled in)");

  cli::SweepOptions sw;
  auto* sweep = app.add_subcommand("sweep", "run a sweep (cartesian or zipped axes over a scenario), one process per point");
  sweep->add_option("file", sw.file, "sweep file, or the base scenario when --axis is given")->required();
  sweep->add_option("--axis", sw.axes, "/json/pointer=v1,v2,... or /json/pointer=a..b (repeatable)");
  sweep->add_flag("--zip", sw.zip, "zip the axes (point k takes value k of each) instead of the cartesian product");
  sweep->add_option("--set", sw.sets, "with --axis: override a value in every point: /json/pointer=value (repeatable)");
  sweep->add_option("--metric", sw.metrics, "with --axis: result.json pointer for summary.csv (repeatable)");
  sweep->add_option("--name", sw.name, "with --axis: sweep name (default <scenario name>-sweep)");
  sweep->add_option("--out", sw.out_dir, "output directory (default results/<sweep name>)");
  sweep->add_option("-j,--jobs", sw.jobs, "points run at once (default: the number of CPUs)");
  sweep->add_option("--point-timeout", sw.point_timeout,
                    "seconds before a point is killed and recorded as timeout (default: derived from each point's "
                    "scenario, a minute plus 1 s per million simulated accesses)");
  sweep->add_option("--max-points", sw.max_points, "refuse a sweep with more points than this (default 10000)");
  sweep->add_option("--backend", sw.backend, "local (default) or slurm")->check(CLI::IsMember({"local", "slurm"}));
  sweep->add_option("--partition", sw.partition, "slurm: partition");
  sweep->add_option("--time", sw.time, "slurm: time limit per task (sbatch --time)");
  sweep->add_option("--sbatch-arg", sw.sbatch_args, "slurm: extra sbatch option, e.g. --sbatch-arg=--account=x (repeatable)");
  sweep->add_option("--wait-timeout", sw.wait_timeout, "slurm: seconds to wait for the job before cancelling it (default 86400)");
  sweep->add_flag("--dry-run", sw.dry_run, "list the points (and which are already done); run nothing");
  sweep->add_flag("-q,--quiet", sw.quiet, "no progress or summary on stderr");

  auto* list = app.add_subcommand("list", "list registered generators, policies, tiers, kernel variants, daemons and fault mechanisms");
  std::string dname;
  auto* describe = app.add_subcommand("describe", "parameters of a registered generator, VMM policy, tier or kernel daemon");
  describe->add_option("name", dname, "registered name")->required();

  cli::CalibrateOptions cal;
  auto* calibrate = app.add_subcommand(
      "calibrate", "measure fault, userfaultfd and TLB-shootdown costs on this kernel; optionally write a host profile");
  calibrate->add_option("--out", cal.out, "write the host profile (JSON) here, for a scenario's host_profile");
  calibrate->add_option("--repeats", cal.repeats, "runs of each measurement; the median is kept (default 5)")
      ->check(CLI::Range(1u, 1000u));
  calibrate->add_option("--pages", cal.pages, "4 KiB pages in each measured region (default 16384 = 64 MiB)")
      ->check(CLI::Range(std::uint64_t{16}, std::uint64_t{1} << 22));
  calibrate->add_flag("--json", cal.json, "print the table as JSON");

  auto* trace = app.add_subcommand("trace", "trace files: convert between formats, print statistics");
  trace->require_subcommand(1);
  cli::TraceConvertOptions tconv;
  auto* tconvert = trace->add_subcommand("convert", "convert a trace (lackey, oracle-general, pagetrace; zstd when OUT ends in .zst)");
  tconvert->add_option("in", tconv.in, "input trace")->required();
  tconvert->add_option("out", tconv.out, "output trace")->required();
  tconvert->add_option("--from", tconv.from, "input format: auto (default: recognised from the file), lackey, oracle-general, pagetrace");
  tconvert->add_option("--to", tconv.to, "output format: pagetrace (default), lackey, oracle-general");
  tconvert->add_flag("--zstd", tconv.zstd, "compress the output with zstd (also when OUT ends in .zst)");
  cli::TraceStatsOptions tst;
  auto* tstats = trace->add_subcommand("stats", "references, distinct pages, read/write mix, reuse-distance histogram");
  tstats->add_option("trace", tst.trace, "trace file")->required();
  tstats->add_option("--format", tst.format, "auto (default), lackey, oracle-general, pagetrace");
  tstats->add_flag("--json", tst.json, "print one JSON object");

  cli::ReplayOptions rep;
  auto* replay = app.add_subcommand("replay", "a trace through a victim selector with fixed frame limits, no timing model");
  replay->add_option("trace", rep.trace, "trace file")->required();
  replay->add_option("--policy", rep.policy, "victim selector (vmemsim list: victim selectors)")->required();
  replay->add_option("--frames", rep.frames, "frame limits, N[,N...]")->required();
  replay->add_option("--format", rep.format, "auto (default), lackey, oracle-general, pagetrace");
  replay->add_option("--seed", rep.seed, "seed of randomized selectors (default 0)");
  replay->add_flag("--json", rep.json, "print one JSON object with a `limits` array");
  replay->add_flag("--per-limit", rep.per_limit, "simulate every limit, also where one stack-distance pass would do");

  try {
    app.parse(static_cast<int>(rest.size()), rest.data());
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if ((*list || *describe || *trace || *replay) && (!sg_log.empty() || !sg_cfg.empty())) {
      std::cerr << "vmemsim: --cfg=... and --log=... go with run, validate and sweep\n";
      return 2;
    }
    if (*run) {
      scenario::Overrides ov;
      if (*seed_opt) ov.seed = seed;
      ov.sets = sets;
      ov.simgrid_cfg = sg_cfg;
      return cmd_run(file, ov, out_dir, results_root, quiet, check, timeline, sg_log, max_memory);
    }
    if (*validate) {
      scenario::Overrides ov;
      ov.sets = sets;
      ov.simgrid_cfg = sg_cfg;
      auto sc = scenario::load_scenario(find_scenario(vfile), ov);
      if (print_resolved) std::cout << sc.resolved.dump(2) << "\n";
      else std::cout << sc.file << ": ok (" << sc.vms.size() << " VMs on " << sc.hosts.size() << " host(s))\n";
      return 0;
    }
    if (*sweep) {
      sw.simgrid_cfg = sg_cfg;
      sw.simgrid_log = sg_log;
      return cli::cmd_sweep(sw);
    }
    if (*list) return cmd_list();
    if (*describe) return cmd_describe(dname);
    if (*calibrate) return cli::cmd_calibrate(cal);
    if (*tconvert) return cli::cmd_trace_convert(tconv);
    if (*tstats) return cli::cmd_trace_stats(tst);
    if (*replay) return cli::cmd_replay(rep);
  } catch (const core::InputError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const core::InternalError& e) {
    std::cerr << "vmemsim: internal error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "vmemsim: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
