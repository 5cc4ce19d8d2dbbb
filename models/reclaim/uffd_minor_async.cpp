// `uffd-minor-async`: the seed loop on rfc-v1 with anon memory. DEACTIVATE makes every PTE
// PROT_NONE with the uffd bit; a vCPU touch takes an async minor fault the kernel resolves;
// pages still deactivated after the interval are cold.
// A named composition of the RFC loop (uffd_loop.hpp): the same tracker, age selector, target
// and evictor as uffd-ws, but insisting on this one mechanism, so a comparison names what it
// measured and a scenario on the wrong kernel or backing is rejected.
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::uffd_minor_async_info() {
  return {"uffd-minor-async",
          "rfc-v1 anon (seed 001 loop): UFFDIO_DEACTIVATE all pages (MINOR_ANON + MINOR_ASYNC), sleep, PAGEMAP_SCAN PAGE_IS_UFFD_DEACTIVATED, SET_MODE(sync), re-check, evict",
          uffd_loop_params(true), true, kUffdLoopBytesPerPage, false,
          [](core::Params& p, const PolicyContext& ctx) { return make_uffd_loop(p, ctx, true, UffdMechanism::MinorAnon); }};
}

}  // namespace vmemsim::reclaim
