#include "models/mm/address_space.hpp"

#include "sim/core/error.hpp"

namespace vmemsim::mm {

AddressSpace::AddressSpace(AddressSpaceConfig cfg, HostMemory& host)
    : cfg_(std::move(cfg)),
      caps_(&kernel_caps(cfg_.variant)),
      host_(host),
      pt_(cfg_.pages),
      truth_(pt_.slots(), cfg_.pages, cfg_.epoch_ns, cfg_.duration_ns),
      cache_(cfg_.backing != Backing::Anon ? cfg_.pages : 0) {
  VMEMSIM_CHECK(cfg_.fallback.size() == host.node_count(), "fallback table needs one row per node");
  VMEMSIM_CHECK(cfg_.pages <= (1ull << 32), "a VM of " << cfg_.pages << " pages exceeds the 32-bit rmap index");
  pt_.attach_truth(&truth_);
  pt_.attach_host(&host_);
}

std::uint64_t AddressSpace::resident_total() const {
  std::uint64_t s = 0;
  for (unsigned n = 0; n < host_.node_count(); ++n) s += resident(n);
  return s;
}

FaultOutcome AddressSpace::count(FaultKind k, TimeNs cost, FaultResult r, UffdReason why) {
  if (k >= faults_.size()) faults_.resize(router_.kinds().size(), 0);
  ++faults_[k];
  return FaultOutcome{k, cost, r, why};
}

// ---------------------------------------------------------------------------------------------
// Pages and frames.

std::optional<Pfn> AddressSpace::alloc_frame(Gfn g, NodeId cpu_node) {
  unsigned first = cpu_node.v;
  switch (cfg_.placement) {
    case Placement::Local: first = cpu_node.v; break;
    case Placement::Preferred: first = cfg_.home_node; break;
    // mpol interleave for a VMA mapping: node picked by page offset (interleave_nid()).
    case Placement::Interleave: first = cfg_.interleave_nodes[g.v % cfg_.interleave_nodes.size()]; break;
  }
  return host_.alloc(cfg_.fallback[first], self(g));
}

void AddressSpace::map_frame(Gfn g, Pfn pfn, bool writable, bool uffd_wp) {
  host_.map(pfn, self(g));
  pt_.map(g, pfn, host_.node_of(pfn), writable, uffd_wp);
}

void AddressSpace::map_zero_page(Gfn g, bool uffd_wp) {
  pt_.map_zero(g, uffd_wp);
  ++zero_maps_;
}

void AddressSpace::drop_frame(Gfn g, Pfn pfn) {
  host_.unmap(pfn, self(g));
  host_.put(pfn);
}

void AddressSpace::zap(Gfn g, bool keep_marker) {
  if (huge_ && pte::present(pt_.pte(g)) && huge_->zap(*this, g)) [[unlikely]] return;  // a large folio's subpage
  const Pte p = pt_.pte(g);
  const bool marker = keep_marker && !anon() && pte::uffd(p);
  if (pte::present(p)) {
    if (pte::zero_page(p) && pte::dirty(p)) --ksm_zero_pages_;  // ksm_might_unmap_zero_page()
    if (pte::zero_page(p)) --zero_maps_;
    else drop_frame(g, Pfn(pte::pfn(p)));  // shmem: the page cache keeps its own reference
  } else if (pte::swap(p)) {
    --swap_ptes_;
    // zap_pte_range() -> free_swap_and_cache(): the slot goes with the entry.
    if (auto* o = host_.observer()) o->swap_entry_freed(static_cast<std::uint32_t>(pte::pfn(p)), std::nullopt);
  }
  if (marker) pt_.set_marker(g);
  else pt_.clear(g);
}

void AddressSpace::add_to_cache(Gfn g, Pfn pfn) {
  VMEMSIM_CHECK(!anon() && cache_[g.v] == 0, "page-cache slot " << g.v << " taken");
  cache_[g.v] = pfn.v + 1;  // the cache holds the allocation's reference
}

Pfn AddressSpace::take_from_cache(Gfn g) {
  VMEMSIM_CHECK(in_page_cache(g), "no page-cache folio at index " << g.v);
  const Pfn pfn = cache_pfn(g);
  cache_[g.v] = 0;
  return pfn;
}
void AddressSpace::map_from_cache(Gfn g, bool uffd_wp) {
  VMEMSIM_CHECK(in_page_cache(g), "no page-cache folio at index " << g.v);
  const Pfn pfn = cache_pfn(g);
  host_.get(pfn);  // the mapping's reference
  map_frame(g, pfn, true, uffd_wp);
}

void AddressSpace::punch_hole(Gfn g) {
  VMEMSIM_CHECK(!anon(), "PUNCH_HOLE on anon memory");
  // unmap_mapping_range() keeps uffd-wp state as markers, as MADV_DONTNEED does on shmem
  // (measured: tests/kernel/FINDINGS.md d).
  if (pte::present(pt_.pte(g))) zap(g, vma_uffd_.wp);
  if (cache_swapped(g)) {
    // shmem_undo_range() -> shmem_free_swap(): the slot goes with the entry.
    const std::uint32_t slot = cache_[g.v] & ~kCacheSwap;
    cache_[g.v] = 0;
    --shmem_swapped_;
    if (auto* o = host_.observer()) o->swap_entry_freed(slot, std::nullopt);
  } else if (cache_[g.v] != 0) {
    const Pfn pfn = cache_pfn(g);
    cache_[g.v] = 0;
    host_.put(pfn);
  }
}

void AddressSpace::shmem_swap_out(Gfn g, std::uint32_t slot) {
  VMEMSIM_CHECK(in_page_cache(g) && !pte::present(pt_.pte(g)) && slot < kCacheSwap,
                "shmem_swap_out needs an unmapped page-cache page at index " << g.v);
  const Pfn pfn = cache_pfn(g);
  cache_[g.v] = kCacheSwap | slot;
  ++shmem_swapped_;
  host_.put(pfn);  // the page cache's reference: the frame is freed
}

bool AddressSpace::shmem_swap_in(Gfn g, NodeId cpu_node) {
  VMEMSIM_CHECK(cache_swapped(g), "shmem_swap_in of index " << g.v << " not on swap");
  const std::uint32_t slot = cache_[g.v] & ~kCacheSwap;
  auto pfn = alloc_frame(g, cpu_node);
  if (!pfn) return false;
  cache_[g.v] = pfn->v + 1;
  --shmem_swapped_;
  if (auto* o = host_.observer()) o->swap_entry_freed(slot, *pfn);
  return true;
}

bool AddressSpace::install(Gfn g, NodeId cpu_node, bool zero_page_ok, std::uint32_t content_version, TimeNs now,
                           std::optional<std::uint64_t> content) {
  VMEMSIM_CHECK(pte::none(pt_.pte(g)), "install over a live pte at gfn " << g.v);
  if (anon() && zero_page_ok) {
    map_zero_page(g);
  } else if (!anon() && in_page_cache(g)) {
    map_from_cache(g);
  } else {
    auto pfn = alloc_frame(g, cpu_node);
    if (!pfn) return false;
    if (!anon()) {
      add_to_cache(g, *pfn);
      host_.get(*pfn);
    }
    map_frame(g, *pfn, true);
  }
  truth_.install_content(g, content_version, now);
  if (content && has_content()) content_[g.v] = *content;
  return true;
}

void AddressSpace::swap_out(Gfn g, std::uint32_t slot) {
  if (huge_) [[unlikely]] huge_->page(*this, g);  // shrink_folio_list() splits a large folio first
  const Pte p = pt_.pte(g);
  VMEMSIM_CHECK(anon() && pte::present(p) && !pte::zero_page(p), "swap_out needs a mapped anon frame at gfn " << g.v);
  drop_frame(g, Pfn(pte::pfn(p)));
  pt_.to_swap(g, slot);
  ++swap_ptes_;
}

bool AddressSpace::swap_in(Gfn g, NodeId cpu_node) {
  const Pte p = pt_.pte(g);
  VMEMSIM_CHECK(pte::swap(p), "swap_in of a non-swap pte at gfn " << g.v);
  const bool had_uffd = pte::uffd(p);
  const auto slot = static_cast<std::uint32_t>(pte::pfn(p));
  auto pfn = alloc_frame(g, cpu_node);
  if (!pfn) return false;
  map_frame(g, *pfn, true, had_uffd && vma_uffd_.wp);
  if (had_uffd && vma_uffd_.rwp) pt_.protnone(g, true, PnOrigin::Uffd);  // rwp: re-apply the marker
  --swap_ptes_;
  // The slot is freed at once (an exclusive anon page, as should_try_to_free_swap() allows
  // for a write fault; the model keeps no swap cache), and reclaim hears of the refault.
  if (auto* o = host_.observer()) o->swap_entry_freed(slot, *pfn);
  return true;
}

MigrateResult AddressSpace::migrate_page(Gfn g, NodeId target) {
  // The model migrates 4 KiB folios only: a THP is split first (the kernel moves it whole in
  // do_huge_pmd_numa_page(); not modelled).
  if (huge_) [[unlikely]] huge_->page(*this, g);
  const Pte p = pt_.pte(g);
  VMEMSIM_CHECK(pte::present(p) && !pte::zero_page(p), "migrate_page needs a mapped frame at gfn " << g.v);
  const Pfn old(pte::pfn(p));
  const Frame& f = host_.frame(old);
  // folio_expected_refs(): one per mapping, plus the page cache's for shmem. Anything more is a
  // pin or a transient reference, and migrate_folio_move() gives up with -EAGAIN.
  const std::uint16_t expected = static_cast<std::uint16_t>(f.mapcount + (anon() ? 0 : 1));
  if (f.mapcount != 1 || f.refcount != expected) return MigrateResult::Busy;
  auto pfn = host_.alloc_on(target, self(g));
  if (!pfn) return MigrateResult::NoMemory;
  if (!anon()) {
    cache_[g.v] = pfn->v + 1;  // the new folio takes the old one's page-cache slot
    host_.get(*pfn);           // the mapping's reference
    host_.put(old);            // the page cache's reference to the old folio
  }
  drop_frame(g, old);
  host_.map(*pfn, self(g));
  // vm_page_prot: a private mapping's has no write bit (COW); a shared mapping's has one
  // unless it needs write notification (uffd-wp registered).
  pt_.remap_migrated(g, *pfn, host_.node_of(*pfn), !anon() && !vma_uffd_.wp);
  return MigrateResult::Migrated;
}

// ---------------------------------------------------------------------------------------------
// Page content.

void AddressSpace::enable_content(const ContentSpec& spec) {
  const bool fresh = content_.size() == 0;
  const bool described = spec.image_pages || spec.zero_pages || spec.dup_pages || spec.write_shared > 0;
  if (!fresh && !described) return;
  VMEMSIM_CHECK(spec.image_pages + spec.zero_pages + spec.dup_pages <= cfg_.pages,
                "content description of " << spec.image_pages + spec.zero_pages + spec.dup_pages << " pages exceeds "
                                          << cfg_.pages);
  if (fresh) content_ = core::FlatArray<std::uint64_t>(cfg_.pages);
  content_spec_ = spec;
  if (content_spec_.dup_contents == 0) content_spec_.dup_contents = 1;
  std::uint64_t g = 0;
  for (std::uint64_t j = 0; j < spec.image_pages; ++j) content_[g++] = content::image(spec.image, j);
  for (std::uint64_t j = 0; j < spec.zero_pages; ++j) content_[g++] = content::kZero;
  for (std::uint64_t k = 0; k < spec.dup_pages; ++k) content_[g++] = content::dup(cfg_.vm, k % content_spec_.dup_contents);
  // Without a description every page is unique (a guest whose memory holds no duplicates).
  next_unique_ = 0;
  for (; g < cfg_.pages; ++g) content_[g] = content::unique(cfg_.vm, next_unique_++);
}

void AddressSpace::content_write(Gfn g, core::Rng& r) {
  const auto& s = content_spec_;
  if (s.write_shared > 0 && r.next() < static_cast<std::uint64_t>(s.write_shared * 0x1.0p64)) {
    content_[g.v] = s.dup_pages ? content::dup(cfg_.vm, r.below(s.dup_contents)) : content::kZero;
  } else {
    content_[g.v] = content::unique(cfg_.vm, next_unique_++);
  }
}

void AddressSpace::ksm_write_protect(Gfn g) {
  if (huge_) [[unlikely]] huge_->page(*this, g);  // KSM splits a THP before merging (try_to_merge_one_page)
  const Pte p = pt_.pte(g);
  VMEMSIM_CHECK(pte::present(p) && !pte::zero_page(p), "ksm_write_protect needs a mapped frame at gfn " << g.v);
  pt_.wrprotect_clean(g);
  host_.set_ksm(Pfn(pte::pfn(p)));
}

bool AddressSpace::ksm_replace(Gfn g, Pfn kpfn, bool keep_uffd_wp) {
  if (huge_) [[unlikely]] huge_->page(*this, g);  // KSM splits a THP before merging (try_to_merge_one_page)
  const Pte p = pt_.pte(g);
  VMEMSIM_CHECK(pte::present(p) && !pte::zero_page(p), "ksm_replace needs a mapped frame at gfn " << g.v);
  const Pfn old(pte::pfn(p));
  host_.get(kpfn);  // the new mapping's reference (folio_get in replace_page)
  drop_frame(g, old);
  host_.map(kpfn, self(g));
  pt_.map(g, kpfn, host_.node_of(kpfn), false, keep_uffd_wp && pte::uffd(p));
  return host_.is_free(old);
}

bool AddressSpace::ksm_map_zero(Gfn g, bool keep_uffd_wp) {
  if (huge_) [[unlikely]] huge_->page(*this, g);  // KSM splits a THP before merging (try_to_merge_one_page)
  const Pte p = pt_.pte(g);
  VMEMSIM_CHECK(pte::present(p) && !pte::zero_page(p), "ksm_map_zero needs a mapped frame at gfn " << g.v);
  const Pfn old(pte::pfn(p));
  drop_frame(g, old);
  pt_.map_zero(g, keep_uffd_wp && pte::uffd(p));
  pt_.mkdirty(g);
  ++zero_maps_;
  ++ksm_zero_pages_;
  return host_.is_free(old);
}

unsigned AddressSpace::add_task(NodeId cpu_node, std::uint32_t pid) {
  tasks_.push_back(Task{cpu_node, cpu_node, pid});
  return static_cast<unsigned>(tasks_.size() - 1);
}

void AddressSpace::set_task_node(unsigned i, NodeId node) { tasks_[i].next_node = node; }

void AddressSpace::apply_task_move(unsigned i) {
  Task& t = tasks_[i];
  if (t.next_node == t.cpu_node) return;
  t.cpu_node = t.next_node;
  ++t.node_moves;
}

TimeNs AddressSpace::run_task_work(unsigned task, TimeNs now) {
  TimeNs used = 0;
  for (auto& fn : task_work_) used += fn(task, now + used);
  return used;
}

void AddressSpace::task_numa_fault(const NumaFaultInfo& i) {
  ++numa_recorded_;
  for (auto& fn : numa_listeners_) fn(i);
}

// ---------------------------------------------------------------------------------------------
// handle_mm_fault() -> handle_pte_fault(): the router does the rest.

FaultOutcome AddressSpace::fault(Gfn g, bool write, unsigned vcpu, NodeId cpu_node, TimeNs now) {
  if (mmap_write_locked_) {
    // The fault path takes the mmap (or per-VMA) read lock; UFFDIO_SET_MODE holds it for write.
    ++lock_waits_;
    return {router_.oom_kind(), 0, FaultResult::LockWait};
  }
  Pte p = pt_.pte(g);
  if (!anon() && pte::none_or_marker(p) && cache_swapped(g)) [[unlikely]] {
    // shmem_get_folio_gfp() -> shmem_swapin_folio(): the page is read back into the page cache
    // first (the faulting thread waits for the read), then the fault goes on as for a page in
    // the cache (a minor fault, a MINOR userfault); the caller retries it.
    if (!shmem_swap_in_) shmem_swap_in_ = router_.add_kind("shmem_swap_in");
    if (!shmem_swap_in(g, cpu_node)) return count(router_.oom_kind(), cfg_.costs.minor_fault_ns, FaultResult::Oom);
    FaultOutcome o = count(*shmem_swap_in_, cfg_.costs.minor_fault_ns);
    o.read_bytes = static_cast<std::uint32_t>(core::kPageSize);
    return o;
  }
  if (huge_ && pte::huge(p)) [[unlikely]] {
    huge_->before_fault(*this, g, write);
    p = pt_.pte(g);
  }
  const FaultClass cls = FaultRouter::classify(p, write, *caps_, anon(), vma_uffd_.minor, vma_uffd_.rwp);
  const FaultOutcome o = router_.route(*this, Fault{g, write, vcpu, cpu_node, now, p, cls});
  if (huge_ && pte::huge(pt_.pte(g))) [[unlikely]] huge_->after_fault(*this, g);
  return o;
}

FaultOutcome AddressSpace::gup(Gfn g, bool write, bool honor_numa_fault, unsigned vcpu, NodeId cpu_node, TimeNs now,
                               bool& invisible) {
  invisible = false;
  const Pte p = pt_.pte(g);
  if (pte::accessible(p, write)) return {router_.oom_kind(), 0, FaultResult::Done};
  if (pte::protnone(p) && !write) {
    // A PROT_NONE PTE is never pte_write(): a FOLL_WRITE GUP always faults. Reads may follow it.
    // gup_can_follow_protnone(): with the rwp v2 07/14 guard a VM_UFFD_RWP VMA always faults;
    // otherwise only a FOLL_HONOR_NUMA_FAULT caller faults. Following it leaves the PTE
    // PROT_NONE: the access never reaches uffd or NUMA.
    const bool rwp_guard = caps_->gup_rwp_guard && cfg_.patches.gup_rwp_fault && vma_uffd_.rwp;
    if (!rwp_guard && !honor_numa_fault) {
      invisible = true;
      truth_.note_gup_invisible();
      return {router_.oom_kind(), 0, FaultResult::Done};
    }
  }
  return fault(g, write, vcpu, cpu_node, now);  // faultin_page() -> handle_mm_fault()
}

void AddressSpace::check_invariants() const {
  std::vector<std::uint64_t> owned(host_.node_count(), 0);
  std::uint64_t zero = 0, rss = 0;
  for (std::uint64_t i = 0; i < cfg_.pages; ++i) {
    const Gfn g(i);
    const Pte p = pt_.pte(g);
    rss += PageTable::maps_frame(p);
    VMEMSIM_CHECK(!pte::protnone(p) || pte::present(p), "PROT_NONE without PRESENT at gfn " << i);
    if (in_page_cache(g)) {
      const Pfn pfn = cache_pfn(g);
      VMEMSIM_CHECK(host_.owner(pfn) == self(g), "shmem page-cache owner of index " << i);
      ++owned[host_.node_of(pfn).v];
    }
    if (!pte::present(p)) continue;
    if (pte::zero_page(p)) {
      ++zero;
      VMEMSIM_CHECK(!pte::writable(p), "zero page mapped writable at gfn " << i);
      continue;
    }
    const Pfn pfn(pte::pfn(p));
    VMEMSIM_CHECK(host_.node_of(pfn).v == pte::node(p), "gfn " << i << " caches node " << pte::node(p));
    VMEMSIM_CHECK(!host_.is_free(pfn), "gfn " << i << " maps free pfn " << pfn.v);
    const auto m = host_.mappers(pfn);
    VMEMSIM_CHECK(std::find(m.begin(), m.end(), self(g)) != m.end(), "rmap of pfn " << pfn.v << " misses gfn " << i);
    if (anon()) {
      VMEMSIM_CHECK(host_.frame(pfn).refcount >= host_.frame(pfn).mapcount, "refcount below mapcount at gfn " << i);
      if (host_.owner(pfn) == self(g)) ++owned[host_.node_of(pfn).v];
    } else {
      VMEMSIM_CHECK(cache_[i] == pfn.v + 1, "gfn " << i << " maps a frame not in its cache slot");
      VMEMSIM_CHECK(host_.frame(pfn).refcount == host_.frame(pfn).mapcount + 1, "shmem refcount at gfn " << i);
    }
  }
  for (std::size_t n = 0; n < owned.size(); ++n)
    VMEMSIM_CHECK(owned[n] <= resident(n), "node " << n << ": " << owned[n] << " frames owned and mapped, resident "
                                                   << resident(n));
  VMEMSIM_CHECK(rss == pt_.mapped(), "PTEs mapping a frame " << rss << " vs RSS counter " << pt_.mapped());
  VMEMSIM_CHECK(zero == zero_maps_, "zero-page maps " << zero << " vs counter " << zero_maps_);
  std::uint64_t kzero = 0;
  for (std::uint64_t i = 0; i < cfg_.pages; ++i) {
    const Pte p = pt_.pte(Gfn(i));
    kzero += pte::zero_page(p) && pte::dirty(p);
  }
  VMEMSIM_CHECK(kzero == ksm_zero_pages_, "KSM zero pages " << kzero << " vs counter " << ksm_zero_pages_);
  truth_.check_invariants();
}

}  // namespace vmemsim::mm
