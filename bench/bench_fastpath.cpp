// Fast-path throughput: simulated accesses per wall second of a vCPU on a fully resident
// 1 GiB anon VM, side by side with a bare loop doing the same generator draw + PTE check +
// accessed-bit store (DESIGN.md "Performance budget": within 2x of the bare loop, >= 100 M/s).
#include <benchmark/benchmark.h>

#include <memory>

#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/vcpu.hpp"
#include "models/numa/balancer.hpp"
#include "models/thp/thp.hpp"
#include "models/workload/generator.hpp"

using namespace vmemsim;

namespace {

constexpr std::uint64_t kPages = (1ull << 30) / 4096;  // 1 GiB guest

std::unique_ptr<workload::Generator> make_gen(const char* type) {
  core::Json j = core::Json::parse(std::string(R"({"type": ")") + type + R"(", "write_ratio": 0.2})");
  core::ErrorSink sink("bench");
  core::Params p(&j, "", &sink, nullptr);
  workload::GenContext ctx{kPages, 1, "bench"};
  auto g = workload::make_generator(p, ctx);
  sink.throw_if_any();
  return g;
}

struct Fixture {
  mm::HostMemory host{std::vector<std::uint64_t>{2 * kPages}};
  std::unique_ptr<mm::AddressSpace> as;
  kernel::VmKernel vk;
  Fixture() {
    mm::AddressSpaceConfig cfg;
    cfg.pages = kPages;
    cfg.fallback = {{0}};
    cfg.epoch_ns = 100 * core::kNsPerMs;
    cfg.duration_ns = 3600 * core::kNsPerSec;
    as = std::make_unique<mm::AddressSpace>(cfg, host);
    vk.as = as.get();
    kernel::install_fault_mechanisms(vk);
    for (std::uint64_t g = 0; g < kPages; ++g) as->fault(core::Gfn(g), true, 0, core::NodeId(0), 0);  // fully resident
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// The same VM with automatic NUMA balancing on (kernel.numa_balancing=1, kernel defaults), two
// threads so the scanner does not skip local pages: the vCPU's quanta include its task work
// (task_tick_numa, task_numa_work) and the hinting faults that follow each scan.
struct NumaFixture : Fixture {
  std::shared_ptr<numa::HostNuma> hn;
  NumaFixture() {
    as->add_task(core::NodeId(0), 999);  // another thread of the process
    hn = std::make_shared<numa::HostNuma>(host, std::vector<unsigned>{4}, std::vector<std::vector<core::TimeNs>>{{90}});
    hn->cfg.mode = numa::kNormal;
    vk.numa->configure(hn);
  }
};

void BM_vcpu_numa(benchmark::State& st, const char* type) {
  static NumaFixture f;
  mm::VcpuConfig vc;
  vc.index = f.as->task_count();
  vc.latency_ns = {{90}};
  vc.think_ns = 10;
  mm::Vcpu v(vc, *f.as, make_gen(type));
  core::TimeNs t = 0;
  const std::uint64_t before = v.counters().accesses();
  for (auto _ : st) t = v.run(t, t + 100 * core::kNsPerUs).end;
  st.SetItemsProcessed(static_cast<std::int64_t>(v.counters().accesses() - before));
  st.counters["hint_faults"] = static_cast<double>(f.vk.numa->stats().numa_hint_faults);
}

// The same VM with THP on (kernel.thp.enabled=always): every PMD range faults in as one 2 MiB
// folio, so every access goes through a PMD mapping (pte::kHuge, the latency row's upper half).
struct ThpFixture {
  mm::HostMemory host{std::vector<std::uint64_t>{2 * kPages}};
  std::unique_ptr<mm::AddressSpace> as;
  kernel::VmKernel vk;
  std::unique_ptr<thp::ThpVm> t;
  ThpFixture() {
    mm::AddressSpaceConfig cfg;
    cfg.pages = kPages;
    cfg.fallback = {{0}};
    cfg.epoch_ns = 100 * core::kNsPerMs;
    cfg.duration_ns = 3600 * core::kNsPerSec;
    as = std::make_unique<mm::AddressSpace>(cfg, host);
    vk.as = as.get();
    kernel::install_fault_mechanisms(vk);
    thp::ThpConfig c;
    c.enabled = thp::Enabled::Always;
    t = std::make_unique<thp::ThpVm>(*as, c, vk.uffd.get());
    as->set_huge(t.get());
    as->set_huge_saving_ns(c.tlb_saving_ns);
    vk.thp->enable(t.get());
    for (std::uint64_t g = 0; g < kPages; ++g)
      if (!mm::pte::present(as->pte_at(core::Gfn(g)))) as->fault(core::Gfn(g), true, 0, core::NodeId(0), 0);
  }
};

void BM_vcpu_thp(benchmark::State& st, const char* type) {
  static ThpFixture f;
  mm::VcpuConfig vc;
  vc.index = f.as->task_count();
  vc.latency_ns = {{90}};
  vc.think_ns = 10;
  mm::Vcpu v(vc, *f.as, make_gen(type));
  core::TimeNs t = 0;
  const std::uint64_t before = v.counters().accesses();
  for (auto _ : st) t = v.run(t, t + 100 * core::kNsPerUs).end;
  st.SetItemsProcessed(static_cast<std::int64_t>(v.counters().accesses() - before));
  st.counters["pmd_mapped"] = static_cast<double>(f.t->mapped_pmds());
}

void BM_vcpu(benchmark::State& st, const char* type) {
  Fixture& f = fixture();
  mm::VcpuConfig vc;
  vc.index = f.as->task_count();
  vc.latency_ns = {{90}};
  vc.think_ns = 10;
  mm::Vcpu v(vc, *f.as, make_gen(type));
  core::TimeNs t = 0;
  std::uint64_t before = v.counters().accesses();
  for (auto _ : st) {
    // one 100 us quantum at 100 ns per access = 1000 accesses
    t = v.run(t, t + 100 * core::kNsPerUs).end;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(v.counters().accesses() - before));
}

// The same generator draw and PTE check/update with nothing else: the floor for the fast path.
void BM_bare(benchmark::State& st, const char* type) {
  Fixture& f = fixture();
  auto gen = make_gen(type);
  std::array<workload::Access, mm::Vcpu::kBatch> buf{};
  mm::PageSlot* slots = f.as->slots();
  std::uint64_t n = 0, faults = 0;
  core::TimeNs t = 0;
  for (auto _ : st) {
    for (int k = 0; k < 4; ++k) {  // ~1000 accesses, like one quantum
      gen->fill(t, buf);
      for (auto a : buf) {
        const std::uint64_t g = workload::access_page(a);
        const bool w = workload::access_is_write(a);
        const mm::Pte p = slots[g].pte;
        faults += !mm::pte::accessible(p, w);
        slots[g].pte = p | mm::pte::kAccessed | (w ? mm::pte::kDirty : 0);
      }
      t += 25600;
      n += buf.size();
    }
  }
  benchmark::DoNotOptimize(faults);
  st.SetItemsProcessed(static_cast<std::int64_t>(n));
}

}  // namespace

BENCHMARK_CAPTURE(BM_bare, uniform, "uniform");
BENCHMARK_CAPTURE(BM_vcpu, uniform, "uniform");
BENCHMARK_CAPTURE(BM_bare, zipf, "zipf");
BENCHMARK_CAPTURE(BM_vcpu, zipf, "zipf");
BENCHMARK_CAPTURE(BM_bare, hot_cold, "hot_cold");
BENCHMARK_CAPTURE(BM_vcpu, hot_cold, "hot_cold");
BENCHMARK_CAPTURE(BM_bare, sequential, "sequential");
BENCHMARK_CAPTURE(BM_vcpu, sequential, "sequential");
BENCHMARK_CAPTURE(BM_vcpu_numa, uniform, "uniform");
BENCHMARK_CAPTURE(BM_vcpu_numa, hot_cold, "hot_cold");
BENCHMARK_CAPTURE(BM_vcpu_thp, uniform, "uniform");
BENCHMARK_CAPTURE(BM_vcpu_thp, hot_cold, "hot_cold");

BENCHMARK_MAIN();
