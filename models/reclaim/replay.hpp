// Trace replay without a timing model, as a cache simulator does (`vmemsim replay`): a page
// reference stream through a victim selector with a fixed number of frames, demand paging
// (a miss when the cache is full first evicts one victim the selector picks, then inserts).
//
// Two ways to get misses:
//  - simulate(): one pass per frame limit through the selector, driving it exactly as the
//    selector contract says (inserted on a miss, accessed on a hit, removed on an eviction);
//    OPT's next-use times come from a backward pass over the stream;
//  - StackDistances: for a selector with the LRU stack property (Mattson, Gecsei, Slutz and
//    Traiger, "Evaluation techniques for storage hierarchies", IBM Systems Journal 9(2), 1970)
//    every limit follows from one pass that finds each reference's LRU stack distance. The
//    distance of a reference is the number of distinct pages referenced since the previous
//    reference to its page; a Fenwick tree over reference times, holding a 1 at the latest
//    reference of every page, counts them in O(log n).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "models/reclaim/selector.hpp"

namespace vmemsim::reclaim {

// A reference: a dense page number (< 2^31) with the write bit on top.
using PageRef = std::uint32_t;
constexpr PageRef kRefWrite = 1u << 31;
constexpr std::uint32_t ref_page(PageRef r) { return r & ~kRefWrite; }

struct LimitResult {
  std::uint64_t frames = 0;
  std::uint64_t references = 0;
  std::uint64_t misses = 0;      // compulsory misses included
  std::uint64_t compulsory = 0;  // first references to a page
};

// Per-limit simulation through a selector built by `info` over `pages` dense page numbers.
LimitResult simulate(const SelectorInfo& info, std::span<const PageRef> refs, std::uint64_t pages,
                     std::uint64_t frames, std::uint64_t seed);

class StackDistances {
 public:
  StackDistances(std::span<const PageRef> refs, std::uint64_t pages);
  std::uint64_t references() const { return references_; }
  std::uint64_t compulsory() const { return compulsory_; }
  // count()[d]: references with d distinct other pages since the previous reference to theirs.
  const std::vector<std::uint64_t>& count() const { return count_; }
  // Misses of an LRU cache of `frames` frames: compulsory ones plus every reference whose
  // distance is >= frames.
  LimitResult at(std::uint64_t frames) const;

 private:
  std::uint64_t references_ = 0, compulsory_ = 0;
  std::vector<std::uint64_t> count_;
  std::vector<std::uint64_t> at_least_;  // at_least_[d]: references with distance >= d
};

}  // namespace vmemsim::reclaim
