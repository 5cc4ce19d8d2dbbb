// The userfaultfd working-set workflow of the April 2026 RFC (seed 001, "VMM Workflow"):
//
//   UFFDIO_DEACTIVATE(all)        -- async mode, no vCPU stalls   (rwp: UFFDIO_RWPROTECT)
//   sleep(interval)
//   PAGEMAP_SCAN                  -- still-deactivated pages are cold
//   UFFDIO_SET_MODE(sync)         -- faults now block
//   pwrite + MADV_DONTNEED cold   -- safe because faults block   (shmem: + PUNCH_HOLE, WAKE)
//   UFFDIO_SET_MODE(async)        -- resume tracking
//
// Masks: anon rfc-v1 PAGE_IS_UFFD_DEACTIVATED; shmem !PAGE_IS_PRESENT (the VMM skips holes
// with SEEK_DATA, so "in the page cache" is known to it); rwp PRESENT && !PAGE_IS_ACCESSED.
// The scan takes time while vCPUs run, so a page it reports cold may be touched before
// SET_MODE(sync); with `recheck_after_sync` (default) the VMM re-scans its candidates once
// faults block and evicts only those still cold. `naive-async` is the same loop without
// SET_MODE(sync) and without the re-check: a write that lands between pwrite and DONTNEED is
// lost, and the lost-write oracle sees it when the page comes back.
#include <algorithm>

#include "models/reclaim/registry_detail.hpp"
#include "sim/core/flat_array.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Kind;
using core::ParamSpec;
namespace pte = mm::pte;
using core::Gfn;
constexpr double kInf = std::numeric_limits<double>::infinity();

const ParamSpec kParams[] = {
    {"interval", Kind::Duration, "\"1s\"", "time between marking all pages and scanning for cold ones", 1000, kInf},
    {"age_threshold", Kind::Int, "2", "evict a page after this many consecutive cold scans", 1, 255},
    {"batch_pages", Kind::Int, "512", "pages written to the tier per pwrite batch", 1, 1 << 20},
    {"memory_target", Kind::Size, "0",
     "evict only while resident memory is above this (0 = evict every page that is old enough)", 0, kInf},
    {"read_via", Kind::Enum, "\"odirect\"",
     "how the VMM reads a page it evicts: odirect = pwrite(O_DIRECT) from the guest mapping, pinned with "
     "get_user_pages(); buffered = pwrite through the page cache, copy_from_user() in the VMM thread",
     -kInf, kInf, "odirect|buffered"},
    {"recheck_after_sync", Kind::Bool, "true",
     "after SET_MODE(sync), re-scan the candidates and evict only those still cold"},
};

struct Config {
  TimeNs interval = 0;
  unsigned age_threshold = 2;
  std::uint64_t batch = 512;
  std::uint64_t target_pages = 0;
  bool sync_eviction = true;
  bool recheck = true;
  bool buffered_read = false;
  std::unique_ptr<Tier> tier;
};

// Per-page VMM state, packed into 6 bytes so that page table + frame + policy state stay within
// the 32 bytes per page of DESIGN.md: age and eviction state in one word with the version of
// the tier copy, and the scan number of the eviction beside it.
namespace meta {
constexpr std::uint32_t kAgeMask = 0xff;           // consecutive cold scans
constexpr std::uint32_t kStateShift = 8;           // Eviction state
constexpr std::uint32_t kStateMask = 3u << kStateShift;
constexpr std::uint32_t kInTier = 1u << 10;        // the tier holds a copy
constexpr std::uint32_t kVersionShift = 16;        // data version the copy carries (mod 2^16)
}  // namespace meta
enum class Eviction : std::uint32_t { None = 0, Pending = 1, InFlight = 2 };

class UffdWorkingSet final : public VmmPolicy {
 public:
  UffdWorkingSet(Config c, const PolicyContext& ctx)
      : c_(std::move(c)),
        uffd_(*ctx.uffd),
        as_(uffd_.mm()),
        meta_(as_.pages()),
        evict_scan_(as_.pages()) {}

  const VmmStats& stats() const override { return s_; }
  const Tier& tier() const override { return *c_.tier; }

  void start() override {
    const bool rwp = uffd_.caps().rwp;
    uffd::Modes m;
    uffd::Features f;
    m.missing = true;  // evicted pages come back through MISSING faults
    if (rwp) {
      m.rwp = true;
      f.rwp_async = true;
    } else {
      m.minor = true;
      f.minor_anon = as_.anon();
      f.minor_async = true;
    }
    registration_ = uffd_.register_range(m, f);
  }

  void run_agent(VmmEnv& env, TimeNs until) override {
    // The tracking verb the kernel offers: RWPROTECT (rwp) or DEACTIVATE (rfc-v1).
    const bool rwp = uffd_.caps().rwp;
    charge(env, registration_, s_.cpu_ioctl_ns);

    while (env.now() + c_.interval < until) {
      // 1. Mark every page: the next access to it is tracked (async: no vCPU stalls). The
      //    PTEs change when the ioctl starts; its CPU time follows.
      const TimeNs mark_time = env.now();
      s_.marked += charge(env, rwp ? uffd_.rwprotect(Gfn(0), as_.pages(), true) : uffd_.deactivate(Gfn(0), as_.pages()),
                          s_.cpu_ioctl_ns)
                       .ptes;
      env.slice("mark", mark_time, env.now());
      env.sleep(c_.interval);

      // 2. Scan: pages still marked were not touched during the interval.
      const TimeNs t1 = env.now();
      scan_cold(rwp);
      ++scan_no_;
      classify(mark_time);
      env.cpu(last_scan_cost_);
      s_.cpu_scan_ns += last_scan_cost_;
      env.slice("scan", t1, env.now());

      // 3. Candidates: cold for age_threshold scans in a row, above the memory target. They
      //    are marked Pending: from here a fault on one drops it from this eviction (the
      //    handler resolves it as usual) unless its pwrite has already started.
      if (select_candidates() == 0) continue;
      const TimeNs t2 = env.now();
      if (c_.sync_eviction) set_mode(env, false);
      if (c_.recheck) recheck(env, rwp);
      evict(env, mark_time);
      if (c_.sync_eviction) set_mode(env, true);
      env.slice("evict", t2, env.now());
    }
  }

  void handle_fault(const uffd::FaultMsg& m, VmmEnv& env) override {
    ++s_.handled_faults;
    env.cpu(uffd_.costs().roundtrip_ns);
    s_.cpu_handler_ns += uffd_.costs().roundtrip_ns;
    const std::uint64_t g = m.gfn.v;
    if (state(g) == Eviction::InFlight) {
      // The page is being written out: let its batch finish, then the vCPU retries and takes
      // a MISSING fault that fetches it back.
      while (state(g) == Eviction::InFlight) env.wait_eviction();
      return;
    }
    if (state(g) == Eviction::Pending) set_state(g, Eviction::None);  // touched: keep it
    uffd::IoctlResult r;
    switch (m.reason) {
      case mm::UffdReason::Missing:
        if (!pte::none_or_marker(as_.pte_at(m.gfn))) return;  // already resolved for another vCPU
        r = fetch(m, env);
        break;
      case mm::UffdReason::Minor: r = uffd_.cont(m.gfn); break;
      case mm::UffdReason::Rwp: r = uffd_.rwprotect(m.gfn, 1, false); break;
      case mm::UffdReason::Wp: r = uffd_.writeprotect(m.gfn, 1, false); break;
    }
    charge(env, r, s_.cpu_handler_ns);
  }

  void finish() override {
    // Pages still in the tier at the end were never fetched back: a write that raced their
    // eviction is lost all the same.
    for (std::uint64_t g = 0; g < as_.pages(); ++g)
      if (meta_[g] & meta::kInTier) as_.truth().audit_copy(Gfn(g), tier_version(g));
  }

 private:
  static std::uint32_t version16(std::uint32_t v) { return v & 0xffff; }
  std::uint32_t tier_version(std::uint64_t g) const { return meta_[g] >> meta::kVersionShift; }
  Eviction state(std::uint64_t g) const { return static_cast<Eviction>((meta_[g] & meta::kStateMask) >> meta::kStateShift); }
  void set_state(std::uint64_t g, Eviction e) {
    meta_[g] = (meta_[g] & ~meta::kStateMask) | (static_cast<std::uint32_t>(e) << meta::kStateShift);
  }
  unsigned age(std::uint64_t g) const { return meta_[g] & meta::kAgeMask; }
  void set_age(std::uint64_t g, unsigned a) { meta_[g] = (meta_[g] & ~meta::kAgeMask) | std::min(a, 255u); }

  // Accounts an ioctl and spends its CPU time (during which other actors run).
  uffd::IoctlResult charge(VmmEnv& env, const uffd::IoctlResult& r, TimeNs& bucket) {
    VMEMSIM_CHECK(r.error.empty() || r.error == "EEXIST", "uffd ioctl failed: " << r.error);
    ++s_.ioctls;
    s_.tlb_flushes += r.flushed;
    bucket += r.cost_ns;
    env.cpu(r.cost_ns);
    return r;
  }

  void set_mode(VmmEnv& env, bool async) {
    // 10/12: under mmap_write_lock, faults stall for as long as it is held.
    const TimeNs t = env.now();
    env.mmap_write_lock();
    charge(env, uffd_.set_mode(async), s_.cpu_ioctl_ns);
    env.mmap_write_unlock();
    s_.lock_held_ns += env.now() - t;
    if (async) env.wake_blocked_faults();  // pending sync faults retry and auto-resolve
    env.slice(async ? "set_mode(async)" : "set_mode(sync)", t, env.now());
  }

  // PAGEMAP_SCAN over the whole guest, in chunks of kScanChunk pages as a VMM with a bounded
  // output buffer does; the cold pages land in a bitmap (1 bit per page).
  static constexpr std::uint64_t kScanChunk = 1 << 16;
  void scan_cold(bool rwp) {
    uffd::ScanArgs a;
    if (rwp) {
      a.category_mask = uffd::cat::kPresent | uffd::cat::kAccessed;
      a.category_inverted = uffd::cat::kAccessed;
    } else if (as_.anon()) {
      a.category_mask = uffd::cat::kUffdDeactivated;
    } else {
      a.category_mask = uffd::cat::kPresent;
      a.category_inverted = uffd::cat::kPresent;
    }
    cold_.assign((as_.pages() + 63) / 64, 0);
    last_scan_cost_ = 0;
    for (a.start = 0; a.start < as_.pages(); a.start += kScanChunk) {
      a.len = kScanChunk;
      const uffd::ScanResult r = uffd_.pagemap_scan(a);
      s_.pages_walked += r.walked;
      last_scan_cost_ += r.cost_ns;
      for (const auto& reg : r.regions)
        for (std::uint64_t g = reg.start; g < reg.start + reg.len; ++g)
          if (as_.anon() || as_.in_page_cache(Gfn(g))) cold_[g / 64] |= 1ull << (g % 64);  // shmem: SEEK_DATA skips holes
    }
    ++s_.scans;
  }
  bool is_cold(std::uint64_t g) const { return (cold_[g / 64] >> (g % 64)) & 1; }

  // Compares the scan with ground truth (hidden from the VMM, read here only for metrics): a
  // page reported cold that was really accessed since marking is false-cold; a resident page
  // reported hot that was not is false-hot.
  void classify(TimeNs mark_time) {
    std::uint64_t fc = 0, fh = 0, est = 0, truth = 0;
    for (std::uint64_t g = 0; g < as_.pages(); ++g) {
      const bool resident = as_.anon() ? pte::present(as_.pte_at(Gfn(g))) && !pte::zero_page(as_.pte_at(Gfn(g)))
                                       : as_.in_page_cache(Gfn(g));
      const bool accessed = as_.truth().last_access(Gfn(g)) >= mark_time;
      truth += accessed;
      if (!resident) continue;
      if (is_cold(g)) {
        fc += accessed;
        // The seed-000 conflict: the PROT_NONE that made it look deactivated is NUMA's.
        if (accessed && as_.truth().pn_origin(Gfn(g)) == mm::PnOrigin::Numa) ++s_.false_cold_numa_total;
        set_age(g, age(g) + 1);
      } else {
        ++est;
        fh += !accessed;
        set_age(g, 0);
      }
    }
    s_.false_cold = fc;
    s_.false_hot = fh;
    s_.false_cold_total += fc;
    s_.false_hot_total += fh;
    s_.wss_estimate = est;
    s_.wss_true = truth;
  }

  std::uint64_t select_candidates() {
    std::uint64_t budget = ~0ull, n = 0;
    if (c_.target_pages) {
      const std::uint64_t res = as_.resident_total();
      budget = res > c_.target_pages ? res - c_.target_pages : 0;
    }
    for (std::uint64_t g = 0; g < as_.pages() && n < budget; ++g) {
      if (is_cold(g) && age(g) >= c_.age_threshold && !pte::zero_page(as_.pte_at(Gfn(g)))) {
        set_state(g, Eviction::Pending);
        ++n;
      }
    }
    return n;
  }

  // Under sync mode: keep only the candidates still cold (a page touched between the scan
  // and SET_MODE(sync) was restored by the kernel without the handler seeing it).
  void recheck(VmmEnv& env, bool rwp) {
    TimeNs cost = uffd_.costs().ioctl_ns;
    for (std::uint64_t g = 0; g < as_.pages(); ++g) {
      if (state(g) != Eviction::Pending) continue;
      const std::uint32_t c = uffd_.categories(Gfn(g));
      const bool still = rwp ? (c & uffd::cat::kPresent) && !(c & uffd::cat::kAccessed)
                       : as_.anon() ? (c & uffd::cat::kUffdDeactivated) != 0
                                    : !(c & uffd::cat::kPresent) && as_.in_page_cache(Gfn(g));
      if (!still) set_state(g, Eviction::None);
      cost += uffd_.costs().scan_per_pte_ns;
    }
    env.cpu(cost);
    s_.cpu_scan_ns += cost;
  }

  void evict(VmmEnv& env, TimeNs mark_time) {
    std::uint64_t g = 0;
    for (;;) {
      // The next batch: candidates no fault has claimed since they were chosen.
      std::vector<Gfn> batch;
      for (; g < as_.pages() && batch.size() < c_.batch; ++g)
        if (state(g) == Eviction::Pending) batch.push_back(Gfn(g));
      if (batch.empty()) break;
      // pwrite copies the data as it is now: record the version it carries.
      for (auto gb : batch) {
        const std::uint64_t b = gb.v;
        set_state(b, Eviction::InFlight);
        // pwrite copies the page's data: the tier copy carries its current version.
        meta_[b] = (meta_[b] & 0xffff) | meta::kInTier | (version16(as_.truth().data_version(gb)) << meta::kVersionShift);
        // ... and its content, when the VM tracks content (KSM): allocated on first use, since
        // KSM turns content on after the VMM is built.
        if (as_.has_content()) {
          if (tier_content_.size() == 0) tier_content_ = core::FlatArray<std::uint64_t>(as_.pages());
          tier_content_[b] = as_.content(gb);
        }
        // ground truth: was the page really idle since marking? (metric only)
        const bool hot = as_.truth().last_access(gb) >= mark_time;
        s_.evicted_while_hot += hot;
        s_.evicted_while_hot_numa += hot && as_.truth().pn_origin(gb) == mm::PnOrigin::Numa;
      }
      read_for_eviction(env, batch);
      const std::uint64_t n = batch.size();
      c_.tier->write(env, n);  // vCPUs keep running while the I/O is in flight
      s_.tier_bytes_written += n * core::kPageSize;
      charge(env, uffd_.dontneed(batch), s_.cpu_ioctl_ns);
      if (!as_.anon()) charge(env, uffd_.punch_hole(batch), s_.cpu_ioctl_ns);
      for (auto gb : batch) {
        const std::uint64_t b = gb.v;
        set_state(b, Eviction::None);
        set_age(b, 0);
        evict_scan_[b] = static_cast<std::uint16_t>(scan_no_);
      }
      s_.evicted_pages += n;
      s_.evicted_now += n;
      s_.tier_bytes_stored += c_.tier->stored_bytes(n);
      env.eviction_done();  // UFFDIO_WAKE: faults waiting on these pages retry (and go MISSING)
    }
  }

  // How the VMM reads a page it evicts (`read_via`). anon, odirect: pwrite(O_DIRECT) from the
  // guest mapping, so the kernel pins the source pages with get_user_pages() (no
  // FOLL_HONOR_NUMA_FAULT): GUP follows a DEACTIVATE'd (plain PROT_NONE) PTE silently, but with
  // the rwp v2 07/14 guard it faults on an RWP PTE. anon, buffered: copy_from_user() in the VMM
  // thread, an ordinary fault on any PROT_NONE PTE. Either fault, in sync mode, is a message
  // the handler thread resolves by unprotecting the page (RWPROTECT(clear) / CONTINUE), done
  // here on its behalf at the cost of a round trip -- and from then until MADV_DONTNEED a vCPU
  // write goes through without a fault and is lost with the zap: the lost-write oracle sees it.
  // shmem: pwrite from the memfd's page cache (the PTE is already zapped), no page-table walk.
  void read_for_eviction(VmmEnv& env, const std::vector<Gfn>& batch) {
    if (!as_.anon()) return;
    TimeNs cost = 0;
    for (auto g : batch) {
      bool invisible = false;
      cost += uffd_.costs().per_pte_ns;  // the walk and pin of one page
      const bool fault = c_.buffered_read && !pte::accessible(as_.pte_at(g), false);
      mm::FaultOutcome f;
      for (;;) {
        f = fault ? as_.fault(g, false, kVmmThread, core::NodeId(0), env.now())
                  : as_.gup(g, false, false, kVmmThread, core::NodeId(0), env.now(), invisible);
        if (f.result != mm::FaultResult::Oom) break;
        // The page is in host swap and swapping it in found no frame: the allocator's slow
        // path runs in this thread, then the fault is retried.
        env.cpu(cost);
        s_.cpu_ioctl_ns += cost;
        cost = 0;
        VMEMSIM_CHECK(env.alloc_slow_path(core::NodeId(0)), "host out of memory: the eviction read of gfn " << g.v << " found no frame");
      }
      cost += f.cost_ns;
      if (f.read_bytes) {
        // Kernel reclaim had swapped the page out; reading it to evict it swaps it back in
        // first (double paging): the VMM thread waits for the swap read.
        ++s_.eviction_swap_ins;
        env.cpu(cost);
        s_.cpu_ioctl_ns += cost;
        cost = 0;
        env.swap_read(f.read_bytes);
      }
      if (f.result == mm::FaultResult::Blocked) {
        ++s_.eviction_read_faults;
        uffd_.delivered(g, kVmmThread, core::NodeId(0), env.now());
        cost += uffd_.costs().roundtrip_ns;
        charge(env, f.reason == mm::UffdReason::Rwp ? uffd_.rwprotect(g, 1, false) : uffd_.cont(g), s_.cpu_handler_ns);
      } else if (f.result != mm::FaultResult::Done) {
        VMEMSIM_CHECK(false, "eviction read of gfn " << g.v << " failed");
      }
    }
    env.cpu(cost);
    s_.cpu_ioctl_ns += cost;
  }
  static constexpr unsigned kVmmThread = ~0u;

  uffd::IoctlResult fetch(const uffd::FaultMsg& m, VmmEnv& env) {
    const std::uint64_t g = m.gfn.v;
    if (!(meta_[g] & meta::kInTier)) {
      // Never evicted: the first touch of the page (UFFDIO_ZEROPAGE for a read, a zeroed
      // UFFDIO_COPY for a write).
      ++s_.first_touch_faults;
      return copy_or_reclaim(env, m, [&] { return uffd_.copy(m.gfn, m.cpu_node, !m.write, 0, env.now(), mm::content::kZero); });
    }
    c_.tier->read(env, 1);
    s_.tier_bytes_read += core::kPageSize;
    // "evicted, then touched again within the age window": the eviction was a mistake.
    if (static_cast<std::uint16_t>(scan_no_ - evict_scan_[g]) < c_.age_threshold) ++s_.false_cold_evictions;
    const std::uint32_t fetched = tier_version(g);
    meta_[g] &= ~(meta::kInTier | (0xffffu << meta::kVersionShift));
    ++s_.fetched_pages;
    --s_.evicted_now;
    s_.tier_bytes_stored -= c_.tier->stored_bytes(1);
    // UFFDIO_COPY of the fetched data: the ground truth compares its version with the latest.
    std::optional<std::uint64_t> content;
    if (tier_content_.size() != 0) content = tier_content_[g];
    return copy_or_reclaim(env, m, [&] { return uffd_.copy(m.gfn, m.cpu_node, false, fetched, env.now(), content); });
  }

  // UFFDIO_COPY allocates the page in the VMM thread: when the host has no free frame, the
  // allocator's slow path (direct reclaim, with kernel.reclaim on) runs in that thread and the
  // ioctl is retried, as mfill_atomic_pte_copy()'s folio allocation would.
  template <class Copy>
  uffd::IoctlResult copy_or_reclaim(VmmEnv& env, const uffd::FaultMsg& m, Copy&& copy) {
    for (;;) {
      uffd::IoctlResult r = copy();
      if (r.error != "ENOMEM") return r;
      env.cpu(r.cost_ns);
      s_.cpu_handler_ns += r.cost_ns;
      VMEMSIM_CHECK(env.alloc_slow_path(m.cpu_node), "host out of memory: UFFDIO_COPY of gfn " << m.gfn.v << " found no frame");
    }
  }

  Config c_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  core::FlatArray<std::uint32_t> meta_;
  core::FlatArray<std::uint64_t> tier_content_;  // content of each tier copy (only with content tracking)
  core::FlatArray<std::uint16_t> evict_scan_;  // scan number at eviction (mod 2^16)
  std::vector<std::uint64_t> cold_;            // the latest scan's cold pages, 1 bit each
  std::uint64_t scan_no_ = 0;
  VmmStats s_;
  TimeNs last_scan_cost_ = 0;
  uffd::IoctlResult registration_;
};

std::unique_ptr<VmmPolicy> make(core::Params& p, const PolicyContext& ctx, bool sync) {
  Config c;
  c.interval = p.get_duration(kParams[0]);
  c.age_threshold = static_cast<unsigned>(p.get_int(kParams[1]));
  c.batch = static_cast<std::uint64_t>(p.get_int(kParams[2]));
  c.target_pages = static_cast<std::uint64_t>(p.get_size(kParams[3])) / core::kPageSize;
  c.buffered_read = p.get_string(kParams[4]) == "buffered";
  c.recheck = sync ? p.get_bool(kParams[5]) : false;
  c.sync_eviction = sync;
  c.tier = read_tier(p, ctx.tiers);
  // The kernel's EINVAL, up front: the workflow needs MINOR_ANON/ASYNC + DEACTIVATE (rfc-v1)
  // or RWP, and SET_MODE.
  if (!ctx.caps->set_mode || !(ctx.caps->rwp || ctx.caps->deactivate))
    p.error("policy", "this workflow needs kernel.variant rfc-v1 (UFFDIO_DEACTIVATE, MINOR_ASYNC, SET_MODE) or rwp "
                      "(UFFDIO_RWPROTECT); " + std::string(ctx.caps->name) + " would fail UFFDIO_API with EINVAL");
  if (ctx.caps->rwp && ctx.backing == mm::Backing::Shmem)
    p.error("policy", "the rwp series tracks anon memory here; use rfc-v1 for shmem (DEACTIVATE zaps)");
  if (!ctx.uffd) return nullptr;
  return std::make_unique<UffdWorkingSet>(std::move(c), ctx);
}

}  // namespace

PolicyInfo detail::uffd_ws_info() {
  return {"uffd-ws", "the RFC's working-set loop: mark all, sleep, PAGEMAP_SCAN, SET_MODE(sync), evict cold, SET_MODE(async)",
          kParams, [](core::Params& p, const PolicyContext& ctx) { return make(p, ctx, true); }};
}

PolicyInfo detail::naive_async_info() {
  return {"naive-async", "the same loop evicting in async mode (no SET_MODE(sync)): loses writes that race the eviction",
          std::span<const ParamSpec>(kParams, 5),
          [](core::Params& p, const PolicyContext& ctx) { return make(p, ctx, false); }};
}

}  // namespace vmemsim::reclaim
