// Hidden ground truth of one VM's memory: what really happened, which the modelled kernel and
// VMM cannot see (DESIGN.md "Ground truth versus the modelled kernel"): the exact last access
// time of each page, the data version of its contents, who really set each PROT_NONE, the
// per-epoch page counts behind the true working-set size, and the oracles built on them
// (lost writes, spurious notifications, accesses that bypassed tracking).
//
// Lifecycle: one per AddressSpace. Written only by the access path (note_access, on the vCPU
// fast path) and by the kernel's own transitions (PageTable records PROT_NONE origins, a
// page fill records the data version it installs). Policies and kernel decisions never read
// it; metrics do. The truth word of a page lives beside its PTE in the same 16-byte PageSlot
// (one cache miss per access instead of two, measured in bench/README.md): this object owns
// the truth half of that array, PageTable the PTE half.
#pragma once
#include <cstdint>
#include <vector>

#include "models/mm/pte.hpp"
#include "sim/core/flat_array.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::mm {

using core::Gfn;
using core::TimeNs;

// Who really set a PTE to PROT_NONE.
enum class PnOrigin : std::uint8_t { None = 0, Numa = 1, Uffd = 2 };

// The per-page record: the PTE and, beside it, the page's truth word.
// `truth` layout: bits 0..59 last access time + 1 (0 = never); bit 60 written since the data
// version was last taken; bits 61..62 PnOrigin of a PROT_NONE.
struct PageSlot {
  Pte pte;
  std::uint64_t truth;
};
static_assert(sizeof(PageSlot) == 16);
namespace truth {
constexpr std::uint64_t kTimeMask = (1ull << 60) - 1;
constexpr std::uint64_t kWritten = 1ull << 60;
constexpr int kOriginShift = 61;
constexpr std::uint64_t kOriginMask = 3ull << kOriginShift;
}  // namespace truth

struct LostWrite {
  TimeNs t;  // when found; -1 = by the end-of-run audit (never fetched back)
  std::uint64_t gfn;
  std::uint32_t fetched_version, latest_version;
};

struct TruthStats {
  std::uint64_t lost_writes = 0;
  std::vector<LostWrite> lost_log;  // the first few
  // uffd minor/RWP notifications for a PTE that uffd did not protect (a NUMA PROT_NONE under
  // rfc-v1): the seed-000 conflict, measured against the hidden origin.
  std::uint64_t spurious_uffd = 0;
  // device (GUP) accesses that went through a PROT_NONE PTE without a fault: invisible to
  // every tracking mechanism.
  std::uint64_t gup_invisible = 0;
};

class GroundTruth {
 public:
  GroundTruth(PageSlot* slots, std::uint64_t pages, TimeNs epoch_ns, TimeNs duration_ns);

  // ---- the access path ----
  // Records a completed access at `t`: last-access time, the written bit behind data versions,
  // and the per-epoch page counts. `epoch_lo` is the start of t's epoch (the caller caches it).
  void note_access(PageSlot& s, TimeNs t, bool write, TimeNs epoch_lo, std::size_t epoch) {
    const std::uint64_t stored = static_cast<std::uint64_t>(t) + 1;
    const std::uint64_t old = s.truth;
    const std::uint64_t old_t = old & truth::kTimeMask;
    if (old_t <= static_cast<std::uint64_t>(epoch_lo)) [[unlikely]] move_epoch(old_t, epoch);
    // vCPUs may run slightly out of order: keep the latest stamp.
    s.truth = (old & ~truth::kTimeMask) | (old_t > stored ? old_t : stored) | (write ? truth::kWritten : 0);
  }
  void note_gup_invisible() { ++s_.gup_invisible; }

  // ---- the kernel's transitions ----
  void set_origin(Gfn g, PnOrigin o) {
    auto& t = slots_[g.v].truth;
    t = (t & ~truth::kOriginMask) | (static_cast<std::uint64_t>(o) << truth::kOriginShift);
  }
  // A uffd notification for g was consumed while its PTE is `p`: spurious when the PROT_NONE
  // it reports was not set by uffd.
  bool note_userfault(Gfn g, Pte p) {
    if (!pte::protnone(p) || pn_origin(g) == PnOrigin::Uffd) return false;
    ++s_.spurious_uffd;
    return true;
  }
  // A page fill (UFFDIO_COPY) installs data of version `v` at g. If the guest's latest data is
  // a different version, a write was lost (the lost-write oracle of KERNEL-MODEL.md §4); from
  // then on the page holds version v.
  void install_content(Gfn g, std::uint32_t v, TimeNs now);

  // ---- reads (metrics) ----
  TimeNs last_access(Gfn g) const { return static_cast<TimeNs>(slots_[g.v].truth & truth::kTimeMask) - 1; }
  PnOrigin pn_origin(Gfn g) const {
    return static_cast<PnOrigin>((slots_[g.v].truth & truth::kOriginMask) >> truth::kOriginShift);
  }
  // The page's data version (mod 2^16): taking it materialises a pending write into a new
  // version, so two takes with no write in between agree.
  std::uint32_t data_version(Gfn g);
  // End-of-run audit of a copy that never came back: a write that raced its eviction is lost
  // all the same.
  void audit_copy(Gfn g, std::uint32_t copy_version);
  // Pages whose last access is at or after now - window (`now` and `window` multiples of
  // epoch_ns), including stamps a vCPU running ahead in its quantum has already made.
  std::uint64_t true_wss(TimeNs now, TimeNs window) const;
  TimeNs epoch_ns() const { return epoch_ns_; }
  std::size_t epoch_count() const { return epoch_pages_.size(); }
  const TruthStats& stats() const { return s_; }

  void check_invariants() const;

 private:
  void move_epoch(std::uint64_t old_stored, std::size_t epoch);
  void note_lost(TimeNs t, Gfn g, std::uint32_t fetched, std::uint32_t latest);
  PageSlot* slots_;
  std::uint64_t pages_;
  TimeNs epoch_ns_;
  double inv_epoch_ = 0;  // 1 / epoch_ns_, for move_epoch()
  // Materialised data versions. 16 bits suffice: a version advances at most once between the
  // snapshot at eviction and the comparison at fetch, which is all the oracle compares.
  core::FlatArray<std::uint16_t> versions_;
  std::vector<std::uint64_t> epoch_pages_;  // pages whose last access is in epoch e
  TruthStats s_;
};

}  // namespace vmemsim::mm
