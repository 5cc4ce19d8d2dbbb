#include "model_replay.hpp"

#include <exception>
#include <memory>
#include <optional>

#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/pte.hpp"
#include "models/uffd/uffd.hpp"

namespace vmemsim::kdiff {
namespace {

namespace pte = mm::pte;
using core::Gfn;
using core::NodeId;
using core::TimeNs;

// PAGE_IS_* bits of the uapi (the model's uffd::cat has two more, for the seed series).
// pattern.hpp keeps its own copy so the kernel runner builds without the project; they must agree.
constexpr std::uint32_t kUapiCats = cat::kAll;
static_assert(cat::kWpAllowed == uffd::cat::kWpAllowed && cat::kWritten == uffd::cat::kWritten &&
              cat::kFile == uffd::cat::kFile && cat::kPresent == uffd::cat::kPresent &&
              cat::kSwapped == uffd::cat::kSwapped && cat::kPfnZero == uffd::cat::kPfnZero &&
              cat::kHuge == uffd::cat::kHuge && cat::kSoftDirty == uffd::cat::kSoftDirty &&
              cat::kGuard == uffd::cat::kGuard);

struct Failure {
  std::string what;
};

class Replay {
 public:
  Replay(const Pattern& p, const ModelOptions& o)
      : p_(p),
        o_(o),
        host_({2 * p.pages + 64}),
        as_(config(p), host_),
        ever_(p.pages, 0),
        lost_(p.pages, 0),
        zapped_(p.pages, 0) {
    vk_.as = &as_;
    vk_.vcpus = 1;
    kernel::install_fault_mechanisms(vk_);
    if (p.registered) {
      uffd::Modes m;
      m.wp = true;
      uffd::Features f;
      f.wp_async = p.wp_async;
      f.wp_unpopulated = p.unpopulated;
      const auto r = vk_.uffd->register_range(m, f);
      if (!r.error.empty()) throw Failure{"register_range(MODE_WP): " + r.error};
    }
    check();
  }

  ModelRun run() {
    ModelRun out;
    for (std::size_t i = 0; i < p_.ops.size(); ++i) {
      const Op& op = p_.ops[i];
      try {
        apply(i, op, out);
        check();
      } catch (const Failure& f) {
        out.error = f.what;
        out.error_op = i;
        break;
      } catch (const std::exception& e) {
        out.error = std::string("exception: ") + e.what();
        out.error_op = i;
        break;
      }
      if (o_.trace) out.after.push_back(op.kind == Op::Scan ? out.dumps.back().cats : full_scan());
    }
    out.stats = stats_;
    return out;
  }

 private:
  static mm::AddressSpaceConfig config(const Pattern& p) {
    mm::AddressSpaceConfig c;
    c.vm = 0;
    c.pages = p.pages;
    c.backing = p.shmem ? mm::Backing::Shmem : mm::Backing::Anon;
    c.fallback = {{0}};
    c.use_zero_page = true;  // this host maps the shared zero page (FINDINGS.md g)
    c.variant = mm::Variant::Upstream;
    c.epoch_ns = core::kNsPerSec;
    c.duration_ns = core::kNsPerSec;
    return c;
  }

  void check() {
    if (!o_.invariants) return;
    as_.check_invariants();
    host_.check_invariants();
  }

  uffd::Uffd& ctx() {
    if (!vk_.uffd || !p_.registered) throw Failure{"no userfaultfd registration (registered=0)"};
    return *vk_.uffd;
  }

  static void ok(const uffd::IoctlResult& r, const char* what) {
    if (!r.error.empty()) throw Failure{std::string(what) + ": " + r.error};
  }

  static std::vector<Gfn> gfns(std::uint64_t lo, std::uint64_t hi) {
    std::vector<Gfn> v;
    v.reserve(hi - lo);
    for (std::uint64_t g = lo; g < hi; ++g) v.push_back(Gfn(g));
    return v;
  }

  // The vCPU executor's access: fault until the PTE allows it, answering sync WP faults as
  // kernel_runner's handler thread does, then the MMU's accessed/dirty update.
  void access(std::size_t i, std::uint64_t g, bool write) {
    const TimeNs t = static_cast<TimeNs>(i);
    mm::PageSlot& s = as_.slots()[g];
    for (int tries = 0; !pte::accessible(s.pte, write); ++tries) {
      if (tries >= 8) throw Failure{"access to page " + std::to_string(g) + " does not resolve, pte " + hex(s.pte)};
      const mm::FaultOutcome f = as_.fault(Gfn(g), write, 0, NodeId(0), t);
      ++stats_.faults;
      switch (f.result) {
        case mm::FaultResult::Done: break;
        case mm::FaultResult::Blocked: {
          // The engine queues the message for the blocked vCPU (sim/engine vcpu_actor), the
          // handler thread reads it.
          ctx().enqueue({Gfn(g), write, f.reason, NodeId(0)}, 0);
          const auto m = ctx().read();
          if (!m) throw Failure{"a fault blocked without a message in the queue"};
          if (f.reason != mm::UffdReason::Wp || m->msg.reason != mm::UffdReason::Wp) {
            // The runner's handler never resolves these; its watchdog ends the run.
            ++stats_.other_messages;
            throw Failure{std::string("uffd message of reason ") + mm::uffd_reason_name(m->msg.reason) + " at page " +
                          std::to_string(m->msg.gfn.v)};
          }
          // UFFDIO_WRITEPROTECT(clear) of the faulting page, which wakes the faulting thread.
          ok(ctx().writeprotect(m->msg.gfn, 1, false), "UFFDIO_WRITEPROTECT(clear) in the handler");
          ++stats_.wp_messages;
          break;
        }
        case mm::FaultResult::LockWait: throw Failure{"fault waits for the mmap lock"};
        case mm::FaultResult::Oom: throw Failure{"fault ran out of frames"};
      }
    }
    s.pte |= pte::kAccessed | (write ? pte::kDirty : 0);
    as_.truth().note_access(s, t, write, 0, 0);
  }

  // PAGEMAP_SCAN of [lo, hi); the per-page categories of the whole mapping, kNotReturned for
  // pages not returned (all of them when `novec`: the runner passes no vector).
  std::vector<std::uint32_t> scan(std::uint64_t lo, std::uint64_t hi, std::uint32_t flags, std::uint32_t category_mask,
                                  std::uint32_t return_mask, bool novec) {
    uffd::ScanArgs a;
    a.start = lo;
    a.len = hi - lo;
    a.flags = flags;
    a.category_mask = category_mask;
    a.return_mask = return_mask;
    const uffd::ScanResult r = ctx().pagemap_scan(a);
    if (!r.error.empty()) throw Failure{"PAGEMAP_SCAN: " + r.error};
    std::vector<std::uint32_t> out(p_.pages, cat::kNotReturned);
    if (novec) return out;
    for (const auto& reg : r.regions) {
      if (reg.start < lo || reg.start + reg.len > hi || reg.len == 0)
        throw Failure{"PAGEMAP_SCAN returned a region outside the walked range"};
      for (std::uint64_t g = reg.start; g < reg.start + reg.len; ++g) {
        if (out[g] != cat::kNotReturned) throw Failure{"PAGEMAP_SCAN returned page " + std::to_string(g) + " twice"};
        out[g] = reg.categories & kUapiCats;
      }
    }
    return out;
  }

  std::vector<std::uint32_t> full_scan() {
    auto c = scan(0, p_.pages, 0, 0, kUapiCats, false);
    for (std::uint64_t g = 0; g < p_.pages; ++g) {
      if (c[g] == cat::kNotReturned)
        throw Failure{"a scan with category_mask 0 did not return page " + std::to_string(g)};
      if (c[g] != (vk_.uffd->categories(Gfn(g)) & kUapiCats))
        throw Failure{"PAGEMAP_SCAN and categories() disagree on page " + std::to_string(g)};
    }
    return c;
  }

  bool wp_bit(std::uint64_t g) const { return pte::uffd(as_.pte_at(Gfn(g))); }

  // Coverage bookkeeping over [lo, hi) after an op.
  void note_state(std::uint64_t lo, std::uint64_t hi) {
    for (std::uint64_t g = lo; g < hi; ++g) {
      if (wp_bit(g)) {
        if (lost_[g]) ++stats_.reprotected;
        ever_[g] = 1;
        lost_[g] = 0;
      } else if (ever_[g]) {
        lost_[g] = 1;
      }
    }
  }

  void apply(std::size_t i, const Op& op, ModelRun& out) {
    switch (op.kind) {
      case Op::Read:
      case Op::Write:
        if (zapped_[op.lo]) ++stats_.touched_after_drop, zapped_[op.lo] = 0;
        access(i, op.lo, op.kind == Op::Write);
        note_state(op.lo, op.hi);
        return;
      case Op::Wp:
      case Op::Unwp:
        ok(ctx().writeprotect(Gfn(op.lo), op.hi - op.lo, op.kind == Op::Wp), "UFFDIO_WRITEPROTECT");
        note_state(op.lo, op.hi);
        return;
      case Op::DontNeed:
      case Op::PunchHole:
        for (std::uint64_t g = op.lo; g < op.hi; ++g)
          if (wp_bit(g) && pte::present(as_.pte_at(Gfn(g)))) ++stats_.dontneed_protected, zapped_[g] = 1;
        if (op.kind == Op::DontNeed) {
          ok(ctx().dontneed(gfns(op.lo, op.hi)), "MADV_DONTNEED");
        } else {
          if (!p_.shmem) throw Failure{"PUNCH_HOLE on anon memory (EOPNOTSUPP in the runner)"};
          ok(ctx().punch_hole(gfns(op.lo, op.hi)), "PUNCH_HOLE");
        }
        note_state(op.lo, op.hi);
        return;
      case Op::Scan:
        out.dumps.push_back({i, false, full_scan()});
        return;
      case Op::ScanWpMatching: {
        std::uint32_t flags = uffd::kScanWpMatching;
        if (p_.wp_async || o_.check_wpasync) flags |= uffd::kScanCheckWpAsync;
        ScanDump d{i, true, scan(op.lo, op.hi, flags, cat::kWritten, op.arg, op.arg == 0)};
        out.dumps.push_back(std::move(d));
        note_state(op.lo, op.hi);
        out.dumps.push_back({i, false, full_scan()});
        return;
      }
    }
    throw Failure{"unknown op"};
  }

  const Pattern& p_;
  const ModelOptions& o_;
  mm::HostMemory host_;
  mm::AddressSpace as_;
  kernel::VmKernel vk_;
  std::vector<std::uint8_t> ever_, lost_, zapped_;
  ModelStats stats_;
};

}  // namespace

ModelRun run_model(const Pattern& p, const ModelOptions& o) {
  try {
    Replay r(p, o);
    return r.run();
  } catch (const Failure& f) {
    ModelRun out;
    out.error = f.what;
    return out;
  } catch (const std::exception& e) {
    ModelRun out;
    out.error = std::string("exception while building the model: ") + e.what();
    return out;
  }
}

std::vector<std::uint64_t> count_ops(const Pattern& p) {
  std::vector<std::uint64_t> n(Op::ScanWpMatching + 1, 0);
  for (const auto& op : p.ops) ++n[op.kind];
  return n;
}

}  // namespace vmemsim::kdiff
