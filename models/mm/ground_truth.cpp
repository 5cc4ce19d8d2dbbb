#include "models/mm/ground_truth.hpp"

#include "sim/core/error.hpp"

namespace vmemsim::mm {

GroundTruth::GroundTruth(PageSlot* slots, std::uint64_t pages, TimeNs epoch_ns, TimeNs duration_ns)
    : slots_(slots), pages_(pages), epoch_ns_(epoch_ns), versions_(pages) {
  VMEMSIM_CHECK(epoch_ns_ > 0, "epoch length must be positive");
  inv_epoch_ = 1.0 / static_cast<double>(epoch_ns_);
  epoch_pages_.assign(static_cast<std::size_t>(duration_ns / epoch_ns_) + 2, 0);
}

void GroundTruth::move_epoch(std::uint64_t old_stored, std::size_t epoch) {
  if (old_stored > 0) {
    // (old_stored - 1) / epoch_ns_ without a 64-bit division (tens of cycles, and a sweep over
    // memory pays it on most accesses): the double reciprocal is off by less than one while the
    // quotient stays below ~2^50 (epoch_pages_ has a counter per epoch, so any quotient in its
    // range does), and the two corrections make the result the exact quotient; larger ones are
    // clamped to the last epoch below anyway.
    const std::uint64_t v = old_stored - 1;
    const auto len = static_cast<std::uint64_t>(epoch_ns_);
    auto e = static_cast<std::size_t>(static_cast<double>(v) * inv_epoch_);
    if (e * len > v) --e;
    else if ((e + 1) * len <= v) ++e;
    if (e >= epoch_pages_.size()) e = epoch_pages_.size() - 1;
    --epoch_pages_[e];
  }
  ++epoch_pages_[epoch];
}

std::uint64_t GroundTruth::true_wss(TimeNs now, TimeNs window) const {
  TimeNs lo = now - window;
  if (lo < 0) lo = 0;
  auto e0 = static_cast<std::size_t>(lo / epoch_ns_);
  // Up to the end, not to now's epoch: a vCPU applies a quantum at the time it starts, so a
  // page touched just before `now` may already carry a later stamp (its run-ahead).
  std::uint64_t s = 0;
  for (std::size_t e = e0; e < epoch_pages_.size(); ++e) s += epoch_pages_[e];
  return s;
}

std::uint32_t GroundTruth::data_version(Gfn g) {
  auto& t = slots_[g.v].truth;
  if (t & truth::kWritten) {
    ++versions_[g.v];
    t &= ~truth::kWritten;
  }
  return versions_[g.v];
}

void GroundTruth::note_lost(TimeNs t, Gfn g, std::uint32_t fetched, std::uint32_t latest) {
  ++s_.lost_writes;
  if (s_.lost_log.size() < 10) s_.lost_log.push_back({t, g.v, fetched, latest});
}

void GroundTruth::install_content(Gfn g, std::uint32_t v, TimeNs now) {
  v &= 0xffff;
  const std::uint32_t latest = data_version(g);
  if (latest != v) note_lost(now, g, v, latest);
  versions_[g.v] = static_cast<std::uint16_t>(v);  // the guest sees the installed data now
}

void GroundTruth::audit_copy(Gfn g, std::uint32_t copy_version) {
  copy_version &= 0xffff;
  const std::uint32_t latest = data_version(g);
  if (latest != copy_version) note_lost(-1, g, copy_version, latest);
}

void GroundTruth::check_invariants() const {
  std::uint64_t touched = 0;
  for (auto e : epoch_pages_) touched += e;
  std::uint64_t ever = 0;
  for (std::uint64_t g = 0; g < pages_; ++g) ever += (slots_[g].truth & truth::kTimeMask) != 0;
  VMEMSIM_CHECK(touched == ever, "epoch page counts " << touched << " vs pages ever touched " << ever);
}

}  // namespace vmemsim::mm
