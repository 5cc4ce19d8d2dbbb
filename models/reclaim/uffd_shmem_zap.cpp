// `uffd-shmem-zap`: the same loop on rfc-v1 with shmem (memfd) guest memory. DEACTIVATE on
// shmem zaps the PTEs; a touch refaults them as an async minor fault; a page still not present
// but in the page cache (SEEK_DATA) is cold; eviction punches it out of the memfd.
// A named composition of the RFC loop (uffd_loop.hpp): the same tracker, age selector, target
// and evictor as uffd-ws, but insisting on this one mechanism, so a comparison names what it
// measured and a scenario on the wrong kernel or backing is rejected.
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::uffd_shmem_zap_info() {
  return {"uffd-shmem-zap",
          "rfc-v1 shmem: UFFDIO_DEACTIVATE zaps the PTEs, sleep, PAGEMAP_SCAN !PAGE_IS_PRESENT over pages in the page cache, SET_MODE(sync), re-check, pwrite + PUNCH_HOLE",
          uffd_loop_params(true), true, kUffdLoopBytesPerPage, false,
          [](core::Params& p, const PolicyContext& ctx) { return make_uffd_loop(p, ctx, true, UffdMechanism::ShmemZap); }};
}

}  // namespace vmemsim::reclaim
