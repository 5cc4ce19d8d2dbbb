// One VM's page table: the only code that writes PTE bits (KERNEL-MODEL.md §2).
//
// Lifecycle: owned by the AddressSpace. The vCPU executor is the MMU: it reads PTEs through
// slots() on the fast path and sets the accessed/dirty bits of a PTE that allowed an access,
// as the hardware does. Every other change is one of the named transitions below, each the
// model of a kernel primitive (set_pte_at / pte_mk* / ptep_modify_prot_commit /
// pte_clear / make_pte_marker). Transitions that set or clear PROT_NONE record who did it in
// the ground truth, which nothing but metrics reads.
#pragma once
#include <cstdint>

#include "models/mm/ground_truth.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/pte.hpp"
#include "sim/core/error.hpp"
#include "sim/core/flat_array.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::mm {

using core::NodeId;
using core::Pfn;

class PageTable {
 public:
  explicit PageTable(std::uint64_t pages) : pages_(pages), slots_(pages) {}

  std::uint64_t pages() const { return pages_; }
  Pte pte(Gfn g) const { return slots_[g.v].pte; }
  // The MMU's view (vCPU fast path, ground-truth stamps). Only the hardware A/D update of an
  // access the PTE allowed is written through it.
  PageSlot* slots() { return slots_.data(); }
  const PageSlot* slots() const { return slots_.data(); }
  void attach_truth(GroundTruth* t) { truth_ = t; }
  void attach_host(const HostMemory* h) { host_ = h; }
  // PTEs that map a frame: present (PROT_NONE included) and not the zero page, each of a PMD
  // mapping's 512 slots counted. This is the process RSS (the mm's MM_ANONPAGES +
  // MM_SHMEMPAGES, /proc/pid/status VmRSS): a frame shared by several mappings, a KSM page
  // above all, counts in every one of them; the zero page counts in none (vm_normal_page()
  // returns NULL for it, so zap_present_ptes() never calls add_mm_counter for it). Kept by
  // the transitions below that replace a whole PTE (set_pte()), O(1) per change; the bit
  // updates in place never change it.
  std::uint64_t mapped() const { return mapped_; }
  // The O(pages) recount check_invariants() compares mapped() with.
  static bool maps_frame(Pte p) { return pte::present(p) && !pte::zero_page(p); }

  // set_pte_at(mk_pte(...)): map a frame. `uffd_wp` carries a uffd-wp bit into the new PTE
  // (pte_mkuffd_wp write-protects it, as on x86).
  void map(Gfn g, Pfn pfn, NodeId node, bool writable, bool uffd_wp = false) {
    Pte p = pte::make_present(pfn.v, node.v, writable && !uffd_wp);
    if (uffd_wp) p |= pte::kUffd;
    set_pte(g, p);
    truth_->set_origin(g, PnOrigin::None);
  }
  // The shared zero page, read-only (do_anonymous_page's read path).
  void map_zero(Gfn g, bool uffd_wp = false) {
    set_pte(g, pte::make_present(pte::kZeroPfn, 0, false) | (uffd_wp ? pte::kUffd : 0));
    truth_->set_origin(g, PnOrigin::None);
  }
  // ptep_get_and_clear(): the PTE becomes none; returns what it was.
  Pte clear(Gfn g) {
    const Pte old = slots_[g.v].pte;
    set_pte(g, 0);
    truth_->set_origin(g, PnOrigin::None);
    return old;
  }
  // make_pte_marker(PTE_MARKER_UFFD_WP) on a none PTE (or a zapped one that keeps its marker).
  void set_marker(Gfn g) {
    set_pte(g, pte::kUffd);
    truth_->set_origin(g, PnOrigin::None);
  }
  // change_pte_range() with MM_CP_PROT_NUMA / PAGE_NONE: the frame stays mapped, the write bit
  // is kept as the saved write permission; `uffd_bit` adds the RWP marker.
  void protnone(Gfn g, bool uffd_bit, PnOrigin origin) {
    Pte& p = slots_[g.v].pte;
    VMEMSIM_CHECK(pte::present(p), "PROT_NONE on a non-present pte at gfn " << g.v);
    p |= pte::kProtNone | (uffd_bit ? pte::kUffd : 0);
    truth_->set_origin(g, origin);
  }
  // ptep_test_and_clear_young() (folio_referenced() in reclaim): was the PTE young? On x86
  // clearing the accessed bit needs no TLB flush (ptep_clear_flush_young).
  bool test_and_clear_young(Gfn g) {
    Pte& p = slots_[g.v].pte;
    const bool y = pte::present(p) && pte::young(p);
    p &= ~pte::kAccessed;
    return y;
  }
  // PROT_NONE -> accessible, young (pte_modify + pte_mkyoung); `mkwrite` keeps write permission
  // where the page had it; `keep_uffd` keeps a uffd-wp bit (do_numa_page's pte_modify keeps it).
  void restore(Gfn g, bool mkwrite, bool keep_uffd) {
    Pte& p = slots_[g.v].pte;
    p &= ~(pte::kProtNone | (keep_uffd ? 0 : pte::kUffd));
    if (!mkwrite || pte::uffd(p) || ksm_page(p)) p &= ~pte::kWrite;
    p |= pte::kAccessed;
    truth_->set_origin(g, PnOrigin::None);
  }
  // uffd-wp on a present PTE (pte_mkuffd_wp: the bit and no write), or its removal
  // (pte_clear_uffd_wp, with write permission back when `mkwrite`).
  void set_uffd_wp(Gfn g) { slots_[g.v].pte = (slots_[g.v].pte & ~pte::kWrite) | pte::kUffd; }
  void clear_uffd_wp(Gfn g, bool mkwrite) {
    Pte& p = slots_[g.v].pte;
    p &= ~pte::kUffd;
    if (mkwrite && pte::present(p) && !pte::protnone(p) && !pte::zero_page(p) && !ksm_page(p)) p |= pte::kWrite;
  }
  // pte_swp_mkuffd_wp / pte_swp_clear_uffd_wp: the bit rides in a swap entry.
  void set_swap_uffd(Gfn g, bool on) {
    Pte& p = slots_[g.v].pte;
    VMEMSIM_CHECK(pte::swap(p), "not a swap entry at gfn " << g.v);
    p = on ? (p | pte::kUffd) : (p & ~pte::kUffd);
  }
  // write_protect_page() (mm/ksm.c): pte_mkclean(pte_wrprotect()); the uffd-wp bit stays.
  void wrprotect_clean(Gfn g) { slots_[g.v].pte &= ~(pte::kWrite | pte::kDirty); }
  // pte_mkdirty(): KSM marks the zero page it maps (is_ksm_zero_pte).
  void mkdirty(Gfn g) { slots_[g.v].pte |= pte::kDirty; }
  // pte_mkyoung() (a new PMD built from vm_page_prot, which has _PAGE_ACCESSED on x86).
  void mkyoung(Gfn g) { slots_[g.v].pte |= pte::kAccessed; }
  // maybe_mkwrite(): the write fault's reuse of an exclusive page.
  void mkwrite(Gfn g) { slots_[g.v].pte |= pte::kWrite; }
  // remove_migration_pte() after a migration of a PROT_NONE or present PTE (mm/migrate.c): the
  // new frame is mapped with the VMA's protection (`writable`: vm_page_prot has the write bit,
  // as for a shared mapping without write notification; private anon has none, so a later
  // write takes do_wp_page's reuse path); the migration entry carried the young, dirty and
  // uffd-wp bits of the old PTE (try_to_migrate_one), so they survive.
  void remap_migrated(Gfn g, Pfn pfn, NodeId node, bool writable) {
    const Pte p = slots_[g.v].pte;
    VMEMSIM_CHECK(pte::present(p), "migration of a non-present pte at gfn " << g.v);
    set_pte(g, pte::make_present(pfn.v, node.v, writable && !pte::uffd(p)) | (p & (pte::kAccessed | pte::kDirty | pte::kUffd)));
    truth_->set_origin(g, PnOrigin::None);
  }
  // ---- PMD mappings (models/thp; pte.hpp says how a PMD is kept in its 512 slots) ----
  // set_pmd_at(): slot g becomes part of a PMD mapping.
  void set_huge(Gfn g) { slots_[g.v].pte |= pte::kHuge; }
  // __split_huge_pmd_locked(): slot g becomes an ordinary PTE with the PMD's young and dirty
  // bits (the OR over the PMD's slots, computed by the caller).
  void split_huge(Gfn g, bool young, bool dirty) {
    Pte& p = slots_[g.v].pte;
    p = (p & ~(pte::kHuge | pte::kAccessed | pte::kDirty)) | (young ? pte::kAccessed : 0) | (dirty ? pte::kDirty : 0);
  }
  // The PMD is one entry: slot g takes the protection bits (PROT_NONE, write, uffd) that a
  // fault or transition left on slot `from` of the same PMD.
  void pmd_sync(Gfn g, Pte from) {
    constexpr Pte kProt = pte::kProtNone | pte::kWrite | pte::kUffd;
    Pte& p = slots_[g.v].pte;
    const bool was_pn = pte::protnone(p);
    p = (p & ~kProt) | (from & kProt);
    if (was_pn && !pte::protnone(p)) truth_->set_origin(g, PnOrigin::None);
  }

  // Reclaim: the PTE becomes a swap entry for `slot`, keeping a uffd bit (pte_swp_mkuffd_wp);
  // a NUMA PROT_NONE is lost.
  void to_swap(Gfn g, std::uint32_t slot) {
    const Pte p = slots_[g.v].pte;
    set_pte(g, pte::kSwap | (p & pte::kUffd) | slot);
    truth_->set_origin(g, PnOrigin::None);
  }

 private:
  // set_pte(): the one write of a whole PTE, where the RSS counter follows it.
  void set_pte(Gfn g, Pte p) {
    Pte& cur = slots_[g.v].pte;
    mapped_ = mapped_ - maps_frame(cur) + maps_frame(p);
    cur = p;
  }
  // can_change_pte_writable(): a KSM page is never PageAnonExclusive, so no transition that
  // restores write permission in place (uffd-wp resolve, a PROT_NONE restore) makes it
  // writable; only a COW break does.
  bool ksm_page(Pte p) const { return host_ && !pte::zero_page(p) && host_->is_ksm(Pfn(pte::pfn(p))); }
  std::uint64_t pages_;
  core::FlatArray<PageSlot> slots_;
  GroundTruth* truth_ = nullptr;
  const HostMemory* host_ = nullptr;
  std::uint64_t mapped_ = 0;
};

}  // namespace vmemsim::mm
