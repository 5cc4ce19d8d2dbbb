#include "sim/engine/engine.hpp"

#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "sim/output/recorder.hpp"
#include "sim/scenario/world.hpp"

XBT_LOG_NEW_DEFAULT_CATEGORY(vmemsim, "vmemsim simulator");

namespace sg4 = simgrid::s4u;

namespace vmemsim::engine {
namespace {

using core::TimeNs;

TimeNs now_ns() { return static_cast<TimeNs>(std::llround(sg4::Engine::get_clock() * 1e9)); }
double to_seconds(TimeNs t) { return static_cast<double>(t) * 1e-9; }

struct Platform {
  // [host][node] -> SimGrid host running that node's cores (nullptr for CPU-less nodes)
  std::vector<std::vector<sg4::Host*>> node_hosts;
  std::vector<sg4::Disk*> swap;
};

// Hosts with cores per NUMA node (so vCPUs of one node share its cores), the swap SSD as a
// Disk and the NIC as a split-duplex link, all in one star zone: a transfer between two hosts
// crosses the sender's NIC up and the receiver's NIC down.
Platform build_platform(const scenario::Scenario& sc) {
  Platform pf;
  auto* zone = sg4::create_star_zone("fabric");
  for (const auto& h : sc.hosts) {
    auto* nic = zone->create_split_duplex_link(h.name + ".nic", h.nic.bandwidth)
                    ->set_latency(to_seconds(h.nic.latency_ns))
                    ->seal();
    std::vector<sg4::Host*> nodes;
    sg4::Host* first = nullptr;
    for (std::size_t n = 0; n < h.nodes.size(); ++n) {
      if (h.nodes[n].cores == 0) {
        nodes.push_back(nullptr);
        continue;
      }
      auto* host = zone->create_host(h.name + ".node" + std::to_string(n), h.core_speed)
                       ->set_core_count(static_cast<int>(h.nodes[n].cores));
      host->seal();
      zone->add_route(host->get_netpoint(), nullptr, nullptr, nullptr,
                      {sg4::LinkInRoute(nic, sg4::LinkInRoute::Direction::UP)}, true);
      if (!first) first = host;
      nodes.push_back(host);
    }
    auto* disk = first->create_disk(h.name + ".swap", h.swap.read_bw, h.swap.write_bw);
    disk->seal();
    pf.swap.push_back(disk);
    pf.node_hosts.push_back(std::move(nodes));
  }
  zone->seal();
  return pf;
}

struct RunState {
  const scenario::Scenario* sc;
  scenario::World* world;
  output::Recorder* rec;
  const RunOptions* opt;
  std::string error;
  std::chrono::steady_clock::time_point wall0;
  double last_progress = 0;
};

void fail(RunState& st, const std::string& msg) {
  if (st.error.empty()) st.error = msg;
  sg4::Actor::kill_all();
}

// One vCPU: a quantum of accesses in plain C++, then one SimGrid call for the CPU time they
// took (execute() so that vCPUs sharing a node's cores are slowed down by real CPU sharing).
void vcpu_actor(RunState* st, mm::Vcpu* vcpu, double flop_per_ns, std::string name) {
  try {
    const TimeNs dur = st->sc->duration_ns, q = st->sc->quantum_ns;
    TimeNs now = now_ns();
    while (now < dur) {
      const TimeNs end = std::min(now + q, dur);
      const auto r = vcpu->run(now, end);
      if (r.oom) {
        fail(*st, "host out of memory: " + name + " could not get a frame at t=" + std::to_string(r.end) + "ns");
        return;
      }
      sg4::this_actor::execute(static_cast<double>(r.end - now) * flop_per_ns);
      now = now_ns();
    }
  } catch (const std::exception& e) {
    fail(*st, name + ": " + e.what());
  }
}

void progress(RunState& st, TimeNs t) {
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - st.wall0).count();
  const bool last = t >= st.sc->duration_ns;
  if (wall < 2.0 || (!last && wall - st.last_progress < 0.5)) return;
  st.last_progress = wall;
  const double acc = static_cast<double>(st.rec->total_accesses());
  std::fprintf(stderr, "\r[vmemsim] %s: %.3f / %.3f s simulated, %.1f M accesses/s%s", st.sc->name.c_str(),
               to_seconds(t), to_seconds(st.sc->duration_ns), acc / wall / 1e6, last ? "\n" : "");
  std::fflush(stderr);
}

void sampler_actor(RunState* st) {
  try {
    const TimeNs dt = st->sc->output.sampling_ns;
    for (TimeNs t = dt; t <= st->sc->duration_ns; t += dt) {
      sg4::this_actor::sleep_for(to_seconds(t) - sg4::Engine::get_clock());
      st->rec->sample(t);
      if (st->opt->check_invariants) st->world->check_invariants();
      if (st->opt->progress) progress(*st, t);
    }
  } catch (const std::exception& e) {
    fail(*st, std::string("sampler: ") + e.what());
  }
}

}  // namespace

RunOutcome run(const scenario::Scenario& sc, const RunOptions& opt) {
  std::vector<std::string> args = {"vmemsim", "--cfg=contexts/factory:raw"};
  for (const auto& a : opt.simgrid_args) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  xbt_log_control_set("root.thresh:critical");
  sg4::Engine e(&argc, argv.data());

  Platform pf = build_platform(sc);
  scenario::World world = scenario::build_world(sc);
  output::Recorder rec(world);
  RunState st{&sc, &world, &rec, &opt, {}, std::chrono::steady_clock::now(), 0};

  // Actors are created in a fixed order (VM, then vCPU index): SimGrid schedules simultaneous
  // events in creation order, which makes the run deterministic.
  for (auto& vm : world.vms) {
    for (std::size_t i = 0; i < vm.vcpus.size(); ++i) {
      const unsigned node = vm.vcpus[i]->config().node;
      sg4::Host* host = pf.node_hosts[vm.spec->host][node];
      std::string name = vm.spec->name + ".vcpu" + std::to_string(i);
      sg4::Actor::create(name, host, vcpu_actor, &st, vm.vcpus[i].get(),
                         sc.hosts[vm.spec->host].core_speed / 1e9, name);
    }
  }
  sg4::Host* first = nullptr;
  for (auto* h : pf.node_hosts[0])
    if (h && !first) first = h;
  sg4::Actor::create("sampler", first, sampler_actor, &st);

  e.run();
  if (!st.error.empty()) throw std::runtime_error(st.error);
  if (opt.check_invariants) world.check_invariants();

  RunOutcome out;
  out.body = rec.body();
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - st.wall0).count();
  out.accesses = rec.total_accesses();
  return out;
}

}  // namespace vmemsim::engine
