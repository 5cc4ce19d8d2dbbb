#include "models/uffd/uffd.hpp"

#include <algorithm>

#include "models/hugetlb/hugetlb.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::uffd {

using mm::PnOrigin;
namespace pte = mm::pte;

Uffd::Uffd(mm::AddressSpace& as, Costs costs, unsigned vcpus)
    : as_(as), pt_(as.page_table()), costs_(costs), vcpus_(vcpus) {}

std::uint64_t Uffd::clamp(Gfn start, std::uint64_t len) const {
  return std::min(as_.pages(), start.v + std::min(len, as_.pages()));
}

std::uint64_t Uffd::page_pages() const { return hugetlb::is_hugetlb(as_) ? hugetlb::kHugePages : 1; }

IoctlResult Uffd::finish(std::uint64_t ptes, bool flush, std::optional<std::uint64_t> entries) const {
  IoctlResult r;
  r.ptes = ptes;
  r.flushed = flush && ptes > 0;
  r.cost_ns = costs_.ioctl_ns + static_cast<TimeNs>(entries.value_or(ptes)) * costs_.per_pte_ns;
  if (r.flushed) {
    // One flush_tlb_range() per ioctl (the mmu_gather batches it), IPIs to every vCPU.
    r.cost_ns += costs_.tlb_flush_ns + costs_.tlb_per_vcpu_ns * static_cast<TimeNs>(vcpus_);
    as_.tlb_flush();
  }
  return r;
}

static IoctlResult einval(std::string why) {
  IoctlResult r;
  r.error = "EINVAL: " + std::move(why);
  return r;
}

namespace {
// A range of whole huge pages (start and length multiples of the huge page size).
bool huge_aligned(std::uint64_t start, std::uint64_t len) {
  return start % hugetlb::kHugePages == 0 && len % hugetlb::kHugePages == 0;
}
// mfill_atomic_hugetlb() stops at the first huge page it cannot fill and returns
// "copied ? copied : err": the error only when nothing was filled. userfaultfd_copy() /
// userfaultfd_continue() write that into uffdio_copy.copy / uffdio_continue.mapped and, for a
// short fill, return -EAGAIN ("range.len == uffdio_copy.len ? 0 : -EAGAIN"). r.ptes already
// holds the pages filled before the stop.
void stop_fill(IoctlResult& r, const char* err) { r.error = r.ptes ? "EAGAIN" : err; }
}  // namespace

IoctlResult Uffd::register_range(Modes m, Features f) {
  const auto& c = caps();
  if (m.minor && as_.anon() && !(c.minor_anon && f.minor_anon))
    return einval("MODE_MINOR on anonymous memory needs UFFD_FEATURE_MINOR_ANON (rfc-v1)");
  if (f.minor_anon && !c.minor_anon) return einval("UFFD_FEATURE_MINOR_ANON is an rfc-v1 feature");
  if (f.minor_async && !c.minor_async) return einval("UFFD_FEATURE_MINOR_ASYNC is an rfc-v1 feature");
  if ((m.rwp || f.rwp_async) && !c.rwp) return einval("VM_UFFD_RWP needs the rwp kernel");
  if (m.rwp && m.wp) return einval("VM_UFFD_WP and VM_UFFD_RWP share the PTE bit and are exclusive");
  if (f.wp_async && !m.wp) return einval("UFFD_FEATURE_WP_ASYNC without MODE_WP");
  auto& v = as_.uffd_vma();
  v.missing = m.missing;
  v.wp = m.wp;
  v.minor = m.minor;
  v.rwp = m.rwp;
  f_ = f;
  // 6.18 userfaultfd_api(): "WP_ASYNC requires WP_UNPOPULATED" -- asking for WP_ASYNC
  // turns WP_UNPOPULATED on as well.
  if (f_.wp_async) f_.wp_unpopulated = true;
  async_ = f.minor_async || f.rwp_async;
  return finish(0, false);
}

IoctlResult Uffd::unregister() {
  // userfaultfd_clear_vma(): drop every uffd-owned PTE state. rfc-v1 cannot tell a
  // deactivated PTE from a NUMA one, so every PROT_NONE in the range is restored.
  std::uint64_t n = 0;
  const auto& v = as_.uffd_vma();
  const bool all_pn = caps().unregister_clears_all_protnone && v.minor && as_.anon();
  for (std::uint64_t i = 0; i < as_.pages(); ++i) {
    const Gfn g(i);
    const mm::Pte p = pt_.pte(g);
    if (pte::protnone(p) && (pte::uffd(p) || all_pn)) {
      pt_.restore(g, true, false);
      ++n;
    } else if (pte::marker(p)) {
      pt_.clear(g);
      ++n;
    } else if (pte::swap(p) && pte::uffd(p)) {
      pt_.set_swap_uffd(g, false);
      ++n;
    } else if (pte::uffd(p)) {
      pt_.clear_uffd_wp(g, v.wp);
      ++n;
    }
  }
  as_.uffd_vma() = mm::UffdVma{};
  f_ = Features{};
  async_ = false;
  return finish(n, true);
}

IoctlResult Uffd::deactivate(Gfn start, std::uint64_t len) {
  if (!caps().deactivate) return einval("UFFDIO_DEACTIVATE is an rfc-v1 ioctl");
  if (!as_.uffd_vma().minor) return einval("UFFDIO_DEACTIVATE needs a MODE_MINOR registration");
  if (hugetlb()) {
    // Seed 001: "For shmem/hugetlbfs, zaps PTEs (pages stay in page cache)". A huge PTE cannot
    // be zapped in part and the seed says nothing of a partial huge page: the model refuses it
    // with EINVAL, as every other hugetlb range ioctl does (mwriteprotect_range,
    // mfill_atomic_hugetlb), rather than rounding the range.
    if (!huge_aligned(start.v, len)) return einval("UFFDIO_DEACTIVATE on hugetlb needs a huge-page-aligned range");
    std::uint64_t n = 0, entries = 0;
    for (std::uint64_t g0 = start.v; g0 < clamp(start, len); g0 += hugetlb::kHugePages)
      if (hugetlb::zap_folio(as_, Gfn(g0), false)) {
        n += hugetlb::kHugePages;
        ++entries;
      }
    return finish(n, true, entries);
  }
  as_.huge_range(start, clamp(start, len) - std::min(start.v, as_.pages()), mm::RangeOp::Protect);
  std::uint64_t n = 0;
  for (std::uint64_t i = start.v; i < clamp(start, len); ++i) {
    const Gfn g(i);
    const mm::Pte p = pt_.pte(g);
    if (as_.anon()) {
      // 03/12: plain PROT_NONE, the page stays resident. A PTE already PROT_NONE (a NUMA
      // hint) is skipped like change_prot_numa() skips it: it stays NUMA's in truth.
      if (pte::present(p) && !pte::protnone(p)) {
        pt_.protnone(g, false, PnOrigin::Uffd);
        ++n;
      }
    } else if (pte::present(p)) {
      as_.zap(g);  // shmem: zap the PTE, the folio stays in the page cache
      ++n;
    }
  }
  return finish(n, true);
}

IoctlResult Uffd::rwprotect(Gfn start, std::uint64_t len, bool protect) {
  if (!caps().rwp) return einval("UFFDIO_RWPROTECT is an rwp ioctl");
  if (!as_.uffd_vma().rwp) return einval("UFFDIO_RWPROTECT needs a MODE_RWP registration");
  as_.huge_range(start, clamp(start, len) - std::min(start.v, as_.pages()), mm::RangeOp::Protect);
  std::uint64_t n = 0;
  for (std::uint64_t i = start.v; i < clamp(start, len); ++i) {
    const Gfn g(i);
    const mm::Pte p = pt_.pte(g);
    if (protect) {
      if (pte::swap(p)) {
        if (!pte::uffd(p)) { pt_.set_swap_uffd(g, true); ++n; }  // the marker rides in the swap entry
      } else if (pte::present(p) && !(pte::protnone(p) && pte::uffd(p))) {
        pt_.protnone(g, true, PnOrigin::Uffd);  // a NUMA PROT_NONE is promoted to an RWP one
        ++n;
      }
    } else {
      if (pte::protnone(p) && pte::uffd(p)) {
        pt_.restore(g, true, false);
        ++n;
      } else if (pte::swap(p) && pte::uffd(p)) {
        pt_.set_swap_uffd(g, false);
        ++n;
      }
    }
  }
  return finish(n, protect);
}

IoctlResult Uffd::writeprotect(Gfn start, std::uint64_t len, bool protect) {
  if (!as_.uffd_vma().wp) return einval("UFFDIO_WRITEPROTECT needs a MODE_WP registration");
  // uffd_wp_range() -> change_protection(MM_CP_UFFD_WP / MM_CP_UFFD_WP_RESOLVE).
  // shmem always uses markers (userfaultfd_wp_use_markers), anon only with WP_UNPOPULATED.
  const bool markers = !as_.anon() || f_.wp_unpopulated;
  // mwriteprotect_range(): on hugetlb "if ((start & page_mask) || (len & page_mask))" -EINVAL,
  // page_mask = vma_kernel_pagesize() - 1; hugetlb_change_protection() then works on whole huge
  // PTEs, which the per-slot loop below does 512 slots at a time.
  if (hugetlb() && !huge_aligned(start.v, len)) return einval("UFFDIO_WRITEPROTECT on hugetlb needs a huge-page-aligned range");
  // change_pmd_range(): a huge PMD the range covers whole keeps its mapping and takes the
  // uffd-wp bit (change_huge_pmd); one covered in part is split first.
  as_.huge_range(start, clamp(start, len) - std::min(start.v, as_.pages()), mm::RangeOp::WriteProtect);
  std::uint64_t n = 0;
  for (std::uint64_t i = start.v; i < clamp(start, len); ++i) {
    const Gfn g(i);
    const mm::Pte p = pt_.pte(g);
    if (pte::none(p)) {
      // change_pte_range(): a none PTE gets a marker when the VMA uses markers
      // (uffd_wp_protect_file / userfaultfd_wp_unpopulated).
      if (protect && markers) {
        pt_.set_marker(g);
        ++n;
      }
    } else if (pte::marker(p)) {
      if (!protect) {
        pt_.clear(g);  // MM_CP_UFFD_WP_RESOLVE drops the marker
        ++n;
      }
    } else if (pte::swap(p)) {  // pte_swp_mkuffd_wp(): the bit rides in the swap entry
      if (protect != pte::uffd(p)) {
        pt_.set_swap_uffd(g, protect);
        ++n;
      }
    } else if (pte::protnone(p)) {
      // change_pte_range() rebuilds the PTE with pte_modify(oldpte, vma->vm_page_prot): the
      // PROT_NONE is replaced by the VMA's protection (a NUMA hint is lost) and the uffd bit
      // is set or cleared; write permission comes back only through a write fault.
      // MM_CP_TRY_CHANGE_WRITABLE on resolve: can_change_pte_writable() makes an exclusive
      // anon page writable again.
      const bool exclusive = as_.anon() && !pte::zero_page(p) && as_.host().frame(core::Pfn(pte::pfn(p))).mapcount == 1;
      pt_.restore(g, !protect && exclusive, false);
      if (protect) pt_.set_uffd_wp(g);
      ++n;
    } else if (protect && !pte::uffd(p)) {
      pt_.set_uffd_wp(g);
      ++n;
    } else if (!protect && pte::uffd(p)) {
      pt_.clear_uffd_wp(g, true);
      ++n;
    }
  }
  return finish(n, protect, hugetlb() ? std::optional<std::uint64_t>(n / hugetlb::kHugePages) : std::nullopt);
}

IoctlResult Uffd::cont_range(Gfn start, std::uint64_t len) {
  if (!hugetlb()) {
    IoctlResult r = finish(0, false);
    for (std::uint64_t g = start.v; g < clamp(start, len); ++g) {
      const IoctlResult one = cont(Gfn(g));
      if (!one.error.empty()) return one;
      r.ptes += one.ptes;
      r.cost_ns += one.cost_ns - costs_.ioctl_ns;
    }
    return r;
  }
  // mfill_atomic_hugetlb(): "if (dst_start & (vma_hpagesize - 1) || len & (vma_hpagesize - 1))"
  // -EINVAL; hugetlb_mfill_atomic_pte(MFILL_ATOMIC_CONTINUE) maps the page-cache folio
  // (-EFAULT when there is none) over a none or marker PTE (-EEXIST otherwise).
  if (!as_.uffd_vma().minor) return einval("UFFDIO_CONTINUE needs a MODE_MINOR registration");
  if (!huge_aligned(start.v, len)) return einval("UFFDIO_CONTINUE on hugetlb needs a huge-page-aligned range");
  std::uint64_t n = 0;
  for (std::uint64_t g0 = start.v; g0 < clamp(start, len); g0 += hugetlb::kHugePages) {
    IoctlResult r = finish(n, false, n / hugetlb::kHugePages);
    if (!pte::none_or_marker(pt_.pte(Gfn(g0)))) {
      stop_fill(r, "EEXIST");
      return r;
    }
    if (!as_.in_page_cache(Gfn(g0))) {
      stop_fill(r, "EFAULT");
      return r;
    }
    hugetlb::map_folio(as_, Gfn(g0), false);
    n += hugetlb::kHugePages;
  }
  return finish(n, false, n / hugetlb::kHugePages);
}

IoctlResult Uffd::cont(Gfn g) {
  if (hugetlb()) return cont_range(g, 1);  // a 4 KiB CONTINUE on hugetlb: EINVAL
  const mm::Pte p = pt_.pte(g);
  if (as_.anon()) {
    // 04/12: CONTINUE on anon restores the deactivated PTE (with write permission).
    if (!(caps().minor_anon && as_.uffd_vma().minor)) return einval("UFFDIO_CONTINUE on anon needs rfc-v1 MINOR");
    if (pte::protnone(p) && pte::huge(p)) as_.huge_range(g, 1, mm::RangeOp::Protect);  // one page of a huge PMD
    if (pte::protnone(p)) {
      pt_.restore(g, true, false);
      return finish(1, false);
    }
    return finish(0, false);
  }
  if (!as_.uffd_vma().minor) return einval("UFFDIO_CONTINUE needs a MODE_MINOR registration");
  if (pte::none_or_marker(p) && as_.in_page_cache(g)) {
    if (pte::marker(p)) pt_.clear(g);
    as_.map_from_cache(g);
    return finish(1, false);
  }
  return finish(0, false);
}

IoctlResult Uffd::copy_range(Gfn start, std::uint64_t len, NodeId cpu_node, bool zeropage, TimeNs now,
                             const std::function<CopySrc(Gfn)>& src) {
  if (hugetlb()) return copy_huge(start, len, cpu_node, zeropage, now, src);
  IoctlResult r = finish(0, false);
  for (std::uint64_t g = start.v; g < clamp(start, len); ++g) {
    const CopySrc s = src(Gfn(g));
    const IoctlResult one = copy(Gfn(g), cpu_node, zeropage, s.version, now, s.content);
    if (!one.error.empty()) return one;
    r.ptes += one.ptes;
    r.cost_ns += one.cost_ns - costs_.ioctl_ns;
  }
  return r;
}

IoctlResult Uffd::copy_huge(Gfn start, std::uint64_t len, NodeId cpu_node, bool zeropage, TimeNs now,
                            const std::function<CopySrc(Gfn)>& src) {
  // mfill_atomic_hugetlb(): no ZEROPAGE ("There is no default zero huge page for all huge page
  // sizes as supported by hugetlb"), and start and length must be huge-page aligned, -EINVAL.
  if (zeropage) return einval("UFFDIO_ZEROPAGE is not supported on hugetlb");
  if (!huge_aligned(start.v, len)) return einval("UFFDIO_COPY on hugetlb needs a huge-page-aligned range");
  std::uint64_t n = 0;
  for (std::uint64_t g0 = start.v; g0 < clamp(start, len); g0 += hugetlb::kHugePages) {
    // hugetlb_mfill_atomic_pte(): -EEXIST unless huge_pte_none_mostly(), and (a shared mapping)
    // when hugetlb_add_to_page_cache() finds the index already cached.
    if (!pte::none_or_marker(pt_.pte(Gfn(g0))) || as_.in_page_cache(Gfn(g0))) {
      IoctlResult r = finish(n, false, n / hugetlb::kHugePages);
      r.cost_ns += static_cast<TimeNs>(n) * costs_.copy_ns;
      stop_fill(r, "EEXIST");
      return r;
    }
    hugetlb::alloc_folio(as_, Gfn(g0), cpu_node);  // the new folio: copy_user_large_folio() fills it
    hugetlb::map_folio(as_, Gfn(g0), false);
    for (std::uint64_t i = 0; i < hugetlb::kHugePages; ++i) {
      const Gfn g(g0 + i);
      const CopySrc s = src(g);
      as_.truth().install_content(g, s.version, now);
      if (s.content && as_.has_content()) as_.set_content(g, *s.content);
    }
    n += hugetlb::kHugePages;
  }
  IoctlResult r = finish(n, false, n / hugetlb::kHugePages);
  r.cost_ns += static_cast<TimeNs>(n) * costs_.copy_ns;  // 512 page copies per huge page
  return r;
}

IoctlResult Uffd::copy(Gfn g, NodeId cpu_node, bool zeropage, std::uint32_t content_version, TimeNs now,
                       std::optional<std::uint64_t> content) {
  if (hugetlb())  // a 4 KiB UFFDIO_COPY on hugetlb: EINVAL
    return copy_huge(g, 1, cpu_node, zeropage, now, [&](Gfn) { return CopySrc{content_version, content}; });
  // mfill_atomic_pte_copy(): EEXIST unless pte_none_mostly() (none or a marker, which the new
  // PTE replaces).
  // shmem_mfill_atomic_pte(): the new folio goes into the page cache first, and an index that
  // already holds one is -EEXIST there too, PTE or not (a MISSING message that went stale: the
  // page was filled, then zapped; measured on 6.18 after MADV_DONTNEED of a written memfd page).
  const mm::Pte p = pt_.pte(g);
  if (!pte::none_or_marker(p) || as_.in_file(g)) {
    IoctlResult r = finish(0, false);
    r.error = "EEXIST";
    return r;
  }
  if (pte::marker(p)) pt_.clear(g);
  if (zeropage) content = mm::content::kZero;
  if (!as_.install(g, cpu_node, zeropage, zeropage ? 0 : content_version, now, content)) {
    // No frame: the ioctl fails before it touches the PTE, so a marker stays (the caller may
    // reclaim and retry).
    if (pte::marker(p)) pt_.set_marker(g);
    IoctlResult r = finish(0, false);
    r.error = "ENOMEM";
    return r;
  }
  IoctlResult r = finish(1, false);
  if (!zeropage) r.cost_ns += costs_.copy_ns;
  return r;
}

IoctlResult Uffd::set_mode(bool async) {
  if (!caps().set_mode) return einval("UFFDIO_SET_MODE is not in the upstream kernel");
  // 10/12: toggles MINOR_ASYNC (RWP_ASYNC) for the whole context under mmap_write_lock; no PTE
  // changes. The caller holds the lock for cost_ns. Switching sync -> async wakes the queued
  // minor/RWP faults, which retry and resolve in the kernel; MISSING and WP faults still need
  // the handler (async mode cannot resolve them) and stay queued.
  async_ = async;
  if (async) {
    std::deque<Pending> keep;
    for (const auto& p : queue_) {
      if (p.msg.reason == UffdReason::Minor || p.msg.reason == UffdReason::Rwp) woken_.push_back(p.waiter);
      else keep.push_back(p);
    }
    queue_.swap(keep);
  }
  IoctlResult r = finish(0, false);
  r.cost_ns += costs_.set_mode_ns;
  return r;
}

std::optional<Pending> Uffd::read() {
  if (queue_.empty()) return std::nullopt;
  Pending p = queue_.front();
  queue_.pop_front();
  p.spurious = delivered(p.msg.gfn, p.waiter, p.msg.cpu_node, p.msg.t);
  return p;
}

bool Uffd::delivered(Gfn g, unsigned vcpu, NodeId cpu_node, TimeNs now) {
  const mm::Pte p = pt_.pte(g);
  if (!pte::protnone(p)) return false;  // MISSING / WP / shmem minor: no PROT_NONE involved
  const bool spurious = as_.truth().note_userfault(g, p);
  // rfc-v1 cover letter ("NUMA stats fed from uffd fault path instead"): the minor fault path
  // records the access for NUMA placement, with the page's node and the faulting CPU's.
  if (caps().uffd_path_feeds_numa && as_.config().patches.uffd_feeds_numa)
    as_.task_numa_fault({g, vcpu, NodeId(static_cast<std::uint16_t>(pte::node(p))), cpu_node, false, now});
  return spurious;
}

std::uint32_t Uffd::categories(Gfn g) const {
  // pagemap_scan_test_walk() (per VMA) | pagemap_page_category() (per PTE), fs/proc/task_mmu.c.
  const mm::Pte p = pt_.pte(g);
  const auto& v = as_.uffd_vma();
  std::uint32_t c = 0;
  // WPALLOWED: userfaultfd_wp_async(vma) && userfaultfd_wp_use_markers(vma)
  if (v.wp && f_.wp_async && (!as_.anon() || f_.wp_unpopulated)) c |= cat::kWpAllowed;
  if (hugetlb()) {
    // pagemap_hugetlb_category(): PAGE_IS_HUGE for every huge PTE, present or not; a uffd-wp
    // marker is a swap-format entry (SWAPPED, not WRITTEN); a none entry is HUGE alone, never
    // touched or zapped alike (measured on 6.18: tests/kernel/FINDINGS.md "hugetlb").
    c |= cat::kHuge;
    if (pte::present(p)) {
      c |= cat::kPresent | cat::kFile;
      if (!pte::uffd(p)) c |= cat::kWritten;
    } else if (pte::marker(p)) {
      c |= cat::kSwapped;
    }
    return c;
  }
  if (pte::present(p)) {
    c |= cat::kPresent;
    if (pte::zero_page(p)) c |= cat::kPfnZero;
    if (pte::huge(p)) c |= cat::kHuge;  // PAGE_IS_HUGE: a PMD mapping (pagemap_thp_category)
    if (!as_.anon()) c |= cat::kFile;
    if (!pte::uffd(p)) c |= cat::kWritten;  // WRITTEN whenever the uffd-wp bit is clear
    // 09/12: anon PROT_NONE in a MINOR VMA -- a NUMA hinting PTE matches too.
    if (caps().cat_uffd_deactivated && as_.anon() && v.minor && pte::protnone(p)) c |= cat::kUffdDeactivated;
    if (caps().cat_accessed && v.rwp && !pte::uffd(p)) c |= cat::kAccessed;
  } else if (pte::swap(p) || pte::marker(p)) {
    // A marker is a swap-format PTE: SWAPPED, and not WRITTEN (pte_swp_uffd_wp_any()).
    c |= cat::kSwapped;
    if (!pte::uffd(p)) c |= cat::kWritten;
  } else if (v.any()) {
    // A none PTE has no uffd-wp bit, so 6.18 reports it WRITTEN (measured on the live kernel,
    // tests/kernel/FINDINGS.md a: pagemap_scan_pte_hole() and the per-PTE path agree in a
    // registered VMA). Outside a registered VMA it depends on whether a page table exists
    // (WRITTEN in an existing table, nothing in a hole), which the model does not track.
    c |= cat::kWritten;
  }
  return c;
}

ScanResult Uffd::pagemap_scan(const ScanArgs& a) {
  // do_pagemap_scan(): a page matches when all of category_mask and (if given) one of
  // category_anyof_mask are set after XOR with category_inverted; adjacent matches with the
  // same returned categories form one region. PM_SCAN_WP_MATCHING write-protects what matched
  // (make_uffd_wp_pte), then one TLB flush.
  ScanResult r;
  const bool wp_allowed = (categories(Gfn(0)) & cat::kWpAllowed) != 0;
  if ((a.flags & kScanCheckWpAsync) && !wp_allowed) {
    r.error = "EPERM";
    r.cost_ns = costs_.ioctl_ns;
    return r;
  }
  // pagemap_scan_test_walk(): PM_SCAN_WP_MATCHING skips a VMA that cannot be write-protected
  // asynchronously -- silently, nothing reported (measured: tests/kernel/FINDINGS.md e).
  if ((a.flags & kScanWpMatching) && !wp_allowed) {
    r.cost_ns = costs_.ioctl_ns;
    return r;
  }
  const bool wp = (a.flags & kScanWpMatching) != 0;
  std::uint64_t end = std::min(a.start + a.len, as_.pages());
  // pagemap_scan_thp_entry(): WP_MATCHING over part of a THP splits its PMD.
  if (wp && end > a.start) as_.huge_range(Gfn(a.start), end - a.start, mm::RangeOp::ScanWp);
  for (std::uint64_t i = a.start; i < end; ++i) {
    const Gfn g(i);
    ++r.walked;
    const std::uint32_t c = categories(g) ^ a.category_inverted;
    if ((c & a.category_mask) != a.category_mask) continue;
    if (a.category_anyof_mask && !(c & a.category_anyof_mask)) continue;
    if (wp && hugetlb() && i == std::max(a.start, hugetlb::haddr(i))) {
      // pagemap_scan_hugetlb_entry() with WP_MATCHING, once per huge page the range reaches:
      // an interesting WRITTEN entry the range covers in part is backed out ("Partial HugeTLB
      // page WP isn't possible": pagemap_scan_backout_range, walk_end = start, ret 0) and the
      // walk goes on with the next huge page; one that is not WRITTEN is reported, not
      // protected (measured on 6.18: tests/kernel/hugetlb_uffd_diff.cpp).
      const std::uint64_t piece_end = std::min(end, hugetlb::haddr(i) + hugetlb::kHugePages);
      if (piece_end - i != hugetlb::kHugePages && ((c ^ a.category_inverted) & cat::kWritten)) {
        r.walked += piece_end - i - 1;
        i = piece_end - 1;
        continue;
      }
    }
    const std::uint32_t ret = (c ^ a.category_inverted) & a.return_mask;
    if (!r.regions.empty() && r.regions.back().start + r.regions.back().len == i && r.regions.back().categories == ret)
      ++r.regions.back().len;
    else
      r.regions.push_back({i, 1, ret});
    ++r.matched;
    // pagemap_scan_hugetlb_entry(): "if (~categories & PAGE_IS_WRITTEN) goto out_unlock".
    if (wp && !(hugetlb() && !((c ^ a.category_inverted) & cat::kWritten))) {
      const mm::Pte p = pt_.pte(g);
      if (pte::none(p)) pt_.set_marker(g);
      else if (pte::swap(p)) pt_.set_swap_uffd(g, true);
      else if (pte::present(p) && !pte::uffd(p)) pt_.set_uffd_wp(g);
      ++r.protected_ptes;
    }
    if (a.max_pages && r.matched >= a.max_pages) break;
  }
  r.cost_ns = costs_.ioctl_ns + static_cast<TimeNs>(r.walked) * costs_.scan_per_pte_ns;
  if (wp && r.protected_ptes) {
    r.cost_ns += static_cast<TimeNs>(r.protected_ptes) * costs_.per_pte_ns + costs_.tlb_flush_ns +
                 costs_.tlb_per_vcpu_ns * static_cast<TimeNs>(vcpus_);
    as_.tlb_flush();
  }
  return r;
}

IoctlResult Uffd::dontneed(const std::vector<Gfn>& gfns) {
  // zap_pte_range(): anon drops everything, markers included; shmem keeps a uffd-wp marker
  // where a protected PTE was (zap_install_uffd_wp_if_needed) and leaves markers alone.
  std::uint64_t n = 0;
  const bool wp = as_.uffd_vma().wp;
  if (hugetlb()) {
    // madvise_dontneed_free_valid_vma(): on hugetlb a start not aligned to the huge page is
    // -EINVAL and the end is rounded down ("Avoid unexpected data loss by rounding down the
    // number of huge pages freed"); __unmap_hugepage_range() then clears whole huge PTEs,
    // leaving a uffd-wp marker where one was protected. Each run of consecutive pages is one
    // madvise() call.
    std::uint64_t entries = 0;
    for (std::size_t i = 0; i < gfns.size();) {
      std::size_t j = i + 1;
      while (j < gfns.size() && gfns[j].v == gfns[j - 1].v + 1) ++j;
      if (gfns[i].v % hugetlb::kHugePages != 0) return einval("MADV_DONTNEED on hugetlb needs a huge-page-aligned start");
      const std::uint64_t last = gfns[i].v + (j - i) / hugetlb::kHugePages * hugetlb::kHugePages;
      for (std::uint64_t g0 = gfns[i].v; g0 < last; g0 += hugetlb::kHugePages)
        if (hugetlb::zap_folio(as_, Gfn(g0), wp)) {
          n += hugetlb::kHugePages;
          ++entries;
        }
      i = j;
    }
    return finish(n, true, entries);
  }
  // zap_pmd_range(): each run of consecutive pages is one madvise range; a huge PMD it covers
  // whole goes at once (zap_huge_pmd), one it covers in part is split first.
  if (as_.huge()) {
    for (std::size_t i = 0; i < gfns.size();) {
      std::size_t j = i + 1;
      while (j < gfns.size() && gfns[j].v == gfns[j - 1].v + 1) ++j;
      as_.huge_range(gfns[i], j - i, mm::RangeOp::Zap);
      i = j;
    }
  }
  for (auto g : gfns) {
    const mm::Pte p = pt_.pte(g);
    if (pte::present(p)) {
      as_.zap(g, wp);
      ++n;
    } else if (pte::marker(p) && as_.anon()) {
      pt_.clear(g);
      ++n;
    }
  }
  return finish(n, true);
}

IoctlResult Uffd::punch_hole(const std::vector<Gfn>& gfns, TimeNs now) {
  std::uint64_t n = 0;
  if (hugetlb()) {
    // hugetlbfs_punch_hole(): the hole is [round_up(offset), round_down(offset + len)) in huge
    // pages; those folios are unmapped and freed to the pool (remove_inode_hugepages). The
    // partial huge pages at either end are zeroed in place (hugetlbfs_zero_partial_page):
    // "if (offset < hole_start)" [offset, min(offset + len, hole_start)), and "if ((offset +
    // len) > hole_end && (offset + len) > hole_start)" [hole_end, offset + len). Each run of
    // consecutive pages is one fallocate() call.
    std::uint64_t entries = 0;
    for (std::size_t i = 0; i < gfns.size();) {
      std::size_t j = i + 1;
      while (j < gfns.size() && gfns[j].v == gfns[j - 1].v + 1) ++j;
      const std::uint64_t a = gfns[i].v, b = gfns[j - 1].v + 1;
      const std::uint64_t first = (a + hugetlb::kHugePages - 1) / hugetlb::kHugePages * hugetlb::kHugePages;
      const std::uint64_t last = b / hugetlb::kHugePages * hugetlb::kHugePages;
      if (a < first) hugetlb::zero_partial(as_, Gfn(a), std::min(b, first) - a, now);
      if (b > last && b > first) hugetlb::zero_partial(as_, Gfn(last), b - last, now);
      for (std::uint64_t g0 = first; g0 < last; g0 += hugetlb::kHugePages)
        if (hugetlb::punch_folio(as_, Gfn(g0), as_.uffd_vma().wp)) {
          n += hugetlb::kHugePages;
          ++entries;
        }
      i = j;
    }
    return finish(n, true, entries);
  }
  for (auto g : gfns) {
    if (as_.in_file(g) || pte::present(pt_.pte(g))) {
      as_.punch_hole(g);
      ++n;
    }
  }
  return finish(n, true);
}

}  // namespace vmemsim::uffd
