// Internal to models/workload: the built-in generators' registry entries and the pieces they
// share. Not part of the public interface (that is generator.hpp).
//
// Each generator file defines one `*_info()`; registry.cpp lists them in its explicit table.
#pragma once
#include <cstddef>
#include <memory>
#include <span>

#include "models/workload/generator.hpp"

namespace vmemsim::workload::detail {

GeneratorInfo uniform_info();
GeneratorInfo zipf_info();
GeneratorInfo hot_cold_info();
GeneratorInfo sequential_info();
GeneratorInfo phases_info();
GeneratorInfo trace_info();

// make_generator with another default for `write_ratio`: `phases` passes its own value, so a
// phase's workload inherits it unless it sets its own.
std::unique_ptr<Generator> make_generator_with_write_default(core::Params& p, const GenContext& ctx,
                                                             double default_write_ratio);

// Problems recorded so far; a factory compares before/after to know whether its input was bad.
inline std::size_t error_count(core::Params& p) { return p.sink().problems().size(); }

// The shared inner loop. `draw(rng)` returns a page index; the write bit is drawn after it.
// The Rng is copied to a local: stores to `out` (std::uint64_t, the same type as the Rng
// state) could alias a member Rng and would force its state to be reloaded on every access.
// `draw` should likewise capture its constants by value, not through `this`.
template <class DrawPage>
inline void fill_pages(core::Rng& rng, WriteDraw write, std::span<Access> out, DrawPage&& draw) {
  core::Rng r = rng;
  if (write.never()) {
    for (Access& a : out) a = make_access(draw(r), false);
  } else {
    for (Access& a : out) {
      const std::uint64_t page = draw(r);
      a = make_access(page, write(r));
    }
  }
  rng = r;
}

}  // namespace vmemsim::workload::detail
