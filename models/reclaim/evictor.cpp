// The shared evictor (evictor.hpp). The protocol is the RFC's (seed 001, "VMM Workflow"):
//   UFFDIO_SET_MODE(sync)   -- faults now block (when the tracker needs it)
//   pwrite + MADV_DONTNEED  -- safe because faults block   (shmem: + PUNCH_HOLE, WAKE)
//   UFFDIO_SET_MODE(async)  -- resume tracking
// and a page touched again comes back through a MISSING fault served by UFFDIO_COPY.
#include "models/reclaim/evictor.hpp"

#include <algorithm>
#include <bit>

namespace vmemsim::reclaim {

namespace pte = mm::pte;
using core::Gfn;

TruthMeter::TruthMeter(const mm::AddressSpace& as, StatSet& s) : as_(as) {
  s.gauge("/last_scan/wss_estimate_pages", wss_estimate_, "pages", "wss_estimate_pages");
  s.gauge("/last_scan/wss_true_pages", wss_true_, "pages", "wss_scan_true_pages");
  s.gauge("/last_scan/false_cold_pages", false_cold_, "pages");
  s.gauge("/last_scan/false_hot_pages", false_hot_, "pages");
  s.counter("/false_cold_pages_total", false_cold_total_, "pages");
  s.counter("/false_hot_pages_total", false_hot_total_, "pages");
  s.counter("/false_cold_numa_protnone_total", false_cold_numa_total_, "pages");
}

void TruthMeter::end() {
  false_cold_ = fc_;
  false_hot_ = fh_;
  false_cold_total_ += fc_;
  false_hot_total_ += fh_;
  wss_estimate_ = est_;
  wss_true_ = truth_;
}

Evictor::Evictor(EvictorConfig c, uffd::Uffd& u, VictimSelector& sel, StatSet& s)
    : c_(std::move(c)),
      uffd_(u),
      as_(u.mm()),
      sel_(sel),
      truth_(as_, s),
      meta_(as_.pages()),
      known_((as_.pages() + 63) / 64, 0),
      fill_(u.page_pages()) {
  s.counter("/evicted_pages", evicted_, "pages");
  // Pages brought back from the tier after an eviction: the refaults of the far-memory SLO.
  s.counter("/fetched_pages", fetched_, "pages", nullptr, "/refaulted_pages");
  // MISSING faults served from the tier: one per refault, each bringing back one page, or a
  // whole huge page on hugetlb.
  s.counter("/refault_faults", refault_faults_, "count");
  s.gauge("/evicted_now", evicted_now_, "pages", "evicted_pages");
  s.counter("/false_cold_evictions", false_cold_evictions_, "pages");
  s.counter("/evicted_while_hot", evicted_while_hot_, "pages");
  s.counter("/evicted_while_hot_numa_protnone", evicted_while_hot_numa_, "pages");
  s.counter("/handled_faults", handled_faults_, "count");
  s.counter("/first_touch_faults", first_touch_faults_, "count");
  s.counter("/eviction_read_faults", eviction_read_faults_, "count");
  s.counter("/eviction_swap_ins", eviction_swap_ins_, "count");
  s.counter("/ioctls", ioctls_, "count");
  s.counter("/tlb_flushes", tlb_flushes_, "count");
  s.counter("/cpu_ns/ioctl", cpu_ioctl_ns_, "ns");
  s.counter("/cpu_ns/handler", cpu_handler_ns_, "ns");
  // The VMM's CPU by use, summed by the recorder (Stat::sum) with each tracker's /cpu_ns/scan
  // into /cpu_ns/tracking, and with nothing else into /cpu_ns/eviction and
  // /cpu_ns/demand_paging; /cpu_ns/total is their sum (== scan + ioctl + handler).
  s.counter("/cpu_ns/by_use/tracking_ioctl", cpu_tracking_ioctl_ns_, "ns", nullptr, "/cpu_ns/tracking");
  s.counter("/cpu_ns/by_use/eviction", cpu_eviction_ns_, "ns", nullptr, "/cpu_ns/eviction");
  s.counter("/cpu_ns/by_use/demand_paging", cpu_demand_ns_, "ns", nullptr, "/cpu_ns/demand_paging");
  s.counter("/mmap_lock_held_ns", lock_held_ns_, "ns");
  s.counter("/refault_stall_ns", refault_stall_ns_, "ns");
  s.counter("/tier_bytes/written", tier_written_, "bytes", "tier_bytes_written");
  s.counter("/tier_bytes/read", tier_read_, "bytes", "tier_bytes_read");
  s.gauge("/tier_bytes/stored", tier_stored_, "bytes");
  // Only with prefetch on: a run with the default (0) writes the same result as before the knob.
  if (c_.prefetch) {
    s.counter("/prefetch/pages", prefetched_, "pages", "prefetched_pages");
    s.counter("/prefetch/hits", prefetch_hits_, "pages", "prefetch_hits");
    s.counter("/prefetch/wasted", prefetch_wasted_, "pages");
  }
}

uffd::IoctlResult Evictor::charge(VmmEnv& env, const uffd::IoctlResult& r, TimeNs& bucket, TimeNs* part) {
  VMEMSIM_CHECK(r.error.empty() || r.error == "EEXIST", "uffd ioctl failed: " << r.error);
  ++ioctls_;
  tlb_flushes_ += r.flushed;
  bucket += r.cost_ns;
  if (part) *part += r.cost_ns;
  env.cpu(r.cost_ns);
  return r;
}

bool Evictor::resident_now(Gfn g) const {
  if (!as_.anon()) return as_.in_file(g);  // a page the kernel swapped out is still the VM's
  const auto p = as_.pte_at(g);
  return pte::present(p) && !pte::zero_page(p);
}

void Evictor::observe(Gfn g, bool resident, TimeNs t, bool write) {
  if (resident == known(g.v)) return;
  set_known(g.v, resident);
  if (resident) sel_.inserted({g, t, write});
  else sel_.removed(g);
}

void Evictor::report_scan(VictimSelector& sel, const std::vector<std::uint64_t>& cold, TimeNs since, TimeNs t) {
  truth_.begin();
  for (std::uint64_t g = 0; g < as_.pages(); ++g) {
    const bool resident = resident_now(Gfn(g));
    observe(Gfn(g), resident, t);
    const bool c = (cold[g / 64] >> (g % 64)) & 1;
    truth_.page(Gfn(g), resident, c, since);
    if (resident && !c) sel.accessed({Gfn(g), t});
  }
  truth_.end();
  sel.scan_done(t);
}

std::uint64_t Evictor::claim(const std::vector<Gfn>& victims) {
  claimed_.clear();
  const std::uint64_t u = unit();
  // thp_pmd: a PMD range goes only as a whole, so only when each of its resident subpages is a
  // victim (hugetlb needs no such count: its subpages share one huge PTE, so the selector saw
  // them all alike). Victims per range, counted once (sorted range numbers).
  std::vector<std::uint64_t> per_unit;
  if (u > 1 && fill_ == 1) {
    per_unit.reserve(victims.size());
    for (auto g : victims) per_unit.push_back(g.v / u);
    std::sort(per_unit.begin(), per_unit.end());
  }
  for (auto g : victims) {
    if (u > 1 && state(g.v) == State::Pending) continue;  // its unit is claimed already
    VMEMSIM_CHECK(known(g.v) && state(g.v) == State::None, "selector picked gfn " << g.v << " twice or not resident");
    // hugetlb: the VMM can only move whole huge pages, so a victim takes its huge page with it
    // (every subpage shares the huge PTE, hence the tracking state). thp_pmd: the same, once
    // every resident subpage of the PMD range is a victim; otherwise the range stays whole.
    const auto [g0, g1] = unit_of(g.v);
    if (!per_unit.empty() && g1 - g0 > 1) {
      const auto [lo, hi] = std::equal_range(per_unit.begin(), per_unit.end(), g.v / u);
      std::uint64_t resident = 0;
      for (std::uint64_t w = g0 / 64; w < g1 / 64; ++w) resident += static_cast<std::uint64_t>(std::popcount(known_[w]));
      if (static_cast<std::uint64_t>(hi - lo) < resident) continue;
    }
    for (std::uint64_t x = g0; x < g1; ++x) {
      if (!known(x) || state(x) != State::None) continue;
      set_state(x, State::Pending);
      claimed_.push_back(Gfn(x));
    }
  }
  return claimed_.size();
}

void Evictor::set_mode(VmmEnv& env, bool async) {
  // 10/12: under mmap_write_lock, faults stall for as long as it is held.
  const TimeNs t = env.now();
  env.mmap_write_lock();
  charge(env, uffd_.set_mode(async), cpu_ioctl_ns_, &cpu_eviction_ns_);
  env.mmap_write_unlock();
  lock_held_ns_ += env.now() - t;
  if (async) env.wake_blocked_faults();  // pending sync faults retry and auto-resolve
  env.slice(async ? "set_mode(async)" : "set_mode(sync)", t, env.now());
}

void Evictor::evict(VmmEnv& env, TimeNs since) {
  std::size_t i = 0;
  for (;;) {
    // The next batch: candidates no fault has claimed since they were chosen.
    std::vector<Gfn> batch;
    // A batch ends on a unit boundary (claimed_ holds whole units, each in gfn order): a huge
    // page on hugetlb, a PMD range with thp_pmd.
    const std::uint64_t u = unit();
    for (; i < claimed_.size() && (batch.size() < c_.batch || (u > 1 && claimed_[i].v / u == batch.back().v / u)); ++i)
      if (state(claimed_[i].v) == State::Pending) batch.push_back(claimed_[i]);
    if (batch.empty()) break;
    for (auto gb : batch) {
      const std::uint64_t b = gb.v;
      set_state(b, State::InFlight);
      // pwrite copies the page's data: the tier copy carries its current version (mod 2^16).
      meta_[b] = (meta_[b] & ~(0xffffu << kVersionShift)) | kInTier |
                 ((as_.truth().data_version(gb) & 0xffffu) << kVersionShift);
      // ... and its content, when the VM tracks content (KSM): allocated on first use, since
      // KSM turns content on after the VMM is built.
      if (as_.has_content()) {
        if (tier_content_.size() == 0) tier_content_ = core::FlatArray<std::uint64_t>(as_.pages());
        tier_content_[b] = as_.content(gb);
      }
      // ground truth: was the page really idle since the round started? (metric only)
      const bool hot = as_.truth().last_access(gb) >= since;
      evicted_while_hot_ += hot;
      evicted_while_hot_numa_ += hot && as_.truth().pn_origin(gb) == mm::PnOrigin::Numa;
    }
    read_for_eviction(env, batch);
    const std::uint64_t n = batch.size();
    c_.tier->write(env, n);  // vCPUs keep running while the I/O is in flight
    tier_written_ += n * core::kPageSize;
    // A run of the batch that covers a PMD mapping whole zaps it whole (zap_huge_pmd(), thp_pmd
    // batches); one that covers it in part splits it first (split, uffd.cpp dontneed()).
    // shmem: MADV_DONTNEED leaves the page in the page cache until the PUNCH_HOLE that follows,
    // and a fault on the none PTE in between maps it back (shmem_fault) without any userfault
    // unless the VMA is MINOR-registered -- a write there is lost with the punch. Without MINOR
    // (an RWP registration) the VMM punches alone: fallocate(PUNCH_HOLE) unmaps every mapping
    // itself (unmap_mapping_range) and faults racing it wait (shmem_falloc_waitq).
    if (as_.anon() || as_.uffd_vma().minor) charge(env, uffd_.dontneed(batch), cpu_ioctl_ns_, &cpu_eviction_ns_);
    if (!as_.anon()) charge(env, uffd_.punch_hole(batch, env.now()), cpu_ioctl_ns_, &cpu_eviction_ns_);
    for (auto gb : batch) {
      const std::uint64_t b = gb.v;
      set_state(b, State::None);
      meta_[b] = (meta_[b] & ~kRoundMask) | static_cast<std::uint32_t>(round_ & kRoundMask);
      observe(gb, false, env.now());
      if (!prefetched_at_.empty()) resolve_prefetch(b);
      // Truth (metric only): a write between the pwrite and the zap is lost from here on.
      stale_in_tier_ += (as_.truth().data_version(gb) & 0xffffu) != tier_version(b);
    }
    evicted_ += n;
    evicted_now_ += n;
    tier_stored_ += c_.tier->stored_bytes(n);
    env.eviction_done();  // UFFDIO_WAKE: faults waiting on these pages retry (and go MISSING)
  }
  // Claimed pages a fault dropped are no longer claimed.
  claimed_.clear();
}

void Evictor::handle_fault(const uffd::FaultMsg& m, VmmEnv& env, Tracker& tracker) {
  ++handled_faults_;
  env.cpu(uffd_.costs().roundtrip_ns);
  cpu_handler_ns_ += uffd_.costs().roundtrip_ns;
  cpu_demand_ns_ += uffd_.costs().roundtrip_ns;
  const std::uint64_t g = m.gfn.v;
  // The vCPU that raised the message waits from m.t until the handler's ioctl returns (the
  // engine wakes it then): the VMM stamps the message when its poll() wakes, and the ioctl's
  // return is its own clock. A stall on a page it evicted, or is evicting, is one its eviction
  // caused: that is the memory-pressure signal a VMM has without the guest's PSI.
  auto stalled = [&] { refault_stall_ns_ += std::max<TimeNs>(0, env.now() - m.t); };
  if (state(g) == State::InFlight) {
    // The page is being written out: let its batch finish, then the vCPU retries and takes
    // a MISSING fault that fetches it back.
    while (state(g) == State::InFlight) env.wait_eviction();
    stalled();
    return;
  }
  if (state(g) == State::Fetching) {
    // Another handler thread is reading the page back (it faulted on another vCPU, or is a
    // neighbour being prefetched): wait for that read, then the vCPU retries and finds it mapped.
    while (state(g) == State::Fetching) {
      fetch_waiters_ = true;
      env.wait_eviction();
    }
    return;
  }
  if (state(g) == State::Pending) drop(m.gfn);  // touched: keep it (its whole huge page)
  uffd::IoctlResult r;
  bool refault = false;
  if (m.reason == mm::UffdReason::Missing) {
    if (!pte::none_or_marker(as_.pte_at(m.gfn))) return;  // already resolved for another vCPU
    refault = (meta_[g] & kInTier) != 0;                  // not a first touch
    r = fetch(m, env);
  } else {
    r = tracker.resolve(m);
  }
  charge(env, r, cpu_handler_ns_, &cpu_demand_ns_);
  if (refault) stalled();
  if (m.reason == mm::UffdReason::Missing) {
    // A hugetlb fill made the whole huge page resident, a thp_pmd refetch its PMD range.
    const auto [g0, g1] = unit_of(g);
    for (std::uint64_t x = g0; x < g1; ++x) observe(Gfn(x), resident_now(Gfn(x)), env.now(), m.write);
  }
}

bool Evictor::fill_takes_frame(const uffd::FaultMsg& m) const {
  const std::uint64_t g = m.gfn.v;
  if (m.reason != mm::UffdReason::Missing || state(g) == State::InFlight || !pte::none_or_marker(as_.pte_at(m.gfn)))
    return false;
  if (meta_[g] & kInTier) return true;
  return as_.anon() ? m.write : !as_.in_file(m.gfn);
}

void Evictor::finish() {
  // Pages still in the tier at the end were never fetched back: a write that raced their
  // eviction is lost all the same.
  for (std::uint64_t g = 0; g < as_.pages(); ++g)
    if (meta_[g] & kInTier) as_.truth().audit_copy(Gfn(g), tier_version(g));
  stale_in_tier_ = 0;  // all counted by the audit
  // Prefetched pages still resident at the end: used or not, by the truth.
  while (!prefetched_at_.empty()) resolve_prefetch(prefetched_at_.begin()->first);
}

void Evictor::resolve_prefetch(std::uint64_t g) {
  const auto it = prefetched_at_.find(g);
  if (it == prefetched_at_.end()) return;
  // Accessed since its install: its last access is no longer the one it had then.
  if (as_.truth().last_access(Gfn(g)) != it->second) ++prefetch_hits_;
  else ++prefetch_wasted_;
  prefetched_at_.erase(it);
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
void Evictor::read_for_eviction(VmmEnv& env, const std::vector<Gfn>& batch) {
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
      cpu_ioctl_ns_ += cost;
      cpu_eviction_ns_ += cost;
      cost = 0;
      VMEMSIM_CHECK(env.alloc_slow_path(core::NodeId(0)), "host out of memory: the eviction read of gfn " << g.v << " found no frame");
    }
    cost += f.cost_ns;
    if (f.read_bytes) {
      // Kernel reclaim swapped the page out after the VMM chose it; reading it to evict it
      // swaps it back in first (double paging): the VMM thread waits for the swap read.
      ++eviction_swap_ins_;
      env.cpu(cost);
      cpu_ioctl_ns_ += cost;
      cpu_eviction_ns_ += cost;
      cost = 0;
      env.swap_read(f.read_bytes);
    }
    if (f.result == mm::FaultResult::Blocked) {
      ++eviction_read_faults_;
      uffd_.delivered(g, kVmmThread, core::NodeId(0), env.now());
      cost += uffd_.costs().roundtrip_ns;
      // With thp_pmd the VMM unprotects the unit it is reading: a 2 MiB RWPROTECT(clear) covers a
      // PMD mapping whole and keeps it (change_huge_pmd()), where a 4 KiB one would split it
      // (change_pmd_range() -> __split_huge_pmd()) before the whole-PMD zap. rfc-v1's CONTINUE
      // restores one anon PTE (04/12), so a buffered read still splits there.
      const auto [u0, u1] = unit_of(g.v);
      charge(env, f.reason == mm::UffdReason::Rwp ? uffd_.rwprotect(Gfn(u0), u1 - u0, false) : uffd_.cont(g),
             cpu_handler_ns_, &cpu_eviction_ns_);
    } else if (f.result != mm::FaultResult::Done) {
      VMEMSIM_CHECK(false, "eviction read of gfn " << g.v << " failed");
    }
  }
  env.cpu(cost);
  cpu_ioctl_ns_ += cost;
  cpu_eviction_ns_ += cost;
}

std::uint32_t Evictor::take_from_tier(std::uint64_t g) {
  const std::uint32_t fetched = tier_version(g);
  stale_in_tier_ -= (as_.truth().data_version(Gfn(g)) & 0xffffu) != fetched;  // the oracle counts it now
  meta_[g] &= ~(kInTier | (0xffffu << kVersionShift));
  --evicted_now_;
  tier_stored_ -= c_.tier->stored_bytes(1);
  return fetched;
}

bool Evictor::prefetchable(std::uint64_t g) const {
  return g < as_.pages() && (meta_[g] & kInTier) && state(g) == State::None && pte::none_or_marker(as_.pte_at(Gfn(g))) &&
         !resident_now(Gfn(g));
}

std::pair<std::uint64_t, std::uint64_t> Evictor::prefetch_window(std::uint64_t g) const {
  // Guest memory is one VMA (models/mm): the window stops at its ends and at the first page
  // that is not evicted or is already being read or written.
  std::uint64_t lo = g, hi = g, n = 0;
  while (n < c_.prefetch && prefetchable(hi + 1)) ++hi, ++n;
  while (n < c_.prefetch && lo > 0 && prefetchable(lo - 1)) --lo, ++n;
  return {lo, hi};
}

uffd::IoctlResult Evictor::fetch(const uffd::FaultMsg& m, VmmEnv& env) {
  // The fill covers the VMA's page: one page, or on hugetlb the huge page the message names
  // (its address is haddr), all of whose subpages were evicted together.
  const std::uint64_t g = m.gfn.v;
  if (!(meta_[g] & kInTier)) {
    // Never evicted: the first touch of the page (UFFDIO_ZEROPAGE for a read, a zeroed
    // UFFDIO_COPY for a write; hugetlb has no ZEROPAGE, so a zeroed COPY of the huge page). A
    // hole of a thp_pmd range is a 4 KiB page of its own.
    ++first_touch_faults_;
    if (fill_ > 1)
      return copy_or_reclaim(env, m, [&] {
        return uffd_.copy_range(Gfn(g / fill_ * fill_), fill_, m.cpu_node, false, env.now(),
                                [](Gfn) { return uffd::CopySrc{0, mm::content::kZero}; });
      });
    return copy_or_reclaim(env, m, [&] { return uffd_.copy(m.gfn, m.cpu_node, !m.write, 0, env.now(), mm::content::kZero); });
  }
  if (unit() > 1) {
    // hugetlb, thp_pmd: the unit comes back whole, one read and one UFFDIO_COPY of the range,
    // held in Fetching meanwhile (no prefetch: the neighbours would be whole units too). On
    // hugetlb every subpage is in the tier; a thp_pmd range brings back what it evicted.
    const auto [g0, g1] = unit_of(g);
    std::vector<std::uint64_t> pages;
    for (std::uint64_t h = g0; h < g1; ++h) {
      VMEMSIM_CHECK(fill_ == 1 || (meta_[h] & kInTier), "gfn " << h << " of an evicted huge page is not in the tier");
      // A page of the range evicted later on its own (first touched in a hole after the range
      // went) may be in its own batch's write still: it comes back by its own refault.
      if (!(meta_[h] & kInTier) || state(h) != State::None) continue;
      set_state(h, State::Fetching);
      pages.push_back(h);
    }
    const std::uint64_t n = pages.size();
    c_.tier->read(env, n);
    tier_read_ += n * core::kPageSize;
    ++refault_faults_;
    std::vector<uffd::CopySrc> src(g1 - g0);
    for (auto h : pages) {
      // "evicted, then touched again within the refault window", per page.
      if (((round_ - (meta_[h] & kRoundMask)) & kRoundMask) < c_.refault_window) ++false_cold_evictions_;
      src[h - g0].version = take_from_tier(h);
      if (tier_content_.size() != 0) src[h - g0].content = tier_content_[h];
    }
    fetched_ += n;
    uffd::IoctlResult r;
    if (fill_ > 1) {
      r = copy_or_reclaim(env, m, [&] {
        return uffd_.copy_range(Gfn(g0), fill_, m.cpu_node, false, env.now(), [&](Gfn x) { return src[x.v - g0]; });
      });
    } else {
      // Anon: mfill_atomic() installs the range page by page (mfill_atomic_pte() ->
      // mfill_atomic_pte_copy(): a small folio and a PTE each; anon UFFDIO_COPY never maps a
      // PMD), one ioctl per contiguous run of pages in the tier, per-page copy costs; each page
      // may need the allocator's slow path (copy_or_reclaim), as a prefetched neighbour does.
      for (std::size_t k = 0; k < pages.size(); ++k) {
        const std::uint64_t h = pages[k];
        const uffd::FaultMsg hm{Gfn(h), m.write && h == g, m.reason, m.cpu_node, m.t};
        const uffd::IoctlResult rh = copy_or_reclaim(env, hm, [&] {
          return uffd_.copy(Gfn(h), m.cpu_node, false, src[h - g0].version, env.now(), src[h - g0].content);
        });
        VMEMSIM_CHECK(rh.error.empty(), "refetch of gfn " << h << ": UFFDIO_COPY failed: " << rh.error);
        if (k == 0) {
          r = rh;
        } else if (h == pages[k - 1] + 1) {
          r.cost_ns += rh.cost_ns - uffd_.costs().ioctl_ns;
          r.ptes += rh.ptes;
        } else {  // a hole: the next run is another UFFDIO_COPY
          r.cost_ns += rh.cost_ns;
          r.ptes += rh.ptes;
          ++ioctls_;
        }
      }
    }
    for (auto h : pages) set_state(h, State::None);
    if (fetch_waiters_) {
      fetch_waiters_ = false;
      env.eviction_done();
    }
    return r;
  }
  // The pages read together: the faulting one and its prefetched neighbours, one I/O (split
  // by the tier's max_io_pages), held in Fetching so that no other handler thread reads them
  // again meanwhile.
  const auto [lo, hi] = c_.prefetch ? prefetch_window(g) : std::make_pair(g, g);
  for (std::uint64_t h = lo; h <= hi; ++h) set_state(h, State::Fetching);
  c_.tier->read(env, hi - lo + 1);
  tier_read_ += (hi - lo + 1) * core::kPageSize;
  ++refault_faults_;
  // "evicted, then touched again within the refault window": the eviction was a mistake.
  // Rounds are kept mod 2^13; the window is at most 255 rounds.
  if (((round_ - (meta_[g] & kRoundMask)) & kRoundMask) < c_.refault_window) ++false_cold_evictions_;
  const std::uint32_t fetched = take_from_tier(g);
  ++fetched_;
  // UFFDIO_COPY of the fetched data: the ground truth compares its version with the latest.
  std::optional<std::uint64_t> content;
  if (tier_content_.size() != 0) content = tier_content_[g];
  uffd::IoctlResult r = copy_or_reclaim(env, m, [&] { return uffd_.copy(m.gfn, m.cpu_node, false, fetched, env.now(), content); });
  if (hi > lo) {
    // The neighbours, in the same UFFDIO_COPY of the range (mfill_atomic() loops over its
    // pages in one ioctl: one syscall, per-page copy costs). They are not refaults: no fault
    // asked for them.
    for (std::uint64_t h = lo; h <= hi; ++h) {
      if (h == g) continue;
      const std::uint32_t v = take_from_tier(h);
      std::optional<std::uint64_t> c;
      if (tier_content_.size() != 0) c = tier_content_[h];
      const uffd::FaultMsg hm{Gfn(h), false, m.reason, m.cpu_node, m.t};
      const uffd::IoctlResult rh =
          copy_or_reclaim(env, hm, [&] { return uffd_.copy(Gfn(h), m.cpu_node, false, v, env.now(), c); });
      VMEMSIM_CHECK(rh.error.empty(), "prefetch of gfn " << h << ": UFFDIO_COPY failed: " << rh.error);
      r.cost_ns += rh.cost_ns - uffd_.costs().ioctl_ns;
      r.ptes += rh.ptes;
      ++prefetched_;
      prefetched_at_[h] = as_.truth().last_access(Gfn(h));
      observe(Gfn(h), resident_now(Gfn(h)), env.now());
    }
  }
  for (std::uint64_t h = lo; h <= hi; ++h) set_state(h, State::None);
  if (fetch_waiters_) {
    fetch_waiters_ = false;
    env.eviction_done();  // the threads waiting for these pages retry
  }
  return r;
}

}  // namespace vmemsim::reclaim
