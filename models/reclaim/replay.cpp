#include "models/reclaim/replay.hpp"

#include "sim/core/error.hpp"

namespace vmemsim::reclaim {

LimitResult simulate(const SelectorInfo& info, std::span<const PageRef> refs, std::uint64_t pages,
                     std::uint64_t frames, std::uint64_t seed) {
  VMEMSIM_CHECK(frames > 0, "replay with 0 frames");
  core::ErrorSink sink("replay");
  core::Params p(nullptr, "", &sink, nullptr);
  std::unique_ptr<VictimSelector> sel = info.make(p, SelectorContext{pages, seed});
  p.finish();
  sink.throw_if_any();

  std::vector<std::uint64_t> next;
  if (sel->wants_future()) {  // OPT: each reference's next use, by a backward pass
    next.resize(refs.size());
    std::vector<std::uint64_t> seen(pages, Access::kNever);
    for (std::size_t i = refs.size(); i-- > 0;) {
      next[i] = seen[ref_page(refs[i])];
      seen[ref_page(refs[i])] = i;
    }
  }
  std::vector<std::uint8_t> state(pages, 0);  // 0 never seen, 1 resident, 2 evicted
  LimitResult r;
  r.frames = frames;
  r.references = refs.size();
  std::uint64_t resident = 0;
  std::vector<core::Gfn> victims;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const std::uint32_t g = ref_page(refs[i]);
    const Access a{core::Gfn{g}, static_cast<core::TimeNs>(i), (refs[i] & kRefWrite) != 0,
                   next.empty() ? Access::kNever : next[i]};
    if (state[g] == 1) {
      sel->accessed(a);
      continue;
    }
    ++r.misses;
    r.compulsory += state[g] == 0;
    if (resident == frames) {
      victims.clear();
      sel->pick(1, victims);
      VMEMSIM_CHECK(victims.size() == 1 && state[victims[0].v] == 1,
                    info.name << " picked no resident victim with " << resident << " pages resident");
      sel->removed(victims[0]);
      state[victims[0].v] = 2;
      --resident;
    }
    sel->inserted(a);
    state[g] = 1;
    ++resident;
  }
  return r;
}

StackDistances::StackDistances(std::span<const PageRef> refs, std::uint64_t pages) {
  const std::size_t n = refs.size();
  references_ = n;
  // Fenwick tree over reference times 1..n; last[p] = time of p's latest reference (0 = none).
  std::vector<std::uint32_t> tree(n + 1, 0);
  std::vector<std::uint64_t> last(pages, 0);
  VMEMSIM_CHECK(n < (1ull << 32), "stack distances over " << n << " references");
  count_.assign(pages, 0);
  std::uint64_t marks = 0;  // = distinct pages seen so far
  auto add = [&](std::size_t i, std::int32_t v) {
    for (; i <= n; i += i & (~i + 1)) tree[i] += static_cast<std::uint32_t>(v);
  };
  auto prefix = [&](std::size_t i) {
    std::uint64_t s = 0;
    for (; i > 0; i -= i & (~i + 1)) s += tree[i];
    return s;
  };
  for (std::size_t t = 1; t <= n; ++t) {
    const std::uint32_t p = ref_page(refs[t - 1]);
    if (last[p] == 0) {
      ++compulsory_;
      ++marks;
    } else {
      // Marks after last[p] are the pages referenced since, each counted once (its latest).
      const std::uint64_t d = marks - prefix(last[p]);
      ++count_[d];
      add(last[p], -1);
    }
    add(t, 1);
    last[p] = t;
  }
  while (!count_.empty() && count_.back() == 0) count_.pop_back();
  at_least_.assign(count_.size() + 1, 0);
  for (std::size_t d = count_.size(); d-- > 0;) at_least_[d] = at_least_[d + 1] + count_[d];
}

LimitResult StackDistances::at(std::uint64_t frames) const {
  LimitResult r;
  r.frames = frames;
  r.references = references_;
  r.compulsory = compulsory_;
  r.misses = compulsory_ + (frames < at_least_.size() ? at_least_[frames] : 0);
  return r;
}

}  // namespace vmemsim::reclaim
