#include "models/numa/balancer.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace vmemsim::numa {

namespace pte = mm::pte;
using mm::Gfn;
using mm::Pte;

namespace {
constexpr TimeNs kMs = 1'000'000;
constexpr std::uint64_t kHpagePages = 512;  // HPAGE_SIZE / PAGE_SIZE on x86-64
constexpr unsigned kPeriodSlots = 10;       // NUMA_PERIOD_SLOTS
constexpr int kPeriodThreshold = 7;         // NUMA_PERIOD_THRESHOLD
constexpr unsigned kMaxScanWindow = 2560;   // MAX_SCAN_WINDOW (MB/s)
constexpr std::uint64_t kActiveNodeFraction = 3;  // ACTIVE_NODE_FRACTION
constexpr long kSmallImp = 30;              // SMALLIMP
enum Stat : unsigned { NUMA_MEM = 0, NUMA_CPU = 1, NUMA_MEMBUF = 2, NUMA_CPUBUF = 3 };

// hash_32(val, bits) of include/linux/hash.h (GOLDEN_RATIO_32), as vma_set_access_pid_bit()
// and vma_is_accessed() hash a pid into a bit of pids_active.
unsigned pid_bit(std::uint32_t pid) { return (pid * 0x61C88647u) >> (32 - 6); }
}  // namespace

const char* vma_skip_name(VmaSkip r) {
  // The trace strings of NUMAB_SKIP_REASON (include/trace/events/sched.h), + rfc-v1 07/12.
  switch (r) {
    case VmaSkip::Unsuitable: return "unsuitable";
    case VmaSkip::SharedRo: return "shared_ro";
    case VmaSkip::Inaccessible: return "inaccessible";
    case VmaSkip::ScanDelay: return "scan_delay";
    case VmaSkip::PidInactive: return "pid_inactive";
    case VmaSkip::IgnorePid: return "ignore_pid_inactive";
    case VmaSkip::SeqCompleted: return "seq_completed";
    case VmaSkip::UffdMinor: return "uffd_minor";
    case VmaSkip::kCount: break;
  }
  return "?";
}

// =============================================================================================
// HostNuma

HostNuma::HostNuma(const mm::HostMemory& mem, std::vector<unsigned> node_cores, std::vector<std::vector<TimeNs>> latency)
    : mem_(mem), cores_(std::move(node_cores)), latency_(std::move(latency)), pg_(cores_.size()) {
  for (unsigned n = 0; n < cores_.size(); ++n)
    if (cores_[n] == 0 && mem_.capacity(n) > 0) tiered_ = true;
}

unsigned HostNuma::running(unsigned n) const {
  unsigned r = 0;
  for (const MmNuma* m : mms_)
    for (unsigned t = 0; t < m->task_count(); ++t) r += m->as().task(t).next_node.v == n;
  return r;
}

// pgdat_free_space_enough(): free pages above the promotion watermark plus
// max(1 GiB, node size / 16).
bool HostNuma::free_space_enough(unsigned n) const {
  const std::uint64_t enough = std::max<std::uint64_t>((1ull << 30) / core::kPageSize, mem_.capacity(n) >> 4);
  return mem_.free_frames(n) > mem_.watermarks(n).promo + enough;
}

// numa_promotion_rate_limit(): at most rate_limit candidate pages per 1 s window.
bool HostNuma::promotion_rate_limit(unsigned n, TimeNs now, std::uint64_t rate_limit) {
  Pgdat& p = pg_[n];
  const TimeNs now_ms = now / kMs;
  p.candidates += 1;
  if (now_ms - p.nbp_rl_start > 1000) {
    p.nbp_rl_start = now_ms;
    p.nbp_rl_nr_cand = p.candidates;
  }
  return p.candidates - p.nbp_rl_nr_cand >= rate_limit;
}

// numa_promotion_adjust_threshold(): once per scan_period_max, move the hot threshold by
// 2 * ref / NUMA_MIGRATION_ADJUST_STEPS (16) so candidates match the rate limit within +-10%.
void HostNuma::promotion_adjust_threshold(unsigned n, TimeNs now, std::uint64_t rate_limit, TimeNs ref_th) {
  Pgdat& p = pg_[n];
  const TimeNs now_ms = now / kMs;
  const TimeNs th_period = cfg.scan_period_max_ms;
  if (now_ms - p.nbp_th_start > th_period) {
    p.nbp_th_start = now_ms;
    const std::uint64_t ref_cand = rate_limit * static_cast<std::uint64_t>(th_period) / 1000;
    const std::uint64_t diff = p.candidates - p.nbp_th_nr_cand;
    const TimeNs unit = ref_th * 2 / 16;
    TimeNs th = p.nbp_threshold ? p.nbp_threshold : ref_th;
    if (diff > ref_cand * 11 / 10) th = std::max(th - unit, unit);
    else if (diff < ref_cand * 9 / 10) th = std::min(th + unit, ref_th * 2);
    p.nbp_th_nr_cand = p.candidates;
    p.nbp_threshold = th;
  }
}

void HostNuma::kswapd_wakeup(unsigned n) {
  ++pg_[n].kswapd_wakeups;
  for (auto& fn : kswapd_listeners_) fn(n);
}

// =============================================================================================
// MmNuma: construction, task work

MmNuma::MmNuma(mm::AddressSpace& as) : as_(as), kind_(as.router().add_kind("numa_hint")) {}

void MmNuma::configure(std::shared_ptr<HostNuma> host) {
  host_ = std::move(host);
  host_->add_mm(this);
  if (host_->cfg.mode == 0) return;
  pages_ = core::FlatArray<PageNuma>(as_.pages());
  for (std::uint64_t i = 0; i < as_.pages(); ++i) pages_[i] = {kCpupidUnset, 0};
  const NumaConfig& c = host_->cfg;
  // init_numa_balancing(): the VMM's main thread creates the mm (mm_users == 1: numa_next_scan
  // = now + scan_delay), then clones one thread per vCPU. A clone keeps scan_period = scan_delay
  // and staggers its first scan with node_stamp = min(task_scan_max(parent),
  // parent period * mm_users * NSEC_PER_MSEC) + 2 ticks -- a ms value compared with ns, so the
  // stagger is task_scan_max's value in ns.
  numa_next_scan_ = c.scan_delay_ms * kMs;
  ensure_tasks();
  as_.add_task_work([this](unsigned t, TimeNs now) { return task_work(t, now); });
}

void MmNuma::ensure_tasks() {
  const NumaConfig& c = host_->cfg;
  for (unsigned t = static_cast<unsigned>(tasks_.size()); t < as_.task_count(); ++t) {
    TaskNuma p;
    p.scan_period = c.scan_delay_ms;
    p.faults.assign(4 * 2 * nr_nodes(), 0);
    const TimeNs parent_max = std::max(c.scan_period_min_ms, c.scan_period_max_ms);  // RSS 0: one window
    p.node_stamp = std::min<TimeNs>(parent_max, c.scan_delay_ms * (t + 2) * kMs) + 2 * c.tick_ns;
    p.next_tick = c.tick_ns;
    p.scan_seq = numa_scan_seq_;  // p->numa_scan_seq = mm->numa_scan_seq
    tasks_.push_back(std::move(p));
  }
}

std::uint32_t MmNuma::make_cpupid(unsigned t) const {
  // cpu_pid_to_cpupid(): the CPU (here its node: cpupid_to_nid() is all that is read) and the
  // low LAST__PID_SHIFT (8) bits of the pid.
  return (static_cast<std::uint32_t>(as_.task(t).cpu_node.v) << 8) | (as_.task(t).pid & 0xff);
}

std::uint32_t MmNuma::cpupid_of(Gfn g, std::uint32_t pfn) const {
  if (pages_.size() == 0) return kCpupidUnset;
  const PageNuma& p = pages_[g.v];
  return p.pfn == pfn ? p.cpupid : kCpupidUnset;  // a new folio: page_cpupid_reset_last()
}

std::uint32_t MmNuma::last_cpupid(Gfn g) const {
  const Pte p = as_.pte_at(g);
  return pte::present(p) ? cpupid_of(g, pte::pfn(p)) : kCpupidUnset;
}

namespace {
bool cpupid_pid_unset(std::uint32_t c) { return (c & 0xff) == 0xff; }
bool cpupid_valid(std::uint32_t c) { return c != 0xffffu; }
unsigned cpupid_to_nid(std::uint32_t c) { return (c >> 8) & 0xff; }
}  // namespace

// task_nr_scan_windows(): RSS in scan_size windows (at least one). get_mm_rss() counts mapped
// pages (AddressSpace::rss_pages()), a KSM page in every sharer, not the frames the VM owns.
unsigned MmNuma::task_nr_scan_windows() const {
  const std::uint64_t nr_scan_pages = host_->cfg.scan_size_mb << (20 - 12);
  std::uint64_t rss = as_.rss_pages();
  if (!rss) rss = nr_scan_pages;
  rss = (rss + nr_scan_pages - 1) / nr_scan_pages * nr_scan_pages;
  return static_cast<unsigned>(rss / nr_scan_pages);
}

// task_scan_min(): scan_period_min / windows, floored so that at most MAX_SCAN_WINDOW MB/s is
// scanned (100 ms with the default 256 MB scan size).
TimeNs MmNuma::task_scan_min() const {
  const auto scan_size = static_cast<unsigned>(host_->cfg.scan_size_mb);
  unsigned windows = 1;
  if (scan_size < kMaxScanWindow) windows = kMaxScanWindow / std::max(1u, scan_size);
  const TimeNs floor = 1000 / windows;
  const TimeNs scan = host_->cfg.scan_period_min_ms / task_nr_scan_windows();
  return std::max(floor, scan);
}

TimeNs MmNuma::task_scan_start(unsigned t) const {
  const TimeNs smin = task_scan_min();
  TimeNs period = smin;
  if (tasks_[t].group >= 0) {
    const Group& g = groups_[tasks_[t].group];
    std::uint64_t shared = 0, priv = 0;
    for (unsigned n = 0; n < nr_nodes(); ++n) {
      shared += g.faults[fidx(NUMA_MEM, n, 0)];
      priv += g.faults[fidx(NUMA_MEM, n, 1)];
    }
    period = static_cast<TimeNs>(static_cast<std::uint64_t>(period) * g.nr_tasks * (shared + 1) / (priv + shared + 1));
  }
  return std::max(smin, period);
}

TimeNs MmNuma::task_scan_max(unsigned t) const {
  const TimeNs smin = task_scan_min();
  TimeNs smax = host_->cfg.scan_period_max_ms / task_nr_scan_windows();
  if (tasks_[t].group >= 0) {
    const Group& g = groups_[tasks_[t].group];
    std::uint64_t shared = 0, priv = 0;
    for (unsigned n = 0; n < nr_nodes(); ++n) {
      shared += g.faults[fidx(NUMA_MEM, n, 0)];
      priv += g.faults[fidx(NUMA_MEM, n, 1)];
    }
    const auto period = static_cast<TimeNs>(static_cast<std::uint64_t>(smax) * g.nr_tasks * (shared + 1) / (priv + shared + 1));
    smax = std::max(smax, period);
  }
  return std::max(smin, smax);
}

// task_tick_numa(): driven by the task's own runtime; queues task_numa_work when the task's
// period has elapsed and the mm's window is open.
void MmNuma::task_tick_numa(unsigned t, TimeNs now, bool& queue_work) {
  TaskNuma& p = tasks_[t];
  const TimeNs runtime = as_.task(t).runtime_ns;
  const TimeNs period = p.scan_period * kMs;
  if (runtime > p.node_stamp + period) {
    if (!p.node_stamp) p.scan_period = task_scan_start(t);
    p.node_stamp += period;
    if (now >= numa_next_scan_) queue_work = true;
  }
}

TimeNs MmNuma::task_work(unsigned t, TimeNs now) {
  if (!enabled()) return 0;
  if (t >= tasks_.size()) ensure_tasks();  // a thread created after configure() (clone)
  TaskNuma& p = tasks_[t];
  // scheduler_tick() runs every TICK_NSEC while the task runs: evaluate task_tick_numa() once
  // per tick of the task's runtime (the vCPU calls in at every quantum).
  const TimeNs runtime = as_.task(t).runtime_ns;
  if (runtime < p.next_tick) return 0;
  p.next_tick = (runtime / host_->cfg.tick_ns + 1) * host_->cfg.tick_ns;
  bool queue = false;
  task_tick_numa(t, now, queue);
  if (!queue) return 0;
  // TWA_RESUME: runs on the way back to user (guest) mode, in the task's context.
  const TimeNs cost = task_numa_work(t, now);
  if (cost > 0) as_.trace("task_numa_work", t, now, now + cost);
  // node_stamp += 32 * diff: scanning limited to ~3% of the task's CPU time.
  p.node_stamp += 32 * cost;
  return cost;
}

// =============================================================================================
// task_numa_work() and change_prot_numa()

bool MmNuma::vma_is_accessed(unsigned t) {
  if (numa_scan_seq_ - numab_.start_scan_seq < 2) return true;
  const std::uint64_t pids = numab_.pids_active[0] | numab_.pids_active[1];
  if (pids & (1ull << pid_bit(as_.task(t).pid))) return true;
  if (numa_scan_offset_ > 0) {
    c_.vma_skips[static_cast<std::size_t>(VmaSkip::IgnorePid)]++;  // traced, then scanned
    return true;
  }
  return numa_scan_seq_ > numab_.prev_scan_seq + as_.mm_users();  // get_nr_threads()
}

TimeNs MmNuma::task_numa_work(unsigned t, TimeNs now) {
  const NumaConfig& cfg = host_->cfg;
  TaskNuma& p = tasks_[t];
  ++c_.task_numa_work_runs;
  if (now < numa_next_scan_) return 0;  // enforce the maximal scan frequency
  if (p.scan_period == 0) {
    p.scan_period_max = task_scan_max(t);
    p.scan_period = task_scan_start(t);
  }
  numa_next_scan_ = now + p.scan_period * kMs;  // this task wins the window (try_cmpxchg)
  p.node_stamp += 2 * cfg.tick_ns;              // let another thread win next time
  ++c_.scan_windows;
  ++p.scans;

  std::int64_t pages = static_cast<std::int64_t>(cfg.scan_size_mb << (20 - 12));
  std::int64_t virtpages = pages * 8;
  if (!pages) return 0;
  TimeNs cost = 0;
  const std::uint64_t vm_end = as_.pages();
  auto skip = [&](VmaSkip r) { ++c_.vma_skips[static_cast<std::size_t>(r)]; };

  bool pids_skipped = false, pids_forced = false;
  std::uint64_t start = 0;
  bool vma = false;  // whether the walk stopped inside the guest-memory VMA
retry_pids:
  start = numa_scan_offset_;
  if (start >= vm_end) {  // vma_next() found nothing after the offset: a pass is complete
    ++numa_scan_seq_;     // reset_ptenuma_scan()
    numa_scan_offset_ = 0;
    start = 0;
  }
  vma = false;
  do {  // the mm has one VMA the balancer looks at: guest memory
    // vma_migratable() && vma_policy_mof(): an explicit mbind() policy has no MPOL_F_MOF.
    if (as_.config().placement != mm::Placement::Local) { skip(VmaSkip::Unsuitable); break; }
    // task_numa_work(): is_vm_hugetlb_page() VMAs are skipped (hugetlb pages are not migrated
    // by NUMA hinting faults).
    if (as_.config().backing == mm::Backing::Hugetlb) { skip(VmaSkip::Unsuitable); break; }
    // rfc-v1 07/12: anonymous VM_UFFD_MINOR VMAs are left to userfaultfd.
    if (as_.caps().numab_skip_uffd_minor && as_.config().patches.numab_skip_uffd_minor && as_.anon() &&
        as_.uffd_vma().minor) {
      skip(VmaSkip::UffdMinor);
      break;
    }
    if (!numab_.init) {
      numab_.init = true;
      numab_.start_scan_seq = numa_scan_seq_;
      numab_.next_scan = now + cfg.scan_delay_ms * kMs;
      numab_.pids_active_reset = numab_.next_scan + 4 * cfg.scan_delay_ms * kMs;  // VMA_PID_RESET_PERIOD
      numab_.prev_scan_seq = numa_scan_seq_ - 1;
    }
    if (numa_scan_seq_ && now < numab_.next_scan) { skip(VmaSkip::ScanDelay); break; }
    if (numa_scan_seq_ && now > numab_.pids_active_reset) {
      numab_.pids_active_reset += 4 * cfg.scan_delay_ms * kMs;
      numab_.pids_active[0] = numab_.pids_active[1];
      numab_.pids_active[1] = 0;
    }
    if (numab_.prev_scan_seq == numa_scan_seq_) {
      numa_scan_offset_ = vm_end;
      skip(VmaSkip::SeqCompleted);
      break;
    }
    if (!pids_forced && !vma_is_accessed(t)) {
      pids_skipped = true;
      skip(VmaSkip::PidInactive);
      break;
    }
    std::uint64_t end = 0;
    do {
      // The chunk ends on a 2 MiB boundary `pages` ahead; the budget is charged a whole chunk
      // when any PTE in it changed, and the virtual-range budget always.
      end = (start + static_cast<std::uint64_t>(pages) + kHpagePages - 1) / kHpagePages * kHpagePages;
      end = std::min(end, vm_end);
      const std::uint64_t nr = change_prot_numa(t, start, end, now, cost);
      if (nr) pages -= static_cast<std::int64_t>(end - start);
      virtpages -= static_cast<std::int64_t>(end - start);
      start = end;
      if (pages <= 0 || virtpages <= 0) {
        vma = true;
        goto out;
      }
    } while (end != vm_end);
    numab_.prev_scan_seq = numa_scan_seq_;  // VMA scan complete for this sequence
  } while (false);
  if (!pids_forced && pids_skipped) {
    pids_forced = true;
    goto retry_pids;
  }
out:
  if (vma) {
    numa_scan_offset_ = start;
  } else {
    ++numa_scan_seq_;  // reset_ptenuma_scan()
    numa_scan_offset_ = 0;
  }
  return cost;
}

// folio_can_map_prot_numa() (mm/mempolicy.c) for a present, not yet PROT_NONE PTE.
bool MmNuma::folio_can_map_prot_numa(Pte p, unsigned scan_node, bool single_threaded_private, TimeNs now, Gfn g) {
  if (pte::zero_page(p)) return false;  // vm_normal_page() == NULL
  const core::Pfn pfn(pte::pfn(p));
  const mm::Frame& f = as_.host().frame(pfn);
  // KSM folios (folio_test_ksm, even with one mapper left), and shared copy-on-write folios
  // (folio_maybe_mapped_shared) in private mappings.
  if (as_.host().is_ksm(pfn)) return false;
  if (f.mapcount > 1 && as_.anon()) return false;
  // Pinned folios can't be migrated (folio_maybe_dma_pinned): references beyond the mappings
  // (and the page cache's).
  if (f.refcount > f.mapcount + (as_.anon() ? 0 : 1)) return false;
  const unsigned nid = pte::node(p);
  if (single_threaded_private && nid == scan_node) return false;
  // Skip scanning top-tier nodes if normal NUMA balancing is off (tiering only).
  if (!(host_->cfg.mode & kNormal) && host_->toptier(nid)) return false;
  // folio_use_access_time(): a slow-tier folio in tiering mode records the scan time.
  if ((host_->cfg.mode & kMemoryTiering) && !host_->toptier(nid))
    set_cpupid(g, pfn.v, static_cast<std::uint32_t>(now / kMs) & kAccessTimeMask);
  return true;
}

// change_prot_numa() -> change_protection(MM_CP_PROT_NUMA) -> change_pte_range().
std::uint64_t MmNuma::change_prot_numa(unsigned t, std::uint64_t start, std::uint64_t end, TimeNs now, TimeNs& cost) {
  const NumaConfig& cfg = host_->cfg;
  const unsigned scan_node = as_.task(t).cpu_node.v;
  // vma_is_single_threaded_private(): a private mapping whose mm has one user (the VMM's own
  // threads count: a 1-vCPU QEMU has a main loop thread too).
  const bool single = as_.anon() && as_.mm_users() == 1;
  std::uint64_t updated = 0;
  mm::PageTable& pt = as_.page_table();
  if (end > start) as_.huge_range(Gfn(start), end - start, mm::RangeOp::Protect);  // change_pmd_range()
  for (std::uint64_t i = start; i < end; ++i) {
    const Gfn g(i);
    const Pte p = pt.pte(g);
    if (!pte::present(p)) continue;  // none, swap entries and markers are not touched
    if (pte::protnone(p)) {
      // Already PROT_NONE: no new sample. When uffd set it (rfc-v1 DEACTIVATE, RWP), the
      // hinting fault NUMA would have taken is lost to it (ground truth, metrics only).
      if (as_.truth().pn_origin(g) == mm::PnOrigin::Uffd) ++c_.samples_lost_uffd_protnone;
      continue;
    }
    if (!folio_can_map_prot_numa(p, scan_node, single, now, g)) continue;
    // pte_modify(PAGE_NONE) keeps the pfn, A, D and the uffd-wp bit (_PAGE_CHG_MASK on x86).
    pt.protnone(g, false, mm::PnOrigin::Numa);
    ++updated;
  }
  c_.ptes_walked += end - start;
  cost += static_cast<TimeNs>(end - start) * cfg.pte_walk_ns + static_cast<TimeNs>(updated) * cfg.pte_update_ns;
  if (updated) {
    // tlb_finish_mmu(): one flush for the chunk; every other vCPU of the VM takes an IPI.
    as_.tlb_flush();
    ++c_.tlb_flushes;
    cost += cfg.tlb_flush_ns;
    c_.numa_pte_updates += updated;
  }
  return updated;
}

// =============================================================================================
// do_numa_page() and the migration decision

std::optional<mm::FaultOutcome> MmNuma::handle(mm::AddressSpace& as, const mm::Fault& f) {
  const Pte p = f.pte;
  TimeNs cost = as.config().costs.minor_fault_ns;
  const unsigned t = f.vcpu;
  const unsigned thisnid = f.cpu_node.v;
  mm::PageTable& pt = as.page_table();
  if (pte::zero_page(p)) {
    // No folio (vm_normal_folio() is NULL): restore; nid stays NUMA_NO_NODE, so no
    // task_numa_fault().
    pt.restore(f.gfn, false, true);
    return as.count(kind_, cost);
  }
  if (!host_ || t >= tasks_.size()) {
    // No balancer state (a VM built without the kernel.numa section, unit tests), or a thread
    // that is not a vCPU (the VMM's own accesses): restore.
    pt.restore(f.gfn, true, true);
    as.task_numa_fault({f.gfn, f.vcpu, core::NodeId(static_cast<std::uint16_t>(pte::node(p))), f.cpu_node, false, f.now});
    return as.count(kind_, cost);
  }
  const core::Pfn pfn(pte::pfn(p));
  const mm::Frame& fr = as.host().frame(pfn);
  // pte_modify(old, vm_page_prot) is writable for a shared mapping; a private anon page gets
  // write back only through can_change_pte_writable(): exclusive, and no uffd-wp bit.
  const bool writable = !pte::uffd(p) && (as.anon() ? fr.mapcount == 1 : (pte::dirty(p) || !as.uffd_vma().wp));
  unsigned nid = pte::node(p);
  int flags = 0;
  // numa_migrate_check()
  if (!writable) flags |= TNF_NO_GROUP;
  if (fr.mapcount > 1 && !as.anon()) flags |= TNF_SHARED;
  const bool use_access_time = (host_->cfg.mode & kMemoryTiering) && !host_->toptier(nid);
  const std::uint32_t last_cpupid = use_access_time ? kCpupidUnset : cpupid_of(f.gfn, pfn.v);
  // vma_set_access_pid_bit()
  if (numab_.init) numab_.pids_active[1] |= 1ull << pid_bit(as.task(t).pid);
  ++c_.numa_hint_faults;
  if (nid == thisnid) {
    ++c_.numa_hint_faults_local;
    flags |= TNF_FAULT_LOCAL;
  }
  const int target = mpol_misplaced(t, f.gfn, nid, thisnid, f.now);
  bool restore_writable = writable;
  if (target >= 0) {
    // migrate_misplaced_folio_prepare(): the target node must stay above its high watermark
    // (migrate_balanced_pgdat); in tiering mode a full target wakes kswapd to demote.
    const auto tn = static_cast<unsigned>(target);
    if (as.host().free_frames(tn) <= as.host().watermarks(tn).high + 1) {
      flags |= TNF_MIGRATE_FAIL;
      ++c_.migrate_fail_watermark;  // refused before migrate_pages(): no PGMIGRATE_FAIL
      if (host_->cfg.mode & kMemoryTiering) {
        host_->kswapd_wakeup(tn);
        as.host().wakeup_kswapd(tn, mm::HostMemory::KswapdWake::Promo);  // kernel.reclaim's kswapd demotes
      }
    } else {
      // ignore_writable: after a failed migration the PTE is rebuilt from vm_page_prot alone,
      // which is writable only for a shared mapping without write notification.
      restore_writable = !as.anon() && !as.uffd_vma().wp;
      const mm::MigrateResult r = as.migrate_page(f.gfn, core::NodeId(static_cast<std::uint16_t>(tn)));
      if (r == mm::MigrateResult::Migrated) {
        // folio_migrate_flags() carries last_cpupid to the new folio, except across tiers in
        // tiering mode, where the field switches meaning (access time <-> cpupid) and is reset.
        const Pte np = pt.pte(f.gfn);
        if (pages_.size()) {
          pages_[f.gfn.v].pfn = pte::pfn(np);
          if ((host_->cfg.mode & kMemoryTiering) && host_->toptier(nid) != host_->toptier(tn))
            pages_[f.gfn.v].cpupid = kCpupidUnset;
        }
        cost += host_->cfg.migrate_ns;
        as.trace("numa_migrate", t, f.now, f.now + cost);
        ++c_.numa_pages_migrated;
        if ((host_->cfg.mode & kMemoryTiering) && !host_->toptier(nid) && host_->toptier(tn)) ++c_.pgpromote_success;
        task_numa_fault(t, last_cpupid, tn, flags | TNF_MIGRATED, f.now);
        return as.count(kind_, cost);
      }
      flags |= TNF_MIGRATE_FAIL;
      ++c_.pgmigrate_fail;
      ++(r == mm::MigrateResult::NoMemory ? c_.migrate_fail_nomem : c_.migrate_fail_busy);
    }
  }
  // numa_rebuild_single_mapping(): pte_modify back to the VMA's protection, pte_mkyoung, and
  // pte_mkwrite when `writable`; pte_modify keeps a uffd-wp bit.
  pt.restore(f.gfn, restore_writable, true);
  if (restore_writable && !pte::uffd(pt.pte(f.gfn))) pt.mkwrite(f.gfn);
  task_numa_fault(t, last_cpupid, nid, flags, f.now);
  return as.count(kind_, cost);
}

// mpol_misplaced() with the task's default policy (preferred_node_policy[this node]:
// MPOL_PREFERRED | MPOL_F_MOF | MPOL_F_MORON): a folio already on the faulting CPU's node is
// fine as it is (should_numa_migrate_memory() is not even called); otherwise it moves toward
// the CPU if should_numa_migrate_memory() agrees. An explicit mbind() policy has no MOF.
int MmNuma::mpol_misplaced(unsigned t, Gfn g, unsigned curnid, unsigned thisnid, TimeNs now) {
  if (as_.config().placement != mm::Placement::Local) return -1;
  if (curnid == thisnid) return -1;
  // should_numa_migrate_memory(): a destination without memory (N_MEMORY) takes no folio.
  if (host_->memory().capacity(thisnid) == 0) return -1;
  const Pte p = as_.pte_at(g);
  if (!should_numa_migrate_memory(t, g, pte::pfn(p), curnid, thisnid, now)) return -1;
  return static_cast<int>(thisnid);
}

// should_numa_migrate_memory() (kernel/sched/fair.c).
bool MmNuma::should_numa_migrate_memory(unsigned t, Gfn g, std::uint32_t pfn, unsigned src_nid, unsigned dst_nid,
                                        TimeNs now) {
  const NumaConfig& cfg = host_->cfg;
  const TaskNuma& p = tasks_[t];
  if ((cfg.mode & kMemoryTiering) && !host_->toptier(src_nid)) {
    // Slow-tier folio: promote by hotness, not by private/shared.
    if (host_->free_space_enough(dst_nid)) {
      host_->reset_threshold(dst_nid);  // the workload changed: start from hot_threshold again
      return true;
    }
    const std::uint64_t rate_limit = cfg.promote_rate_limit_mbps << (20 - 12);  // MB_TO_PAGES
    host_->promotion_adjust_threshold(dst_nid, now, rate_limit, cfg.hot_threshold_ms);
    const TimeNs th = host_->threshold_ms(dst_nid, cfg.hot_threshold_ms);
    // numa_hint_fault_latency(): now minus the scan time recorded in the folio, both modulo
    // the cpupid field's width (an unstamped folio reads as all ones).
    const auto now_ms = static_cast<std::uint32_t>(now / kMs) & kAccessTimeMask;
    const std::uint32_t c = cpupid_of(g, pfn);
    const std::uint32_t scanned = c == kCpupidUnset ? kAccessTimeMask : c;
    set_cpupid(g, pfn, now_ms);
    const TimeNs latency = static_cast<TimeNs>((now_ms - scanned) & kAccessTimeMask);
    if (latency >= th) {
      ++c_.promote_too_cold;
      return false;
    }
    ++c_.pgpromote_candidate;
    if (host_->promotion_rate_limit(dst_nid, now, rate_limit)) {
      ++c_.promote_rate_limited;
      return false;
    }
    return true;
  }
  const std::uint32_t this_cpupid = make_cpupid(t);
  const std::uint32_t last = cpupid_of(g, pfn);
  set_cpupid(g, pfn, this_cpupid);  // folio_xchg_last_cpupid()
  const bool match_pid = (last & 0xff) == (this_cpupid & 0xff);
  if (!(cfg.mode & kMemoryTiering) && !host_->toptier(src_nid) && !cpupid_valid(last)) return false;
  // First faults or private faults migrate at once early in a task's life (two full passes).
  if ((p.preferred_nid == -1 || p.scan_seq <= 4) && (cpupid_pid_unset(last) || match_pid)) return true;
  // The two-stage filter: the last fault on the page must come from the destination node too.
  if (!cpupid_pid_unset(last) && cpupid_to_nid(last) != dst_nid) return false;
  if (match_pid) return true;  // private
  if (p.group < 0) return true;  // shared, but no group yet
  const Group& ng = groups_[p.group];
  if (group_faults_cpu(ng, dst_nid) > group_faults_cpu(ng, src_nid) * kActiveNodeFraction) return true;
  // 3/4 hysteresis against ping-pong.
  return group_faults_cpu(ng, dst_nid) * group_faults(t, src_nid) * 3 >
         group_faults_cpu(ng, src_nid) * group_faults(t, dst_nid) * 4;
}

// =============================================================================================
// Statistics and placement

std::uint64_t MmNuma::task_faults(unsigned t, unsigned nid) const {
  const auto& f = tasks_[t].faults;
  return f[fidx(NUMA_MEM, nid, 0)] + f[fidx(NUMA_MEM, nid, 1)];
}
std::uint64_t MmNuma::group_faults(unsigned t, unsigned nid) const {
  if (tasks_[t].group < 0) return 0;
  const auto& f = groups_[tasks_[t].group].faults;
  return f[fidx(NUMA_MEM, nid, 0)] + f[fidx(NUMA_MEM, nid, 1)];
}
std::uint64_t MmNuma::group_faults_cpu(const Group& g, unsigned nid) const {
  return g.faults[fidx(NUMA_CPU, nid, 0)] + g.faults[fidx(NUMA_CPU, nid, 1)];
}

// task_weight()/group_weight() on a NUMA_DIRECT topology (score_nearby_nodes() adds nothing).
long MmNuma::task_weight(unsigned t, unsigned n) const {
  const TaskNuma& p = tasks_[t];
  if (!p.has_faults || !p.total_faults) return 0;
  return static_cast<long>(1000 * task_faults(t, n) / p.total_faults);
}
long MmNuma::group_weight(unsigned t, unsigned n) const {
  if (tasks_[t].group < 0) return 0;
  const Group& g = groups_[tasks_[t].group];
  if (!g.total_faults) return 0;
  return static_cast<long>(1000 * group_faults(t, n) / g.total_faults);
}

// wp_page_reuse(): folio_xchg_last_cpupid(folio, -1).
void MmNuma::folio_reused(Gfn g) {
  if (pages_.size()) pages_[g.v].cpupid = kCpupidUnset;
}

void MmNuma::fed_fault(const mm::NumaFaultInfo& i) {
  // The rfc-v1 uffd minor path's feed: statistics only, with the folio's cpupid as it is (no
  // should_numa_migrate_memory(), so it is not updated) and locality from the two nodes.
  if (!enabled() || i.vcpu >= tasks_.size()) return;
  ++c_.task_numa_fault_fed;
  const Pte p = as_.pte_at(i.gfn);
  const std::uint32_t last = pte::present(p) ? cpupid_of(i.gfn, pte::pfn(p)) : kCpupidUnset;
  task_numa_fault(i.vcpu, last, i.mem_node.v, i.mem_node == i.cpu_node ? TNF_FAULT_LOCAL : 0, i.now);
}

// task_numa_fault() (kernel/sched/fair.c).
void MmNuma::task_numa_fault(unsigned t, std::uint32_t last_cpupid, unsigned mem_node, int flags, TimeNs now) {
  if (!enabled()) return;  // !sched_numa_balancing
  ++c_.task_numa_fault_calls;
  TaskNuma& p = tasks_[t];
  const unsigned cpu_node = as_.task(t).cpu_node.v;
  int local = (flags & TNF_FAULT_LOCAL) ? 1 : 0;
  if (!host_->toptier(mem_node) && ((host_->cfg.mode & kMemoryTiering) || !cpupid_valid(last_cpupid))) return;
  if (!p.has_faults) {
    p.has_faults = true;
    p.total_faults = 0;
    p.locality = {};
  }
  int priv = 1;
  if (last_cpupid != kCpupidUnset) {
    priv = (last_cpupid & 0xff) == (as_.task(t).pid & 0xff) ? 1 : 0;
    if (!priv && !(flags & TNF_NO_GROUP)) task_numa_group(t, last_cpupid, flags, priv);
  }
  if (!priv && !local && p.group >= 0) {
    const Group& ng = groups_[p.group];
    auto active = [&](unsigned n) { return group_faults_cpu(ng, n) * kActiveNodeFraction > ng.max_faults_cpu; };
    if (ng.active_nodes > 1 && active(cpu_node) && active(mem_node)) local = 1;
  }
  if (now > p.migrate_retry) {
    task_numa_placement(t, now);
    numa_migrate_preferred(t, now);
  }
  if (flags & TNF_MIGRATED) ++p.pages_migrated;
  if (flags & TNF_MIGRATE_FAIL) ++p.locality[2];
  ++p.faults[fidx(NUMA_MEMBUF, mem_node, priv)];
  ++p.faults[fidx(NUMA_CPUBUF, cpu_node, priv)];
  ++p.locality[local];
}

// task_numa_group(): a shared fault joins the faulting task to the group of the task that
// last touched the page. Threads of one process always join; the smaller group joins the
// bigger one (ties by group id, as the kernel breaks them by address).
void MmNuma::task_numa_group(unsigned t, std::uint32_t cpupid, int flags, int& priv) {
  (void)flags;
  TaskNuma& p = tasks_[t];
  if (p.group < 0) {
    Group g;
    g.nr_tasks = 1;
    g.faults.assign(2 * 2 * nr_nodes(), 0);
    for (std::size_t i = 0; i < g.faults.size(); ++i) g.faults[i] = p.faults[i];  // NUMA_MEM, NUMA_CPU
    g.total_faults = p.total_faults;
    p.group = static_cast<int>(groups_.size());
    groups_.push_back(std::move(g));
  }
  // The task now running on the CPU of cpupid must be the one whose pid it records.
  int other = -1;
  for (unsigned k = 0; k < tasks_.size(); ++k)
    if ((as_.task(k).pid & 0xff) == (cpupid & 0xff) && as_.task(k).cpu_node.v == cpupid_to_nid(cpupid)) {
      other = static_cast<int>(k);
      break;
    }
  if (other < 0) return;
  const int grp = tasks_[other].group;
  if (grp < 0 || grp == p.group) return;
  Group& mine = groups_[p.group];
  Group& theirs = groups_[grp];
  if (mine.nr_tasks > theirs.nr_tasks) return;
  if (mine.nr_tasks == theirs.nr_tasks && p.group > grp) return;
  priv = 0;  // join: the fault stays shared
  for (std::size_t i = 0; i < mine.faults.size(); ++i) {
    mine.faults[i] -= std::min(mine.faults[i], p.faults[i]);
    theirs.faults[i] += p.faults[i];
  }
  mine.total_faults -= std::min(mine.total_faults, p.total_faults);
  theirs.total_faults += p.total_faults;
  --mine.nr_tasks;
  ++theirs.nr_tasks;
  p.group = grp;
}

void MmNuma::count_active_nodes(Group& g) const {
  std::uint64_t max = 0;
  for (unsigned n = 0; n < nr_nodes(); ++n) max = std::max(max, group_faults_cpu(g, n));
  unsigned active = 0;
  for (unsigned n = 0; n < nr_nodes(); ++n) active += group_faults_cpu(g, n) * kActiveNodeFraction > max;
  g.max_faults_cpu = max;
  g.active_nodes = active;
}

// task_numa_placement(): once per new mm scan sequence, decay the fault windows into the
// running averages, pick the preferred node, and adapt the scan period.
void MmNuma::task_numa_placement(unsigned t, TimeNs now) {
  TaskNuma& p = tasks_[t];
  if (p.scan_seq == numa_scan_seq_) return;
  ++c_.placement_runs;
  p.scan_seq = numa_scan_seq_;
  p.scan_period_max = task_scan_max(t);
  const std::uint64_t total_locality = p.locality[0] + p.locality[1];
  // numa_get_avg_runtime(): runtime since the last placement over the wall time since then.
  const TimeNs runtime = as_.task(t).runtime_ns;
  TimeNs delta = runtime - p.last_sum_exec_runtime, period = now - p.last_placement;
  if (!p.last_placement) delta = period = std::max<TimeNs>(1, now);  // se.avg.load_sum / LOAD_AVG_MAX: ~fully busy
  p.last_sum_exec_runtime = runtime;
  p.last_placement = now;
  Group* ng = p.group >= 0 ? &groups_[p.group] : nullptr;
  std::uint64_t fault_types[2] = {0, 0};
  std::uint64_t max_faults = 0;
  int max_nid = -1;
  for (unsigned nid = 0; nid < nr_nodes(); ++nid) {
    std::uint64_t faults = 0, gfaults = 0;
    for (unsigned priv = 0; priv < 2; ++priv) {
      auto& f = p.faults;
      const std::size_t mem = fidx(NUMA_MEM, nid, priv), membuf = fidx(NUMA_MEMBUF, nid, priv);
      const std::size_t cpu = fidx(NUMA_CPU, nid, priv), cpubuf = fidx(NUMA_CPUBUF, nid, priv);
      const auto diff = static_cast<std::int64_t>(f[membuf]) - static_cast<std::int64_t>(f[mem] / 2);
      fault_types[priv] += f[membuf];
      f[membuf] = 0;
      std::int64_t f_weight = static_cast<std::int64_t>((static_cast<std::uint64_t>(delta) << 16) / static_cast<std::uint64_t>(period + 1));
      f_weight = f_weight * static_cast<std::int64_t>(f[cpubuf]) / static_cast<std::int64_t>(total_locality + 1);
      const std::int64_t f_diff = f_weight - static_cast<std::int64_t>(f[cpu] / 2);
      f[cpubuf] = 0;
      f[mem] = static_cast<std::uint64_t>(static_cast<std::int64_t>(f[mem]) + diff);
      f[cpu] = static_cast<std::uint64_t>(static_cast<std::int64_t>(f[cpu]) + f_diff);
      faults += f[mem];
      p.total_faults = static_cast<std::uint64_t>(static_cast<std::int64_t>(p.total_faults) + diff);
      if (ng) {
        ng->faults[mem] = static_cast<std::uint64_t>(static_cast<std::int64_t>(ng->faults[mem]) + diff);
        ng->faults[cpu] = static_cast<std::uint64_t>(static_cast<std::int64_t>(ng->faults[cpu]) + f_diff);
        ng->total_faults = static_cast<std::uint64_t>(static_cast<std::int64_t>(ng->total_faults) + diff);
        gfaults += ng->faults[mem];
      }
    }
    const std::uint64_t score = ng ? gfaults : faults;
    if (score > max_faults) {
      max_faults = score;
      max_nid = static_cast<int>(nid);
    }
  }
  // numa_nearest_node(max_nid, N_CPU): a task cannot run on a CPU-less node.
  if (max_nid >= 0 && host_->cores(static_cast<unsigned>(max_nid)) == 0) {
    int best = -1;
    for (unsigned n = 0; n < nr_nodes(); ++n)
      if (host_->cores(n) > 0 &&
          (best < 0 || host_->latency(n, max_nid) < host_->latency(static_cast<unsigned>(best), max_nid)))
        best = static_cast<int>(n);
    max_nid = best;
  }
  if (ng) count_active_nodes(*ng);  // preferred_group_nid() is max_nid on NUMA_DIRECT topologies
  if (max_faults && max_nid != p.preferred_nid) {
    // sched_setnuma()
    p.preferred_nid = max_nid;
    ++c_.preferred_changes;
  }
  update_task_scan_period(t, fault_types[0], fault_types[1], now);
}

// update_task_scan_period(): the private/shared ratio is tested first, then local/remote
// (the kernel's comments on the two branches are swapped relative to the code).
TimeNs next_scan_period(TimeNs period, const std::array<std::uint64_t, 3>& locality, std::uint64_t shared,
                        std::uint64_t priv, TimeNs smin, TimeNs smax, bool& slowed) {
  const std::uint64_t remote = locality[0], local = locality[1];
  slowed = local + shared == 0 || locality[2] != 0;
  if (slowed) return std::min(smax, period << 1);
  const TimeNs period_slot = (period + kPeriodSlots - 1) / kPeriodSlots;
  const int lr_ratio = static_cast<int>(local * kPeriodSlots / (local + remote));
  const int ps_ratio = static_cast<int>(priv * kPeriodSlots / (priv + shared));
  TimeNs diff;
  if (ps_ratio >= kPeriodThreshold) {
    diff = std::max(1, ps_ratio - kPeriodThreshold) * period_slot;
  } else if (lr_ratio >= kPeriodThreshold) {
    diff = std::max(1, lr_ratio - kPeriodThreshold) * period_slot;
  } else {
    diff = -static_cast<TimeNs>(kPeriodThreshold - std::max(lr_ratio, ps_ratio)) * period_slot;
  }
  return std::clamp(period + diff, smin, std::max(smin, smax));
}

void MmNuma::update_task_scan_period(unsigned t, std::uint64_t shared, std::uint64_t priv, TimeNs now) {
  TaskNuma& p = tasks_[t];
  const TimeNs before = p.scan_period;
  bool slowed = false;
  const TimeNs smax = p.scan_period_max;  // task_scan_max(p), set by task_numa_placement()
  p.scan_period = next_scan_period(p.scan_period, p.locality, shared, priv, task_scan_min(), smax, slowed);
  if (slowed) numa_next_scan_ = now + p.scan_period * kMs;
  if (p.scan_period != before) ++c_.scan_period_changes;
  p.locality = {};
}

// numa_migrate_preferred(): retry at most every min(1 s, scan_period / 16).
void MmNuma::numa_migrate_preferred(unsigned t, TimeNs now) {
  TaskNuma& p = tasks_[t];
  if (p.preferred_nid < 0 || !p.has_faults) return;
  const TimeNs interval = std::min<TimeNs>(1000 * kMs, p.scan_period * kMs / 16);
  p.migrate_retry = now + interval;
  if (as_.task(t).cpu_node.v == static_cast<unsigned>(p.preferred_nid)) return;
  task_numa_migrate(t, now);
}

// task_numa_migrate() under HostNuma's scheduler model: the preferred node first; if no CPU
// there fits, or the task's group is spread over several nodes, the other nodes with CPUs
// (skipped when neither the task nor its group gains there). A grouped task's preferred node
// becomes the node it ends up on (the source if nothing fitted), so numa_migrate_preferred()
// stops retrying until the next placement pass.
bool MmNuma::task_numa_migrate(unsigned t, TimeNs now) {
  TaskNuma& p = tasks_[t];
  const unsigned src = as_.task(t).cpu_node.v;
  const auto pref = static_cast<unsigned>(p.preferred_nid);
  struct Choice {
    int node = -1;
    MmNuma* mm = nullptr;  // swap partner, or null for a move to an idle CPU
    unsigned task = 0;
    long imp = 0;
  } best;
  // task_numa_find_cpu() + task_numa_compare() on one destination node.
  auto try_node = [&](unsigned dst) {
    const long taskimp = task_weight(t, dst) - task_weight(t, src);
    const long groupimp = group_weight(t, dst) - group_weight(t, src);
    if (host_->running(dst) < host_->cores(dst)) {  // an idle CPU: move
      const long imp = p.group >= 0 ? groupimp : taskimp;
      if (best.node < 0 || (best.mm && imp >= best.imp)) best = {static_cast<int>(dst), nullptr, 0, imp};
      return;
    }
    for (MmNuma* m : host_->mms()) {
      for (unsigned k = 0; k < m->task_count(); ++k) {
        if (m->as().task(k).next_node.v != dst || (m == this && k == t)) continue;
        const bool same_group = m == this && p.group >= 0 && m->group_of(k) == p.group;
        long imp;
        if (same_group) {
          imp = taskimp + m->task_weight(k, src) - m->task_weight(k, dst);
          imp -= imp / 16;  // threads of one group: a swap buys less
        } else if (p.group >= 0 && m->group_of(k) >= 0) {
          imp = groupimp + m->group_weight(k, src) - m->group_weight(k, dst);
        } else {
          imp = taskimp + m->task_weight(k, src) - m->task_weight(k, dst);
        }
        const int their_pref = k < m->tasks_.size() ? m->tasks_[k].preferred_nid : -1;
        if (their_pref == static_cast<int>(dst)) imp -= imp / 16;      // cur is on its preferred node
        else if (their_pref == static_cast<int>(src)) imp += imp / 8;  // cur would move to its preferred node
        if (imp < kSmallImp || (best.node >= 0 && imp <= best.imp + kSmallImp / 2)) continue;
        best = {static_cast<int>(dst), m, k, imp};
      }
    }
  };
  if (host_->cores(pref) > 0) try_node(pref);
  const bool spread = p.group >= 0 && groups_[p.group].active_nodes > 1;
  if (best.node < 0 || spread) {
    for (unsigned n = 0; n < nr_nodes(); ++n) {
      if (n == src || n == pref || host_->cores(n) == 0) continue;
      if (task_weight(t, n) - task_weight(t, src) < 0 && group_weight(t, n) - group_weight(t, src) < 0) continue;
      try_node(n);
    }
  }
  if (p.group >= 0) {
    const int nid = best.node >= 0 ? best.node : static_cast<int>(src);
    if (nid != p.preferred_nid) {  // sched_setnuma()
      p.preferred_nid = nid;
      ++c_.preferred_changes;
    }
  }
  if (best.node < 0) return false;
  const auto dst = static_cast<unsigned>(best.node);
  as_.set_task_node(t, core::NodeId(static_cast<std::uint16_t>(dst)));
  task_moved(t, src, dst);
  if (!best.mm) {  // migrate_task_to()
    as_.trace("numa_task_move", t, now, now);
    ++p.node_moves;
    ++c_.numa_task_migrated;
    return true;
  }
  // migrate_swap(): both threads change node.
  best.mm->as().set_task_node(best.task, core::NodeId(static_cast<std::uint16_t>(src)));
  best.mm->task_moved(best.task, dst, src);
  as_.trace("numa_task_swap", t, now, now);
  ++p.swaps;
  ++c_.numa_task_swapped;
  return true;
}

// update_scan_period() via migrate_task_rq_fair(): a cross-node move can reset the scan
// period to task_scan_start(), unless it goes to (or away from somewhere other than) the
// preferred node after the first pass.
void MmNuma::task_moved(unsigned t, unsigned from, unsigned to) {
  if (!enabled() || from == to) return;
  TaskNuma& p = tasks_[t];
  if (!p.has_faults) return;
  if (p.scan_seq) {
    if (static_cast<int>(to) == p.preferred_nid || (p.preferred_nid != -1 && static_cast<int>(from) != p.preferred_nid))
      return;
  }
  p.scan_period = task_scan_start(t);
}

// =============================================================================================
// Reporting

void MmNuma::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  if (!enabled()) return;
  out.emplace_back("numa_pte_updates", c_.numa_pte_updates);
  out.emplace_back("numa_hint_faults", c_.numa_hint_faults);
  out.emplace_back("numa_hint_faults_local", c_.numa_hint_faults_local);
  out.emplace_back("numa_pages_migrated", c_.numa_pages_migrated);
  out.emplace_back("pgpromote_success", c_.pgpromote_success);
  out.emplace_back("pgpromote_candidate", c_.pgpromote_candidate);
  out.emplace_back("pgmigrate_fail", c_.pgmigrate_fail);
  out.emplace_back("numa_task_migrated", c_.numa_task_migrated);
  out.emplace_back("numa_task_swapped", c_.numa_task_swapped);
  out.emplace_back("scan_passes", numa_scan_seq_);
  out.emplace_back("scan_windows", c_.scan_windows);
  out.emplace_back("tlb_flushes", c_.tlb_flushes);
  out.emplace_back("samples_lost_uffd_protnone", c_.samples_lost_uffd_protnone);
  out.emplace_back("task_numa_fault_fed", c_.task_numa_fault_fed);
}

void MmNuma::gauges(std::vector<std::pair<std::string, double>>& out) const {
  if (!enabled()) return;
  for (unsigned t = 0; t < tasks_.size(); ++t) {
    out.emplace_back("preferred_node.vcpu" + std::to_string(t), tasks_[t].preferred_nid);
    out.emplace_back("cpu_node.vcpu" + std::to_string(t), as_.task(t).cpu_node.v);
    out.emplace_back("scan_period_ms.vcpu" + std::to_string(t), static_cast<double>(tasks_[t].scan_period));
  }
}

core::Json MmNuma::summary() const {
  if (!enabled()) return nullptr;  // balancing off: nothing to report
  core::Json j = core::Json::object();
  j["numa_balancing"] = host_ ? host_->cfg.mode : 0u;
  std::vector<std::pair<std::string, std::uint64_t>> cs;
  counters(cs);
  for (const auto& [k, v] : cs) j[k] = v;
  j["task_numa_work_runs"] = c_.task_numa_work_runs;
  j["ptes_walked"] = c_.ptes_walked;
  j["migrate_fail"] = {{"watermark", c_.migrate_fail_watermark}, {"nomem", c_.migrate_fail_nomem}, {"busy", c_.migrate_fail_busy}};
  j["promote"] = {{"too_cold", c_.promote_too_cold}, {"rate_limited", c_.promote_rate_limited}};
  j["task_numa_fault_calls"] = c_.task_numa_fault_calls;
  j["placement_runs"] = c_.placement_runs;
  j["preferred_changes"] = c_.preferred_changes;
  j["scan_period_changes"] = c_.scan_period_changes;
  core::Json skips = core::Json::object();
  for (std::size_t r = 0; r < c_.vma_skips.size(); ++r) skips[vma_skip_name(static_cast<VmaSkip>(r))] = c_.vma_skips[r];
  j["vma_skips"] = skips;
  core::Json tasks = core::Json::array();
  for (unsigned t = 0; t < tasks_.size(); ++t) {
    const TaskNuma& p = tasks_[t];
    tasks.push_back({{"vcpu", t},
                     {"cpu_node", as_.task(t).cpu_node.v},
                     {"preferred_node", p.preferred_nid},
                     {"scan_period_ms", p.scan_period},
                     {"scans", p.scans},
                     {"numa_pages_migrated", p.pages_migrated},
                     {"node_moves", as_.task(t).node_moves},
                     {"group", p.group}});
  }
  j["tasks"] = tasks;
  return j;
}

MmNuma* install_numa(mm::AddressSpace& as, std::vector<std::unique_ptr<kernel::VmMechanism>>& mechanisms) {
  auto m = std::make_unique<MmNuma>(as);
  MmNuma* raw = m.get();
  as.router().add(mm::FaultClass::ProtNoneNuma, raw);
  as.on_task_numa_fault([raw](const mm::NumaFaultInfo& i) { raw->fed_fault(i); });
  as.on_folio_reuse([raw](mm::Gfn g) { raw->folio_reused(g); });
  mechanisms.push_back(std::move(m));
  return raw;
}

}  // namespace vmemsim::numa
