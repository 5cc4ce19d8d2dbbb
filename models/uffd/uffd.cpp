#include "models/uffd/uffd.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace vmemsim::uffd {

using mm::PnOrigin;
using mm::Variant;
namespace pte = mm::pte;

Uffd::Uffd(mm::AddressSpace& as, Costs costs, unsigned vcpus) : as_(as), costs_(costs), vcpus_(vcpus) {}

std::uint64_t Uffd::clamp(std::uint64_t start, std::uint64_t len) const {
  return std::min(as_.pages(), start + std::min(len, as_.pages()));
}

IoctlResult Uffd::finish(std::uint64_t ptes, bool flush) const {
  IoctlResult r;
  r.ptes = ptes;
  r.flushed = flush && ptes > 0;
  r.cost_ns = costs_.ioctl_ns + static_cast<TimeNs>(ptes) * costs_.per_pte_ns;
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

IoctlResult Uffd::register_range(Modes m, Features f) {
  const Variant v = variant();
  if (m.minor && as_.anon() && !(v == Variant::RfcV1 && f.minor_anon))
    return einval("MODE_MINOR on anonymous memory needs UFFD_FEATURE_MINOR_ANON (rfc-v1)");
  if (f.minor_anon && v != Variant::RfcV1) return einval("UFFD_FEATURE_MINOR_ANON is an rfc-v1 feature");
  if (f.minor_async && v != Variant::RfcV1) return einval("UFFD_FEATURE_MINOR_ASYNC is an rfc-v1 feature");
  if ((m.rwp || f.rwp_async) && v != Variant::Rwp) return einval("VM_UFFD_RWP needs the rwp kernel");
  if (m.rwp && m.wp) return einval("VM_UFFD_WP and VM_UFFD_RWP share the PTE bit and are exclusive");
  if (f.wp_async && !m.wp) return einval("UFFD_FEATURE_WP_ASYNC without MODE_WP");
  auto& u = as_.uffd();
  u.missing = m.missing;
  u.wp = m.wp;
  u.minor = m.minor;
  u.rwp = m.rwp;
  u.wp_async = f.wp_async;
  u.async = f.minor_async || f.rwp_async;
  return finish(0, false);
}

IoctlResult Uffd::unregister() {
  // userfaultfd_clear_vma(): drop every uffd-owned PTE state. rfc-v1 cannot tell a
  // deactivated PTE from a NUMA one, so every PROT_NONE in the range is restored.
  std::uint64_t n = 0;
  const auto& u = as_.uffd();
  for (std::uint64_t g = 0; g < as_.pages(); ++g) {
    mm::Pte p = as_.pte_at(g);
    if (pte::protnone(p) && (pte::uffd(p) || (u.minor && as_.anon()))) {
      as_.restore_protnone(g, true);
      ++n;
    } else if (pte::uffd(p)) {
      mm::Pte& q = as_.slots()[g].pte;
      q &= ~pte::kUffd;
      if (pte::present(q) && u.wp && !pte::zero_page(q)) q |= pte::kWrite;
      ++n;
    }
  }
  as_.uffd() = mm::UffdVma{};
  return finish(n, true);
}

IoctlResult Uffd::deactivate(std::uint64_t start, std::uint64_t len) {
  if (variant() != Variant::RfcV1) return einval("UFFDIO_DEACTIVATE is an rfc-v1 ioctl");
  if (!as_.uffd().minor) return einval("UFFDIO_DEACTIVATE needs a MODE_MINOR registration");
  std::uint64_t n = 0;
  for (std::uint64_t g = start; g < clamp(start, len); ++g) {
    const mm::Pte p = as_.pte_at(g);
    if (as_.anon()) {
      // 03/12: plain PROT_NONE, the page stays resident. A PTE already PROT_NONE (a NUMA
      // hint) is skipped like change_prot_numa() skips it: it stays NUMA's in truth.
      if (pte::present(p) && !pte::protnone(p)) {
        as_.set_protnone(g, false, PnOrigin::Uffd);
        ++n;
      }
    } else if (pte::present(p)) {
      as_.zap(g);  // shmem: zap the PTE, the folio stays in the page cache
      ++n;
    }
  }
  return finish(n, true);
}

IoctlResult Uffd::rwprotect(std::uint64_t start, std::uint64_t len, bool protect) {
  if (variant() != Variant::Rwp) return einval("UFFDIO_RWPROTECT is an rwp ioctl");
  if (!as_.uffd().rwp) return einval("UFFDIO_RWPROTECT needs a MODE_RWP registration");
  std::uint64_t n = 0;
  for (std::uint64_t g = start; g < clamp(start, len); ++g) {
    mm::Pte& p = as_.slots()[g].pte;
    if (protect) {
      if (pte::swap(p)) {
        if (!pte::uffd(p)) { p |= pte::kUffd; ++n; }  // the marker rides in the swap entry
      } else if (pte::protnone(p)) {
        if (!pte::uffd(p)) {  // a NUMA PROT_NONE is promoted to an RWP one
          as_.set_protnone(g, true, PnOrigin::Uffd);
          ++n;
        }
      } else if (pte::present(p)) {
        as_.set_protnone(g, true, PnOrigin::Uffd);
        ++n;
      }
    } else {
      if (pte::protnone(p) && pte::uffd(p)) {
        as_.restore_protnone(g, true);
        ++n;
      } else if (pte::swap(p) && pte::uffd(p)) {
        p &= ~pte::kUffd;
        ++n;
      }
    }
  }
  return finish(n, protect);
}

IoctlResult Uffd::writeprotect(std::uint64_t start, std::uint64_t len, bool protect) {
  if (!as_.uffd().wp) return einval("UFFDIO_WRITEPROTECT needs a MODE_WP registration");
  std::uint64_t n = 0;
  for (std::uint64_t g = start; g < clamp(start, len); ++g) {
    mm::Pte& p = as_.slots()[g].pte;
    if (pte::swap(p)) {  // pte_swp_mkuffd_wp(): the marker rides in the swap entry
      if (protect != pte::uffd(p)) {
        p ^= pte::kUffd;
        ++n;
      }
      continue;
    }
    if (!pte::present(p)) continue;
    if (pte::protnone(p)) {  // the marker is kept under a NUMA PROT_NONE; write stays off
      if (protect != pte::uffd(p)) {
        p = (p ^ pte::kUffd) & ~pte::kWrite;
        ++n;
      }
      continue;
    }
    if (protect && !pte::uffd(p)) {
      p = (p & ~pte::kWrite) | pte::kUffd;
      ++n;
    } else if (!protect && pte::uffd(p)) {
      p = (p & ~pte::kUffd) | (pte::zero_page(p) ? 0 : pte::kWrite);
      ++n;
    }
  }
  return finish(n, protect);
}

IoctlResult Uffd::cont(std::uint64_t gfn) {
  const mm::Pte p = as_.pte_at(gfn);
  if (as_.anon()) {
    // 04/12: CONTINUE on anon restores the deactivated PTE (with write permission).
    if (!(variant() == Variant::RfcV1 && as_.uffd().minor)) return einval("UFFDIO_CONTINUE on anon needs rfc-v1 MINOR");
    if (pte::protnone(p)) {
      as_.restore_protnone(gfn, true);
      return finish(1, false);
    }
    return finish(0, false);
  }
  if (!as_.uffd().minor) return einval("UFFDIO_CONTINUE needs a MODE_MINOR registration");
  if (pte::none(p) && as_.in_page_cache(gfn)) {
    as_.map_from_cache(gfn);
    return finish(1, false);
  }
  return finish(0, false);
}

IoctlResult Uffd::copy(std::uint64_t gfn, unsigned cpu_node, bool zeropage) {
  if (!pte::none(as_.pte_at(gfn))) {
    IoctlResult r = finish(0, false);
    r.error = "EEXIST";
    return r;
  }
  if (!as_.install(gfn, cpu_node, zeropage)) {
    IoctlResult r = finish(0, false);
    r.error = "ENOMEM";
    return r;
  }
  IoctlResult r = finish(1, false);
  if (!zeropage) r.cost_ns += costs_.copy_ns;
  return r;
}

IoctlResult Uffd::set_mode(bool async) {
  if (variant() == Variant::Upstream) return einval("UFFDIO_SET_MODE is not in the upstream kernel");
  // 10/12: toggles MINOR_ASYNC (RWP_ASYNC) for the whole context under mmap_write_lock; no PTE
  // changes. The caller holds the lock for cost_ns and wakes blocked faults on sync->async.
  as_.uffd().async = async;
  IoctlResult r = finish(0, false);
  r.cost_ns += costs_.set_mode_ns;
  return r;
}

std::uint32_t Uffd::categories(std::uint64_t gfn) const {
  const mm::Pte p = as_.pte_at(gfn);
  const auto& u = as_.uffd();
  std::uint32_t c = 0;
  if (u.wp) c |= cat::kWpAllowed;
  if (pte::present(p)) {
    c |= cat::kPresent;
    if (pte::zero_page(p)) c |= cat::kPfnZero;
    if (!as_.anon()) c |= cat::kFile;
    if (!pte::uffd(p)) c |= cat::kWritten;  // pagemap: WRITTEN whenever the uffd-wp bit is clear
    // 09/12: anon PROT_NONE in a MINOR VMA -- a NUMA hinting PTE matches too.
    if (variant() == Variant::RfcV1 && as_.anon() && u.minor && pte::protnone(p)) c |= cat::kUffdDeactivated;
    if (variant() == Variant::Rwp && u.rwp && !pte::uffd(p)) c |= cat::kAccessed;
  } else if (pte::swap(p)) {
    c |= cat::kSwapped;
    if (!pte::uffd(p)) c |= cat::kWritten;
  }
  return c;
}

ScanResult Uffd::pagemap_scan(const ScanArgs& a) const {
  // do_pagemap_scan(): a page matches when all of category_mask and (if given) one of
  // category_anyof_mask are set after XOR with category_inverted; adjacent matches with the
  // same returned categories form one region.
  ScanResult r;
  const std::uint64_t end = std::min(a.start + a.len, as_.pages());
  for (std::uint64_t g = a.start; g < end; ++g) {
    ++r.walked;
    const std::uint32_t c = categories(g) ^ a.category_inverted;
    if ((c & a.category_mask) != a.category_mask) continue;
    if (a.category_anyof_mask && !(c & a.category_anyof_mask)) continue;
    const std::uint32_t ret = (c ^ a.category_inverted) & a.return_mask;
    if (!r.regions.empty() && r.regions.back().start + r.regions.back().len == g && r.regions.back().categories == ret)
      ++r.regions.back().len;
    else
      r.regions.push_back({g, 1, ret});
    ++r.matched;
    if (a.max_pages && r.matched >= a.max_pages) break;
  }
  r.cost_ns = costs_.ioctl_ns + static_cast<TimeNs>(r.walked) * costs_.scan_per_pte_ns;
  return r;
}

IoctlResult Uffd::dontneed(const std::vector<std::uint64_t>& gfns) {
  std::uint64_t n = 0;
  for (auto g : gfns) {
    const mm::Pte p = as_.pte_at(g);
    if (pte::present(p)) {
      as_.zap(g);  // anon: the frame is freed; shmem: only the PTE goes
      ++n;
    }
  }
  return finish(n, true);
}

IoctlResult Uffd::punch_hole(const std::vector<std::uint64_t>& gfns) {
  std::uint64_t n = 0;
  for (auto g : gfns) {
    if (as_.in_page_cache(g) || pte::present(as_.pte_at(g))) {
      as_.punch_hole(g);
      ++n;
    }
  }
  return finish(n, true);
}

}  // namespace vmemsim::uffd
