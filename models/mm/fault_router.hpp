// handle_pte_fault() in one place (mm/memory.c): classify the faulting PTE, then offer the
// fault to the handlers registered for that class, in order, until one takes it.
//
// Lifecycle: each AddressSpace owns a router. At build time every fault mechanism (userfaultfd,
// NUMA hinting, the core anon/shmem/COW/swap paths, later KSM, THP, reclaim) registers, through
// the mechanism registry (models/kernel/registry.cpp), the fault kinds it counts and the
// handlers it provides. A handler gets the fault (page, write, vCPU, its node, time, the PTE)
// and either returns an outcome or declines, so that a mechanism which claims some faults of a
// class (uffd claims none PTEs only in a MISSING-registered VMA) sits in front of the
// kernel's default for that class, as handle_userfault() sits inside do_anonymous_page().
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/mm/kernel_variant.hpp"
#include "models/mm/pte.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::mm {

using core::Gfn;
using core::NodeId;
using core::TimeNs;

class AddressSpace;

// What handle_pte_fault() sees. PROT_NONE is split by the capability table's ProtNoneRule into
// the PTEs the NUMA hinting path owns and those userfaultfd owns.
enum class FaultClass : std::uint8_t {
  None,          // pte_none(): do_anonymous_page() / do_fault()
  Marker,        // a uffd-wp PTE marker: handle_pte_marker()
  Swap,          // a swap entry: do_swap_page()
  ProtNoneNuma,  // PROT_NONE that the variant sends to do_numa_page()
  ProtNoneUffd,  // PROT_NONE that the variant sends to handle_userfault()
  Write,         // a write to a present, write-protected PTE: do_wp_page()
  kCount
};
constexpr std::size_t kFaultClasses = static_cast<std::size_t>(FaultClass::kCount);
const char* fault_class_name(FaultClass c);

using FaultKind = std::uint8_t;  // an id from FaultRouter::add_kind(), in registration order

enum class FaultResult : std::uint8_t {
  Done,      // the PTE now allows the access (or, for GUP, the access went through)
  Blocked,   // a sync userfault: the vCPU waits for the handler (reason says which)
  LockWait,  // the mmap lock is write-held (UFFDIO_SET_MODE): wait for it, then retry
  Oom,       // no frame: the access cannot complete
};

struct FaultOutcome {
  FaultKind kind;
  TimeNs cost_ns;
  FaultResult result = FaultResult::Done;
  UffdReason reason = UffdReason::Missing;
  // Done, but the faulting thread then waits for a read of this many bytes from the host's swap
  // device (do_swap_page() -> swap_read_folio(); the vCPU stops for the I/O).
  std::uint32_t read_bytes = 0;
  bool ok() const { return result == FaultResult::Done; }
};

struct Fault {
  Gfn gfn;
  bool write;
  unsigned vcpu;     // the faulting thread (task)
  NodeId cpu_node;   // the node of the CPU it runs on
  TimeNs now;
  Pte pte;           // the PTE as the fault found it
  FaultClass cls;
};

class FaultHandler {
 public:
  virtual ~FaultHandler() = default;
  // Takes the fault (returns its outcome) or declines (nullopt) so the next handler of the
  // class gets it.
  virtual std::optional<FaultOutcome> handle(AddressSpace& as, const Fault& f) = 0;
};

class FaultRouter {
 public:
  // A fault kind counted per VM and reported under its name (e.g. "uffd_missing").
  FaultKind add_kind(std::string name);
  const std::vector<std::string>& kinds() const { return kinds_; }
  // Handlers of a class are tried in the order they were added.
  void add(FaultClass c, FaultHandler* h) { handlers_[static_cast<std::size_t>(c)].push_back(h); }
  // The kind counted when no handler takes a fault (a host out of memory or a bug).
  FaultKind oom_kind() const { return oom_; }

  static FaultClass classify(Pte p, bool write, const KernelCaps& caps, bool anon, bool vma_minor, bool vma_rwp);
  FaultOutcome route(AddressSpace& as, const Fault& f);

 private:
  std::vector<std::string> kinds_{"oom"};
  FaultKind oom_ = 0;
  std::vector<FaultHandler*> handlers_[kFaultClasses];
};

}  // namespace vmemsim::mm
