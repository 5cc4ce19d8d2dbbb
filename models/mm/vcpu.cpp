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
  Pte* const ptes = as_.ptes();
  const core::TimeNs* const lat = cfg_.latency_ns.data();
  const core::TimeNs think = cfg_.think_ns;
  const std::uint64_t base = cfg_.region_base;
  const unsigned my_node = cfg_.node;
  core::TimeNs t = start;
  if (t >= epoch_hi_ || t < epoch_lo_) advance_epoch(t);

  while (t < end) {
    if (pos_ == kBatch) {
      gen_->fill(t, buf_);
      pos_ = 0;
    }
    const workload::Access a = buf_[pos_];
    const std::uint64_t g = base + workload::access_page(a);
    const bool w = workload::access_is_write(a);
    Pte p = ptes[g];
    if (!pte::accessible(p, w)) [[unlikely]] {
      const FaultOutcome f = as_.fault(g, w, my_node, t);
      t += f.cost_ns;
      c_.fault_ns += f.cost_ns;
      if (!f.ok) return {t, true};
      p = ptes[g];
    }
    ++pos_;
    ptes[g] = p | pte::kAccessed | (w ? pte::kDirty : 0);
    const unsigned n = pte::node(p);
    ++c_.by_node[n];
    c_.writes += w;
    if (t >= epoch_hi_) [[unlikely]] advance_epoch(t);
    as_.note_access(g, t, epoch_lo_, epoch_);
    c_.memory_ns += lat[n];
    t += think + lat[n];
  }
  return {t, false};
}

}  // namespace vmemsim::mm
