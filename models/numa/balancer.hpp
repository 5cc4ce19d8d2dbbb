// Automatic NUMA balancing of one mm (one VM process), following kernel/sched/fair.c,
// mm/mempolicy.c, mm/memory.c and mm/migrate.c function by function (Linux 6.18/7.3; each
// method below names the function it mirrors):
//   - the scanner: task_tick_numa() from each vCPU thread's own CPU time, task_numa_work()
//     with one scan window per mm per period, the per-VMA skip rules and change_prot_numa();
//   - the hinting fault: do_numa_page() -> numa_migrate_check() -> mpol_misplaced() ->
//     should_numa_migrate_memory(), migrate_misplaced_folio(), numa_rebuild_single_mapping();
//   - the statistics: task_numa_fault(), task_numa_group(), task_numa_placement(),
//     update_task_scan_period(), numa_migrate_preferred() and the task moves of
//     task_numa_migrate() under the scheduler model of HostNuma;
//   - memory tiering: promotion with the hint-latency threshold, the rate limit and
//     numa_promotion_adjust_threshold() (demotion needs reclaim: HostNuma::on_kswapd_wakeup).
//
// Lifecycle: the numa_hint fault mechanism (models/kernel/registry.cpp) builds one MmNuma per
// VM and registers its hinting-fault handler; the `kernel.numa` section (numa_section.cpp)
// then configures every MmNuma of a host with the sysctls and, when balancing is on, registers
// the scanner as the mm's task work. Everything runs in the faulting or scanning task's
// context: nothing here is a separate thread, exactly as in the kernel.
//
// What the model cannot see is kept apart: counters that compare with ground truth (samples
// lost to uffd's PROT_NONE) read the truth word, never decide anything with it.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/kernel/mechanism.hpp"
#include "models/mm/address_space.hpp"

namespace vmemsim::numa {

using core::TimeNs;

// kernel.numa_balancing (include/linux/sched/sysctl.h).
constexpr unsigned kNormal = 0x1;          // NUMA_BALANCING_NORMAL
constexpr unsigned kMemoryTiering = 0x2;   // NUMA_BALANCING_MEMORY_TIERING

// task_numa_fault() flags (include/linux/sched/numa_balancing.h).
constexpr int TNF_MIGRATED = 0x01;
constexpr int TNF_NO_GROUP = 0x02;
constexpr int TNF_SHARED = 0x04;
constexpr int TNF_FAULT_LOCAL = 0x08;
constexpr int TNF_MIGRATE_FAIL = 0x10;

// enum numa_vmaskip_reason, with NUMAB_SKIP_UFFD_MINOR of rfc-v1 07/12.
enum class VmaSkip : std::uint8_t {
  Unsuitable, SharedRo, Inaccessible, ScanDelay, PidInactive, IgnorePid, SeqCompleted, UffdMinor, kCount
};
const char* vma_skip_name(VmaSkip r);

struct NumaConfig {
  unsigned mode = 0;                     // kernel.numa_balancing bitmask
  TimeNs scan_delay_ms = 1000;           // debugfs sched/numa_balancing/scan_delay_ms
  TimeNs scan_period_min_ms = 1000;      // scan_period_min_ms
  TimeNs scan_period_max_ms = 60000;     // scan_period_max_ms
  std::uint64_t scan_size_mb = 256;      // scan_size_mb
  TimeNs hot_threshold_ms = 1000;        // hot_threshold_ms (tiering)
  std::uint64_t promote_rate_limit_mbps = 65536;  // kernel.numa_balancing_promote_rate_limit_MBps
  TimeNs tick_ns = 4'000'000;            // TICK_NSEC (CONFIG_HZ=250, Debian's)
  // Costs (ns), each a knob of the section.
  TimeNs pte_walk_ns = 3;        // change_pte_range(): one PTE looked at
  TimeNs pte_update_ns = 20;     // ptep_modify_prot_start/commit of one PTE
  TimeNs tlb_flush_ns = 2000;    // tlb_finish_mmu() flush of a changed chunk, initiator side
  TimeNs migrate_ns = 2500;      // isolate, unmap, copy 4 KiB, remap, putback (beyond the fault)
  TimeNs placement_ns = 2000;    // task_numa_migrate(): evaluating the candidate CPUs
};

class MmNuma;

// update_task_scan_period()'s rule (kernel/sched/fair.c) as a pure function: the next scan
// period (ms) from the current one, the task's locality counts {remote, local, failed
// migrations} and its shared and private faults of the pass, within [smin, smax]. `slowed` is
// set when it doubled (no local and no shared faults, or a failed migration), in which case
// the caller also pushes out mm->numa_next_scan.
TimeNs next_scan_period(TimeNs period, const std::array<std::uint64_t, 3>& locality, std::uint64_t shared,
                        std::uint64_t priv, TimeNs smin, TimeNs smax, bool& slowed);

// What is shared by the mms of one host: the node topology, the per-node (pgdat) promotion
// state of memory tiering, and the scheduler model under which tasks move between nodes.
//
// Scheduler model (documented simplification of task_numa_migrate/task_numa_find_cpu/
// task_numa_compare): every vCPU thread is always runnable, so a node's load is the number of
// vCPU threads placed on it; a node with fewer threads than cores has an idle CPU, and a move
// there is allowed (task_numa_find_cpu's "dst has spare capacity" case); otherwise a swap with a
// thread on the destination is allowed when the combined improvement in NUMA weights (per-mille
// of faults, task_weight()/group_weight()) is at least SMALLIMP (30) after task_numa_compare's
// adjustments. The general load balancer is not modelled: tasks move only through NUMA placement.
class HostNuma {
 public:
  HostNuma(const mm::HostMemory& mem, std::vector<unsigned> node_cores, std::vector<std::vector<TimeNs>> latency);
  NumaConfig cfg;
  unsigned nodes() const { return static_cast<unsigned>(cores_.size()); }
  // node_is_toptier(): with a CPU-less memory node present, the nodes with CPUs form the top
  // tier (memory tiers built from node type); without one every node is top tier.
  bool toptier(unsigned n) const { return !tiered_ || cores_[n] > 0; }
  unsigned cores(unsigned n) const { return cores_[n]; }
  TimeNs latency(unsigned cpu, unsigned mem) const { return latency_[cpu][mem]; }
  const mm::HostMemory& memory() const { return mem_; }
  // Threads placed on node n, over every mm of the host.
  unsigned running(unsigned n) const;

  // Memory tiering, per destination node (pglist_data's nbp_* fields).
  bool free_space_enough(unsigned n) const;  // pgdat_free_space_enough()
  bool promotion_rate_limit(unsigned n, TimeNs now, std::uint64_t rate_limit_pages);  // numa_promotion_rate_limit()
  void promotion_adjust_threshold(unsigned n, TimeNs now, std::uint64_t rate_limit_pages, TimeNs ref_th_ms);
  TimeNs threshold_ms(unsigned n, TimeNs def_th) const { return pg_[n].nbp_threshold ? pg_[n].nbp_threshold : def_th; }
  // wakeup_kswapd() from migrate_misplaced_folio_prepare() in tiering mode: the demotion seam,
  // for the reclaim mechanism to subscribe to.
  void kswapd_wakeup(unsigned n);
  void on_kswapd_wakeup(std::function<void(unsigned)> fn) { kswapd_listeners_.push_back(std::move(fn)); }
  std::uint64_t kswapd_wakeups(unsigned n) const { return pg_[n].kswapd_wakeups; }
  std::uint64_t promote_candidates(unsigned n) const { return pg_[n].candidates; }

  void add_mm(MmNuma* m) { mms_.push_back(m); }
  const std::vector<MmNuma*>& mms() const { return mms_; }

 private:
  struct Pgdat {
    std::uint64_t candidates = 0;  // PGPROMOTE_CANDIDATE
    TimeNs nbp_rl_start = 0;       // ms
    std::uint64_t nbp_rl_nr_cand = 0;
    TimeNs nbp_th_start = 0;       // ms
    std::uint64_t nbp_th_nr_cand = 0;
    TimeNs nbp_threshold = 0;      // ms, 0 = the default
    std::uint64_t kswapd_wakeups = 0;
  };
  const mm::HostMemory& mem_;
  std::vector<unsigned> cores_;
  std::vector<std::vector<TimeNs>> latency_;
  bool tiered_ = false;
  std::vector<Pgdat> pg_;
  std::vector<MmNuma*> mms_;
  std::vector<std::function<void(unsigned)>> kswapd_listeners_;
};

class MmNuma final : public mm::FaultHandler, public kernel::VmMechanism {
 public:
  explicit MmNuma(mm::AddressSpace& as);
  // The `kernel.numa` section: joins the host and, when balancing is on, registers the scanner.
  void configure(std::shared_ptr<HostNuma> host);
  bool enabled() const { return host_ && host_->cfg.mode != 0; }

  // do_numa_page() (mm/memory.c): the FaultHandler for FaultClass::ProtNoneNuma.
  std::optional<mm::FaultOutcome> handle(mm::AddressSpace& as, const mm::Fault& f) override;
  // task_tick_numa() + task_numa_work(): the mm's task work, run by task `t` at `now`.
  TimeNs task_work(unsigned t, TimeNs now);
  // task_numa_work() itself (public for tests): one scan window; returns its CPU time.
  TimeNs task_numa_work(unsigned t, TimeNs now);

  // ---- VmMechanism ----
  const char* name() const override { return "numa"; }
  core::Json summary() const override;
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;

  // ---- state, for the placement model, tests and metrics ----
  struct TaskNuma {
    TimeNs node_stamp = 0;           // runtime ns
    TimeNs next_tick = 0;            // runtime ns at which the next scheduler tick falls
    TimeNs scan_period = 0;          // ms
    TimeNs scan_period_max = 0;      // ms
    std::uint64_t scan_seq = 0;      // p->numa_scan_seq
    int preferred_nid = -1;
    std::vector<std::uint64_t> faults;  // [stat][node][priv], NR_NUMA_HINT_FAULT_BUCKETS
    bool has_faults = false;         // p->numa_faults allocated
    std::uint64_t total_faults = 0;
    std::array<std::uint64_t, 3> locality{};  // remote, local, failed migrations
    TimeNs migrate_retry = 0;        // ns
    TimeNs last_placement = 0;       // ns (se.exec_start at the last placement)
    TimeNs last_sum_exec_runtime = 0;
    std::uint64_t pages_migrated = 0;
    int group = -1;                  // index into groups_
    std::uint64_t scans = 0;         // task_numa_work() runs that scanned
    std::uint64_t node_moves = 0, swaps = 0;
  };
  struct Group {
    unsigned nr_tasks = 0;
    std::vector<std::uint64_t> faults;  // [NUMA_MEM, NUMA_CPU][node][priv]
    std::uint64_t total_faults = 0;
    unsigned active_nodes = 1;
    std::uint64_t max_faults_cpu = 0;
  };
  const TaskNuma& task(unsigned t) const { return tasks_[t]; }
  unsigned task_count() const { return static_cast<unsigned>(tasks_.size()); }
  std::uint64_t scan_seq() const { return numa_scan_seq_; }
  TimeNs next_scan() const { return numa_next_scan_; }
  std::uint64_t scan_offset() const { return numa_scan_offset_; }
  mm::AddressSpace& as() { return as_; }
  const mm::AddressSpace& as() const { return as_; }
  // A task_numa_fault() fed by another fault path (AddressSpace::task_numa_fault listeners).
  void fed_fault(const mm::NumaFaultInfo& i);
  // init_numa_balancing() for threads the mm gained since configure() (clones).
  void ensure_tasks();
  // task_weight()/group_weight() (per-mille of the task's / group's faults on node n).
  long task_weight(unsigned t, unsigned n) const;
  long group_weight(unsigned t, unsigned n) const;
  int group_of(unsigned t) const { return tasks_[t].group; }
  // The scheduler moved task t (migrate_task_rq_fair -> update_scan_period()).
  void task_moved(unsigned t, unsigned from, unsigned to);
  // Page state (folio last_cpupid / access time), for tests.
  std::uint32_t last_cpupid(mm::Gfn g) const;

  struct Counters {
    // /proc/vmstat names
    std::uint64_t numa_pte_updates = 0, numa_hint_faults = 0, numa_hint_faults_local = 0, numa_pages_migrated = 0;
    std::uint64_t pgpromote_success = 0, pgpromote_candidate = 0, pgmigrate_fail = 0;
    std::uint64_t numa_task_migrated = 0, numa_task_swapped = 0;
    // model detail
    std::uint64_t task_numa_work_runs = 0, scan_windows = 0, tlb_flushes = 0, ptes_walked = 0;
    std::uint64_t migrate_fail_watermark = 0, migrate_fail_nomem = 0, migrate_fail_busy = 0;
    std::uint64_t promote_rate_limited = 0, promote_too_cold = 0;
    std::uint64_t task_numa_fault_calls = 0, task_numa_fault_fed = 0;  // fed: from the uffd path
    std::uint64_t placement_runs = 0, preferred_changes = 0, scan_period_changes = 0;
    std::array<std::uint64_t, static_cast<std::size_t>(VmaSkip::kCount)> vma_skips{};
    // ground-truth comparisons (metrics only)
    std::uint64_t samples_lost_uffd_protnone = 0;  // scan found a PROT_NONE uffd had set
  };
  const Counters& stats() const { return c_; }

 private:
  // Per page: folio_last_cpupid() (or the access time of a slow-tier folio) and the pfn it
  // belongs to, so that a frame reallocated for the page reads as new (page_cpupid_reset_last).
  struct PageNuma {
    std::uint32_t cpupid;
    std::uint32_t pfn;
  };
  static constexpr std::uint32_t kCpupidUnset = 0xffffu;  // pid bits all ones: cpupid_pid_unset()
  std::uint32_t cpupid_of(mm::Gfn g, std::uint32_t pfn) const;
  void set_cpupid(mm::Gfn g, std::uint32_t pfn, std::uint32_t v) { pages_[g.v] = {v, pfn}; }
  std::uint32_t make_cpupid(unsigned t) const;

  unsigned nr_nodes() const { return host_->nodes(); }
  std::size_t fidx(unsigned stat, unsigned nid, unsigned priv) const { return 2 * (stat * nr_nodes() + nid) + priv; }
  std::uint64_t task_faults(unsigned t, unsigned nid) const;
  std::uint64_t group_faults(unsigned t, unsigned nid) const;
  std::uint64_t group_faults_cpu(const Group& g, unsigned nid) const;

  // fair.c helpers
  unsigned task_nr_scan_windows() const;
  TimeNs task_scan_min() const;
  TimeNs task_scan_start(unsigned t) const;
  TimeNs task_scan_max(unsigned t) const;
  void task_tick_numa(unsigned t, TimeNs now, bool& queue_work);
  bool vma_is_accessed(unsigned t);
  std::uint64_t change_prot_numa(unsigned t, std::uint64_t start, std::uint64_t end, TimeNs now, TimeNs& cost);
  bool folio_can_map_prot_numa(mm::Pte p, unsigned scan_node, bool single_threaded_private, TimeNs now, mm::Gfn g);
  int mpol_misplaced(unsigned t, mm::Gfn g, unsigned curnid, unsigned thisnid, TimeNs now);
  bool should_numa_migrate_memory(unsigned t, mm::Gfn g, std::uint32_t pfn, unsigned src_nid, unsigned dst_nid,
                                  TimeNs now);
  void task_numa_fault(unsigned t, std::uint32_t last_cpupid, unsigned mem_node, int flags, TimeNs now);
  void task_numa_group(unsigned t, std::uint32_t cpupid, int flags, int& priv);
  void task_numa_placement(unsigned t, TimeNs now);
  void update_task_scan_period(unsigned t, std::uint64_t shared, std::uint64_t priv, TimeNs now);
  void numa_migrate_preferred(unsigned t, TimeNs now);
  bool task_numa_migrate(unsigned t, TimeNs now);
  void count_active_nodes(Group& g) const;

  mm::AddressSpace& as_;
  std::shared_ptr<HostNuma> host_;
  mm::FaultKind kind_;
  core::FlatArray<PageNuma> pages_;
  std::vector<TaskNuma> tasks_;
  std::vector<Group> groups_;
  // mm_struct fields
  TimeNs numa_next_scan_ = 0;  // ns
  std::uint64_t numa_scan_seq_ = 0;
  std::uint64_t numa_scan_offset_ = 0;  // gfn
  // the guest-memory VMA's vma_numab_state
  struct Numab {
    bool init = false;
    std::uint64_t start_scan_seq = 0, prev_scan_seq = 0;
    TimeNs next_scan = 0, pids_active_reset = 0;
    std::array<std::uint64_t, 2> pids_active{};
  } numab_;
  Counters c_;
};

// Installs do_numa_page() for the VM (the numa_hint fault mechanism): an MmNuma in the VM's
// mechanisms, its handler for FaultClass::ProtNoneNuma, and its task_numa_fault() listener for
// the faults other paths feed (the rfc-v1 uffd minor path).
MmNuma* install_numa(mm::AddressSpace& as, std::vector<std::unique_ptr<kernel::VmMechanism>>& mechanisms);

}  // namespace vmemsim::numa
