// models/mm/fault_router + kernel_variant: handle_pte_fault()'s classification of the faulting
// PTE, the per-variant capability table that splits PROT_NONE between NUMA hinting and
// userfaultfd (KERNEL-MODEL.md §3.2), and the router that offers a fault to the handlers the
// mechanisms registered.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/fault_router.hpp"
#include "models/mm/kernel_variant.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;

namespace {

constexpr Pte kPresentRw = pte::kPresent | pte::kWrite | 5;  // pfn 5, node 0, writable
constexpr Pte kProtNone = kPresentRw | pte::kProtNone;
constexpr Pte kProtNoneUffd = kProtNone | pte::kUffd;

enum class Reg { None, Minor, Rwp };

const char* reg_name(Reg r) {
  switch (r) {
    case Reg::None: return "unregistered";
    case Reg::Minor: return "MINOR";
    case Reg::Rwp: return "RWP";
  }
  return "?";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The capability table (KERNEL-MODEL.md §3.2).

TEST_CASE("capability table: who owns a PROT_NONE fault, by variant, backing and registration", "[mm][caps]") {
  constexpr auto N = FaultClass::ProtNoneNuma;
  constexpr auto U = FaultClass::ProtNoneUffd;
  struct Row {
    Variant variant;
    Backing backing;
    Reg reg;
    FaultClass plain;     // PROT_NONE without the uffd bit (PN_NUMA, rfc-v1's PN_DEACT)
    FaultClass with_bit;  // PROT_NONE with the uffd bit (PN_RWP, or PN_NUMA over a uffd-wp bit)
  };
  const Row rows[] = {
      // upstream: always the NUMA hinting path.
      {Variant::Upstream, Backing::Anon, Reg::None, N, N},
      {Variant::Upstream, Backing::Anon, Reg::Minor, N, N},
      {Variant::Upstream, Backing::Anon, Reg::Rwp, N, N},
      {Variant::Upstream, Backing::Shmem, Reg::None, N, N},
      {Variant::Upstream, Backing::Shmem, Reg::Minor, N, N},
      {Variant::Upstream, Backing::Shmem, Reg::Rwp, N, N},
      // rfc-v1: any PROT_NONE in an anon VM_UFFD_MINOR VMA goes to uffd, bit or not.
      {Variant::RfcV1, Backing::Anon, Reg::None, N, N},
      {Variant::RfcV1, Backing::Anon, Reg::Minor, U, U},
      {Variant::RfcV1, Backing::Anon, Reg::Rwp, N, N},
      {Variant::RfcV1, Backing::Shmem, Reg::None, N, N},
      {Variant::RfcV1, Backing::Shmem, Reg::Minor, N, N},
      {Variant::RfcV1, Backing::Shmem, Reg::Rwp, N, N},
      // rwp: uffd iff the uffd bit is set in a VM_UFFD_RWP VMA.
      {Variant::Rwp, Backing::Anon, Reg::None, N, N},
      {Variant::Rwp, Backing::Anon, Reg::Minor, N, N},
      {Variant::Rwp, Backing::Anon, Reg::Rwp, N, U},
      {Variant::Rwp, Backing::Shmem, Reg::None, N, N},
      {Variant::Rwp, Backing::Shmem, Reg::Minor, N, N},
      {Variant::Rwp, Backing::Shmem, Reg::Rwp, N, U},
  };
  CHECK(kernel_variants().size() == 3);
  for (const auto& r : rows) {
    const KernelCaps& caps = kernel_caps(r.variant);
    const bool anon = r.backing == Backing::Anon;
    DYNAMIC_SECTION(caps.name << " " << (anon ? "anon" : "shmem") << " " << reg_name(r.reg)) {
      for (bool write : {false, true}) {
        INFO((write ? "write" : "read"));
        CHECK(fault_class_name(FaultRouter::classify(kProtNone, write, caps, anon, r.reg == Reg::Minor,
                                                     r.reg == Reg::Rwp)) == std::string(fault_class_name(r.plain)));
        CHECK(fault_class_name(FaultRouter::classify(kProtNoneUffd, write, caps, anon, r.reg == Reg::Minor,
                                                     r.reg == Reg::Rwp)) == std::string(fault_class_name(r.with_bit)));
      }
    }
  }
}

TEST_CASE("capability table rows: rules and features per variant", "[mm][caps]") {
  const KernelCaps& up = kernel_caps(Variant::Upstream);
  const KernelCaps& v1 = kernel_caps(Variant::RfcV1);
  const KernelCaps& rwp = kernel_caps(Variant::Rwp);
  CHECK(up.protnone == ProtNoneRule::AlwaysNuma);
  CHECK(v1.protnone == ProtNoneRule::AnonMinorVma);
  CHECK(rwp.protnone == ProtNoneRule::UffdBit);
  for (const auto& row : kernel_variants()) {
    CHECK(&kernel_caps(row.variant) == &row);
    CHECK(find_variant(row.name) == &row);
    CHECK(std::string(variant_name(row.variant)) == row.name);
  }
  CHECK(find_variant("rfc-v2") == nullptr);
  // rfc-v1: minor faults on anon, async without mkwrite, feeds NUMA, DEACTIVATED category.
  CHECK((v1.minor_anon && v1.minor_async && v1.deactivate && v1.set_mode && !v1.rwp));
  CHECK((v1.protnone_reason == UffdReason::Minor && !v1.async_mkwrite && v1.uffd_path_feeds_numa));
  CHECK((v1.cat_uffd_deactivated && !v1.cat_accessed && v1.unregister_clears_all_protnone));
  // rwp: RWP messages, async with mkwrite, no NUMA feed, ACCESSED category, the GUP guard.
  CHECK((rwp.rwp && rwp.set_mode && !rwp.minor_anon && !rwp.deactivate));
  CHECK((rwp.protnone_reason == UffdReason::Rwp && rwp.async_mkwrite && !rwp.uffd_path_feeds_numa));
  CHECK((rwp.cat_accessed && rwp.gup_rwp_guard && !rwp.unregister_clears_all_protnone));
  // upstream has none of the series' additions.
  CHECK_FALSE((up.minor_anon || up.minor_async || up.deactivate || up.rwp || up.set_mode || up.cat_uffd_deactivated ||
               up.cat_accessed || up.gup_rwp_guard));
}

TEST_CASE("classify: none, marker, swap and write faults; an accessible PTE is a bug", "[mm][caps]") {
  for (const auto& caps : kernel_variants()) {
    INFO(caps.name);
    CHECK(FaultRouter::classify(0, false, caps, true, true, true) == FaultClass::None);
    CHECK(FaultRouter::classify(pte::kUffd, true, caps, true, false, false) == FaultClass::Marker);
    CHECK(FaultRouter::classify(pte::kSwap | 7, false, caps, true, false, false) == FaultClass::Swap);
    CHECK(FaultRouter::classify(pte::kSwap | pte::kUffd | 7, true, caps, true, false, true) == FaultClass::Swap);
    const Pte ro = pte::kPresent | 5;
    CHECK(FaultRouter::classify(ro, true, caps, true, false, false) == FaultClass::Write);
    CHECK(FaultRouter::classify(ro | pte::kUffd, true, caps, true, false, false) == FaultClass::Write);
    CHECK_THROWS_AS(FaultRouter::classify(ro, false, caps, true, false, false), core::InternalError);
    CHECK_THROWS_AS(FaultRouter::classify(kPresentRw, true, caps, true, false, false), core::InternalError);
  }
}

// ---------------------------------------------------------------------------------------------
// The router.

namespace {

// A handler that records that it was offered a fault and takes it or declines.
class Recording final : public FaultHandler {
 public:
  Recording(std::string name, bool takes, std::vector<std::string>& log, FaultKind kind)
      : name_(std::move(name)), takes_(takes), log_(log), kind_(kind) {}
  std::optional<FaultOutcome> handle(AddressSpace& as, const Fault& f) override {
    log_.push_back(name_ + ":" + fault_class_name(f.cls));
    if (!takes_) return std::nullopt;
    return as.count(kind_, 42);
  }

 private:
  std::string name_;
  bool takes_;
  std::vector<std::string>& log_;
  FaultKind kind_;
};

}  // namespace

TEST_CASE("fault router: handlers offered in registration order until one takes the fault", "[mm][router]") {
  HostMemory host({8});
  AddressSpace as(test::vm_config(4, 1), host);  // no mechanisms installed: no handlers
  FaultRouter& r = as.router();
  REQUIRE(r.kinds() == std::vector<std::string>{"oom"});
  CHECK(r.oom_kind() == 0);

  SECTION("a fault no handler takes is an internal error") {
    CHECK_THROWS_AS(as.fault(Gfn(0), true, 0, NodeId(0), 0), core::InternalError);
  }
  SECTION("a declining handler passes the fault to the next; later ones are not asked") {
    std::vector<std::string> log;
    const FaultKind a = r.add_kind("a"), b = r.add_kind("b"), c = r.add_kind("c");
    Recording decline("decline", false, log, a), take("take", true, log, b), later("later", true, log, c);
    Recording swap_only("swap", true, log, c);
    r.add(FaultClass::None, &decline);
    r.add(FaultClass::None, &take);
    r.add(FaultClass::None, &later);
    r.add(FaultClass::Swap, &swap_only);
    const FaultOutcome o = as.fault(Gfn(1), false, 0, NodeId(0), 0);
    CHECK(o.kind == b);
    CHECK(o.cost_ns == 42);
    CHECK(o.ok());
    CHECK(log == std::vector<std::string>{"decline:none", "take:none"});
    CHECK(as.faults(b) == 1);
    CHECK(as.faults(a) == 0);
    CHECK(as.faults(c) == 0);
  }
  SECTION("only declining handlers: still an internal error") {
    std::vector<std::string> log;
    Recording d1("d1", false, log, r.add_kind("x")), d2("d2", false, log, r.add_kind("y"));
    r.add(FaultClass::None, &d1);
    r.add(FaultClass::None, &d2);
    CHECK_THROWS_AS(as.fault(Gfn(0), false, 0, NodeId(0), 0), core::InternalError);
    CHECK(log == std::vector<std::string>{"d1:none", "d2:none"});
  }
}

TEST_CASE("fault router: kinds registered by name are deduplicated, in registration order", "[mm][router]") {
  FaultRouter r;
  const FaultKind a = r.add_kind("uffd_missing");
  const FaultKind b = r.add_kind("anon_alloc");
  CHECK(r.add_kind("uffd_missing") == a);
  CHECK(r.add_kind("oom") == r.oom_kind());
  CHECK(a != b);
  CHECK(r.kinds() == std::vector<std::string>{"oom", "uffd_missing", "anon_alloc"});
}

TEST_CASE("the registered fault mechanisms: uffd in front of NUMA hinting, hugetlb, THP and the core paths", "[mm][router]") {
  std::vector<std::string> names;
  for (const auto& m : kernel::fault_mechanisms()) names.push_back(m.name);
  CHECK(names == std::vector<std::string>{"uffd", "numa_hint", "hugetlb", "thp", "core"});

  HostMemory host({8});
  test::TestVm vm(test::vm_config(4, 1), host);
  REQUIRE(vm.kernel().uffd);
  CHECK(&vm.uffd().mm() == &vm.as());
  CHECK(vm.kernel().handlers.size() == 3);  // uffd, thp, core; do_numa_page lives in the mm's balancer
  REQUIRE(vm.kernel().thp);  // declines every fault until kernel.thp enables it
  REQUIRE(vm.kernel().numa);
  CHECK(vm.kernel().mechanisms.size() == 1);
  const auto& kinds = vm.as().router().kinds();
  for (const char* k : {"oom", "uffd_missing", "uffd_minor_sync", "uffd_minor_async", "uffd_rwp_sync", "uffd_rwp_async",
                        "uffd_wp_sync", "uffd_wp_async", "numa_hint", "anon_alloc", "zero_map", "cow_zero", "cow_copy",
                        "shmem_alloc", "shmem_minor", "wp_reuse", "swap_in"}) {
    INFO(k);
    CHECK(std::count(kinds.begin(), kinds.end(), std::string(k)) == 1);
  }
  CHECK(kinds.front() == "oom");
  // Unregistered, uffd declines and the core path takes the fault.
  CHECK(vm.kind_name(vm.fault(0, true).kind) == "anon_alloc");
}
