// One VM's memory as the host kernel sees it: the mm (one VMA over guest memory with its
// backing, mempolicy and vm_flags), its page table, the shmem page cache when guest memory is a
// memfd, the mmap lock and TLB, its fault router, and beside it the hidden ground truth.
//
// Lifecycle: built by the scenario layer per VM; the mechanism registry then installs fault
// handlers into router(). vCPU executors check pte::accessible() on the slot and stamp
// truth().note_access() on the fast path, and call fault()/gup() on the slow path. Mechanisms
// change PTEs through page_table() transitions and pages through the primitives below, which
// keep frames, the rmap and the counters consistent. Each object has one owner: PTE bits are
// written by PageTable, frames by HostMemory, truth by GroundTruth, uffd state by uffd::Uffd.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/mm/content.hpp"
#include "models/mm/fault_router.hpp"
#include "models/mm/ground_truth.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/huge.hpp"
#include "models/mm/kernel_variant.hpp"
#include "models/mm/page_table.hpp"
#include "models/mm/pte.hpp"
#include "sim/core/flat_array.hpp"
#include "sim/core/rng.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::mm {

// Hugetlb: a hugetlbfs file (models/hugetlb), page-cache backed like shmem, 2 MiB folios only.
enum class Backing : std::uint8_t { Anon, Shmem, Hugetlb };

// Where new pages are placed (the VMA's mempolicy).
enum class Placement : std::uint8_t {
  Local,       // first touch on the faulting vCPU's node (MPOL_LOCAL, the default)
  Preferred,   // the VM's home node first, then by distance (MPOL_PREFERRED)
  Interleave,  // node by page offset across the given nodes (MPOL_INTERLEAVE)
};

// The VMA's userfaultfd registration (vm_flags VM_UFFD_*). The context's features and mode
// live in uffd::Uffd.
struct UffdVma {
  bool missing = false;  // VM_UFFD_MISSING
  bool wp = false;       // VM_UFFD_WP
  bool minor = false;    // VM_UFFD_MINOR (anon needs UFFD_FEATURE_MINOR_ANON, rfc-v1)
  bool rwp = false;      // VM_UFFD_RWP (rwp); exclusive with wp: they share the PTE bit
  bool any() const { return missing || wp || minor || rwp; }
};

// Per-patch switches, so each change of a series can be ablated (KERNEL-MODEL.md §5). Each is
// named after the change it removes.
struct KernelPatches {
  // rfc-v1 cover letter, "NUMA Balancing": the uffd minor fault path calls task_numa_fault()
  // ("NUMA stats fed from uffd fault path instead"). Not 07/12, which is the task_numa_work()
  // skip of anon VM_UFFD_MINOR VMAs and belongs to the NUMA scanner.
  bool uffd_feeds_numa = true;
  bool gup_rwp_fault = true;  // rwp v2 07/14: gup_can_follow_protnone() false on VM_UFFD_RWP
  // rfc-v1 07/12: task_numa_work() skips anonymous VM_UFFD_MINOR VMAs (NUMAB_SKIP_UFFD_MINOR).
  bool numab_skip_uffd_minor = true;
  // rwp v2 07/14 (seed 002), khugepaged hunk: try_collapse_pte_mapped_thp() and
  // file_backed_vma_is_retractable() check userfaultfd_protected() (VM_UFFD_WP or VM_UFFD_RWP)
  // instead of userfaultfd_wp().
  bool khugepaged_uffd_protected = true;
  // rwp v2 07/14 (seed 002), rmap hunk: folio_unmap_pte_batch() returns 1 on VM_UFFD_RWP VMAs
  // too (userfaultfd_protected() instead of userfaultfd_wp()).
  bool rmap_uffd_protected = true;
};

// Kernel-side costs of the fault paths (ns). Defaults and their sources live in the scenario
// reader (sim/scenario), where each is a knob.
struct FaultCosts {
  TimeNs minor_fault_ns = 1500;
  // The faulting side of a sync userfault up to the sleep: exception entry, VMA lookup,
  // handle_userfault() queueing the message. No page is allocated (UFFDIO_COPY does that).
  TimeNs userfault_ns = 500;
  TimeNs page_clear_ns = 250;
  TimeNs page_copy_ns = 400;
  TimeNs tlb_ipi_ns = 1000;  // time a vCPU loses to one TLB-shootdown IPI
};

struct AddressSpaceConfig {
  std::uint16_t vm = 0;
  std::uint64_t pages = 0;
  Backing backing = Backing::Anon;
  Placement placement = Placement::Local;
  unsigned home_node = 0;
  std::vector<unsigned> interleave_nodes;
  // fallback[n] = allocation order for a fault whose preferred node is n (n first, then nodes
  // by increasing distance, skipping CPU-less/full nodes only by running out of frames).
  std::vector<std::vector<unsigned>> fallback;
  // The host maps the shared zero page on anon read faults (!mm_forbids_zeropage(), the
  // kernel's default). Hosts that map a private page instead set it false.
  bool use_zero_page = true;
  // madvise(MADV_MERGEABLE) on guest memory (VM_MERGEABLE): QEMU's mem-merge, on by default.
  // ksmd scans only mergeable anon VMAs; on shmem the advice is a no-op (ksm_madvise only
  // marks anonymous private mappings as KSM-able).
  bool mergeable = true;
  Variant variant{};  // the first row of the capability table (upstream)
  KernelPatches patches;
  FaultCosts costs;
  TimeNs epoch_ns = core::kNsPerSec / 10;  // ground-truth working-set granularity
  unsigned vmm_threads = 1;  // threads of the VMM process besides the vCPUs (they count in mm_users)
  TimeNs duration_ns = 0;
};

// A thread of the VM's process (a vCPU thread): what the scheduler knows of it. Mechanisms
// keep their own per-task state in vectors indexed by the task's index.
struct Task {
  NodeId cpu_node;              // the node of the CPU it runs on (task_node())
  NodeId next_node;             // where the scheduler has moved it: cpu_node from its next quantum
  std::uint32_t pid = 0;        // a deterministic pid (hashed by the NUMA scanner's VMA pid bits)
  TimeNs runtime_ns = 0;        // se.sum_exec_runtime: time on a CPU, stalls excluded
  std::uint64_t node_moves = 0; // times the scheduler moved it to another node
};

// The result of migrating one page's frame (migrate_misplaced_folio, mm/migrate.c).
enum class MigrateResult : std::uint8_t {
  Migrated,
  NoMemory,  // no free frame on the target node (alloc_misplaced_dst_folio: __GFP_THISNODE)
  Busy,      // unexpected references (folio_expected_refs: pinned, shared): -EAGAIN
};

// Statistics a task_numa_fault() call carries (kernel/sched/fair.c).
struct NumaFaultInfo {
  Gfn gfn;
  unsigned vcpu;
  NodeId mem_node, cpu_node;
  bool migrated = false;
  TimeNs now = 0;
};

class AddressSpace {
 public:
  AddressSpace(AddressSpaceConfig cfg, HostMemory& host);
  AddressSpace(const AddressSpace&) = delete;
  AddressSpace& operator=(const AddressSpace&) = delete;

  const AddressSpaceConfig& config() const { return cfg_; }
  const KernelCaps& caps() const { return *caps_; }
  std::uint64_t pages() const { return cfg_.pages; }
  bool anon() const { return cfg_.backing == Backing::Anon; }
  VmId vm() const { return VmId(cfg_.vm); }
  HostMemory& host() { return host_; }

  PageTable& page_table() { return pt_; }
  const PageTable& page_table() const { return pt_; }
  PageSlot* slots() { return pt_.slots(); }
  Pte pte_at(Gfn g) const { return pt_.pte(g); }
  GroundTruth& truth() { return truth_; }
  const GroundTruth& truth() const { return truth_; }
  FaultRouter& router() { return router_; }
  const FaultRouter& router() const { return router_; }

  // ---- fault paths ----
  // Slow path of a vCPU access that the PTE did not allow: handle_mm_fault().
  FaultOutcome fault(Gfn g, bool write, unsigned vcpu, NodeId cpu_node, TimeNs now);
  // A device access through get_user_pages() (vhost-style). Follows a PROT_NONE PTE without a
  // fault unless the caller honours NUMA faults or the VMA is RWP-tracked
  // (gup_can_follow_protnone). `invisible` is set when the access went through a PROT_NONE PTE
  // that stays PROT_NONE.
  FaultOutcome gup(Gfn g, bool write, bool honor_numa_fault, unsigned vcpu, NodeId cpu_node, TimeNs now,
                   bool& invisible);

  // ---- the VMA ----
  UffdVma& uffd_vma() { return vma_uffd_; }
  const UffdVma& uffd_vma() const { return vma_uffd_; }

  // ---- page primitives (keep frames, rmap, page cache and counters consistent) ----
  // A new frame for page g by the VMA's mempolicy, preferring `cpu_node` for MPOL_LOCAL.
  // It holds one reference and no mapping.
  std::optional<Pfn> alloc_frame(Gfn g, NodeId cpu_node);
  // Maps frame `pfn` (reference held by the caller, handed to the mapping) at g.
  void map_frame(Gfn g, Pfn pfn, bool writable, bool uffd_wp = false);
  void map_zero_page(Gfn g, bool uffd_wp = false);
  // zap_pte_range(): the PTE becomes none (`keep_marker`: shmem keeps a uffd-wp marker where a
  // protected PTE or marker was); anon drops its frame, shmem keeps the page-cache folio.
  void zap(Gfn g, bool keep_marker = false);
  // fallocate(PUNCH_HOLE) on shmem: drops the page-cache folio (and any mapping of it).
  void punch_hole(Gfn g);
  // A page-cache slot holds a frame (pfn + 1) or, after shmem reclaim (shmem_writeout()), a
  // swap entry (kCacheSwap | slot): the page is in the file but not in memory.
  static constexpr std::uint32_t kCacheSwap = 1u << 31;
  bool in_page_cache(Gfn g) const { return !anon() && cache_[g.v] != 0 && !(cache_[g.v] & kCacheSwap); }
  bool cache_swapped(Gfn g) const { return !anon() && (cache_[g.v] & kCacheSwap) != 0; }
  bool in_file(Gfn g) const { return !anon() && cache_[g.v] != 0; }  // SEEK_DATA: in memory or on swap
  // shmem_writeout(): the unmapped page-cache page at g goes to swap slot `slot`; its frame is
  // freed. shmem_swapin_folio(): a new frame for it, the slot freed (no swap cache).
  void shmem_swap_out(Gfn g, std::uint32_t slot);
  bool shmem_swap_in(Gfn g, NodeId cpu_node);
  std::uint64_t shmem_swapped() const { return shmem_swapped_; }
  Pfn cache_pfn(Gfn g) const { return Pfn(cache_[g.v] - 1); }
  // shmem: adds a new frame to the page cache at index g (shmem_alloc_and_add_folio).
  void add_to_cache(Gfn g, Pfn pfn);
  // Removes index g from the page cache and hands its reference to the caller (hugetlb: the
  // folio goes back to the pool whole, models/hugetlb punch_folio).
  Pfn take_from_cache(Gfn g);
  // shmem: maps the page-cache folio at g (finish_fault); keeps a uffd-wp bit when asked.
  void map_from_cache(Gfn g, bool uffd_wp = false);
  // UFFDIO_COPY / UFFDIO_ZEROPAGE: install a page at a none PTE with data of version
  // `content_version` (the zero page for ZEROPAGE on anon); false when no frame is left.
  // `content` is what the source buffer holds (content.hpp; zeroes for ZEROPAGE), kept when the
  // VM tracks content; without it the page keeps the content it had.
  bool install(Gfn g, NodeId cpu_node, bool zero_page_ok, std::uint32_t content_version, TimeNs now,
               std::optional<std::uint64_t> content = std::nullopt);
  // Reclaim to swap: PRESENT/PROT_NONE -> SWAP entry (the uffd bit survives; a NUMA PROT_NONE
  // does not). Drops the frame.
  void swap_out(Gfn g, std::uint32_t slot);
  std::uint64_t swap_ptes() const { return swap_ptes_; }  // pages of this VM out on swap
  // do_swap_page: a new frame; rwp re-applies PROT_NONE when the swap entry kept the uffd bit.
  bool swap_in(Gfn g, NodeId cpu_node);

  // migrate_misplaced_folio()'s move (mm/migrate.c): a frame on `target` (that node only),
  // the contents copied, the PTE rebuilt by remove_migration_pte() (PageTable::remap_migrated:
  // not writable, young/dirty/uffd-wp kept), the old frame freed. The caller decides whether
  // to migrate (watermarks, policy); this checks the references a migration needs.
  MigrateResult migrate_page(Gfn g, NodeId target);

  // ---- page content (content.hpp) ----
  // Allocates the content array (8 B per page) and fills it from `spec`. Idempotent: a second
  // call with a default spec (KSM turning content on) keeps what is there.
  void enable_content(const ContentSpec& spec);
  bool has_content() const { return content_.size() != 0; }
  std::uint64_t content(Gfn g) const { return content_[g.v]; }
  // The vCPU's view: null when the VM has no content array (the fast path's one branch).
  std::uint64_t* content_data() { return content_.size() ? content_.data() : nullptr; }
  // A guest write to g changed its data (drawn from the writing vCPU's stream).
  void content_write(Gfn g, core::Rng& r);
  // A write of known data (tests, a VMM filling a page): the page now holds `c`.
  void set_content(Gfn g, std::uint64_t c) { content_[g.v] = c; }

  // ---- KSM primitives (mm/ksm.c), used by ksmd ----
  // write_protect_page(): the page becomes a KSM page in place: PTE write-protected and clean
  // (pte_mkclean(pte_wrprotect)); a uffd-wp bit stays. The frame is flagged KSM.
  void ksm_write_protect(Gfn g);
  // replace_page(): g's PTE now maps KSM page `kpfn`, built from the VMA's protection
  // (mk_pte(kpage, vma->vm_page_prot): read-only, not young, no uffd-wp bit unless
  // `keep_uffd_wp`); the old frame loses this mapping and is freed if it was the last.
  // Returns true when the old frame was freed.
  bool ksm_replace(Gfn g, Pfn kpfn, bool keep_uffd_wp);
  // replace_page() with the zero page (use_zero_pages): pte_mkdirty(pte_mkspecial(zero pfn)),
  // the dirty bit marking it a KSM zero page (is_ksm_zero_pte); counted in ksm_zero_pages until
  // the PTE goes (ksm_might_unmap_zero_page). Returns true when the old frame was freed.
  bool ksm_map_zero(Gfn g, bool keep_uffd_wp);
  std::uint64_t ksm_zero_pages() const { return ksm_zero_pages_; }  // mm->ksm_zero_pages
  // Writes that copied a KSM page (do_wp_page on a KSM folio: never reused).
  std::uint64_t ksm_cow_breaks() const { return ksm_cow_; }
  void note_ksm_cow() { ++ksm_cow_; }

  // ---- tasks (the threads of the process: mm_users) ----
  unsigned add_task(NodeId cpu_node, std::uint32_t pid);
  unsigned task_count() const { return static_cast<unsigned>(tasks_.size()); }
  // mm_users: the vCPU threads plus the VMM's other threads (main loop, I/O threads).
  unsigned mm_users() const { return task_count() + cfg_.vmm_threads; }
  const Task& task(unsigned i) const { return tasks_[i]; }
  // The scheduler moved task i to a CPU of `node`. The move takes effect when the task's
  // current quantum ends (apply_task_move), so that everything within a quantum sees one node.
  void set_task_node(unsigned i, NodeId node);
  void apply_task_move(unsigned i);
  void account_runtime(unsigned i, TimeNs ran) { tasks_[i].runtime_ns += ran; }
  // task_work (kernel/task_work.c) and the scheduler tick's per-task hooks: callbacks run in
  // a task's own context (its vCPU, at the start of each quantum), so their cost is the
  // task's CPU time. Each returns the time it used. Mechanisms register them at build time.
  using TaskWorkFn = std::function<TimeNs(unsigned task, TimeNs now)>;
  void add_task_work(TaskWorkFn fn) { task_work_.push_back(std::move(fn)); }
  bool has_task_work() const { return !task_work_.empty(); }
  TimeNs run_task_work(unsigned task, TimeNs now);

  // Kernel work done in a task's context (task work, a page migration), kept for the
  // --timeline trace while tracing is on; the engine drains it after each quantum.
  struct TaskEvent {
    const char* what;
    unsigned task;
    TimeNs start, end;
  };
  void set_tracing(bool on) { tracing_ = on; }
  void trace(const char* what, unsigned task, TimeNs start, TimeNs end) {
    if (tracing_) events_.push_back({what, task, start, end});
  }
  std::vector<TaskEvent> take_events() { return std::exchange(events_, {}); }

  // wp_page_reuse(): a write made an exclusive folio writable again. The kernel resets the
  // folio's last_cpupid there (folio_xchg_last_cpupid(folio, -1)); mechanisms that keep
  // per-folio access history subscribe.
  void on_folio_reuse(std::function<void(Gfn)> fn) { reuse_listeners_.push_back(std::move(fn)); }
  void folio_reused(Gfn g) {
    for (auto& fn : reuse_listeners_) fn(g);
  }

  // task_numa_fault(): the NUMA statistics of a hinting fault. Mechanisms subscribe.
  void task_numa_fault(const NumaFaultInfo& i);
  void on_task_numa_fault(std::function<void(const NumaFaultInfo&)> fn) { numa_listeners_.push_back(std::move(fn)); }

  // ---- mmap lock and TLB ----
  void set_mmap_write_locked(bool l) { mmap_write_locked_ = l; }
  bool mmap_write_locked() const { return mmap_write_locked_; }
  // One flush_tlb_range(): every vCPU of the VM takes an IPI.
  void tlb_flush() { ++tlb_flushes_; }
  std::uint64_t tlb_flushes() const { return tlb_flushes_; }

  // ---- huge mappings (models/thp; huge.hpp) ----
  // Installed by models/thp when THP is on; null otherwise (each hook is then one null test).
  void set_huge(HugeMappings* h) { huge_ = h; }
  HugeMappings* huge() const { return huge_; }
  // A range operation over [first, first + n) is about to change PTEs (see RangeOp).
  void huge_range(Gfn first, std::uint64_t n, RangeOp op) {
    if (huge_) [[unlikely]] huge_->range(*this, first, n, op);
  }
  // The vCPUs' accesses, counted once per quantum: all of them, and those through a PMD
  // mapping (pte::kHuge), whose TLB-reach saving each was `huge_saving_ns`.
  void note_accesses(std::uint64_t all, std::uint64_t huge) {
    accesses_ += all;
    huge_accesses_ += huge;
  }
  std::uint64_t accesses() const { return accesses_; }
  std::uint64_t huge_accesses() const { return huge_accesses_; }
  TimeNs huge_saving_ns() const { return huge_saving_ns_; }
  void set_huge_saving_ns(TimeNs ns) { huge_saving_ns_ = ns; }

  // ---- counters ----
  std::uint64_t resident(unsigned node) const { return host_.owned(vm(), node); }
  // Frames this VM owns (HostMemory::owned): a shared frame (KSM, shmem page cache) counts in
  // its owner only. What the host's memory accounting and the metrics report.
  std::uint64_t resident_total() const;
  // The VMM process's RSS of guest memory in pages, O(1) (PageTable::mapped()): every PTE that
  // maps a frame, a KSM page in each of its sharers, the zero page in none, a PMD mapping as
  // 512. What a VMM reads of its own footprint (VmRSS), so what its memory-target controllers
  // size evictions with. A hugetlb mapping counts as well, where /proc/pid/status shows it
  // apart (HugetlbPages beside VmRSS): the VMM adds the two for its guest memory.
  std::uint64_t rss_pages() const { return pt_.mapped(); }
  std::uint64_t faults(FaultKind k) const { return k < faults_.size() ? faults_[k] : 0; }
  FaultOutcome count(FaultKind k, TimeNs cost, FaultResult r = FaultResult::Done, UffdReason why = UffdReason::Missing);
  std::uint64_t zero_page_maps() const { return zero_maps_; }
  std::uint64_t numa_faults_recorded() const { return numa_recorded_; }  // task_numa_fault() calls
  std::uint64_t lock_waits() const { return lock_waits_; }

  // Verifies PTE <-> frame <-> rmap <-> counter consistency (O(pages); --check-invariants only).
  void check_invariants() const;

 private:
  Mapper self(Gfn g) const { return {VmId(cfg_.vm), g}; }
  void drop_frame(Gfn g, Pfn pfn);

  AddressSpaceConfig cfg_;
  const KernelCaps* caps_;
  HostMemory& host_;
  PageTable pt_;
  GroundTruth truth_;
  FaultRouter router_;
  // shmem page cache: pfn+1 of the page at each file index, 0 = not cached.
  core::FlatArray<std::uint32_t> cache_;
  UffdVma vma_uffd_;
  bool mmap_write_locked_ = false;
  std::uint64_t tlb_flushes_ = 0;
  std::vector<std::uint64_t> faults_;    // per fault kind
  std::vector<std::function<void(const NumaFaultInfo&)>> numa_listeners_;
  std::vector<Task> tasks_;
  std::vector<std::function<void(Gfn)>> reuse_listeners_;
  std::vector<TaskWorkFn> task_work_;
  bool tracing_ = false;
  std::vector<TaskEvent> events_;
  std::uint64_t zero_maps_ = 0, numa_recorded_ = 0, lock_waits_ = 0;
  core::FlatArray<std::uint64_t> content_;  // per page, only when enabled
  ContentSpec content_spec_;
  std::uint64_t next_unique_ = 0;
  std::uint64_t ksm_zero_pages_ = 0, ksm_cow_ = 0;
  std::uint64_t swap_ptes_ = 0, shmem_swapped_ = 0;
  std::optional<FaultKind> shmem_swap_in_;  // registered at the first shmem swap-in
  HugeMappings* huge_ = nullptr;
  std::uint64_t accesses_ = 0, huge_accesses_ = 0;
  TimeNs huge_saving_ns_ = 0;
};

}  // namespace vmemsim::mm
