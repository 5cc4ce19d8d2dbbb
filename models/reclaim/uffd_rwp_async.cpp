// `uffd-rwp-async`: the same loop on the rwp series. RWPROTECT arms read-write protection; an
// access takes an async RWP fault the kernel resolves. The VMM's own O_DIRECT read of a victim
// faults under the 07/14 GUP guard (eviction_read_faults).
// A named composition of the RFC loop (uffd_loop.hpp): the same tracker, age selector, target
// and evictor as uffd-ws, but insisting on this one mechanism, so a comparison names what it
// measured and a scenario on the wrong kernel or backing is rejected.
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::uffd_rwp_async_info() {
  return {"uffd-rwp-async",
          "rwp anon: UFFDIO_RWPROTECT all pages (RWP_ASYNC), sleep, PAGEMAP_SCAN PRESENT && !PAGE_IS_ACCESSED, SET_MODE(sync), re-check, evict",
          uffd_loop_params(true), true, kUffdLoopBytesPerPage, false,
          [](core::Params& p, const PolicyContext& ctx) { return make_uffd_loop(p, ctx, true, UffdMechanism::RwpAnon); }};
}

}  // namespace vmemsim::reclaim
