// userfaultfd on hugetlb VMAs (models/uffd with models/hugetlb): every fault, fill, zap and
// protection change works on whole 2 MiB pages; misaligned fills are EINVAL
// (mfill_atomic_hugetlb), fault messages carry the huge-page address (hugetlb_handle_userfault),
// DEACTIVATE zaps whole huge PTEs (seed 001) and refuses a partial one, PAGEMAP_SCAN reports
// PAGE_IS_HUGE, and a punched huge page goes back to the pool.
#include <catch2/catch.hpp>

#include "models/hugetlb/hugetlb.hpp"
#include "models/mm/host_memory.hpp"
#include "models/uffd/uffd.hpp"
#include "tests/unit/kernel_fixture.hpp"
#include "tests/unit/vmm_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;

namespace {

constexpr std::uint64_t H = hugetlb::kHugePages;

struct HugeVm {
  HostMemory host{std::vector<std::uint64_t>{8 * H}};
  test::TestVm vm;
  explicit HugeVm(Variant v = Variant::RfcV1) : vm(cfg(v), host) {}
  static AddressSpaceConfig cfg(Variant v) {
    auto c = test::vm_config(4 * H, 1, Backing::Hugetlb);
    c.variant = v;
    return c;
  }
  uffd::Uffd& u() { return vm.uffd(); }
  bool all(std::uint64_t g0, bool (*f)(Pte)) {
    for (std::uint64_t g = g0; g < g0 + H; ++g)
      if (!f(vm.pte(g))) return false;
    return true;
  }
};

HugeVm& reserve(HugeVm& h) {
  REQUIRE(h.host.reserve_hugetlb(0, 4));
  return h;
}

auto src0 = [](Gfn) { return uffd::CopySrc{0, std::nullopt}; };

}  // namespace

TEST_CASE("uffd hugetlb: MISSING reports haddr, UFFDIO_COPY fills whole aligned huge pages only", "[uffd][hugetlb]") {
  HugeVm h;
  reserve(h);
  uffd::Modes m;
  m.missing = true;
  REQUIRE(h.u().register_range(m, {}).error.empty());

  const auto f = h.vm.fault(H + 77, true);
  REQUIRE(f.result == FaultResult::Blocked);
  CHECK(f.reason == UffdReason::Missing);
  h.u().enqueue({Gfn(H + 77), true, f.reason, NodeId(0)}, 0);
  const auto msg = h.u().read();
  REQUIRE(msg);
  CHECK(msg->msg.gfn.v == H);  // vmf->address = haddr

  // Misaligned start or length, ZEROPAGE, and a 4 KiB COPY are EINVAL and change nothing.
  CHECK(h.u().copy_range(Gfn(H + 1), H, NodeId(0), false, 0, src0).error.rfind("EINVAL", 0) == 0);
  CHECK(h.u().copy_range(Gfn(H), H / 2, NodeId(0), false, 0, src0).error.rfind("EINVAL", 0) == 0);
  CHECK(h.u().copy_range(Gfn(H), H, NodeId(0), true, 0, src0).error.rfind("EINVAL", 0) == 0);
  CHECK(h.u().copy(Gfn(H), NodeId(0), false, 0, 0).error.rfind("EINVAL", 0) == 0);
  CHECK(h.host.hugetlb_free(0) == 4);
  CHECK(h.all(H, pte::none));

  const auto r = h.u().copy_range(Gfn(H), H, NodeId(0), false, 0, src0);
  REQUIRE(r.error.empty());
  CHECK(r.ptes == H);
  CHECK(h.host.hugetlb_free(0) == 3);
  CHECK(h.all(H, pte::huge));
  CHECK(h.all(H, pte::writable));
  CHECK(pte::none(h.vm.pte(0)));
  // Again: the huge PTE is there (and the folio is cached): EEXIST.
  CHECK(h.u().copy_range(Gfn(H), H, NodeId(0), false, 0, src0).error == "EEXIST");
  h.vm.as().check_invariants();
  h.host.check_invariants();
}

TEST_CASE("uffd hugetlb: DEACTIVATE zaps whole huge PTEs, MINOR_ASYNC maps the huge page back", "[uffd][hugetlb]") {
  HugeVm h;
  reserve(h);
  for (std::uint64_t g = 0; g < 4 * H; g += H) REQUIRE(h.vm.fault(g + 3, true).ok());
  uffd::Modes m;
  m.missing = m.minor = true;
  uffd::Features f;
  f.minor_async = true;
  REQUIRE(h.u().register_range(m, f).error.empty());

  // A partial huge page: the seed is silent, the model refuses (EINVAL) and changes nothing.
  CHECK(h.u().deactivate(Gfn(10), H).error.rfind("EINVAL", 0) == 0);
  CHECK(h.u().deactivate(Gfn(0), H + 1).error.rfind("EINVAL", 0) == 0);
  CHECK(h.all(0, pte::present));

  const auto r = h.u().deactivate(Gfn(0), 2 * H);
  REQUIRE(r.error.empty());
  CHECK(r.ptes == 2 * H);
  CHECK(r.flushed);
  CHECK(h.all(0, pte::none));
  CHECK(h.all(H, pte::none));
  CHECK(h.all(2 * H, pte::present));
  CHECK(h.vm.as().in_page_cache(Gfn(5)));  // the folio stays in the page cache
  CHECK(h.host.hugetlb_free(0) == 0);

  // One touch maps the whole huge page again, in the kernel (async).
  REQUIRE(h.vm.fault(H + 300, false).ok());
  CHECK(h.vm.faults("uffd_minor_async") == 1);
  CHECK(h.all(H, pte::present));
  CHECK(h.all(H, pte::huge));
  CHECK(h.all(0, pte::none));

  // PAGEMAP_SCAN: PAGE_IS_HUGE for every hugetlb entry; the shmem-style cold mask
  // (!PRESENT) finds exactly the deactivated huge page.
  uffd::ScanArgs a;
  a.start = 0;
  a.len = 4 * H;
  a.category_mask = uffd::cat::kPresent;
  a.category_inverted = uffd::cat::kPresent;
  a.return_mask = uffd::cat::kHuge | uffd::cat::kPresent;
  auto s = h.u().pagemap_scan(a);
  REQUIRE(s.regions.size() == 1);
  CHECK(s.regions[0].start == 0);
  CHECK(s.regions[0].len == H);
  CHECK(s.regions[0].categories == uffd::cat::kHuge);
  a.category_mask = uffd::cat::kHuge | uffd::cat::kPresent;
  a.category_inverted = 0;
  s = h.u().pagemap_scan(a);
  REQUIRE(s.regions.size() == 1);
  CHECK(s.regions[0].start == H);
  CHECK(s.regions[0].len == 3 * H);

  // Sync mode: the minor fault blocks and CONTINUE of the whole huge page resolves it; a
  // 4 KiB CONTINUE is EINVAL.
  REQUIRE(h.u().set_mode(false).error.empty());
  const auto b = h.vm.fault(9, true);
  REQUIRE(b.result == FaultResult::Blocked);
  CHECK(b.reason == UffdReason::Minor);
  CHECK(h.u().msg_address(Gfn(9)).v == 0);
  CHECK(h.u().cont(Gfn(0)).error.rfind("EINVAL", 0) == 0);
  CHECK(h.u().cont_range(Gfn(0), H).ptes == H);
  CHECK(h.all(0, pte::present));
  CHECK(h.u().cont_range(Gfn(0), H).error == "EEXIST");
  h.vm.as().check_invariants();
}

TEST_CASE("uffd hugetlb: write-protection at huge-page granularity, sync and async", "[uffd][hugetlb]") {
  HugeVm h;
  reserve(h);
  REQUIRE(h.vm.fault(0, true).ok());
  uffd::Modes m;
  m.wp = true;
  uffd::Features f;
  f.wp_async = true;
  REQUIRE(h.u().register_range(m, f).error.empty());
  CHECK(h.u().writeprotect(Gfn(0), 8, true).error.rfind("EINVAL", 0) == 0);  // mwriteprotect_range
  const auto r = h.u().writeprotect(Gfn(0), 2 * H, true);
  REQUIRE(r.error.empty());
  CHECK(h.all(0, pte::uffd));
  CHECK(h.all(H, pte::marker));  // never touched: markers (hugetlb always uses them)
  // WRITTEN is clear on the protected huge page; the marker is SWAPPED.
  CHECK((h.u().categories(Gfn(7)) & (uffd::cat::kWritten | uffd::cat::kHuge)) == uffd::cat::kHuge);
  CHECK(h.u().categories(Gfn(H + 7)) == (uffd::cat::kHuge | uffd::cat::kSwapped | uffd::cat::kWpAllowed));
  // An async write fault un-protects the whole huge page.
  REQUIRE(h.vm.fault(100, true).ok());
  CHECK(h.vm.faults("uffd_wp_async") == 1);
  for (std::uint64_t g = 0; g < H; ++g) {
    CHECK_FALSE(pte::uffd(h.vm.pte(g)));
    CHECK(pte::writable(h.vm.pte(g)));
  }
  // A fault on the marker maps the huge page with the bit kept (hugetlb_no_page).
  REQUIRE(h.vm.fault(H + 1, false).ok());
  CHECK(h.all(H, pte::present));
  CHECK(h.all(H, pte::uffd));
  h.vm.as().check_invariants();
}

TEST_CASE("uffd hugetlb: MADV_DONTNEED and PUNCH_HOLE work on whole huge pages", "[uffd][hugetlb]") {
  HugeVm h;
  reserve(h);
  for (std::uint64_t g = 0; g < 4 * H; g += H) REQUIRE(h.vm.fault(g, true).ok());
  std::vector<Gfn> part;
  for (std::uint64_t g = 5; g < H + 5; ++g) part.push_back(Gfn(g));
  CHECK(h.u().dontneed(part).error.rfind("EINVAL", 0) == 0);  // unaligned start
  std::vector<Gfn> one_and_half;
  for (std::uint64_t g = 0; g < H + H / 2; ++g) one_and_half.push_back(Gfn(g));
  const auto z = h.u().dontneed(one_and_half);  // the end rounds down: one huge page
  REQUIRE(z.error.empty());
  CHECK(z.ptes == H);
  CHECK(h.all(0, pte::none));
  CHECK(h.all(H, pte::present));
  CHECK(h.host.hugetlb_free(0) == 0);  // zapped, still in the page cache

  const auto p = h.u().punch_hole(one_and_half);  // the hole rounds inwards: huge page 0 only
  CHECK(p.ptes == H);
  CHECK_FALSE(h.vm.as().in_page_cache(Gfn(0)));
  CHECK(h.vm.as().in_page_cache(Gfn(H)));
  CHECK(h.host.hugetlb_free(0) == 1);  // back to the pool
  h.vm.as().check_invariants();
  h.host.check_invariants();
  // The next touch allocates from the pool again.
  REQUIRE(h.vm.fault(1, true).ok());
  CHECK(h.host.hugetlb_free(0) == 0);
}

TEST_CASE("uffd hugetlb: a multi-huge-page fill that stops part-way is EAGAIN with the pages done", "[uffd][hugetlb]") {
  HugeVm h;
  reserve(h);
  uffd::Modes m;
  m.missing = m.minor = true;
  REQUIRE(h.u().register_range(m, {}).error.empty());
  // Huge page 2 is filled; COPY over 0..3 fills 0 and 1 and stops at 2: mfill_atomic_hugetlb()
  // returns the bytes copied, userfaultfd_copy() -EAGAIN.
  REQUIRE(h.u().copy_range(Gfn(2 * H), H, NodeId(0), false, 0, src0).error.empty());
  auto r = h.u().copy_range(Gfn(0), 4 * H, NodeId(0), false, 0, src0);
  CHECK(r.error == "EAGAIN");
  CHECK(r.ptes == 2 * H);
  CHECK(h.all(0, pte::present));
  CHECK(h.all(H, pte::present));
  CHECK(h.all(3 * H, pte::none));  // nothing after the stop
  CHECK(h.host.hugetlb_free(0) == 1);
  // Stopping at the first huge page is the error itself, nothing done.
  r = h.u().copy_range(Gfn(2 * H), 2 * H, NodeId(0), false, 0, src0);
  CHECK(r.error == "EEXIST");
  CHECK(r.ptes == 0);
  CHECK(h.all(3 * H, pte::none));

  // CONTINUE: zap 0 and 1 (cached), 2 stays mapped: 0..2 maps 0 and 1, EAGAIN at 2.
  std::vector<Gfn> two;
  for (std::uint64_t g = 0; g < 2 * H; ++g) two.push_back(Gfn(g));
  REQUIRE(h.u().dontneed(two).error.empty());
  r = h.u().cont_range(Gfn(0), 3 * H);
  CHECK(r.error == "EAGAIN");
  CHECK(r.ptes == 2 * H);
  CHECK(h.all(0, pte::present));
  CHECK(h.all(H, pte::present));
  // Huge page 3 has no folio: CONTINUE over it alone is EFAULT, behind a mapped one EEXIST.
  CHECK(h.u().cont_range(Gfn(3 * H), H).error == "EFAULT");
  CHECK(h.u().cont_range(Gfn(2 * H), 2 * H).error == "EEXIST");
  // Zap 2: CONTINUE 2..3 maps 2 and stops at 3 (no folio): EAGAIN, not EFAULT.
  std::vector<Gfn> third;
  for (std::uint64_t g = 2 * H; g < 3 * H; ++g) third.push_back(Gfn(g));
  REQUIRE(h.u().dontneed(third).error.empty());
  r = h.u().cont_range(Gfn(2 * H), 2 * H);
  CHECK(r.error == "EAGAIN");
  CHECK(r.ptes == H);
  h.vm.as().check_invariants();
  h.host.check_invariants();
}

TEST_CASE("uffd hugetlb: PUNCH_HOLE zeroes the partial huge pages at the hole's ends", "[uffd][hugetlb]") {
  HugeVm h;
  reserve(h);
  h.vm.as().enable_content(ContentSpec{});
  const std::uint64_t data = content::unique(0, 12345);
  for (std::uint64_t g0 = 0; g0 < 3 * H; g0 += H) {
    REQUIRE(h.vm.fault(g0, true).ok());
    for (std::uint64_t g = g0; g < g0 + H; ++g) h.vm.as().set_content(Gfn(g), data);
  }
  auto range = [](std::uint64_t a, std::uint64_t b) {
    std::vector<Gfn> v;
    for (std::uint64_t g = a; g < b; ++g) v.push_back(Gfn(g));
    return v;
  };
  auto zero = [&](std::uint64_t g) { return h.vm.as().content(Gfn(g)) == content::kZero; };
  // [H - 10, H + 20): no whole huge page; the tail of 0 and the head of 1 are zeroed
  // (hugetlbfs_zero_partial_page twice), every PTE and folio stays.
  auto r = h.u().punch_hole(range(H - 10, H + 20), 1000);
  REQUIRE(r.error.empty());
  CHECK(r.ptes == 0);
  CHECK_FALSE(zero(H - 11));
  for (std::uint64_t g = H - 10; g < H + 20; ++g) CHECK(zero(g));
  CHECK_FALSE(zero(H + 20));
  CHECK(h.all(0, pte::present));
  CHECK(h.all(H, pte::present));
  CHECK(h.host.hugetlb_free(0) == 1);
  // Inside one huge page: [2H + 100, 2H + 110) only.
  r = h.u().punch_hole(range(2 * H + 100, 2 * H + 110));
  CHECK_FALSE(zero(2 * H + 99));
  CHECK(zero(2 * H + 100));
  CHECK(zero(2 * H + 109));
  CHECK_FALSE(zero(2 * H + 110));
  // [H + H/2, 3H): huge page 2 is freed whole, the second half of 1 zeroed.
  r = h.u().punch_hole(range(H + H / 2, 3 * H));
  CHECK(r.ptes == H);
  CHECK_FALSE(h.vm.as().in_page_cache(Gfn(2 * H)));
  CHECK(zero(H + H / 2));
  CHECK(h.all(H, pte::present));
  // A partial range over a huge page with no folio zeroes nothing (filemap_lock_hugetlb_folio
  // finds none); the content word of a hole is not read.
  const std::uint64_t before = h.vm.as().content(Gfn(3 * H + 5));
  h.u().punch_hole(range(3 * H + 5, 3 * H + 6));
  CHECK(h.vm.as().content(Gfn(3 * H + 5)) == before);
  h.vm.as().check_invariants();
  h.host.check_invariants();
}

TEST_CASE("uffd hugetlb: PM_SCAN_WP_MATCHING backs out a partial WRITTEN huge page and walks on", "[uffd][hugetlb]") {
  HugeVm h;
  reserve(h);
  for (std::uint64_t g = 0; g < 4 * H; g += H) REQUIRE(h.vm.fault(g, true).ok());
  uffd::Modes m;
  m.wp = true;
  uffd::Features f;
  f.wp_async = true;
  REQUIRE(h.u().register_range(m, f).error.empty());
  uffd::ScanArgs a;
  a.flags = uffd::kScanWpMatching | uffd::kScanCheckWpAsync;
  a.category_mask = uffd::cat::kWritten;
  a.return_mask = uffd::cat::kWritten;
  // [100, 2H + 50): huge page 0 in part (WRITTEN: backed out, not protected), 1 whole
  // (reported, protected), 2 in part (backed out). The walk does not stop at huge page 0.
  a.start = 100;
  a.len = 2 * H - 50;
  auto r = h.u().pagemap_scan(a);
  REQUIRE(r.error.empty());
  REQUIRE(r.regions.size() == 1);
  CHECK(r.regions[0].start == H);
  CHECK(r.regions[0].len == H);
  CHECK(h.all(H, pte::uffd));
  CHECK_FALSE(pte::uffd(h.vm.pte(0)));
  CHECK_FALSE(pte::uffd(h.vm.pte(2 * H)));
  // A protected huge page covered in part is not interesting (not WRITTEN): skipped, and the
  // walk still reaches the whole huge page 2 after it.
  a.start = H + 10;
  a.len = 2 * H - 10;
  r = h.u().pagemap_scan(a);
  REQUIRE(r.regions.size() == 1);
  CHECK(r.regions[0].start == 2 * H);
  CHECK(r.regions[0].len == H);
  CHECK(h.all(2 * H, pte::uffd));
  // Without the WRITTEN filter the two protected huge pages the range covers in part are
  // reported (pagemap_scan_hugetlb_entry leaves a page that is not WRITTEN before the partial
  // check) and nothing changes.
  a.category_mask = 0;
  a.return_mask = uffd::cat::kWritten | uffd::cat::kHuge;
  a.start = H + 10;
  a.len = H;
  r = h.u().pagemap_scan(a);
  REQUIRE(r.regions.size() == 1);
  CHECK(r.regions[0].start == H + 10);
  CHECK(r.regions[0].len == H);
  CHECK(r.regions[0].categories == uffd::cat::kHuge);
  CHECK(r.protected_ptes == 0);
  CHECK_FALSE(pte::uffd(h.vm.pte(3 * H)));
  h.vm.as().check_invariants();
}

TEST_CASE("uffd-hugetlb-zap: evicts and refetches whole huge pages", "[uffd][hugetlb][vmm]") {
  // 4 huge pages, all written before the VMM starts. Huge page 0 is touched every round; huge
  // page 2 once, after it has been evicted: one refault brings back its 512 pages.
  test::VmmWorld w(Variant::RfcV1, Backing::Hugetlb, 4 * H, 4 * H, 100'000'000);
  auto pol = test::make_policy(*reclaim::find_policy("uffd-hugetlb-zap"), w, R"({"interval": "10ms", "age_threshold": 1})");
  test::FakeEnv env;
  env.as_ = &w.as;
  int rounds = 0;
  bool refetched = false;
  env.on_sleep = [&] {
    REQUIRE(w.touch(3, true, env.t));
    if (++rounds == 5) {
      REQUIRE_FALSE(w.as.in_page_cache(Gfn(2 * H)));  // evicted: punched back to the pool
      const auto f = w.vm.fault(2 * H + 7, false, 0, env.t);
      REQUIRE(f.result == FaultResult::Blocked);
      REQUIRE(f.reason == UffdReason::Missing);
      pol->handle_fault(test::fault_msg(w.vm.uffd().msg_address(Gfn(2 * H + 7)).v, false, f.reason), env);
      REQUIRE(w.touch(2 * H + 7, false, env.t));
      for (std::uint64_t g = 2 * H; g < 3 * H; ++g) CHECK(pte::huge(w.as.pte_at(Gfn(g))));
      refetched = true;
    }
  };
  pol->run_agent(env, 100'000'000);
  pol->finish();
  REQUIRE(refetched);
  const auto& st = pol->stats();
  CHECK(st.get("/refault_faults") == 1);
  CHECK(st.get("/fetched_pages") == H);
  CHECK(st.get("/evicted_pages") % H == 0);
  CHECK(st.get("/evicted_pages") >= 3 * H);  // huge pages 1, 2 (before its refault) and 3
  CHECK(w.truth().lost_writes == 0);
  CHECK(pte::present(w.as.pte_at(Gfn(0))));
  CHECK(env.written % H == 0);
  w.as.check_invariants();
  w.host.check_invariants();
}
