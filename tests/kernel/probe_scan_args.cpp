// Probe: PAGEMAP_SCAN argument handling on the live kernel -- the cases kernel_runner's
// patterns do not reach (FINDINGS.md e, f and "scan mechanics"). Prints one line per case.
//   g++ -std=c++20 -O2 -o /tmp/probe_scan_args tests/kernel/probe_scan_args.cpp && /tmp/probe_scan_args
// Exit 77 when userfaultfd WP_ASYNC or PAGEMAP_SCAN is missing.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "uapi_compat.hpp"

namespace {

constexpr std::uint64_t kPage = 4096;
int pagemap = -1;

struct Result {
  long ret;
  int err;
  std::uint64_t walk_end;
  std::vector<page_region> regions;
};

Result scan(std::uint8_t* lo, std::uint8_t* hi, std::uint64_t flags, std::uint64_t cat_mask, std::uint64_t ret_mask,
            std::uint64_t vec_len = 64, std::uint64_t max_pages = 0, bool novec = false) {
  std::vector<page_region> v(vec_len ? vec_len : 1);
  pm_scan_arg a{};
  a.size = sizeof a;
  a.flags = flags;
  a.start = reinterpret_cast<std::uint64_t>(lo);
  a.end = reinterpret_cast<std::uint64_t>(hi);
  a.vec = novec ? 0 : reinterpret_cast<std::uint64_t>(v.data());
  a.vec_len = novec ? 0 : vec_len;
  a.max_pages = max_pages;
  a.category_mask = cat_mask;
  a.return_mask = ret_mask;
  Result r{ioctl(pagemap, PAGEMAP_SCAN, &a), 0, a.walk_end, {}};
  if (r.ret < 0) r.err = errno;
  for (long i = 0; i < r.ret; ++i) r.regions.push_back(v[static_cast<std::size_t>(i)]);
  return r;
}

void show(const char* what, const Result& r, std::uint8_t* base) {
  std::printf("%-72s ", what);
  if (r.ret < 0) {
    std::printf("-> error %s\n", std::strerror(r.err));
    return;
  }
  std::printf("-> %ld region(s), walk_end=+%llu pages:", r.ret,
              static_cast<unsigned long long>((r.walk_end - reinterpret_cast<std::uint64_t>(base)) / kPage));
  for (const auto& g : r.regions)
    std::printf(" [%llu,%llu)=0x%llx", static_cast<unsigned long long>((g.start - reinterpret_cast<std::uint64_t>(base)) / kPage),
                static_cast<unsigned long long>((g.end - reinterpret_cast<std::uint64_t>(base)) / kPage),
                static_cast<unsigned long long>(g.categories));
  std::printf("\n");
}

int uffd_with(std::uint64_t features) {
  const int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd < 0) {
    std::printf("SKIP: userfaultfd: %s\n", std::strerror(errno));
    std::exit(77);
  }
  uffdio_api api{UFFD_API, features, 0};
  if (ioctl(fd, UFFDIO_API, &api)) {
    std::printf("SKIP: UFFDIO_API 0x%llx: %s\n", static_cast<unsigned long long>(features), std::strerror(errno));
    std::exit(77);
  }
  return fd;
}

void reg_wp(int fd, std::uint8_t* p, std::uint64_t pages) {
  uffdio_register r{};
  r.range.start = reinterpret_cast<std::uint64_t>(p);
  r.range.len = pages * kPage;
  r.mode = UFFDIO_REGISTER_MODE_WP;
  if (ioctl(fd, UFFDIO_REGISTER, &r)) {
    std::printf("SKIP: UFFDIO_REGISTER: %s\n", std::strerror(errno));
    std::exit(77);
  }
}

}  // namespace

int main() {
  pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return 77;
  // Three anonymous VMAs of 8 pages with one unmapped page between them, 2 MiB aligned:
  // A = WP_ASYNC, B = sync WP (WP_UNPOPULATED), C = not registered.
  const std::uint64_t n = 8;
  auto* res = static_cast<std::uint8_t*>(mmap(nullptr, 4u << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  auto* base = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uint64_t>(res) + (2u << 20) - 1) & ~((2ull << 20) - 1));
  munmap(base, 3 * n * kPage);
  std::uint8_t* A = base;
  std::uint8_t* B = base + (n + 1) * kPage;
  std::uint8_t* C = base + 2 * (n + 1) * kPage;
  for (auto* p : {A, B, C}) {
    if (mmap(p, (n)*kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) return 1;
    madvise(p, n * kPage, MADV_NOHUGEPAGE);
  }
  const int ua = uffd_with(UFFD_FEATURE_WP_ASYNC);
  const int ub = uffd_with(UFFD_FEATURE_WP_UNPOPULATED);
  reg_wp(ua, A, n);
  reg_wp(ub, B, n);
  for (auto* p : {A, B, C}) {
    p[0] = 1;                                  // page 0 written
    [[maybe_unused]] volatile auto x = p[kPage];  // page 1 read (zero page)
  }
  std::printf("layout (pages from A): A=[0,8) WP_ASYNC, gap 8, B=[9,17) sync WP, gap 17, C=[18,26) unregistered;\n"
              "in each: page 0 written, page 1 read, the rest untouched\n\n");
  const std::uint64_t all = (1u << 9) - 1;
  if (scan(A, A + kPage, 0, 0, all).err == ENOTTY) return 77;
  show("plain scan over A..C, category_mask 0, return all", scan(A, C + n * kPage, 0, 0, all), A);
  show("  same, vec_len 2 (walk_end = resume point)", scan(A, C + n * kPage, 0, 0, all, 2), A);
  show("  same, max_pages 3", scan(A, C + n * kPage, 0, 0, all, 64, 3), A);
  show("CHECK_WPASYNC without WP_MATCHING over A", scan(A, A + n * kPage, PM_SCAN_CHECK_WPASYNC, 0, all), A);
  show("CHECK_WPASYNC without WP_MATCHING over B (sync WP)", scan(B, B + n * kPage, PM_SCAN_CHECK_WPASYNC, 0, all), A);
  show("CHECK_WPASYNC without WP_MATCHING over C (unregistered)", scan(C, C + n * kPage, PM_SCAN_CHECK_WPASYNC, 0, all), A);
  show("CHECK_WPASYNC without WP_MATCHING over A..C (A is WP_ASYNC, B is not)", scan(A, C + n * kPage, PM_SCAN_CHECK_WPASYNC, 0, all), A);
  show("return_mask 0 with a vector", scan(A, A + n * kPage, 0, 0, 0), A);
  show("vec NULL, vec_len 0, no WP_MATCHING", scan(A, A + n * kPage, 0, 0, all, 0, 0, true), A);
  show("vec NULL, vec_len 0, WP_MATCHING, return_mask 0", scan(A, A + n * kPage, PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN, 0, 0, 0, true), A);
  show("  plain scan of A afterwards", scan(A, A + n * kPage, 0, 0, all), A);
  show("unaligned start", scan(A + 1, A + n * kPage, 0, 0, all), A);
  show("unaligned end (A + 1 page + 1 byte)", scan(A, A + kPage + 1, 0, 0, all), A);
  show("WP_MATCHING, category_mask WRITTEN over B..C (no CHECK: both skipped)",
       scan(B, C + n * kPage, PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN), A);
  show("  plain scan of B..C afterwards", scan(B, C + n * kPage, 0, 0, all), A);
  A[2 * kPage] = 1;
  show("write A page 2, then WP_MATCHING with category_mask 0 over A (protect all)",
       scan(A, A + n * kPage, PM_SCAN_WP_MATCHING, 0, all), A);
  show("  plain scan of A afterwards", scan(A, A + n * kPage, 0, 0, all), A);
  A[4 * kPage] = 1;
  show("write A page 4, then WP_MATCHING|CHECK_WPASYNC over A..C (B is not WP_ASYNC)",
       scan(A, C + n * kPage, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN), A);
  show("  plain scan of A afterwards (was page 4 protected before the error?)", scan(A, A + n * kPage, 0, 0, all), A);
  // walk_end after a walk that needed several rounds of the kernel's 512-entry bounce buffer.
  const std::uint64_t m = 1200;
  auto* D = static_cast<std::uint8_t*>(mmap(nullptr, m * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  madvise(D, m * kPage, MADV_NOHUGEPAGE);
  for (std::uint64_t g = 0; g < m; g += 2) D[g * kPage] = 1;  // 1200 regions of one page
  const Result big = scan(D, D + m * kPage, 0, 0, all, 4096);
  std::printf("%-72s -> %ld region(s), last ends at +%llu pages, walk_end=+%llu pages\n",
              "1200 alternating pages, unregistered, vec_len 4096", big.ret,
              big.ret > 0 ? static_cast<unsigned long long>((big.regions.back().end - reinterpret_cast<std::uint64_t>(D)) / kPage) : 0ull,
              static_cast<unsigned long long>((big.walk_end - reinterpret_cast<std::uint64_t>(D)) / kPage));
  return 0;
}
