// Trace replay (models/reclaim/replay.hpp): the one-pass stack-distance misses of an LRU
// selector equal per-limit simulation through it, and both equal an independent std::list LRU;
// OPT through replay is never worse than any selector.
#include <catch2/catch.hpp>

#include <list>
#include <unordered_map>

#include "models/reclaim/replay.hpp"
#include "sim/core/rng.hpp"

using namespace vmemsim;
using namespace vmemsim::reclaim;

namespace {

std::vector<PageRef> stream(std::uint64_t seed, std::uint32_t pages, std::size_t n) {
  core::Rng r(seed);
  std::vector<PageRef> s;
  while (s.size() < n) {
    const std::uint64_t k = r.below(10);
    if (k < 5) s.push_back(static_cast<PageRef>(r.below(pages / 8 + 1)) | (r.below(4) == 0 ? kRefWrite : 0));
    else if (k < 8) s.push_back(static_cast<PageRef>(r.below(pages)));
    else
      for (std::uint32_t i = 0, st = static_cast<std::uint32_t>(r.below(pages)); i < pages / 3 && s.size() < n; ++i)
        s.push_back((st + i) % pages);
  }
  // Dense numbering in order of first touch, as `vmemsim replay` loads a trace.
  std::unordered_map<std::uint32_t, std::uint32_t> ids;
  for (PageRef& x : s) {
    auto [it, fresh] = ids.try_emplace(ref_page(x), static_cast<std::uint32_t>(ids.size()));
    x = it->second | (x & kRefWrite);
  }
  return s;
}

std::uint64_t list_lru(const std::vector<PageRef>& s, std::uint64_t frames) {
  std::list<std::uint32_t> order;
  std::unordered_map<std::uint32_t, std::list<std::uint32_t>::iterator> where;
  std::uint64_t misses = 0;
  for (PageRef x : s) {
    const std::uint32_t p = ref_page(x);
    if (auto it = where.find(p); it != where.end()) order.erase(it->second);
    else if (++misses, order.size() == frames) {
      where.erase(order.back());
      order.pop_back();
    }
    order.push_front(p);
    where[p] = order.begin();
  }
  return misses;
}

std::uint32_t distinct(const std::vector<PageRef>& s) {
  std::uint32_t m = 0;
  for (PageRef x : s) m = std::max(m, ref_page(x) + 1);
  return m;
}

}  // namespace

TEST_CASE("replay: one stack-distance pass gives every limit exactly as per-limit simulation", "[replay]") {
  const SelectorInfo& lru = *find_selector("exact-lru");
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    const auto s = stream(seed, 40 + 13 * static_cast<std::uint32_t>(seed), 5000);
    const std::uint32_t pages = distinct(s);
    const StackDistances sd(s, pages);
    CHECK(sd.compulsory() == pages);
    for (std::uint64_t f = 1; f <= pages + 2; f += (f < 8 ? 1 : 7)) {
      INFO("seed " << seed << " frames " << f);
      const LimitResult a = sd.at(f), b = simulate(lru, s, pages, f, 0);
      CHECK(a.misses == b.misses);
      CHECK(a.compulsory == b.compulsory);
      CHECK(a.references == b.references);
      CHECK(a.misses == list_lru(s, f));
    }
  }
}

TEST_CASE("replay: opt is never worse than any selector, and selectors are deterministic", "[replay]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const auto s = stream(50 + seed, 200, 8000);
    const std::uint32_t pages = distinct(s);
    for (std::uint64_t f : {4u, 30u, 120u}) {
      const std::uint64_t best = simulate(*find_selector("opt"), s, pages, f, 1).misses;
      for (const SelectorInfo& info : selector_registry()) {
        if (info.threshold) continue;  // not a replacement order (vmemsim replay rejects it)
        INFO(info.name << " seed " << seed << " frames " << f);
        const LimitResult r = simulate(info, s, pages, f, 1);
        CHECK(best <= r.misses);
        CHECK(r.misses == simulate(info, s, pages, f, 1).misses);
      }
    }
  }
}
