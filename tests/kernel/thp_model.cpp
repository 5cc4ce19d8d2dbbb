// The model half of the THP collapse comparison: each layout of thp_layouts.hpp on
// mm::AddressSpace + the registered fault mechanisms + uffd::Uffd + thp::ThpVm, in the runner's
// order (thp_runner.cpp), then ThpVm::madv_collapse(); prints the runner's line per layout, with
// the errno madvise_collapse_errno() (mm/khugepaged.c) gives for the model's scan_result, and
// the scan_result itself.
#include <iostream>
#include <memory>
#include <string>

#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/pte.hpp"
#include "models/thp/thp.hpp"
#include "models/uffd/uffd.hpp"
#include "thp_layouts.hpp"

using namespace vmemsim;
using core::Gfn;
namespace pte = mm::pte;

namespace {

// madvise_collapse_errno(): the errno MADV_COLLAPSE returns for the last failing result.
const char* collapse_errno(thp::ScanResult r) {
  switch (r) {
    case thp::ScanResult::Succeed:
    case thp::ScanResult::PmdMapped: return "0";
    case thp::ScanResult::AllocHugePageFail: return "ENOMEM";
    case thp::ScanResult::ExceedNonePte: return "EBUSY";
    default: return "EINVAL";
  }
}

void read(mm::AddressSpace& as, std::uint64_t g) {
  for (int i = 0; i < 4 && !pte::accessible(as.pte_at(Gfn(g)), false); ++i)
    if (!as.fault(Gfn(g), false, 0, core::NodeId(0), 0).ok()) throw std::runtime_error("fault failed");
  if (!pte::accessible(as.pte_at(Gfn(g)), false)) throw std::runtime_error("read does not resolve");
  as.slots()[g].pte |= pte::kAccessed;
}

void write(mm::AddressSpace& as, std::uint64_t g) {
  for (int i = 0; i < 4 && !pte::accessible(as.pte_at(Gfn(g)), true); ++i)
    if (!as.fault(Gfn(g), true, 0, core::NodeId(0), 0).ok()) throw std::runtime_error("fault failed");
  if (!pte::accessible(as.pte_at(Gfn(g)), true)) throw std::runtime_error("write does not resolve");
  as.slots()[g].pte |= pte::kAccessed | pte::kDirty;  // the MMU
}

}  // namespace

int main(int argc, char** argv) {
  using namespace thp_layouts;
  // --khugepaged: khugepaged's scan (cc->is_khugepaged: max_ptes_* at the sysfs defaults, a young
  // PTE needed) instead of MADV_COLLAPSE; MADV_COLLAPSE's return is then 0 as in the runner.
  // --shmem: the layouts on a memfd (thp_runner --shmem): the file path of MADV_COLLAPSE, and
  // after it every page read back and the pages still uffd-wp protected counted (wp_kept).
  // Both: khugepaged's file path (hpage_collapse_scan_file, collapse_file, retract_page_tables,
  // then collapse_pte_mapped_thp without installing the PMD) under shmem_enabled=advise on a
  // VM_HUGEPAGE VMA, as thp_runner --khugepaged --shmem sets it; page 0 is read before the PMD
  // is looked at, and folio_huge is whether the page cache holds one PMD-sized folio.
  bool kh = false, shmem = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--khugepaged") kh = true;
    else if (a == "--shmem") shmem = true;
    else {
      std::cerr << "usage: thp_model [--khugepaged] [--shmem]\n";
      return 2;
    }
  }
  for (const Layout& l : kLayouts) {
    mm::HostMemory host({1u << 14});
    mm::AddressSpaceConfig c;
    c.pages = kPages;
    c.fallback = {{0}};
    c.use_zero_page = true;  // as this host (FINDINGS.md g); the layouts only write
    c.epoch_ns = 1000;
    c.duration_ns = 10000;
    if (shmem) c.backing = mm::Backing::Shmem;
    auto as = std::make_unique<mm::AddressSpace>(c, host);
    kernel::VmKernel vk;
    vk.as = as.get();
    vk.vcpus = 1;
    kernel::install_fault_mechanisms(vk);
    for (unsigned i = 0; i < kPages; ++i)
      if (touched(l, i)) write(*as, i);
    if (l.uffd) {
      uffd::Modes m;
      m.wp = true;
      uffd::Features f;
      f.wp_async = l.wp_async;
      if (!vk.uffd->register_range(m, f).error.empty()) throw std::runtime_error("register");
      if (l.protect != Protect::None) vk.uffd->writeprotect(Gfn(0), l.protect == Protect::All ? kPages : 8, true);
      for (unsigned i = 0; i < kPages; ++i)
        if (written_after(l, i)) write(*as, i);
    }
    // MADV_HUGEPAGE: THP (madvise mode) from here on.
    thp::ThpConfig tc;
    tc.enabled = thp::Enabled::Madvise;
    // This host's setting; MADV_COLLAPSE works regardless. The runner sets advise for khugepaged.
    tc.shmem_enabled = kh && shmem ? thp::ShmemEnabled::Advise : thp::ShmemEnabled::Never;
    thp::ThpVm t(*as, tc, vk.uffd.get());
    as->set_huge(&t);
    vk.thp->enable(&t);  // the THP fault handler, as the kernel.thp section installs it
    thp::ScanResult r;
    std::uint64_t collapsed = 0;
    if (kh) {
      // Two full scans: a range refused once is refused again (nothing changes in between). The
      // result kept is the first pass's (the second one's is SCAN_PMD_MAPPED or, on shmem,
      // what collapse_pte_mapped_thp() says of the PTE-mapped folio).
      r = t.scan_and_collapse(0, true).result;
      if (r == thp::ScanResult::Succeed) t.scan_and_collapse(0, true);
      // khugepaged leaves a file PMD to the next fault.
      if (shmem) read(*as, 0);
    } else {
      const auto mc = t.madv_collapse(Gfn(0), kPages);
      r = mc.pmds.at(0).second;
      collapsed = mc.collapsed;
    }
    const bool huge = pte::huge(as->pte_at(Gfn(0)));
    host.check_invariants();
    as->check_invariants();
    t.check_invariants();
    std::cout << "layout " << l.name << " huge " << huge << " anon_huge_kb " << (huge ? 2048 : 0) << " collapse_ret "
              << (kh || collapsed ? 0 : -1) << " errno " << (kh ? "0" : collapse_errno(r));
    if (shmem) {
      unsigned kept = 0;
      for (unsigned i = 0; i < kPages; ++i) read(*as, i);
      for (unsigned i = 0; i < kPages; ++i) kept += pte::uffd(as->pte_at(Gfn(i)));
      host.check_invariants();
      as->check_invariants();
      t.check_invariants();
      std::cout << " wp_kept " << kept;
      if (kh) std::cout << " folio_huge " << t.huge_cached(0);
    }
    std::cout << " result " << t.result_name(r) << "\n";
    vk.thp->enable(nullptr);
    as->set_huge(nullptr);
  }
  return 0;
}
