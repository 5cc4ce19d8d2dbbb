#include "sim/engine/engine.hpp"

#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <stdexcept>
#include <span>
#include <utility>

#include "sim/core/error.hpp"
#include "sim/core/watchdog.hpp"
#include "sim/output/recorder.hpp"
#include "sim/output/timeline.hpp"
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
  std::vector<sg4::Host*> servers;  // memory servers, in scenario order
  std::vector<std::string> server_names;
  sg4::Host* server(const std::string& name) const {
    for (std::size_t i = 0; i < servers.size(); ++i)
      if (server_names[i] == name) return servers[i];
    throw std::runtime_error("no memory server named '" + name + "'");
  }
};

// Hosts with cores per NUMA node (so vCPUs of one node share its cores), the swap SSD as a
// Disk and the NIC as a split-duplex link, all in one star zone: a transfer between two hosts
// crosses the sender's NIC up and the receiver's NIC down, so hosts sharing a memory server
// contend on its link.
Platform build_platform(const scenario::Scenario& sc) {
  Platform pf;
  auto* zone = sg4::create_star_zone("fabric");
  auto make_nic = [&](const std::string& name, const scenario::NicSpec& n) {
    return zone->create_split_duplex_link(name + ".nic", n.bandwidth)->set_latency(to_seconds(n.latency_ns))->seal();
  };
  auto attach = [&](sg4::Host* h, sg4::Link* nic) {
    zone->add_route(h->get_netpoint(), nullptr, nullptr, nullptr,
                    {sg4::LinkInRoute(nic, sg4::LinkInRoute::Direction::UP)}, true);
  };
  for (const auto& h : sc.hosts) {
    std::vector<sg4::Host*> nodes;
    sg4::Host* first = nullptr;
    sg4::Link* nic = make_nic(h.name, h.nic);  // one NIC per physical host, shared by its nodes
    for (std::size_t n = 0; n < h.nodes.size(); ++n) {
      if (h.nodes[n].cores == 0) {
        nodes.push_back(nullptr);
        continue;
      }
      auto* host = zone->create_host(h.name + ".node" + std::to_string(n), h.core_speed)
                       ->set_core_count(static_cast<int>(h.nodes[n].cores));
      host->seal();
      attach(host, nic);
      if (!first) first = host;
      nodes.push_back(host);
    }
    auto* disk = first->create_disk(h.name + ".swap", h.swap.read_bw, h.swap.write_bw);
    disk->seal();
    pf.swap.push_back(disk);
    pf.node_hosts.push_back(std::move(nodes));
  }
  for (const auto& m : sc.memory_servers) {
    auto* host = zone->create_host(m.name, 1e9);
    host->seal();
    attach(host, make_nic(m.name, m.nic));
    pf.servers.push_back(host);
    pf.server_names.push_back(m.name);
  }
  zone->seal();
  return pf;
}

// Synchronisation between the actors of a VM uses semaphores only: actors are cooperative,
// so shared state needs no mutex between blocking calls, and an actor killed while waiting
// (daemons are killed when the run ends) holds no lock to unwind.
struct RunState;

// Everything one VM's actors share: the wait channels and the I/O targets. The message queue
// and the wake rules are the uffd context's (models/uffd); the engine only parks and releases.
struct VmRuntime {
  RunState* st = nullptr;
  scenario::VmModel* vm = nullptr;
  uffd::Uffd* uffd = nullptr;
  const scenario::HostSpec* host = nullptr;
  sg4::Host* vmm_host = nullptr;
  sg4::Disk* swap = nullptr;
  const Platform* pf = nullptr;
  double flop_per_ns = 1;
  sg4::SemaphorePtr queue_sem = sg4::Semaphore::create(0);  // released once per queued message
  std::vector<sg4::SemaphorePtr> vcpu_sem;             // a blocked vCPU waits on its own
  std::vector<char> spurious;                          // its message was spurious (ground truth)
  std::vector<sg4::SemaphorePtr> lock_waiters;         // vCPUs waiting for the mmap write lock
  std::vector<sg4::SemaphorePtr> eviction_waiters;     // handler waits for an eviction batch
  int agent_track = -1, handler_track = -1;
  // vms[].vmm.handler_threads: the handler threads' timeline rows (the first is handler_track).
  std::vector<int> handler_tracks;
  // vms[].vmm.tier.queue_depth: one slot per tier I/O of this VM in flight (null: no bound). A
  // VMM thread takes a slot before it submits an I/O; the I/O worker gives it back when done.
  sg4::SemaphorePtr tier_slots;
  std::vector<int> vcpu_tracks;
  // engine.fault_service inline: the handler thread as a server in model time. `busy` holds
  // its service intervals that may still matter (ending after the SimGrid clock, which no
  // thread's own clock is behind), sorted by start; a fault is served in the first gap at or
  // after its time. Each vCPU runs up to a quantum ahead of the SimGrid clock, so a vCPU may
  // reach the handler after another one's later faults: the gap search serves it in its own
  // time order instead of behind all of them. While a vCPU serving a fault waits on the
  // platform for it (tier I/O, an eviction in flight), later faults queue on handler_waiters,
  // as their messages would queue for the handler thread. With several handler threads each
  // has its calendar (busy[k]); a fault goes to the thread whose gap starts first, among those
  // not waiting on the platform (in_platform[k]), and waits only when all of them are.
  bool inline_faults = false;
  std::vector<char> woken;  // SET_MODE(async) woke the vCPU's queued message
  std::vector<std::deque<std::pair<TimeNs, TimeNs>>> busy;
  std::array<TimeNs, 8> last_service{};  // the latest service time per uffd reason (gap size)
  std::vector<char> in_platform;
  unsigned handlers_in_platform = 0;
  std::vector<sg4::SemaphorePtr> handler_waiters;
};

struct RunState {
  const scenario::Scenario* sc;
  scenario::World* world;
  output::Recorder* rec;
  output::Timeline* timeline;
  const RunOptions* opt;
  std::string error;
  std::chrono::steady_clock::time_point wall0;
  double last_progress = 0;
  core::ProgressWatchdog watchdog{core::ProgressWatchdog::limit_for(1)};
  std::string stall;  // set when the watchdog ended the run
};

void fail(RunState& st, const std::string& msg) {
  if (st.error.empty()) st.error = msg;
  sg4::Actor::kill_all();
}

// Every actor step goes through here: the progress watchdog (sim/core/watchdog.hpp) ends a run
// whose clock has stopped while its actors keep stepping. False: the run is being ended.
bool note_step(RunState& st, const char* who, std::size_t idx = SIZE_MAX) {
  if (st.watchdog.step(now_ns())) return true;
  if (st.stall.empty()) {
    st.stall = "the run cannot finish: simulated time stands still at " + std::to_string(st.watchdog.stuck_at()) +
               " ns after " + std::to_string(st.watchdog.steps_without_progress()) +
               " steps in a row of the simulated threads (the last by " + who +
               (idx == SIZE_MAX ? std::string() : " " + std::to_string(idx)) +
               "); some cost or period of the scenario lets work happen without time passing";
  }
  fail(st, st.stall);
  return false;
}

void compute(double flop_per_ns, TimeNs d) {
  if (d > 0) sg4::this_actor::execute(static_cast<double>(d) * flop_per_ns);
}

// One I/O on a host's swap device. SimGrid disks model bandwidth sharing; the device latency is
// added per I/O. The I/O runs in another actor that the caller waits for: in SimGrid 3.32 every
// disk I/O an actor makes stays on that actor's activity list, so each later execute() of the
// same actor walks all of its past I/Os (measured: 20k I/Os made a VMM thread's executes 4x
// slower). The I/O actors never execute(); they are pooled, since creating one per I/O (an
// 8 MiB stack mmap'd, then unwound by an exception and unmapped) cost about as much as the rest
// of a fetch fault together (bench/README.md, "fault cost"). The pool grows to the number of
// I/Os in flight at once; idle workers are reused last-in first-out (deterministic).
// A worker also carries a transfer to or from a memory server (src -> dst) when several tier I/Os
// of one VMM thread are in flight at once (TierIo::net_transfers), and gives back the VM's
// tier queue slot (VmRuntime::tier_slots) when its I/O is done.
struct IoWorker {
  sg4::SemaphorePtr go = sg4::Semaphore::create(0), done = sg4::Semaphore::create(0);
  sg4::Disk* disk = nullptr;
  sg4::Host *src = nullptr, *dst = nullptr;  // a network transfer when disk is null
  TimeNs lat = 0;
  std::uint64_t bytes = 0;
  bool write = false;
  sg4::SemaphorePtr slot;
};
struct IoPool {
  std::vector<std::unique_ptr<IoWorker>> all;
  std::vector<IoWorker*> idle;
};
// One pool per device (or memory server), its workers on the host of the first I/O. One
// simulation per process; looked up by the device's name, never by pointer order.
IoPool& io_pool(const std::string& name) {
  static std::map<std::string, IoPool> pools;
  return pools[name];
}

// Hands one I/O to an idle worker of `pool` (`job` gives disk or src/dst, lat, bytes, write,
// slot); io_wait() waits for it and returns the worker to the pool.
IoWorker* io_start(IoPool& pool, sg4::Host* where, const IoWorker& job) {
  if (pool.idle.empty()) {
    pool.all.push_back(std::make_unique<IoWorker>());
    IoWorker* w = pool.all.back().get();
    sg4::Actor::create("io" + std::to_string(pool.all.size() - 1), where, [w] {
      for (;;) {
        w->go->acquire();
        if (w->lat > 0) sg4::this_actor::sleep_for(to_seconds(w->lat));
        if (!w->disk) sg4::Comm::sendto(w->src, w->dst, w->bytes);
        else if (w->write) w->disk->write(w->bytes);
        else w->disk->read(w->bytes);
        if (w->slot) w->slot->release();
        w->done->release();
      }
    })->daemonize();
    pool.idle.push_back(w);
  }
  IoWorker* w = pool.idle.back();
  pool.idle.pop_back();
  w->disk = job.disk;
  w->src = job.src;
  w->dst = job.dst;
  w->lat = job.lat;
  w->bytes = job.bytes;
  w->write = job.write;
  w->slot = job.slot;
  w->go->release();
  return w;
}

void io_wait(IoPool& pool, IoWorker* w) {
  w->done->acquire();
  pool.idle.push_back(w);
}

// `slot`: a tier queue slot the caller holds, given back when the I/O is done.
void swap_device_io(sg4::Disk* disk, TimeNs lat, sg4::Host* where, std::uint64_t bytes, bool write,
                    sg4::SemaphorePtr slot = nullptr) {
  IoPool& pool = io_pool(disk->get_name());
  IoWorker job;
  job.disk = disk;
  job.lat = lat;
  job.bytes = bytes;
  job.write = write;
  job.slot = std::move(slot);
  io_wait(pool, io_start(pool, where, job));
}

// Tier I/Os of a VMM thread of `rt`, one per entry of `bytes` (`fill` sets each job's device
// fields), submitted together and waited for together: each first takes a slot of the VM's tier
// queue (when it has a depth), which its worker gives back when the I/O is done, so at most
// queue_depth of the VM's tier I/Os are on the device at once.
template <class Fill>
void tier_ios(VmRuntime& rt, IoPool& pool, std::span<const std::uint64_t> bytes, Fill fill) {
  std::vector<IoWorker*> ws;
  for (auto b : bytes) {
    if (rt.tier_slots) rt.tier_slots->acquire();
    IoWorker job;
    fill(job);
    job.bytes = b;
    job.slot = rt.tier_slots;
    ws.push_back(io_start(pool, rt.vmm_host, job));
  }
  for (auto* w : ws) io_wait(pool, w);
}

// On the host's swap device; `lat` is the device latency the worker waits (0: the caller spent it
// in model time).
void tier_disk_ios(VmRuntime& rt, std::span<const std::uint64_t> bytes, bool write, TimeNs lat) {
  tier_ios(rt, io_pool(rt.swap->get_name()), bytes, [&](IoWorker& job) {
    job.disk = rt.swap;
    job.lat = lat;
    job.write = write;
  });
}

// The same for transfers to or from memory server `server` over both NICs. One transfer without a
// queue bound is made by the calling thread itself.
void tier_net(VmRuntime& rt, const std::string& server, std::span<const std::uint64_t> bytes, bool to_server) {
  sg4::Host* peer = rt.pf->server(server);
  sg4::Host* src = to_server ? rt.vmm_host : peer;
  sg4::Host* dst = to_server ? peer : rt.vmm_host;
  if (bytes.size() == 1 && !rt.tier_slots) {
    sg4::Comm::sendto(src, dst, bytes[0]);
    return;
  }
  tier_ios(rt, io_pool("net:" + server), bytes, [&](IoWorker& job) {
    job.src = src;
    job.dst = dst;
  });
}

// Releases every waiter of a list. The list is taken first: release() is a simcall, during which
// an already released waiter may run and queue itself again on the same list.
void release_all(std::vector<sg4::SemaphorePtr>& waiters) {
  if (waiters.empty()) return;
  for (auto& w : std::exchange(waiters, {})) w->release();
}

// The vCPUs whose messages SET_MODE(async) dropped retry their accesses: a vCPU blocked on its
// own semaphore (exact), or waiting for the inline handler (inline).
void wake_woken(VmRuntime& rt) {
  const auto ids = rt.uffd->take_woken();
  if (!rt.inline_faults) {
    for (unsigned w : ids) rt.vcpu_sem[w]->release();
    return;
  }
  for (unsigned w : ids) rt.woken[w] = 1;
  if (!ids.empty()) release_all(rt.handler_waiters);
}

// The VMM's view of the platform (reclaim::VmmEnv) for one VM, on SimGrid.
class SimVmmEnv final : public reclaim::VmmEnv {
 public:
  // `handler_track`: the timeline row of the handler thread this env serves (-1: the agent).
  explicit SimVmmEnv(VmRuntime& rt, int handler_track = -1)
      : rt_(rt), handler_track_(handler_track < 0 ? rt.handler_track : handler_track) {}
  TimeNs now() override { return now_ns(); }
  void sleep(TimeNs d) override {
    if (!note_step(*rt_.st, "VMM agent")) throw std::runtime_error(rt_.st->stall);
    if (d > 0) sg4::this_actor::sleep_for(to_seconds(d));
  }
  void cpu(TimeNs d) override {
    if (!note_step(*rt_.st, "VMM thread")) throw std::runtime_error(rt_.st->stall);
    compute(rt_.flop_per_ns, d);
  }
  void mmap_write_lock() override { rt_.vm->as->set_mmap_write_locked(true); }
  void mmap_write_unlock() override {
    rt_.vm->as->set_mmap_write_locked(false);
    release_all(rt_.lock_waiters);
  }
  void wake_blocked_faults() override { wake_woken(rt_); }
  void wait_eviction() override {
    auto sem = sg4::Semaphore::create(0);
    rt_.eviction_waiters.push_back(sem);
    sem->acquire();
  }
  void eviction_done() override { release_all(rt_.eviction_waiters); }
  bool alloc_slow_path(core::NodeId node) override;
  void swap_read(std::uint64_t bytes) override {
    swap_device_io(rt_.swap, rt_.host->swap.latency_ns, rt_.vmm_host, bytes, false);
  }
  void slice(const char* what, TimeNs start, TimeNs end) override;

  // ---- reclaim::TierIo: the resources tiers use ----
  void disk_io(std::uint64_t bytes, bool write) override {
    tier_disk_ios(rt_, std::span(&bytes, 1), write, rt_.host->swap.latency_ns);
  }
  void net_transfer(const std::string& server, std::uint64_t bytes, bool to_server) override {
    tier_net(rt_, server, std::span(&bytes, 1), to_server);
  }
  void disk_ios(std::span<const std::uint64_t> bytes, bool write) override {
    tier_disk_ios(rt_, bytes, write, rt_.host->swap.latency_ns);
  }
  void net_transfers(const std::string& server, std::span<const std::uint64_t> bytes, bool to_server) override {
    tier_net(rt_, server, bytes, to_server);
  }

 private:
  VmRuntime& rt_;
  int handler_track_;
};

void SimVmmEnv::slice(const char* what, TimeNs start, TimeNs end) {
  rt_.st->timeline->slice(rt_.agent_track, what, start, end);
}

// Direct reclaim's view of the platform: the faulting vCPU's CPU, its host's swap device.
class VcpuReclaimEnv final : public kernel::DaemonEnv {
 public:
  VcpuReclaimEnv(VmRuntime& rt, int track) : rt_(rt), track_(track) {}
  TimeNs now() override { return now_ns(); }
  void cpu(TimeNs d) override { compute(rt_.flop_per_ns, d); }
  void tlb_flush(core::VmId vm) override { rt_.st->world->vms.at(vm.v).as->tlb_flush(); }
  void slice(const char* what, TimeNs start, TimeNs end) override { rt_.st->timeline->slice(track_, what, start, end); }
  void swap_io(std::uint64_t bytes, bool write) override {
    swap_device_io(rt_.swap, rt_.host->swap.latency_ns, sg4::this_actor::get_host(), bytes, write);
  }

 private:
  VmRuntime& rt_;
  int track_;
};

// The allocation of vCPU `idx` failed: the slow paths its host's kernel mechanisms offer
// (KernelDaemon::slow_path(), e.g. kernel.reclaim's direct reclaim) run in its context, in
// daemon order, until one frees frames. False: none could (the host is out of memory).
// `track` is the timeline row of the thread that stalls (a vCPU, or the VMM's handler).
bool direct_reclaim(VmRuntime& rt, int track, unsigned node) {
  VcpuReclaimEnv env(rt, track);
  const TimeNs t0 = now_ns();
  std::uint64_t freed = 0;
  for (auto& d : rt.st->world->daemons) {
    if (d->host() != rt.vm->spec->host) continue;
    if (auto* sp = d->slow_path()) freed += sp->direct_reclaim(env, node);
    if (freed) break;
  }
  rt.st->timeline->slice(track, "direct_reclaim", t0, now_ns());
  return freed > 0;
}

bool direct_reclaim_vcpu(VmRuntime& rt, std::size_t idx, unsigned node) {
  const TimeNs t0 = now_ns();
  const bool ok = direct_reclaim(rt, rt.vcpu_tracks[idx], node);
  rt.vm->reclaim_stall_ns += now_ns() - t0;
  return ok;
}

// The VMM's own allocation (UFFDIO_COPY) reclaims in the handler thread: its time is the
// handler's, which the faulting vCPU waits for.
bool SimVmmEnv::alloc_slow_path(core::NodeId node) {
  const TimeNs t0 = now_ns();
  const bool ok = direct_reclaim(rt_, handler_track_, node.v);
  rt_.vm->vmm_reclaim_ns += now_ns() - t0;
  return ok;
}

// engine.fault_service inline: the VMM's view of the platform while the faulting vCPU's actor
// serves its own fault on the handler's behalf. Time is kept in model time (now() is the
// handler's clock, cpu() advances it: the handler thread has a core of its own, which the engine
// checked before choosing this scheme); only the waits that need the platform -- tier I/O on the
// shared disk or NICs, an eviction batch in flight -- go through SimGrid, after settle() has
// brought the actor's SimGrid clock up to the handler's.
class InlineFaultEnv final : public reclaim::VmmEnv {
 public:
  // `owed`: the vCPU's own CPU time since the SimGrid clock that no SimGrid call has charged yet.
  // `thread`: the handler thread whose calendar the service is in.
  InlineFaultEnv(VmRuntime& rt, unsigned thread, TimeNs start, TimeNs& owed)
      : rt_(rt), thread_(thread), cur_(start), owed_(owed) {}
  TimeNs now() override { return cur_; }
  void sleep(TimeNs d) override { cur_ += d; }
  void cpu(TimeNs d) override { cur_ += d; }
  void mmap_write_lock() override { rt_.vm->as->set_mmap_write_locked(true); }
  void mmap_write_unlock() override {
    rt_.vm->as->set_mmap_write_locked(false);
    release_all(rt_.lock_waiters);
  }
  void wake_blocked_faults() override { wake_woken(rt_); }
  void wait_eviction() override {
    settle();
    auto sem = sg4::Semaphore::create(0);
    rt_.eviction_waiters.push_back(sem);
    sem->acquire();
    cur_ = now_ns();
  }
  void eviction_done() override { release_all(rt_.eviction_waiters); }
  // Direct reclaim and swap reads in the handler's context need the platform (the reclaimer's
  // swap writes, the swap device): settle, then as SimVmmEnv.
  bool alloc_slow_path(core::NodeId node) override {
    settle();
    const TimeNs t0 = now_ns();
    const bool ok = direct_reclaim(rt_, rt_.handler_tracks[thread_], node.v);
    rt_.vm->vmm_reclaim_ns += now_ns() - t0;
    cur_ = now_ns();
    return ok;
  }
  void swap_read(std::uint64_t bytes) override {
    cur_ += rt_.host->swap.latency_ns;
    settle();
    swap_device_io(rt_.swap, 0, rt_.vmm_host, bytes, false);
    cur_ = now_ns();
  }
  void slice(const char* what, TimeNs start, TimeNs end) override {
    rt_.st->timeline->slice(rt_.handler_tracks[thread_], what, start, end);
  }
  void disk_io(std::uint64_t bytes, bool write) override {
    if (rt_.tier_slots) return disk_ios(std::span(&bytes, 1), write);
    cur_ += rt_.host->swap.latency_ns;  // the device latency is a pure delay: model time
    settle();
    swap_device_io(rt_.swap, 0, rt_.vmm_host, bytes, write);
    cur_ = now_ns();
  }
  void net_transfer(const std::string& server, std::uint64_t bytes, bool to_server) override {
    net_transfers(server, std::span(&bytes, 1), to_server);
  }
  // With a tier queue depth the device latency is spent by the worker, inside the queue slot
  // (the I/O is in flight for it).
  void disk_ios(std::span<const std::uint64_t> bytes, bool write) override {
    settle();
    tier_disk_ios(rt_, bytes, write, rt_.host->swap.latency_ns);
    cur_ = now_ns();
  }
  void net_transfers(const std::string& server, std::span<const std::uint64_t> bytes, bool to_server) override {
    settle();
    tier_net(rt_, server, bytes, to_server);
    cur_ = now_ns();
  }
  bool used_platform() const { return used_platform_; }

 private:
  // The vCPU's owed CPU time, then the wait up to the handler's clock; from here until the
  // fault is served the handler counts as busy on the platform.
  void settle() {
    // Busy from here: faults taken while this actor blocks go to another handler thread, or
    // queue behind this one when every thread is busy on the platform.
    if (!used_platform_) {
      used_platform_ = true;
      rt_.in_platform[thread_] = 1;
      ++rt_.handlers_in_platform;
    }
    compute(rt_.flop_per_ns, owed_);
    owed_ = 0;
    if (cur_ > now_ns()) sg4::this_actor::sleep_for(to_seconds(cur_) - sg4::Engine::get_clock());
    cur_ = std::max(cur_, now_ns());
  }
  VmRuntime& rt_;
  unsigned thread_;
  TimeNs cur_;
  TimeNs& owed_;
  bool used_platform_ = false;
};

// A sync userfault of vCPU `idx` taken at vCPU time t, served inline (see InlineFaultEnv). The
// vCPU's message is queued and read at once, as the handler thread would when idle; service
// starts in the first gap of the handler's calendar at or after t (VmRuntime::busy). Returns the vCPU time when the fault is resolved; the
// vCPU then retries the access. `owed` is the vCPU's uncharged CPU time (0 after a platform
// wait, which charges it).
TimeNs serve_fault_inline(VmRuntime& rt, std::size_t idx, const mm::Vcpu::Quantum& r, TimeNs t, TimeNs& owed) {
  const TimeNs t0 = t;
  const unsigned me = static_cast<unsigned>(idx);
  rt.uffd->enqueue({r.gfn, r.write, r.reason, core::NodeId(static_cast<std::uint16_t>(rt.vm->vcpus[idx]->node())), t0}, me);
  // The handler is blocked on the platform for another vCPU's fault, or earlier messages wait
  // for it: this one waits its turn (FIFO: semaphores wake in order), unless SET_MODE(async)
  // wakes it first (Uffd::set_mode() drops woken messages from the queue).
  const auto all_busy = [&] { return rt.handlers_in_platform >= rt.busy.size(); };
  if (all_busy() || rt.uffd->next_waiter() != me) {
    compute(rt.flop_per_ns, owed);
    owed = 0;
    if (t > now_ns()) sg4::this_actor::sleep_for(to_seconds(t) - sg4::Engine::get_clock());
    while (!rt.woken[idx] && (all_busy() || rt.uffd->next_waiter() != me)) {
      auto sem = sg4::Semaphore::create(0);
      rt.handler_waiters.push_back(sem);
      sem->acquire();
    }
    t = std::max(t, now_ns());
    if (rt.woken[idx]) {
      // The retried access resolves in the kernel, as for a message SET_MODE woke.
      rt.woken[idx] = 0;
      rt.vm->stall_ns.add(t - t0);
      rt.vm->stall_ns_by_reason.at(static_cast<std::size_t>(r.reason)) += t - t0;
      rt.st->timeline->slice(rt.vcpu_tracks[idx], mm::uffd_reason_name(r.reason), t0, t);
      return t;
    }
  }
  const auto p = rt.uffd->read();
  VMEMSIM_CHECK(p && p->waiter == me, "inline fault service: vCPU " << idx << " read another thread's message");
  // The first gap of a handler thread's calendar at or after t that holds a service as long as
  // the latest one of this kind; of the threads not waiting on the platform, the one whose gap
  // starts first (the lowest on a tie).
  const TimeNs clock = now_ns();
  const auto kind = static_cast<std::size_t>(p->msg.reason) & 7;
  unsigned k = 0;
  TimeNs start = 0;
  std::deque<std::pair<TimeNs, TimeNs>>::iterator pos;
  bool found = false;
  for (unsigned th = 0; th < rt.busy.size(); ++th) {
    if (rt.in_platform[th]) continue;
    auto& cal = rt.busy[th];
    while (!cal.empty() && cal.front().second <= clock) cal.pop_front();
    TimeNs s = t;
    auto it = cal.begin();
    for (; it != cal.end(); ++it) {
      if (it->first >= s + rt.last_service[kind]) break;
      s = std::max(s, it->second);
    }
    if (!found || s < start) k = th, start = s, pos = it, found = true;
  }
  VMEMSIM_CHECK(found, "inline fault service: no handler thread free for vCPU " << idx);
  InlineFaultEnv env(rt, k, start, owed);
  rt.vm->vmm->handle_fault(p->msg, env);
  const TimeNs t1 = env.now();
  rt.last_service[kind] = t1 - start;
  if (env.used_platform()) {
    // It waited on the platform: the calendar may have changed meanwhile.
    pos = std::lower_bound(rt.busy[k].begin(), rt.busy[k].end(), std::make_pair(start, t1));
    rt.in_platform[k] = 0;
    --rt.handlers_in_platform;
  }
  rt.busy[k].insert(pos, {start, t1});
  release_all(rt.handler_waiters);
  rt.vm->stall_ns.add(t1 - t0);
  rt.vm->stall_ns_by_reason.at(static_cast<std::size_t>(r.reason)) += t1 - t0;
  if (p->spurious) {
    rt.vm->spurious_stall_ns += t1 - t0;
    ++rt.vm->spurious_stalls;
  }
  rt.st->timeline->slice(rt.handler_tracks[k], mm::uffd_reason_name(p->msg.reason), start, t1);
  rt.st->timeline->slice(rt.vcpu_tracks[idx], mm::uffd_reason_name(r.reason), t0, t1);
  return t1;
}

// One vCPU: a quantum of accesses in plain C++, then one SimGrid call for the CPU time they
// took (execute() so that vCPUs sharing a node's cores are slowed down by real CPU sharing).
// A sync userfault hands the fault to the VM's handler and blocks until it is resolved.
void vcpu_actor(VmRuntime* rt, std::size_t idx, std::string name) {
  RunState& st = *rt->st;
  mm::Vcpu* vcpu = rt->vm->vcpus[idx].get();
  try {
    const TimeNs dur = st.sc->duration_ns, q = st.sc->quantum_ns;
    TimeNs now = now_ns();
    unsigned cur_node = vcpu->node();
    while (now < dur) {
      if (!note_step(st, "vCPU", idx)) return;
      const TimeNs end = std::min(now + q, dur);
      // Inline fault service: the quantum goes on across the sync faults the vCPU serves itself;
      // `owed` is its CPU time no SimGrid call has charged yet, `t` its own clock.
      TimeNs t = now, owed = 0;
      mm::Vcpu::Quantum r;
      bool served = false;
      for (;;) {
        r = vcpu->run(t, end);
        owed += r.end - t;
        t = r.end;
        if (r.stop != mm::Vcpu::Stop::Blocked || !rt->inline_faults) break;
        t = serve_fault_inline(*rt, idx, r, t, owed);
        served = true;
        if (t >= end) break;
      }
      compute(rt->flop_per_ns, owed);
      if (served && t > now_ns()) sg4::this_actor::sleep_for(to_seconds(t) - sg4::Engine::get_clock());
      if (served && r.stop == mm::Vcpu::Stop::Blocked) r.stop = mm::Vcpu::Stop::None;
      if (r.stop == mm::Vcpu::Stop::Oom) {
        // __alloc_pages_slowpath(): direct reclaim in this thread, then the access is retried.
        if (!direct_reclaim_vcpu(*rt, idx, vcpu->node())) {
          fail(st, "host out of memory: " + name + " could not get a frame at t=" + std::to_string(r.end) + "ns");
          return;
        }
      }
      for (const auto& ev : rt->vm->as->take_events())
        st.timeline->slice(rt->vcpu_tracks[ev.task < rt->vcpu_tracks.size() ? ev.task : idx], ev.what, ev.start, ev.end);
      // The scheduler may have moved the thread to another node (models: Task::cpu_node):
      // its next quantum runs on that node's cores.
      if (vcpu->node() != cur_node) {
        cur_node = vcpu->node();
        sg4::Host* h = rt->pf->node_hosts[rt->vm->spec->host].at(cur_node);
        VMEMSIM_CHECK(h, name << " moved to node " << cur_node << ", which has no cores");
        sg4::this_actor::set_host(h);
      }
      if (r.stop == mm::Vcpu::Stop::Blocked) {
        VMEMSIM_CHECK(rt->vm->vmm, name << ": sync userfault without a handler");
        const TimeNs t0 = now_ns();
        rt->uffd->enqueue({r.gfn, r.write, r.reason, core::NodeId(static_cast<std::uint16_t>(vcpu->node())), t0},
                          static_cast<unsigned>(idx));
        rt->queue_sem->release();
        rt->vcpu_sem[idx]->acquire();  // released by the handler, or by SET_MODE(async)
        const TimeNs t1 = now_ns();
        rt->vm->stall_ns.add(t1 - t0);
        rt->vm->stall_ns_by_reason.at(static_cast<std::size_t>(r.reason)) += t1 - t0;
        if (rt->spurious[idx]) {
          rt->spurious[idx] = 0;
          rt->vm->spurious_stall_ns += t1 - t0;
          ++rt->vm->spurious_stalls;
        }
        st.timeline->slice(rt->vcpu_tracks[idx], mm::uffd_reason_name(r.reason), t0, t1);
      } else if (r.stop == mm::Vcpu::Stop::Io) {
        // do_swap_page(): the thread waits for the read from the host's swap device.
        const TimeNs t0 = now_ns();
        swap_device_io(rt->swap, rt->host->swap.latency_ns, sg4::this_actor::get_host(), r.io_bytes, false);
        rt->vm->swap_stall_ns += now_ns() - t0;
        st.timeline->slice(rt->vcpu_tracks[idx], "swap_in", t0, now_ns());
      } else if (r.stop == mm::Vcpu::Stop::LockWait) {
        const TimeNs t0 = now_ns();
        while (rt->vm->as->mmap_write_locked()) {
          auto sem = sg4::Semaphore::create(0);
          rt->lock_waiters.push_back(sem);
          sem->acquire();
        }
        rt->vm->lock_stall_ns += now_ns() - t0;
        st.timeline->slice(rt->vcpu_tracks[idx], "mmap_lock", t0, now_ns());
      }
      now = now_ns();
    }
  } catch (const std::exception& e) {
    fail(st, name + ": " + e.what());
  }
}

// One of the VMM's uffd handler threads: one message at a time, as a poll()/read() loop would;
// with several threads each reads the next message of the one queue.
void handler_actor(VmRuntime* rt, unsigned thread) {
  SimVmmEnv env(*rt, rt->handler_tracks[thread]);
  try {
    for (;;) {
      rt->queue_sem->acquire();
      if (!note_step(*rt->st, "uffd handler")) return;
      const auto p = rt->uffd->read();
      if (!p) continue;  // its message was woken by SET_MODE(async)
      const TimeNs t0 = now_ns();
      rt->vm->vmm->handle_fault(p->msg, env);
      rt->spurious[p->waiter] = p->spurious ? 1 : 0;
      rt->vcpu_sem[p->waiter]->release();
      rt->st->timeline->slice(rt->handler_tracks[thread], mm::uffd_reason_name(p->msg.reason), t0, now_ns());
    }
  } catch (const std::exception& e) {
    fail(*rt->st, rt->vm->spec->name + ".uffd-handler: " + e.what());
  }
}

void agent_actor(VmRuntime* rt) {
  SimVmmEnv env(*rt);
  try {
    rt->vm->vmm->run_agent(env, rt->st->sc->duration_ns);
  } catch (const std::exception& e) {
    fail(*rt->st, rt->vm->spec->name + ".vmm: " + e.what());
  }
}

// The kernel daemons' view of the platform: CPU on the core the daemon runs on, TLB flushes
// on a VM's mm (its vCPUs take the IPIs when they next run).
class SimDaemonEnv final : public kernel::DaemonEnv {
 public:
  SimDaemonEnv(RunState& st, double flop_per_ns, int track, sg4::Disk* swap, TimeNs swap_latency)
      : st_(st), flop_per_ns_(flop_per_ns), track_(track), swap_(swap), swap_latency_(swap_latency) {}
  TimeNs now() override { return now_ns(); }
  void cpu(TimeNs d) override { compute(flop_per_ns_, d); }
  void tlb_flush(core::VmId vm) override { st_.world->vms.at(vm.v).as->tlb_flush(); }
  void slice(const char* what, TimeNs start, TimeNs end) override { st_.timeline->slice(track_, what, start, end); }
  void swap_io(std::uint64_t bytes, bool write) override {
    swap_device_io(swap_, swap_latency_, sg4::this_actor::get_host(), bytes, write);
  }

 private:
  RunState& st_;
  double flop_per_ns_;
  int track_;
  sg4::Disk* swap_;
  TimeNs swap_latency_;
};

void daemon_actor(RunState* st, kernel::KernelDaemon* d, double flop_per_ns, int track, sg4::Disk* swap,
                  TimeNs swap_latency) {
  SimDaemonEnv env(*st, flop_per_ns, track, swap, swap_latency);
  try {
    for (;;) {
      const TimeNs t = d->next_wakeup(now_ns());
      if (t == kernel::kNever || t >= st->sc->duration_ns) return;
      if (t > now_ns()) sg4::this_actor::sleep_for(to_seconds(t) - sg4::Engine::get_clock());
      if (!note_step(*st, "kernel daemon")) return;
      d->run_batch(env, now_ns());
    }
  } catch (const std::exception& e) {
    fail(*st, d->name() + ": " + e.what());
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

// ---- SimGrid models (README "SimGrid models") ----
// A scenario states each NIC's latency and bandwidth and each swap SSD's bandwidths as the times
// they should produce. SimGrid 3.32's default host model runs the LV08 network model, which does
// not honour them: it multiplies every route latency by 13.01 (network/latency-factor), scales
// bandwidth by 0.97 (network/bandwidth-factor), penalises flows by weight-S / bandwidth
// (network/weight-S 20537), bounds every flow by a TCP window (network/TCP-gamma, 4 MiB: rate <=
// gamma / (2 x route latency)), and with cross traffic (network/crosstraffic, on by default for
// every model) makes each flow also use 5% of its rate on the reverse route. A 4 KiB page from a
// memory server with a 3 us NIC to a host with a 2 us, 4.096 GB/s NIC took 66 us instead of 6 us.
// So before the platform is built (sources: SimGrid v3.32 src/surf/network_cm02.cpp,
// src/kernel/resource/NetworkModel.cpp, src/kernel/routing/NetZoneImpl.cpp):
//  - network/model:CM02 -- the same max-min flow model without the corrective factors: its
//    initialisation sets latency-factor 1, bandwidth-factor 1 and weight-S 0 (as defaults, so a
//    user's setting of them still wins). A non-default network model makes SimGrid pick the
//    "compound" host model: Cas01 CPUs, as before, with the chosen network model.
//  - network/crosstraffic:0 -- no reverse-route share: a page write (host -> server) and a page
//    read (server -> host) cross different halves of the split-duplex NICs and do not interfere.
//  - network/TCP-gamma:1e300 -- a window so large that gamma / (2 x latency) never binds.
// Then B bytes sent from host S to host D, alone on their route, take
//     lat(S.nic) + lat(D.nic) + B / min(bw(S.nic), bw(D.nic))
// (a route of the star zone is the sender's NIC up, then the receiver's NIC down; the fluid model
// pipelines the links, so the bandwidth term is the slowest link's, not a sum). Flows that share
// a link get max-min shares weighted by the inverse of their route latency (CM02's RTT
// unfairness): flows over routes of equal latency share equally.
// Disks (the default S19 model) have no factors: an I/O of B bytes alone takes B / read_bw or
// B / write_bw, plus the scenario's per-I/O latency (a sleep, SimVmmEnv::io); concurrent reads
// and writes also share max(read_bw, write_bw). CPUs (Cas01): execute(f) alone on a core takes
// f / core_speed. tests/integration/test_simgrid_models.py checks all three against these values.
// The scenario's simgrid.cfg settings (also `--cfg=name:value`) are applied after these, so they
// may override them; they are part of the resolved scenario and hence of the run id.
constexpr const char* kModelSettings[] = {"network/model:CM02", "network/crosstraffic:0", "network/TCP-gamma:1e300"};

// contexts/* settings take effect only when given to the Engine's constructor.
bool before_engine(const std::string& setting) { return setting.rfind("contexts/", 0) == 0; }

// Inline fault service charges the handler's CPU time to no core: valid when the VMM's node has
// a core for every thread that may compute on it at start (vCPUs placed there by any VM of the
// host, the agent and the handler threads of each VM whose VMM runs there, the kernel daemons there). Otherwise the VM
// keeps the exact scheme, whose handler shares the cores through SimGrid.
bool vmm_node_has_spare_cores(const scenario::World& world, std::size_t v) {
  const auto& me = *world.vms[v].spec;
  const unsigned node = me.cpu_nodes.front();
  std::uint64_t threads = 0;
  for (const auto& vm : world.vms) {
    if (vm.spec->host != me.host) continue;
    for (const auto& c : vm.vcpus) threads += c->config().node == node;
    if (vm.vmm && vm.spec->cpu_nodes.front() == node) threads += 1 + vm.vmm->handler_threads();
  }
  for (const auto& d : world.daemons) threads += d->host() == me.host && d->node() == node;
  return threads <= world.sc->hosts[me.host].nodes[node].cores;
}

}  // namespace

RunOutcome run(const scenario::Scenario& sc, const RunOptions& opt) {
  std::vector<std::string> args = {"vmemsim", "--cfg=contexts/factory:raw"};
  for (const auto& c : sc.simgrid_cfg)
    if (before_engine(c)) args.push_back("--cfg=" + c);
  for (const auto& a : opt.simgrid_log) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  xbt_log_control_set("root.thresh:critical");
  sg4::Engine e(&argc, argv.data());
  for (const char* m : kModelSettings) sg4::Engine::set_config(m);
  for (std::size_t i = 0; i < sc.simgrid_cfg.size(); ++i) {
    if (before_engine(sc.simgrid_cfg[i])) continue;
    try {
      sg4::Engine::set_config(sc.simgrid_cfg[i]);
    } catch (const std::exception& ex) {
      std::string why = ex.what();
      why = why.substr(0, why.find('\n'));  // "Bad config key" goes on to list every key
      throw core::InputError(sc.file, {{"/simgrid/cfg/" + std::to_string(i),
                                        "SimGrid refused '" + sc.simgrid_cfg[i] + "': " + why}});
    }
  }

  Platform pf = build_platform(sc);
  scenario::World world = scenario::build_world(sc);
  output::Recorder rec(world);
  output::Timeline timeline(opt.timeline);
  RunState st{&sc, &world, &rec, &timeline, &opt, {}, std::chrono::steady_clock::now(), 0,
              core::ProgressWatchdog(core::ProgressWatchdog::limit_for(1)), {}};

  // Actors are created in a fixed order (per VM: vCPUs by index, then the VMM agent and the
  // handler): SimGrid runs simultaneous events in creation order, which makes the run
  // deterministic.
  // A VMM opens and registers its userfaultfd before it starts its vCPU threads.
  for (auto& vm : world.vms) {
    if (vm.vmm) vm.vmm->start();
    vm.as->set_tracing(opt.timeline);
  }
  std::vector<std::unique_ptr<VmRuntime>> rts;
  for (std::size_t v = 0; v < world.vms.size(); ++v) {
    auto& vm = world.vms[v];
    auto rt = std::make_unique<VmRuntime>();
    rt->st = &st;
    rt->vm = &vm;
    rt->host = &sc.hosts[vm.spec->host];
    rt->flop_per_ns = rt->host->core_speed / 1e9;
    rt->swap = pf.swap[vm.spec->host];
    rt->pf = &pf;
    rt->uffd = vm.kernel.uffd.get();
    rt->vmm_host = pf.node_hosts[vm.spec->host][vm.spec->cpu_nodes.front()];
    for (std::size_t i = 0; i < vm.vcpus.size(); ++i) rt->vcpu_sem.push_back(sg4::Semaphore::create(0));
    rt->spurious.assign(vm.vcpus.size(), 0);
    rt->woken.assign(vm.vcpus.size(), 0);
    const int pid = static_cast<int>(v);
    for (std::size_t i = 0; i < vm.vcpus.size(); ++i) {
      const unsigned node = vm.vcpus[i]->config().node;
      std::string name = vm.spec->name + ".vcpu" + std::to_string(i);
      rt->vcpu_tracks.push_back(timeline.track(pid, vm.spec->name, "vcpu" + std::to_string(i)));
      sg4::Actor::create(name, pf.node_hosts[vm.spec->host][node], vcpu_actor, rt.get(), i, name);
    }
    if (vm.vmm) {
      rt->agent_track = timeline.track(pid, vm.spec->name, "vmm");
      const unsigned threads = vm.vmm->handler_threads();
      for (unsigned k = 0; k < threads; ++k)
        rt->handler_tracks.push_back(
            timeline.track(pid, vm.spec->name, "uffd-handler" + (k ? std::to_string(k) : std::string())));
      rt->handler_track = rt->handler_tracks.front();
      rt->busy.resize(threads);
      rt->in_platform.assign(threads, 0);
      if (const unsigned depth = vm.vmm->tier().queue_depth()) rt->tier_slots = sg4::Semaphore::create(depth);
      rt->inline_faults = sc.fault_service == scenario::Scenario::FaultService::Inline &&
                          vmm_node_has_spare_cores(world, v);
      sg4::Actor::create(vm.spec->name + ".vmm", rt->vmm_host, agent_actor, rt.get())->daemonize();
      for (unsigned k = 0; !rt->inline_faults && k < threads; ++k)
        sg4::Actor::create(vm.spec->name + ".uffd-handler" + (k ? std::to_string(k) : std::string()), rt->vmm_host,
                           handler_actor, rt.get(), k)
            ->daemonize();
    }
    rts.push_back(std::move(rt));
  }
  // Kernel daemons, in the world's (registry) order, each on a core of the node it names.
  for (auto& d : world.daemons) {
    sg4::Host* h = pf.node_hosts.at(d->host()).at(d->node());
    VMEMSIM_CHECK(h, d->name() << " runs on a node without cores");
    const int track = timeline.track(static_cast<int>(world.vms.size() + d->host()), sc.hosts[d->host()].name, d->name());
    sg4::Actor::create(d->name(), h, daemon_actor, &st, d.get(), sc.hosts[d->host()].core_speed / 1e9, track,
                       pf.swap[d->host()], sc.hosts[d->host()].swap.latency_ns)
        ->daemonize();
  }
  sg4::Host* first = nullptr;
  for (auto* h : pf.node_hosts[0])
    if (h && !first) first = h;
  sg4::Actor::create("sampler", first, sampler_actor, &st);
  std::uint64_t steps = core::ProgressWatchdog::limit_for(e.get_actor_count());
  // VMEMSIM_WATCHDOG_STEPS sets another limit: a diagnostic, and how the tests trip it on purpose.
  if (const char* w = std::getenv("VMEMSIM_WATCHDOG_STEPS"); w && std::strtoull(w, nullptr, 10) > 0)
    steps = std::strtoull(w, nullptr, 10);
  st.watchdog = core::ProgressWatchdog(steps);

  e.run();
  if (!st.stall.empty()) throw core::InputError(sc.file, {{"", st.stall}});
  if (!st.error.empty()) throw std::runtime_error(st.error);
  for (auto& vm : world.vms)
    if (vm.vmm) vm.vmm->finish();
  if (opt.check_invariants) world.check_invariants();

  RunOutcome out;
  out.body = rec.body();
  if (opt.timeline) out.timeline = timeline.to_json();
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - st.wall0).count();
  out.accesses = rec.total_accesses();
  return out;
}

}  // namespace vmemsim::engine
