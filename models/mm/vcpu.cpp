#include "models/mm/vcpu.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace vmemsim::mm {

Vcpu::Vcpu(VcpuConfig cfg, AddressSpace& as, std::unique_ptr<workload::Generator> gen)
    : cfg_(std::move(cfg)), as_(as), gen_(std::move(gen)) {
  VMEMSIM_CHECK(cfg_.latency_ns.size() <= kMaxNodes && cfg_.node < cfg_.latency_ns.size(), "bad NUMA latency table");
  // Pad so that a zero-page PTE (node bits 0) and every node index read a valid entry.
  for (const auto& row : cfg_.latency_ns) {
    VMEMSIM_CHECK(row.size() == cfg_.latency_ns.size(), "latency table is not square");
    std::array<core::TimeNs, pte::kLatIndexes> r{};
    for (unsigned n = 0; n < kMaxNodes; ++n) r[n] = r[kMaxNodes + n] = n < row.size() ? row[n] : row[0];
    lat_.push_back(r);
  }
  set_huge_saving(as_.huge_saving_ns());
  task_ = as_.add_task(core::NodeId(static_cast<std::uint16_t>(cfg_.node)), cfg_.pid);
  VMEMSIM_CHECK(task_ == cfg_.index, "vCPU " << cfg_.index << " registered as task " << task_);
  epoch_hi_ = as_.truth().epoch_ns();
  device_rng_ = core::Rng::stream(cfg_.seed, cfg_.path + "/device");
  content_rng_ = core::Rng::stream(cfg_.seed, cfg_.path + "/content");
  device_threshold_ = cfg_.device_share >= 1.0 ? ~0ull : static_cast<std::uint64_t>(cfg_.device_share * 0x1.0p64);
  tlb_seen_ = as_.tlb_flushes();
}

void Vcpu::set_huge_saving(core::TimeNs ns) {
  huge_saving_ = ns;
  for (auto& r : lat_)
    for (unsigned n = 0; n < kMaxNodes; ++n) r[kMaxNodes + n] = std::max<core::TimeNs>(0, r[n] - ns);
}

void Vcpu::advance_epoch(core::TimeNs t) {
  const core::TimeNs len = as_.truth().epoch_ns();
  auto e = static_cast<std::size_t>(t / len);
  if (e >= as_.truth().epoch_count()) e = as_.truth().epoch_count() - 1;  // overrun past the duration
  epoch_ = e;
  epoch_lo_ = static_cast<core::TimeNs>(e) * len;
  epoch_hi_ = epoch_lo_ + len;
  if (e == as_.truth().epoch_count() - 1) epoch_hi_ = INT64_MAX;
}

void Vcpu::refill(core::TimeNs t) {
  gen_->fill(t, buf_);
  gaps_ = gen_->gaps();
  if (device_threshold_ != 0)
    for (auto& a : buf_)
      if (device_rng_.next() < device_threshold_) a |= workload::kDeviceBit;
  pos_ = 0;
}

Vcpu::Quantum Vcpu::run(core::TimeNs start, core::TimeNs end) {
  if (finished_) {  // its generator's stream ended: nothing more to issue
    Quantum idle;
    idle.end = end;
    return idle;
  }
  PageSlot* const slots = as_.slots();
  GroundTruth& truth = as_.truth();
  core::TimeNs t = start;
  // Task work queued for this thread (the NUMA scanner's task_numa_work, ...) runs first, on
  // its way back to guest mode; its time is the thread's.
  if (as_.has_task_work()) {
    const core::TimeNs used = as_.run_task_work(task_, t);
    t += used;
    c_.fault_ns += used;
    c_.task_work_ns += used;
  }
  if (as_.huge_saving_ns() != huge_saving_) [[unlikely]] set_huge_saving(as_.huge_saving_ns());
  const core::NodeId node = as_.task(task_).cpu_node;
  const core::TimeNs* const lat = lat_[node.v].data();
  const core::TimeNs think = cfg_.think_ns;
  const std::uint64_t base = cfg_.region_base;
  // Hot state lives in locals: stores through `slots` could otherwise alias the members and
  // force a reload of every counter on every access.
  std::array<std::uint64_t, pte::kLatIndexes> by_node{};  // by pte::lat_index(): node, +64 if PMD-mapped
  // Accesses to the vCPU's own node through a PTE (the common case) are counted in a register:
  // an increment of by_node[] in memory on every access chains through store forwarding.
  const unsigned home = node.v;
  std::uint64_t home_count = 0;
  std::uint64_t writes = 0;
  std::uint64_t* const content = as_.content_data();  // null unless the VM tracks page content
  const core::TimeNs* gaps = gaps_;  // null (the fast path) unless the generator times its accesses
  Quantum q;
  q.end = start;
  std::size_t pos = pos_;  // a local, like the counters: stores through `slots` may alias pos_

  // TLB shootdowns since the last quantum: each one interrupted this vCPU with an IPI.
  if (as_.tlb_flushes() != tlb_seen_) {
    const core::TimeNs ipi = static_cast<core::TimeNs>(as_.tlb_flushes() - tlb_seen_) * as_.config().costs.tlb_ipi_ns;
    tlb_seen_ = as_.tlb_flushes();
    t += ipi;
    c_.tlb_ns += ipi;
  }

  while (t < end && q.stop == Stop::None && !finished_) {
    if (t >= epoch_hi_ || t < epoch_lo_) advance_epoch(t);
    core::TimeNs stop = end < epoch_hi_ ? end : epoch_hi_;
    const core::TimeNs lo = epoch_lo_;
    const std::size_t epoch = epoch_;
    while (t < stop) {
      if (pos == kBatch) {
        refill(t);
        pos = 0;
        gaps = gaps_;
        // The steady-state prefetch below runs kPrefetch accesses ahead; a new batch starts
        // with nothing in flight, so start its first kPrefetch lines now.
        for (std::size_t i = 0; i < kPrefetch; ++i)
          __builtin_prefetch(&slots[base + workload::access_page(buf_[i])], 1, 3);
      }
      // The batch already holds the upcoming addresses: prefetch a few ahead so the cache
      // misses of consecutive accesses overlap (the per-access time chain below otherwise
      // limits how many the CPU keeps in flight).
      if (pos + kPrefetch < kBatch)
        __builtin_prefetch(&slots[base + workload::access_page(buf_[pos + kPrefetch])], 1, 3);
      const workload::Access a = buf_[pos];
      core::TimeNs after = think;
      if (gaps != nullptr) [[unlikely]] {
        const core::TimeNs gap = gaps[pos];
        if (gap == workload::kGapEnd) {
          finished_ = true;  // idle for the rest of the quantum (and of the run)
          break;
        }
        if (gap >= 0) after = gap;
      }
      const std::uint64_t g = base + workload::access_page(a);
      const bool w = workload::access_is_write(a);
      PageSlot& s = slots[g];
      Pte p = s.pte;
      bool touch_pte = true;
      if (!pte::accessible(p, w) || workload::access_is_device(a)) [[unlikely]] {
        std::uint32_t io = 0;
        // Slow path: fault until the PTE allows the access (an rfc-v1 async restore without
        // mkwrite takes a second fault for a write), or stop the quantum on a blocking event.
        for (int tries = 0;; ++tries) {
          VMEMSIM_CHECK(tries < 4, "access to gfn " << g << " does not resolve, pte 0x" << std::hex << s.pte);
          bool invisible = false;
          const FaultOutcome f = workload::access_is_device(a)
                                     ? as_.gup(Gfn(g), w, cfg_.honor_numa_fault, task_, node, t, invisible)
                                     : as_.fault(Gfn(g), w, task_, node, t);
          t += f.cost_ns;
          c_.fault_ns += f.cost_ns;
          if (f.kind >= c_.fault_ns_by_kind.size()) c_.fault_ns_by_kind.resize(f.kind + 1u, 0);
          c_.fault_ns_by_kind[f.kind] += f.cost_ns;
          io += f.read_bytes;
          if (f.result == FaultResult::Done) {
            p = s.pte;
            if (invisible || pte::accessible(p, w)) {
              touch_pte = !invisible;
              break;
            }
            continue;
          }
          q.stop = f.result == FaultResult::Oom ? Stop::Oom : f.result == FaultResult::Blocked ? Stop::Blocked : Stop::LockWait;
          q.gfn = Gfn(g);
          q.write = w;
          q.reason = f.reason;
          break;
        }
        if (q.stop != Stop::None) break;
        c_.device_accesses += workload::access_is_device(a);
        if (io != 0) {  // a swap-in's read: this access completes, then the quantum ends for the I/O
          q.stop = Stop::Io;
          q.io_bytes = io;
          stop = t;  // t only grows: the loop ends after this access
        }
      }
      ++pos;
      if (touch_pte) s.pte = p | pte::kAccessed | (w ? pte::kDirty : 0);
      const unsigned n = pte::lat_index(p);
      if (n == home) ++home_count;
      else ++by_node[n];
      writes += w;
      if (content != nullptr && w) [[unlikely]] as_.content_write(Gfn(g), content_rng_);
      truth.note_access(s, t, w, lo, epoch);
      t += after + lat[n];
    }
  }
  pos_ = pos;
  by_node[home] += home_count;
  c_.writes += writes;
  c_.local += by_node[node.v] + by_node[kMaxNodes + node.v];
  std::uint64_t all = 0, huge = 0;
  for (unsigned n = 0; n < kMaxNodes; ++n) {
    c_.by_node[n] += by_node[n] + by_node[kMaxNodes + n];
    all += by_node[n] + by_node[kMaxNodes + n];
    huge += by_node[kMaxNodes + n];
    c_.memory_ns += static_cast<core::TimeNs>(by_node[n]) * lat[n] +
                    static_cast<core::TimeNs>(by_node[kMaxNodes + n]) * lat[kMaxNodes + n];
    c_.tlb_saved_ns += static_cast<core::TimeNs>(by_node[kMaxNodes + n]) * (lat[n] - lat[kMaxNodes + n]);
  }
  c_.huge_accesses += huge;
  as_.note_accesses(all, huge);
  q.end = finished_ && t < end ? end : t;
  as_.account_runtime(task_, t - start);
  as_.apply_task_move(task_);  // a move the scheduler made during the quantum starts now
  return q;
}

}  // namespace vmemsim::mm
