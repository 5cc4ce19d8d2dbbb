#include "models/mm/fault_router.hpp"

#include "sim/core/error.hpp"

namespace vmemsim::mm {

const char* fault_class_name(FaultClass c) {
  switch (c) {
    case FaultClass::None: return "none";
    case FaultClass::Marker: return "marker";
    case FaultClass::Swap: return "swap";
    case FaultClass::ProtNoneNuma: return "protnone_numa";
    case FaultClass::ProtNoneUffd: return "protnone_uffd";
    case FaultClass::Write: return "write";
    case FaultClass::kCount: break;
  }
  return "?";
}

FaultKind FaultRouter::add_kind(std::string name) {
  for (std::size_t i = 0; i < kinds_.size(); ++i)
    if (kinds_[i] == name) return static_cast<FaultKind>(i);
  VMEMSIM_CHECK(kinds_.size() < 255, "too many fault kinds");
  kinds_.push_back(std::move(name));
  return static_cast<FaultKind>(kinds_.size() - 1);
}

FaultClass FaultRouter::classify(Pte p, bool write, const KernelCaps& caps, bool anon, bool vma_minor, bool vma_rwp) {
  if (pte::none(p)) return FaultClass::None;
  if (pte::marker(p)) return FaultClass::Marker;
  if (pte::swap(p)) return FaultClass::Swap;
  if (pte::protnone(p)) {
    bool uffd = false;
    switch (caps.protnone) {
      case ProtNoneRule::AlwaysNuma: uffd = false; break;
      case ProtNoneRule::AnonMinorVma: uffd = anon && vma_minor; break;
      // a NUMA PROT_NONE, or one under a uffd-wp bit in a WP VMA, is NUMA's
      case ProtNoneRule::UffdBit: uffd = vma_rwp && pte::uffd(p); break;
    }
    return uffd ? FaultClass::ProtNoneUffd : FaultClass::ProtNoneNuma;
  }
  VMEMSIM_CHECK(write && !pte::writable(p), "fault with an accessible pte 0x" << std::hex << p);
  return FaultClass::Write;
}

FaultOutcome FaultRouter::route(AddressSpace& as, const Fault& f) {
  for (FaultHandler* h : handlers_[static_cast<std::size_t>(f.cls)])
    if (auto o = h->handle(as, f)) return *o;
  VMEMSIM_CHECK(false, "no handler took a " << fault_class_name(f.cls) << " fault at gfn " << f.gfn.v << ", pte 0x"
                                            << std::hex << f.pte);
  return {oom_, 0, FaultResult::Oom};
}

}  // namespace vmemsim::mm
