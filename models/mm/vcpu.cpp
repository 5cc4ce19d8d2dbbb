#include "models/mm/vcpu.hpp"

#include "sim/core/error.hpp"

namespace vmemsim::mm {

Vcpu::Vcpu(VcpuConfig cfg, AddressSpace& as, std::unique_ptr<workload::Generator> gen)
    : cfg_(std::move(cfg)), as_(as), gen_(std::move(gen)) {
  VMEMSIM_CHECK(cfg_.latency_ns.size() <= kMaxNodes, "too many NUMA nodes");
  // Pad so that a zero-page PTE (node bits 0) and every node index read a valid entry.
  cfg_.latency_ns.resize(kMaxNodes, cfg_.latency_ns.empty() ? 0 : cfg_.latency_ns[0]);
  epoch_hi_ = as_.epoch_ns();
}

void Vcpu::advance_epoch(core::TimeNs t) {
  const core::TimeNs len = as_.epoch_ns();
  auto e = static_cast<std::size_t>(t / len);
  if (e >= as_.epoch_count()) e = as_.epoch_count() - 1;  // overrun past the duration
  epoch_ = e;
  epoch_lo_ = static_cast<core::TimeNs>(e) * len;
  epoch_hi_ = epoch_lo_ + len;
  if (e == as_.epoch_count() - 1) epoch_hi_ = INT64_MAX;
}

Vcpu::Quantum Vcpu::run(core::TimeNs start, core::TimeNs end) {
  PageSlot* const slots = as_.slots();
  const core::TimeNs* const lat = cfg_.latency_ns.data();
  const core::TimeNs think = cfg_.think_ns;
  const std::uint64_t base = cfg_.region_base;
  // Hot state lives in locals: stores through `slots` could otherwise alias the members and
  // force a reload of every counter on every access.
  std::array<std::uint64_t, kMaxNodes> by_node{};
  std::uint64_t writes = 0;
  std::size_t pos = pos_;
  core::TimeNs t = start;
  bool oom = false;

  while (t < end && !oom) {
    if (t >= epoch_hi_ || t < epoch_lo_) advance_epoch(t);
    const core::TimeNs stop = end < epoch_hi_ ? end : epoch_hi_;
    const core::TimeNs lo = epoch_lo_;
    const std::size_t epoch = epoch_;
    while (t < stop) {
      if (pos == kBatch) {
        gen_->fill(t, buf_);
        pos = 0;
      }
      // The batch already holds the upcoming addresses: prefetch a few ahead so the cache
      // misses of consecutive accesses overlap (the per-access time chain below otherwise
      // limits how many the CPU keeps in flight).
      if (pos + kPrefetch < kBatch)
        __builtin_prefetch(&slots[base + workload::access_page(buf_[pos + kPrefetch])], 1, 3);
      const workload::Access a = buf_[pos];
      const std::uint64_t g = base + workload::access_page(a);
      const bool w = workload::access_is_write(a);
      PageSlot& s = slots[g];
      Pte p = s.pte;
      if (!pte::accessible(p, w)) [[unlikely]] {
        const FaultOutcome f = as_.fault(g, w, cfg_.node, t);
        t += f.cost_ns;
        c_.fault_ns += f.cost_ns;
        if (!f.ok) {
          oom = true;
          break;
        }
        p = s.pte;
      }
      ++pos;
      s.pte = p | pte::kAccessed | (w ? pte::kDirty : 0);
      const unsigned n = pte::node(p);
      ++by_node[n];
      writes += w;
      as_.note_access(s, t, lo, epoch);
      t += think + lat[n];
    }
  }
  pos_ = pos;
  c_.writes += writes;
  for (unsigned n = 0; n < kMaxNodes; ++n) {
    c_.by_node[n] += by_node[n];
    c_.memory_ns += static_cast<core::TimeNs>(by_node[n]) * lat[n];
  }
  return {t, oom};
}

}  // namespace vmemsim::mm
