#include "models/numa/numa_hint.hpp"

namespace vmemsim::numa {
namespace {

namespace pte = mm::pte;

class HintingFaults final : public mm::FaultHandler {
 public:
  explicit HintingFaults(mm::AddressSpace& as) : kind_(as.router().add_kind("numa_hint")) {}

  // do_numa_page(): restore the protection (keeping write permission and any uffd-wp bit:
  // pte_modify() preserves it), mark young, and record the fault with task_numa_fault().
  // Migration decisions (numa_migrate_check, should_numa_migrate_memory) belong to the NUMA
  // balancing model, which subscribes to task_numa_fault().
  std::optional<mm::FaultOutcome> handle(mm::AddressSpace& as, const mm::Fault& f) override {
    as.page_table().restore(f.gfn, true, true);
    as.task_numa_fault({f.gfn, f.vcpu, core::NodeId(static_cast<std::uint16_t>(pte::node(f.pte))), f.cpu_node, false});
    return as.count(kind_, as.config().costs.minor_fault_ns);
  }

 private:
  mm::FaultKind kind_;
};

}  // namespace

std::unique_ptr<mm::FaultHandler> install_hinting_faults(mm::AddressSpace& as) {
  auto h = std::make_unique<HintingFaults>(as);
  as.router().add(mm::FaultClass::ProtNoneNuma, h.get());
  return h;
}

}  // namespace vmemsim::numa
