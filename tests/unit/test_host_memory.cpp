// models/mm/host_memory: frames with refcount, mapcount and reverse map (struct folio,
// mm/rmap.c), shared by mappers of several VMs as KSM shares them; the per-node watermarks of
// __setup_per_zone_wmarks() and calculate_min_free_kbytes() (mm/page_alloc.c).
#include <catch2/catch.hpp>

#include <vector>

#include "models/mm/host_memory.hpp"
#include "sim/core/error.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using namespace vmemsim::mm;
using core::Gfn;
using core::NodeId;
using core::Pfn;
using core::VmId;

namespace {

Mapper page(std::uint16_t vm, std::uint64_t gfn) { return {VmId(vm), Gfn(gfn)}; }

// lib/math/int_sqrt.c: the integer square root, rounded down, bit by bit.
std::uint64_t int_sqrt(std::uint64_t x) {
  if (x <= 1) return x;
  std::uint64_t m = 1ull << 62, y = 0;
  while (m > x) m >>= 2;
  while (m != 0) {
    const std::uint64_t b = y + m;
    y >>= 1;
    if (x >= b) {
      x -= b;
      y += m;
    }
    m >>= 2;
  }
  return y;
}

}  // namespace

SCENARIO("a frame shared by mappers of several VMs lives until its last reference", "[mm][frames]") {
  HostMemory h({4});
  GIVEN("VM 0's anon page 3 on a frame, then VM 1's page 7 and VM 2's page 1 merged onto it (KSM)") {
    const auto f = h.alloc_on(NodeId(0), page(0, 3));
    REQUIRE(f);
    const Pfn pfn = *f;
    CHECK(h.frame(pfn).refcount == 1);  // the allocation's reference, no mapping yet
    CHECK(h.frame(pfn).mapcount == 0);
    CHECK(h.mappers(pfn).empty());
    h.map(pfn, page(0, 3));  // the owner's PTE takes over the allocation's reference
    for (const Mapper m : {page(1, 7), page(2, 1)}) {
      h.get(pfn);  // each sharer's mapping holds a reference
      h.map(pfn, m);
    }
    CHECK(h.frame(pfn).refcount == 3);
    CHECK(h.frame(pfn).mapcount == 3);
    CHECK(h.owner(pfn) == page(0, 3));
    THEN("the rmap walk lists the first mapper first, then the sharers in mapping order") {
      CHECK(h.mappers(pfn) == std::vector<Mapper>{page(0, 3), page(1, 7), page(2, 1)});
      h.check_invariants();
    }
    WHEN("the owner unmaps and drops its reference") {
      h.unmap(pfn, page(0, 3));
      h.put(pfn);
      THEN("the frame stays for the other VMs, still identified by its first page") {
        CHECK_FALSE(h.is_free(pfn));
        CHECK(h.used(0) == 1);
        CHECK(h.frame(pfn).refcount == 2);
        CHECK(h.frame(pfn).mapcount == 2);
        CHECK(h.mappers(pfn) == std::vector<Mapper>{page(1, 7), page(2, 1)});
        CHECK(h.owner(pfn) == page(0, 3));
        h.check_invariants();
      }
      AND_WHEN("the sharers go too, in the opposite order") {
        h.unmap(pfn, page(2, 1));
        h.put(pfn);
        CHECK(h.mappers(pfn) == std::vector<Mapper>{page(1, 7)});
        h.unmap(pfn, page(1, 7));
        CHECK_FALSE(h.is_free(pfn));  // unmapped but still referenced
        h.put(pfn);
        THEN("the last put frees it and the next allocation on the node reuses it") {
          CHECK(h.is_free(pfn));
          CHECK(h.used(0) == 0);
          CHECK(h.free_frames(0) == 4);
          CHECK(h.mappers(pfn).empty());
          h.check_invariants();
          const auto again = h.alloc_on(NodeId(0), page(5, 9));
          REQUIRE(again);
          CHECK(*again == pfn);
          CHECK(h.owner(pfn) == page(5, 9));
          CHECK(h.frame(pfn).refcount == 1);
          CHECK(h.frame(pfn).mapcount == 0);
        }
      }
    }
    WHEN("a sharer unmaps before the owner") {
      h.unmap(pfn, page(1, 7));
      h.put(pfn);
      THEN("the owner and the remaining sharer keep their order") {
        CHECK(h.mappers(pfn) == std::vector<Mapper>{page(0, 3), page(2, 1)});
        h.check_invariants();
      }
    }
  }
}

TEST_CASE("frame reference misuse is an internal error", "[mm][frames]") {
  HostMemory h({2});
  const Pfn pfn = *h.alloc_on(NodeId(0), page(0, 0));
  h.map(pfn, page(0, 0));
  SECTION("double put") {
    h.unmap(pfn, page(0, 0));
    h.put(pfn);
    CHECK(h.is_free(pfn));
    CHECK_THROWS_AS(h.put(pfn), core::InternalError);
    CHECK_THROWS_AS(h.get(pfn), core::InternalError);
  }
  SECTION("a put below the mapcount") {
    CHECK_THROWS_AS(h.put(pfn), core::InternalError);
    CHECK_FALSE(h.is_free(pfn));
  }
  SECTION("unmap by a page that does not map the frame") {
    CHECK_THROWS_AS(h.unmap(pfn, page(1, 0)), core::InternalError);
    CHECK_THROWS_AS(h.unmap(pfn, page(0, 1)), core::InternalError);
    CHECK(h.frame(pfn).mapcount == 1);
  }
  SECTION("the same page mapping the frame twice") {
    CHECK_THROWS_AS(h.map(pfn, page(0, 0)), core::InternalError);
    h.get(pfn);
    h.map(pfn, page(1, 4));
    CHECK_THROWS_AS(h.map(pfn, page(1, 4)), core::InternalError);
  }
  SECTION("unmap of an unmapped frame") {
    h.unmap(pfn, page(0, 0));
    CHECK_THROWS_AS(h.unmap(pfn, page(0, 0)), core::InternalError);
  }
}

TEST_CASE("watermarks follow __setup_per_zone_wmarks()", "[mm][frames]") {
  SECTION("min is min_free_kbytes split by node size; the gap is max(min/4, size * wsf / 10000)") {
    HostMemory h({1000, 3000, 0});
    h.setup_watermarks(1024, 10);  // pages_min = 1024 >> 2 = 256 over 4000 pages
    // node 0: min = 256 * 1000 / 4000 = 64; gap = max(64 >> 2 = 16, 1000 * 10 / 10000 = 1) = 16
    CHECK(h.watermarks(0).min == 64);
    CHECK(h.watermarks(0).low == 80);
    CHECK(h.watermarks(0).high == 96);
    // node 1: min = 192; gap = max(48, 3) = 48
    CHECK(h.watermarks(1).min == 192);
    CHECK(h.watermarks(1).low == 240);
    CHECK(h.watermarks(1).high == 288);
    // a memoryless node has no watermarks
    CHECK(h.watermarks(2).min == 0);
    CHECK(h.watermarks(2).high == 0);
  }
  SECTION("with the default min_free_kbytes on 2 x 1 GiB the scale factor sets the gap") {
    HostMemory h({262144, 262144});
    const std::uint64_t kb = HostMemory::default_min_free_kbytes(h.total_frames());
    CHECK(kb == 5792);  // int_sqrt(2 GiB in KiB * 16) = int_sqrt(33554432)
    h.setup_watermarks(kb, 10);
    // pages_min = 1448; per node 724; gap = max(181, 262144 * 10 / 10000 = 262) = 262
    for (unsigned n = 0; n < 2; ++n) {
      CHECK(h.watermarks(n).min == 724);
      CHECK(h.watermarks(n).low == 986);
      CHECK(h.watermarks(n).high == 1248);
    }
    h.setup_watermarks(kb, 100);  // watermark_scale_factor = 1%: gap 2621
    CHECK(h.watermarks(0).low == 724 + 2621);
    CHECK(h.watermarks(0).high == 724 + 2 * 2621);
  }
}

TEST_CASE("default_min_free_kbytes is int_sqrt(kbytes * 16) clamped to [128, 262144]", "[mm][frames]") {
  struct Row {
    std::uint64_t pages, kbytes;
  };
  const Row rows[] = {
      {16, 128},                  // 64 KiB: int_sqrt(1024) = 32, raised to 128
      {1024, 256},                // 4 MiB: int_sqrt(65536) = 256
      {100000, 2529},             // int_sqrt(6400000) = 2529 (2529.8 rounded down)
      {262144, 4096},             // 1 GiB
      {1048576, 8192},            // 4 GiB
      {16777216, 32768},          // 64 GiB
      {1ull << 30, 262144},       // 4 TiB: int_sqrt(2^36) = 2^18, exactly the cap
      {1ull << 31, 262144},       // 8 TiB: int_sqrt(2^37) = 370727, capped
  };
  for (const auto& r : rows) {
    INFO(r.pages << " pages");
    CHECK(HostMemory::default_min_free_kbytes(r.pages) == r.kbytes);
    const std::uint64_t ref = int_sqrt(r.pages * 4 * 16);
    CHECK(HostMemory::default_min_free_kbytes(r.pages) == std::clamp<std::uint64_t>(ref, 128, 262144));
  }
  // Around perfect squares the rounding must go down, never up.
  for (std::uint64_t pages : {63ull, 64ull, 65ull, 1023ull, 4095ull, 4097ull, 999999ull}) {
    INFO(pages << " pages");
    CHECK(HostMemory::default_min_free_kbytes(pages) ==
          std::clamp<std::uint64_t>(int_sqrt(pages * 64), 128, 262144));
  }
}
