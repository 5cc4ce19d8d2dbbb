// `uffd-hugetlb-zap`: the seed loop on rfc-v1 with hugetlbfs guest memory (seed 001: MINOR_ASYNC
// "Works for anonymous, shmem, and hugetlbfs"; DEACTIVATE "For shmem/hugetlbfs, zaps PTEs
// (pages stay in page cache)"). Everything happens at 2 MiB: DEACTIVATE zaps whole huge PTEs, a
// touch refaults the whole huge page as an async minor fault, a huge page still not present but
// in the page cache is cold, the evictor writes out and punches whole huge pages back to the
// pool, and a refault fetches 512 pages with one UFFDIO_COPY of the huge page.
// A named composition of the RFC loop (uffd_loop.hpp): the same tracker, age selector, target
// and evictor as uffd-ws, but insisting on this one mechanism, so a comparison names what it
// measured and a scenario on the wrong kernel or backing is rejected.
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::uffd_hugetlb_zap_info() {
  return {"uffd-hugetlb-zap",
          "rfc-v1 hugetlbfs: UFFDIO_DEACTIVATE zaps whole 2MiB PTEs, sleep, PAGEMAP_SCAN !PAGE_IS_PRESENT over the page cache, SET_MODE(sync), re-check, pwrite + DONTNEED + PUNCH_HOLE of whole huge pages",
          uffd_loop_params(true), true, kUffdLoopBytesPerPage, false,
          [](core::Params& p, const PolicyContext& ctx) { return make_uffd_loop(p, ctx, true, UffdMechanism::HugetlbZap); },
          /*hugetlb=*/true};
}

}  // namespace vmemsim::reclaim
