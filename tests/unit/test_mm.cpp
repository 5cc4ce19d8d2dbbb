// models/mm: frame pools, fault paths (do_anonymous_page / zero-page COW / shmem_fault),
// placement and fallback, ground-truth working set, and the vCPU executor's accounting.
#include <catch2/catch.hpp>

#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/vcpu.hpp"
#include "sim/scenario/world.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;
using core::Pfn;
using core::VmId;
using test::TestVm;

namespace {

AddressSpaceConfig config(std::uint64_t pages, unsigned nodes, Backing b = Backing::Anon) {
  return test::vm_config(pages, nodes, b);
}

// A generator replaying a fixed list of accesses (cycling).
class Replay : public workload::Generator {
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

}  // namespace

TEST_CASE("HostMemory hands out frames per node and recycles them", "[mm]") {
  HostMemory h({2, 0, 3});
  CHECK(h.total_frames() == 5);
  CHECK(h.node_of(Pfn(0)) == NodeId(0));
  CHECK(h.node_of(Pfn(1)) == NodeId(0));
  CHECK(h.node_of(Pfn(2)) == NodeId(2));  // node 1 has no frames: pfn 2 is node 2's first
  auto a = h.alloc_on(NodeId(0), Mapper{VmId(0), Gfn(10)});
  auto b = h.alloc_on(NodeId(0), Mapper{VmId(0), Gfn(11)});
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(h.alloc_on(NodeId(0), Mapper{VmId(0), Gfn(12)}));
  CHECK_FALSE(h.alloc_on(NodeId(1), Mapper{VmId(0), Gfn(12)}));
  std::vector<unsigned> order = {0, 1, 2};
  auto c = h.alloc(order, Mapper{VmId(0), Gfn(12)});
  REQUIRE(c);
  CHECK(h.node_of(*c) == NodeId(2));  // fell back past the full and the empty node
  h.put(*a);  // the allocation's only reference: the frame goes back to its node
  CHECK(h.free_frames(0) == 1);
  auto d = h.alloc_on(NodeId(0), Mapper{VmId(1), Gfn(5)});
  CHECK(*d == *a);  // recycled
  CHECK(h.owner(*d).vm == VmId(1));
  CHECK(h.owner(*d).gfn == Gfn(5));
  h.check_invariants();
  h.put(*c);
  CHECK_THROWS_AS(h.put(*c), core::InternalError);  // double free caught
}

SCENARIO("anon faults follow do_anonymous_page and the zero-page COW", "[mm]") {
  HostMemory host({16, 16});
  GIVEN("an anon VM with the zero page enabled") {
    TestVm vm(config(8, 2), host);
    AddressSpace& as = vm.as();
    WHEN("a page is read first") {
      auto f = vm.fault(3, false, 1, 0);
      THEN("the zero page is mapped read-only and no frame is used") {
        CHECK(f.kind == vm.kind("zero_map"));
        CHECK(f.cost_ns == 1500);
        CHECK(pte::zero_page(vm.pte(3)));
        CHECK_FALSE(pte::writable(vm.pte(3)));
        CHECK(as.resident_total() == 0);
        CHECK(pte::accessible(vm.pte(3), false));
        CHECK_FALSE(pte::accessible(vm.pte(3), true));
      }
      AND_WHEN("it is then written") {
        auto g = vm.fault(3, true, 1, 5);
        THEN("a private frame is allocated on the faulting vCPU's node") {
          CHECK(g.kind == vm.kind("cow_zero"));
          CHECK(g.cost_ns == 1500 + 250);
          CHECK(pte::writable(vm.pte(3)));
          CHECK(pte::node(vm.pte(3)) == 1);
          CHECK(as.resident(1) == 1);
          CHECK(as.zero_page_maps() == 0);
          as.check_invariants();
        }
      }
    }
    WHEN("a page is written first") {
      auto f = vm.fault(0, true, 0, 0);
      THEN("a zeroed frame is mapped writable") {
        CHECK(f.kind == vm.kind("anon_alloc"));
        CHECK(as.resident(0) == 1);
        CHECK(pte::accessible(vm.pte(0), true));
        CHECK(vm.faults("anon_alloc") == 1);
      }
    }
  }
  GIVEN("the zero page forbidden") {
    auto c = config(8, 2);
    c.use_zero_page = false;
    TestVm vm(c, host);
    THEN("a read allocates") {
      CHECK(vm.fault(1, false, 0, 0).kind == vm.kind("anon_alloc"));
      CHECK(vm.as().resident_total() == 1);
    }
  }
}

TEST_CASE("shmem faults allocate into the page cache, mapped writable", "[mm]") {
  HostMemory host({16});
  TestVm vm(config(4, 1, Backing::Shmem), host);
  auto f = vm.fault(2, false, 0, 0);
  CHECK(f.kind == vm.kind("shmem_alloc"));
  CHECK(pte::writable(vm.pte(2)));  // MAP_SHARED: no zero page, no COW
  CHECK(vm.as().resident_total() == 1);
  vm.as().check_invariants();
}

TEST_CASE("placement: local, preferred, interleave, fallback by distance, OOM", "[mm]") {
  HostMemory host({4, 4, 4});
  SECTION("local = the faulting vCPU's node") {
    TestVm vm(config(8, 3), host);
    vm.fault(0, true, 2, 0);
    CHECK(pte::node(vm.pte(0)) == 2);
  }
  SECTION("preferred = the home node whatever the vCPU") {
    auto c = config(8, 3);
    c.placement = Placement::Preferred;
    c.home_node = 1;
    TestVm vm(c, host);
    vm.fault(0, true, 2, 0);
    CHECK(pte::node(vm.pte(0)) == 1);
  }
  SECTION("interleave by page offset") {
    auto c = config(8, 3);
    c.placement = Placement::Interleave;
    c.interleave_nodes = {0, 2};
    TestVm vm(c, host);
    for (std::uint64_t g = 0; g < 4; ++g) vm.fault(g, true, 1, 0);
    CHECK(pte::node(vm.pte(0)) == 0);
    CHECK(pte::node(vm.pte(1)) == 2);
    CHECK(pte::node(vm.pte(2)) == 0);
    CHECK(pte::node(vm.pte(3)) == 2);
  }
  SECTION("a full node falls back in zonelist order, then OOM") {
    auto c = config(16, 3);
    c.fallback = {{0, 2, 1}, {1, 0, 2}, {2, 1, 0}};
    TestVm vm(c, host);
    AddressSpace& as = vm.as();
    for (std::uint64_t g = 0; g < 12; ++g) REQUIRE(vm.fault(g, true, 0, 0).ok());
    CHECK(as.resident(0) == 4);
    CHECK(as.resident(2) == 4);
    CHECK(as.resident(1) == 4);
    CHECK(pte::node(vm.pte(4)) == 2);  // node 2 before node 1 for a node-0 fault
    auto f = vm.fault(12, true, 0, 0);
    CHECK_FALSE(f.ok());
    CHECK(f.kind == vm.kind("oom"));
    CHECK(f.kind == as.router().oom_kind());
    CHECK(pte::none(vm.pte(12)));
    as.check_invariants();
  }
}

TEST_CASE("fallback order sorts nodes by latency from the preferred node", "[mm]") {
  scenario::HostSpec h;
  h.nodes.resize(3);
  h.latency_ns = {{90, 180, 270}, {180, 90, 120}, {270, 120, 90}};
  auto f = scenario::fallback_orders(h);
  CHECK(f[0] == std::vector<unsigned>{0, 1, 2});
  CHECK(f[2] == std::vector<unsigned>{2, 1, 0});
  CHECK(f[1] == std::vector<unsigned>{1, 2, 0});
}

TEST_CASE("ground-truth working set counts pages by the epoch of their last access", "[mm]") {
  HostMemory host({16});
  TestVm vm(config(8, 1), host);  // epoch 1000 ns
  GroundTruth& t = vm.as().truth();
  PageSlot* s = vm.as().slots();
  t.note_access(s[0], 100, false, 0, 0);
  t.note_access(s[1], 900, false, 0, 0);
  t.note_access(s[0], 1500, false, 1000, 1);  // page 0 moves to epoch 1
  t.note_access(s[2], 2500, false, 2000, 2);
  t.note_access(s[1], 800, false, 0, 0);      // an older stamp from a vCPU running behind: kept 900
  CHECK(t.last_access(Gfn(1)) == 900);
  CHECK(t.last_access(Gfn(0)) == 1500);
  CHECK(t.last_access(Gfn(5)) == -1);
  // Pages whose last access is at or after now - window, later stamps included.
  CHECK(t.true_wss(1000, 1000) == 3);
  CHECK(t.true_wss(2000, 1000) == 2);  // pages 0 (1500) and 2 (2500)
  CHECK(t.true_wss(2000, 2000) == 3);
  CHECK(t.true_wss(3000, 3000) == 3);
  CHECK(t.true_wss(3000, 1000) == 1);  // page 2
  t.check_invariants();
}

TEST_CASE("vCPU quantum: costs add up, remote accesses counted, stream independent of quantum", "[mm]") {
  HostMemory host({16, 16});
  auto c = config(4, 2);
  c.placement = Placement::Preferred;
  c.home_node = 1;  // memory on node 1, vCPU on node 0: every access is remote
  c.duration_ns = 1000000;
  c.epoch_ns = 100000;
  TestVm vm(c, host);
  AddressSpace& as = vm.as();
  VcpuConfig vc;
  vc.node = 0;
  vc.think_ns = 10;
  vc.latency_ns = {{90, 190}, {190, 90}};
  using workload::make_access;
  Vcpu v(vc, as, std::make_unique<Replay>(std::vector<workload::Access>{
                     make_access(0, true), make_access(1, false), make_access(0, false), make_access(1, true)}));
  auto q = v.run(0, 5000);
  // faults: page 0 write -> anon alloc 1750; page 1 read -> zero map 1500 (node-0 zero page,
  // 90 ns); page 1 write later -> COW 1750. Access costs: 10 + 190 remote, 10 + 90 zero page.
  const auto& k = v.counters();
  CHECK(vm.faults("anon_alloc") == 1);
  CHECK(vm.faults("zero_map") == 1);
  CHECK(vm.faults("cow_zero") == 1);
  CHECK(k.fault_ns == 1750 + 1500 + 1750);
  // time: a0 at 0 -> 1750 + 200; a1 -> +1500 + 100; a2 -> +200; a3 -> +1750 + 200; then 200 each
  core::TimeNs t = 1750 + 200 + 1500 + 100 + 200 + 1750 + 200;
  std::uint64_t n = 4;
  while (t < 5000) {
    t += 200;
    ++n;
  }
  CHECK(q.end == t);
  CHECK(k.accesses() == n);
  CHECK(k.by_node[0] == 1);  // the one zero-page read
  CHECK(k.by_node[1] == n - 1);
  CHECK(k.memory_ns == static_cast<core::TimeNs>(90 + 190 * (n - 1)));
  as.check_invariants();

  // The same accesses in two quanta of different lengths end identically.
  HostMemory host2({16, 16});
  TestVm vm2(c, host2);
  Vcpu v2(vc, vm2.as(), std::make_unique<Replay>(std::vector<workload::Access>{
                       make_access(0, true), make_access(1, false), make_access(0, false), make_access(1, true)}));
  auto q1 = v2.run(0, 1000);
  auto q2 = v2.run(q1.end, 5000);
  CHECK(q2.end == q.end);
  CHECK(v2.counters().accesses() == k.accesses());
}
