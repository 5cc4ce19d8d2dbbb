// vmstat: a periodic sampler of free memory against the zone watermarks, per host and node
// (the counters vmstat_update() refreshes and /proc/zoneinfo shows). It changes no state: it
// is the smallest real kernel daemon, and the template for kswapd, ksmd and khugepaged.
#include "models/kernel/vmstat.hpp"

namespace vmemsim::kernel {
namespace {

using core::Kind;
constexpr double kInf = std::numeric_limits<double>::infinity();

const core::ParamSpec kParams[] = {
    {"enabled", Kind::Bool, "false", "run the vmstat sampler on every host"},
    {"interval", Kind::Duration, "\"1s\"", "time between two samples (vm.stat_interval)", 1000, kInf},
    // refresh_cpu_vm_stats() folds per-CPU deltas: well under a microsecond per node.
    {"cost_per_node_ns", Kind::Int, "200", "CPU time per node sampled, ns", 0, 1e9},
};

class Vmstat final : public KernelDaemon {
 public:
  Vmstat(const HostKernel& h, unsigned host, TimeNs interval, TimeNs cost)
      : name_("vmstat." + h.name), host_(host), node_(h.cpu_nodes.front()), mem_(h.memory), interval_(interval),
        cost_(cost), nodes_(h.memory->node_count()) {
    for (auto& n : nodes_) n.min_free = ~0ull;
  }
  const std::string& name() const override { return name_; }
  unsigned host() const override { return host_; }
  unsigned node() const override { return node_; }
  TimeNs next_wakeup(TimeNs now) override { return next_; }
  void run_batch(DaemonEnv& env, TimeNs now) override {
    const TimeNs t0 = env.now();
    for (unsigned i = 0; i < nodes_.size(); ++i) {
      auto& n = nodes_[i];
      const std::uint64_t free = mem_->free_frames(i);
      const auto& w = mem_->watermarks(i);
      ++n.samples;
      n.min_free = std::min(n.min_free, free);
      n.below_min += free < w.min;
      n.below_low += free < w.low;
      n.below_high += free < w.high;
    }
    ++runs_;
    env.cpu(cost_ * static_cast<TimeNs>(nodes_.size()));
    cpu_ += cost_ * static_cast<TimeNs>(nodes_.size());
    env.slice("vmstat", t0, env.now());
    next_ = now + interval_;
  }
  TimeNs cpu_ns() const override { return cpu_; }
  core::Json stats() const override {
    core::Json out = core::Json::object();
    out["runs"] = runs_;
    core::Json nodes = core::Json::object();
    for (unsigned i = 0; i < nodes_.size(); ++i) {
      const auto& n = nodes_[i];
      const auto& w = mem_->watermarks(i);
      nodes["node" + std::to_string(i)] = {{"samples", n.samples},
                                           {"min_free_pages", n.samples ? n.min_free : 0},
                                           {"watermark_pages", {{"min", w.min}, {"low", w.low}, {"high", w.high}}},
                                           {"samples_below", {{"min", n.below_min}, {"low", n.below_low}, {"high", n.below_high}}}};
    }
    out["nodes"] = nodes;
    return out;
  }

 private:
  struct NodeStat {
    std::uint64_t samples = 0, min_free = 0, below_min = 0, below_low = 0, below_high = 0;
  };
  std::string name_;
  unsigned host_, node_;
  const mm::HostMemory* mem_;
  TimeNs interval_, cost_, next_ = 0;
  std::uint64_t runs_ = 0;
  TimeNs cpu_ = 0;
  std::vector<NodeStat> nodes_;
};

std::vector<std::unique_ptr<KernelDaemon>> make(core::Params& p, const DaemonContext& ctx) {
  const bool on = p.get_bool(kParams[0]);
  const TimeNs interval = p.get_duration(kParams[1]);
  const TimeNs cost = p.get_int(kParams[2]);
  std::vector<std::unique_ptr<KernelDaemon>> out;
  if (!on) return out;
  for (unsigned h = 0; h < ctx.hosts.size(); ++h)
    out.push_back(std::make_unique<Vmstat>(ctx.hosts[h], h, interval, cost));
  return out;
}

}  // namespace

DaemonInfo vmstat_info() {
  return {"vmstat", "samples free pages per node against the min/low/high watermarks every interval", kParams, make};
}

}  // namespace vmemsim::kernel
