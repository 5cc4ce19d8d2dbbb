// ksmd: Kernel Samepage Merging (mm/ksm.c), one daemon per host.
//
// Lifecycle: the kernel.ksm section (ksm_section.cpp; knobs with the /sys/kernel/mm/ksm names)
// builds, when `run` is 1, one Ksmd per host and one KsmVm per VM of that host (added to the
// VM's VmKernel::mechanisms, so KSM off costs no per-page memory and adds nothing to the
// result). Each VM whose AddressSpaceConfig::mergeable is set (MADV_MERGEABLE) and whose
// memory is anon is an mm_slot of ksmd's scan list, in scenario order. The engine wakes the
// daemon every sleep_millisecs; run_batch() is ksm_do_scan(pages_to_scan) and charges its CPU
// on a host core (DaemonEnv::cpu). Unit tests call scan() directly.
//
// What ksmd sees of a page is its content word (models/mm/content.hpp), never ground truth:
// the checksum gate, the trees and the merges are all keyed by content, and sharing emerges
// from the content the workload leaves and the order of events.
//
// Public names (stable; the live-kernel comparison on branch `ksmk` reads them):
//   Ksmd::stats() under summary.kernel.daemons.ksmd.<host>:
//     pages_shared, pages_sharing, pages_unshared, pages_volatile, pages_scanned,
//     pages_skipped, full_scans, ksm_zero_pages, stable_node_chains, stable_node_dups,
//     general_profit, ksm_rmap_items (sysfs names and definitions, with the kernel's lags:
//     a COW break leaves pages_sharing unchanged until ksmd revisits the page), and beyond
//     sysfs: merges, zero_merges, cow_breaks (writes that copied a KSM page), frames_freed
//     (frames a merge actually released), ptes_walked, tlb_flushes, cpu_ns,
//     uffd_wp_lost_truth (ground truth: uffd-wp protections a merge dropped),
//     protnone_lost_truth (ground truth: PROT_NONE PTEs a merge rebuilt accessible).
//   KsmVm (summary.vms[i].kernel.ksm): mergeable, ksm_rmap_items, ksm_merging_pages,
//     ksm_zero_pages, ksm_process_profit (/proc/<pid>/ksm_stat), cow_breaks,
//     uffd_wp_lost_truth.
//
// Memory: KsmVm keeps one 12-byte rmap item per guest page of a mergeable VM (the kernel's
// struct ksm_rmap_item is 64 B per scanned page; general_profit charges those 64 B as the
// kernel does), and the VM's content array costs 8 B per page; HostMemory's KSM bitmap 1 bit
// per frame once anything merged. The trees hold one entry per unstable page and per KSM page.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/kernel/daemon.hpp"
#include "models/kernel/mechanism.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "sim/core/flat_array.hpp"

namespace vmemsim::ksm {

using core::TimeNs;

struct KsmConfig {
  unsigned pages_to_scan = 100;             // pages_to_scan
  TimeNs sleep_ns = 20'000'000;             // sleep_millisecs
  unsigned max_page_sharing = 256;          // max_page_sharing
  bool merge_across_nodes = true;           // merge_across_nodes
  bool use_zero_pages = false;              // use_zero_pages
  bool smart_scan = true;                   // smart_scan
  // Linux 6.18's replace_page() builds the new PTE from vma->vm_page_prot and drops the
  // uffd-wp bit; a kernel that carries it over (pte_mkuffd_wp) sets this.
  bool keep_uffd_wp = false;
  // Costs (ns), see ksm_section.cpp for their sources.
  TimeNs walk_ns = 10;        // per PTE looked at by the scan
  TimeNs checksum_ns = 400;   // calc_checksum(): xxhash of 4 KiB
  TimeNs cmp_ns = 150;        // one memcmp_pages() in a tree walk
  TimeNs merge_ns = 1500;     // write_protect_page() / replace_page() (rmap, PTE, refcounts)
  TimeNs tlb_flush_ns = 2000; // the initiator's ptep_clear_flush()
};

// struct ksm_rmap_item, 12 bytes, one per page of a mergeable VM.
struct RmapItem {
  std::uint32_t oldchecksum = 0;
  std::uint32_t ref = 0;          // STABLE: the KSM page's pfn; UNSTABLE: the scan's seqnr
  std::uint8_t flags = 0;         // kExists | kStable | kUnstable
  std::uint8_t age = 0;           // smart scan: scans without a merge (rmap_age_t)
  std::uint8_t remaining_skips = 0;
  std::uint8_t pad = 0;
};
static_assert(sizeof(RmapItem) == 12);

// The per-VM face of KSM: its mm_slot (rmap items) and the per-mm counters of
// /proc/<pid>/ksm_stat.
class KsmVm final : public kernel::VmMechanism {
 public:
  explicit KsmVm(mm::AddressSpace& as);
  const char* name() const override { return "ksm"; }
  core::Json summary() const override;
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;

  mm::AddressSpace& as() { return as_; }
  // MADV_MERGEABLE took effect: an anon VMA with the advice (a no-op on shmem).
  bool mergeable() const { return mergeable_; }
  std::uint64_t rmap_items() const { return rmap_items_; }
  std::uint64_t merging_pages() const { return merging_; }  // mm->ksm_merging_pages
  std::uint64_t uffd_wp_lost() const { return uffd_wp_lost_; }

 private:
  friend class Ksmd;
  mm::AddressSpace& as_;
  bool mergeable_;
  core::FlatArray<RmapItem> items_;
  std::uint64_t rmap_items_ = 0, merging_ = 0, uffd_wp_lost_ = 0;
  std::uint64_t protnone_lost_ = 0;  // ground truth: PROT_NONE PTEs (NUMA hint, DEACTIVATE) a merge rebuilt
};

class Ksmd final : public kernel::KernelDaemon {
 public:
  Ksmd(std::string name, unsigned host, unsigned node, mm::HostMemory& mem, std::vector<KsmVm*> vms, KsmConfig cfg);

  const std::string& name() const override { return name_; }
  unsigned host() const override { return host_; }
  unsigned node() const override { return node_; }
  TimeNs next_wakeup(TimeNs now) override;
  void run_batch(kernel::DaemonEnv& env, TimeNs now) override;
  core::Json stats() const override;
  // CPU of the batches that have ended (a batch's time is charged when it ends, as a tick-
  // sampled utime is; scan() alone counts it in counters().cpu_ns at once).
  TimeNs cpu_ns() const override { return cpu_done_; }
  // Series: pages_scanned, full_scans, merges, cow_breaks, frames_freed per interval; gauges
  // pages_shared, pages_sharing, ksm_zero_pages, general_profit and frames_saved.
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;

  // Frames KSM saves right now, without the sysfs lags: for every KSM page, its mappers beyond
  // the first (folio_mapcount() - 1), plus the PTEs mapped to the zero page by use_zero_pages.
  // A COW break or the zap of a sharer lowers it at once; pages_sharing only when ksmd next
  // visits the address.
  std::uint64_t frames_saved() const;
  // summary.kernel.daemons.ksmd.<host>.steady_sharing: when pages_sharing + ksm_zero_pages
  // settled (see ksm.cpp).
  core::Json steady_sharing() const;

  // ksm_do_scan(): up to `pages` rmap items through cmp_and_merge_page(). Returns the CPU
  // time it took; each TLB flush it made is reported through `flush` (may be null).
  TimeNs scan(unsigned pages, void (*flush)(void*, core::VmId) = nullptr, void* ctx = nullptr);

  struct Counters {
    std::uint64_t pages_shared = 0, pages_sharing = 0, pages_unshared = 0, pages_scanned = 0, pages_skipped = 0,
                  full_scans = 0, stable_node_chains = 0, stable_node_dups = 0, rmap_items = 0, merges = 0,
                  zero_merges = 0, frames_freed = 0, ptes_walked = 0, tlb_flushes = 0;
    TimeNs cpu_ns = 0;
  };
  const Counters& counters() const { return c_; }
  std::uint64_t pages_volatile() const;
  std::uint64_t ksm_zero_pages() const;
  std::int64_t general_profit() const;
  std::uint64_t cow_breaks() const;
  std::uint64_t uffd_wp_lost() const;
  const KsmConfig& config() const { return cfg_; }

 private:
  struct Key {
    std::uint64_t content;
    unsigned nid;  // 0 when merge_across_nodes
    auto operator<=>(const Key&) const = default;
  };
  struct Dup {  // one stable node (a KSM page) and the rmap items that map it
    Key key;
    std::vector<mm::Mapper> items;
  };
  enum : std::uint8_t { kExists = 1, kStable = 2, kUnstable = 4 };

  KsmVm& vm(core::VmId id) { return *by_vm_[id.v]; }
  RmapItem& item(mm::Mapper m) { return vm(m.vm).items_[m.gfn.v]; }
  Key key_of(KsmVm& v, core::Gfn g, mm::Pfn pfn) const;
  bool next_item(KsmVm*& v, core::Gfn& g);
  bool should_skip_rmap_item(RmapItem& it, mm::Pfn pfn, mm::Mapper m);
  void cmp_and_merge_page(KsmVm& v, core::Gfn g);
  void remove_rmap_item_from_tree(mm::Mapper m);
  mm::Pfn stable_tree_search(const Key& k, mm::Pfn page);
  void stable_tree_insert(const Key& k, mm::Pfn kpfn);
  void stable_tree_append(mm::Mapper m, mm::Pfn kpfn);
  void prune_chain(std::vector<std::uint32_t>& chain);
  void remove_node_from_stable_tree(std::uint32_t kpfn);
  bool unstable_tree_search_insert(const Key& k, mm::Mapper self, mm::Mapper& tree);
  bool exclusive(mm::AddressSpace& as, mm::Pfn pfn) const;
  void replace(KsmVm& v, core::Gfn g, mm::Pfn kpfn);
  void flush(core::VmId vm);
  template <class F>
  std::uint64_t sum_vms(F f) const;  // a per-VM counter summed over the host's VMs

  std::string name_;
  unsigned host_, node_;
  mm::HostMemory& mem_;
  std::vector<KsmVm*> slots_;  // the mm_slot list, scan order
  std::vector<KsmVm*> by_vm_;  // by VmId
  KsmConfig cfg_;
  // ksm_scan: the cursor (mm_slot, address) and seqnr.
  std::size_t cur_vm_ = 0;
  std::uint64_t cur_gfn_ = 0;
  std::uint32_t seqnr_ = 0;
  std::map<Key, mm::Mapper> unstable_;                 // root_unstable_tree[nid]
  std::map<Key, std::vector<std::uint32_t>> stable_;   // root_stable_tree[nid]: a node or a chain of dups
  std::map<std::uint32_t, Dup> dups_;                  // stable nodes by kpfn
  Counters c_;
  // pages_sharing + ksm_zero_pages at the end of each full scan (the batch that ended it), for
  // the time to steady-state sharing in stats(). One entry per full scan.
  struct ScanEnd {
    TimeNs t;
    std::uint64_t profit_pages;
  };
  std::vector<ScanEnd> scan_ends_;
  TimeNs cpu_done_ = 0;
  TimeNs cost_ = 0;  // the running scan()'s CPU
  void (*flush_)(void*, core::VmId) = nullptr;
  void* flush_ctx_ = nullptr;
  TimeNs next_ = 0;
};

}  // namespace vmemsim::ksm
