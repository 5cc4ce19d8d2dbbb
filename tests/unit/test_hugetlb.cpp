// hugetlb backing (models/hugetlb, HostMemory's hugetlb pool, the scenario reader's checks):
// the per-node pool of 2 MiB pages is kept out of the buddy allocator and off the LRU, a fault
// maps a whole pool page by PMD through the page cache, and bad scenarios are refused with the
// key that is wrong.
#include <catch2/catch.hpp>

#include <array>
#include <optional>

#include "models/hugetlb/hugetlb.hpp"
#include "models/kernel/registry.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/tlb_reach.hpp"
#include "models/mm/vcpu.hpp"
#include "sim/core/error.hpp"
#include "sim/scenario/scenario.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;
using core::Pfn;
using core::VmId;

namespace {

struct CountingObserver final : FrameObserver {
  unsigned allocated = 0, freed = 0;
  void frame_allocated(Pfn) override { ++allocated; }
  void frame_freed(Pfn) override { ++freed; }
  void swap_entry_freed(std::uint32_t, std::optional<Pfn>) override {}
};

}  // namespace

TEST_CASE("hugetlb pool: reserved out of the buddy allocator, aligned, off the LRU", "[hugetlb]") {
  HostMemory host({2048 + 100, 4096});
  CountingObserver obs;
  host.set_observer(&obs);
  // One 4 KiB frame first, so the reservation has to skip to the next 2 MiB boundary.
  REQUIRE(host.alloc_on(NodeId(0), {VmId(1), Gfn(0)}));
  REQUIRE(host.reserve_hugetlb(0, 3));
  CHECK(host.hugetlb_total(0) == 3);
  CHECK(host.hugetlb_free(0) == 3);
  CHECK(host.used(0) == 1);
  CHECK(host.free_frames(0) == 2048 + 100 - 1 - 3 * 512);
  host.check_invariants();
  // Node 0 has 2148 frames: 512..2047 are the pool, no further aligned block fits.
  CHECK_FALSE(host.reserve_hugetlb(0, 1));
  CHECK(host.hugetlb_total(0) == 3);

  std::array<std::uint32_t, 512> pfns{};
  REQUIRE(host.alloc_hugetlb(NodeId(0), {VmId(0), Gfn(1024)}, pfns.data()));
  for (unsigned i = 0; i < 512; ++i) {
    CHECK(pfns[i] == pfns[0] + i);
    CHECK(host.owner(Pfn(pfns[i])) == Mapper{VmId(0), Gfn(1024 + i)});
  }
  CHECK(pfns[0] % 512 == 0);
  CHECK(host.used(0) == 1 + 512);
  CHECK(host.hugetlb_free(0) == 2);
  CHECK(host.owned(VmId(0), 0) == 512);
  const std::uint64_t free_before = host.free_frames(0);
  CHECK(free_before == 2048 + 100 - 1 - 3 * 512);  // a pool page in use is not free either
  CHECK(obs.allocated == 1);                        // only the 4 KiB frame entered the LRU
  host.check_invariants();

  host.free_hugetlb(pfns.data());
  CHECK(host.hugetlb_free(0) == 3);
  CHECK(host.used(0) == 1);
  CHECK(host.free_frames(0) == free_before);
  CHECK(obs.freed == 0);
  host.check_invariants();

  // 4 KiB allocations never take pool frames: the node runs out with the pool intact.
  unsigned n = 0;
  while (host.alloc_on(NodeId(0), {VmId(2), Gfn(n)})) ++n;
  CHECK(n == 2048 + 100 - 1 - 3 * 512);
  CHECK(host.hugetlb_free(0) == 3);
  host.check_invariants();
  // An empty pool refuses.
  CHECK_FALSE(host.alloc_hugetlb(NodeId(1), {VmId(0), Gfn(0)}, pfns.data()));
}

TEST_CASE("hugetlb fault: a whole 2 MiB pool page, PMD-mapped through the page cache", "[hugetlb]") {
  HostMemory host({4096, 4096});
  REQUIRE(host.reserve_hugetlb(0, 1));
  REQUIRE(host.reserve_hugetlb(1, 1));
  test::TestVm vm(test::vm_config(1024, 2, Backing::Hugetlb), host);

  vm.fault(700, true, 0);
  CHECK(vm.faults("hugetlb_alloc") == 1);
  CHECK(host.hugetlb_free(0) == 0);
  for (std::uint64_t g = 512; g < 1024; ++g) {
    const Pte p = vm.pte(g);
    REQUIRE(pte::present(p));
    CHECK(pte::huge(p));
    CHECK(pte::writable(p));
    CHECK(vm.as().in_page_cache(Gfn(g)));
    // The page cache's reference plus the mapping's.
    CHECK(host.frame(Pfn(pte::pfn(p))).refcount == 2);
  }
  CHECK(pte::none(vm.pte(0)));
  // The local pool is empty: the next huge page comes from node 1 (the fallback order).
  vm.fault(3, false, 0);
  CHECK(vm.faults("hugetlb_alloc") == 2);
  CHECK(pte::node(vm.pte(3)) == 1);
  CHECK(host.hugetlb_free(1) == 0);
  CHECK(vm.faults("anon_alloc") + vm.faults("shmem_alloc") == 0);
  vm.as().check_invariants();
  host.check_invariants();
}

namespace {

// A fixed access stream (the vCPU's workload).
class Replay final : public workload::Generator {
 public:
  explicit Replay(std::vector<workload::Access> a) : a_(std::move(a)) {}
  void fill(core::TimeNs, std::span<workload::Access> out) override {
    for (auto& x : out) {
      x = a_[i_];
      i_ = (i_ + 1) % a_.size();
    }
  }

 private:
  std::vector<workload::Access> a_;
  std::size_t i_ = 0;
};

// Reads kernel.<name> from `section` and builds it over `ctx`, as build_world() does.
void build_section(const char* name, const core::Json& section, const kernel::DaemonContext& ctx) {
  core::ErrorSink sink("t.json");
  core::Json resolved = core::Json::object();
  core::Params p(&section, std::string("/kernel/") + name, &sink, &resolved);
  const kernel::DaemonInfo* info = kernel::find_daemon(name);
  REQUIRE(info);
  CHECK(info->make(p, ctx).empty());  // neither section starts a daemon here
  p.finish();
  REQUIRE(sink.empty());
}

// The VM's "hugetlb" mechanism (its report), or null.
const kernel::VmMechanism* hugetlb_mechanism(test::TestVm& vm) {
  for (const auto& m : vm.kernel().mechanisms)
    if (std::string(m->name()) == "hugetlb") return m.get();
  return nullptr;
}

}  // namespace

TEST_CASE("kernel.hugetlb: a hugetlb guest takes the TLB-reach saving with THP off", "[hugetlb][tlb]") {
  HostMemory host({8192});
  REQUIRE(host.reserve_hugetlb(0, 2));
  auto hc = test::vm_config(1024, 1, Backing::Hugetlb);
  hc.duration_ns = 100000000;
  test::TestVm huge(hc, host);
  auto ac = test::vm_config(1024, 1);
  ac.vm = 1;
  test::TestVm anon(ac, host);
  kernel::DaemonContext ctx;
  kernel::HostKernel hk;
  hk.name = "h";
  hk.memory = &host;
  hk.cpu_nodes = {0};
  hk.vms = {&huge.kernel(), &anon.kernel()};
  ctx.hosts.push_back(hk);

  SECTION("defaults: the shared figure on the hugetlb VM only, THP never changes nothing") {
    build_section("thp", core::Json::object(), ctx);  // enabled=never: no THP state anywhere
    build_section("hugetlb", core::Json::object(), ctx);
    CHECK(huge.as().huge_saving_ns() == mm::kTlbSavingNs);
    CHECK(mm::kTlbSavingNs == 20);
    CHECK(anon.as().huge_saving_ns() == 0);
    CHECK(huge.as().huge() == nullptr);  // no HugeMappings: hugetlb is not THP
    REQUIRE(hugetlb_mechanism(huge) != nullptr);
    CHECK(hugetlb_mechanism(anon) == nullptr);

    // A vCPU touching two huge pages: every access (the faulting ones retry) goes through the
    // huge PTE and costs the DRAM latency minus the saving.
    VcpuConfig vc;
    vc.node = 0;
    vc.think_ns = 10;
    vc.latency_ns = {{90}};
    using workload::make_access;
    Vcpu v(vc, huge.as(), std::make_unique<Replay>(std::vector<workload::Access>{make_access(3, true), make_access(700, false)}));
    v.run(0, 2000000);  // long enough for the two hugetlb_alloc faults (512 page clears each)
    const auto& k = v.counters();
    CHECK(huge.faults("hugetlb_alloc") == 2);
    REQUIRE(k.accesses() > 100);
    CHECK(k.huge_accesses == k.accesses());
    CHECK(k.tlb_saved_ns == static_cast<core::TimeNs>(20 * k.huge_accesses));
    CHECK(k.memory_ns == static_cast<core::TimeNs>(70 * k.accesses()));
    const core::Json j = hugetlb_mechanism(huge)->summary();
    CHECK(j["huge_accesses"] == k.huge_accesses);
    CHECK(j["tlb_saved_ns"] == 20 * k.huge_accesses);
    CHECK(j["tlb_saving_ns_per_access"] == 20);
    CHECK(j["huge_access_share"] == 1.0);
    CHECK(j["huge_pages_mapped"] == 2);
    CHECK(j["huge_pages_cached"] == 2);
  }
  SECTION("tlb_saving_ns is the hugetlb section's own knob") {
    build_section("hugetlb", core::Json{{"tlb_saving_ns", 35}}, ctx);
    CHECK(huge.as().huge_saving_ns() == 35);
    CHECK(anon.as().huge_saving_ns() == 0);
  }
  SECTION("enabled=false builds nothing: no saving, no report") {
    build_section("hugetlb", core::Json{{"enabled", false}}, ctx);
    CHECK(huge.as().huge_saving_ns() == 0);
    CHECK(hugetlb_mechanism(huge) == nullptr);
  }
}

namespace {
core::Json hugetlb_doc(unsigned hugepages, const char* memory) {
  auto d = core::Json::parse(R"({
    "name": "t", "duration": "1s",
    "hosts": [{"name": "h", "nodes": [{"cores": 4, "memory": "1GiB"}]}],
    "vms": [{"name": "g", "vcpus": 1, "backing": "hugetlb", "workload": {"type": "uniform"}}]
  })");
  d["hosts"][0]["nodes"][0]["hugepages"] = hugepages;
  d["vms"][0]["memory"] = memory;
  return d;
}
std::vector<core::InputProblem> problems(const core::Json& d) {
  try {
    scenario::parse_scenario(d, "t.json", {});
  } catch (const core::InputError& e) {
    return e.problems();
  }
  return {};
}
}  // namespace

TEST_CASE("hugetlb scenarios: the pool, the huge-page size and the policy are checked", "[hugetlb][scenario]") {
  CHECK(problems(hugetlb_doc(64, "128MiB")).empty());
  SECTION("guests beyond the pool") {
    const auto ps = problems(hugetlb_doc(63, "128MiB"));
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/hosts/0/nodes");
    CHECK(ps[0].message == "hugetlb-backed guest memory on host 'h' (128MiB) exceeds its hugetlb pool "
                           "(nodes[].hugepages: 126MiB)");
  }
  SECTION("a pool larger than the node") {
    const auto ps = problems(hugetlb_doc(513, "128MiB"));
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/hosts/0/nodes/0/hugepages");
  }
  SECTION("guest memory that is not whole huge pages") {
    const auto ps = problems(hugetlb_doc(64, "127MiB"));
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/vms/0/memory");
    CHECK(ps[0].message == "a hugetlb-backed VM needs a multiple of the 2MiB huge page size");
  }
  SECTION("a VMM policy that does not work at 2 MiB") {
    auto d = hugetlb_doc(64, "128MiB");
    d["kernel"] = {{"variant", "rfc-v1"}};
    d["vms"][0]["vmm"] = {{"policy", "abit-harvest"}};
    const auto ps = problems(d);
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/vms/0/vmm/policy");
    CHECK(ps[0].message.find("uffd-hugetlb-zap") != std::string::npos);  // names the ones that do
  }
  SECTION("a 2 MiB policy on a kernel without DEACTIVATE") {
    auto d = hugetlb_doc(64, "128MiB");
    d["vms"][0]["vmm"] = {{"policy", "uffd-hugetlb-zap"}};
    const auto ps = problems(d);  // the workflow's and the named mechanism's checks
    REQUIRE_FALSE(ps.empty());
    for (const auto& p : ps) CHECK(p.pointer == "/vms/0/vmm/policy");
  }
  SECTION("a 2 MiB policy on rfc-v1 is accepted") {
    auto d = hugetlb_doc(64, "128MiB");
    d["kernel"] = {{"variant", "rfc-v1"}};
    d["vms"][0]["vmm"] = {{"policy", "uffd-hugetlb-zap"}};
    CHECK(problems(d).empty());
  }
  SECTION("the pool is taken out of the DRAM other guests can use") {
    auto d = hugetlb_doc(256, "512MiB");
    d["vms"].push_back({{"name", "a"}, {"vcpus", 1}, {"memory", "768MiB"}, {"workload", {{"type", "uniform"}}}});
    const auto ps = problems(d);
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/vms");
  }
}
