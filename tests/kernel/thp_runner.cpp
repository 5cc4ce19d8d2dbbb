// THP collapse on the live kernel: the layouts of thp_layouts.hpp, one mapping each, collapsed
// with MADV_COLLAPSE (deterministic, no khugepaged timing and no sysfs change), then whether each
// range ended PMD-mapped, by PAGEMAP_SCAN's PAGE_IS_HUGE and by smaps' AnonHugePages.
//   thp_runner            one line per layout:
//   layout <name> huge <0|1> anon_huge_kb <n> collapse_ret <0|-1> errno <name|0>
// Exit: 0 done, 1 a step failed, 77 no THP (transparent_hugepage missing or "never"), no
// userfaultfd or no PAGEMAP_SCAN.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "thp_layouts.hpp"
#include "uapi_compat.hpp"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace {

constexpr std::size_t kPage = 4096, kPmd = 2u << 20;

[[noreturn]] void skip(const std::string& why) {
  std::cout << "SKIP: " << why << "\n";
  std::exit(77);
}
[[noreturn]] void fail(const std::string& why) {
  std::cerr << "FAIL: " << why << "\n";
  std::exit(1);
}

int open_uffd() {
  int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) {
    const int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
      fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
      close(dev);
    }
  }
  if (fd < 0) skip(std::string("userfaultfd: ") + std::strerror(errno));
  return fd;
}

// AnonHugePages of the smaps entry that starts at `base`, kB.
long anon_huge_kb(const char* base) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(base));
  bool in = false;
  while (std::getline(f, line)) {
    if (line.find('-') != std::string::npos && line.find(':') > line.find(' ') && isxdigit(line[0]))
      in = line.rfind(start, 0) == 0;
    if (in && line.rfind("AnonHugePages:", 0) == 0) return std::strtol(line.c_str() + 14, nullptr, 10);
  }
  return -1;
}

std::uint64_t categories(int pagemap, char* p) {
  page_region r{};
  pm_scan_arg a{};
  a.size = sizeof a;
  a.start = reinterpret_cast<std::uint64_t>(p);
  a.end = a.start + kPage;
  a.vec = reinterpret_cast<std::uint64_t>(&r);
  a.vec_len = 1;
  a.return_mask = PAGE_IS_HUGE | PAGE_IS_PRESENT | PAGE_IS_WRITTEN | PAGE_IS_SWAPPED;
  const long n = ioctl(pagemap, PAGEMAP_SCAN, &a);
  if (n < 0) fail(std::string("PAGEMAP_SCAN: ") + std::strerror(errno));
  return n == 1 ? r.categories : 0;
}

}  // namespace

int main() {
  using namespace thp_layouts;
  {
    std::ifstream e("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string s;
    if (!std::getline(e, s)) skip("/sys/kernel/mm/transparent_hugepage/enabled missing (no THP)");
    if (s.find("[never]") != std::string::npos) skip("THP is disabled ([never])");
  }
  const int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) skip("/proc/self/pagemap");
  {
    pm_scan_arg probe{};
    probe.size = sizeof probe;
    if (ioctl(pagemap, PAGEMAP_SCAN, &probe) < 0 && errno == ENOTTY) skip("no PAGEMAP_SCAN");
  }
  for (const Layout& l : kLayouts) {
    // A 2 MiB-aligned range inside a 4 MiB reservation.
    char* raw = static_cast<char*>(mmap(nullptr, 2 * kPmd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (raw == MAP_FAILED) fail("mmap");
    char* base = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + kPmd - 1) & ~(kPmd - 1));
    if (base != raw) munmap(raw, base - raw);
    munmap(base + kPmd, raw + 2 * kPmd - (base + kPmd));
    // No THP for the first touches: in madvise mode only VM_HUGEPAGE VMAs get huge faults, and
    // MADV_NOHUGEPAGE makes sure of it in "always" mode too.
    if (madvise(base, kPmd, MADV_NOHUGEPAGE)) fail(std::string("MADV_NOHUGEPAGE: ") + std::strerror(errno));
    for (unsigned i = 0; i < kPages; ++i)
      if (touched(l, i)) base[i * kPage] = static_cast<char>(i | 1);
    int uffd = -1;
    if (l.uffd) {
      uffd = open_uffd();
      uffdio_api api{};
      api.api = UFFD_API;
      api.features = l.wp_async ? (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED) : 0;
      if (ioctl(uffd, UFFDIO_API, &api)) skip(std::string("UFFDIO_API: ") + std::strerror(errno));
      uffdio_register reg{};
      reg.range.start = reinterpret_cast<std::uint64_t>(base);
      reg.range.len = kPmd;
      reg.mode = UFFDIO_REGISTER_MODE_WP;
      if (ioctl(uffd, UFFDIO_REGISTER, &reg)) skip(std::string("UFFDIO_REGISTER MODE_WP: ") + std::strerror(errno));
      if (l.protect != Protect::None) {
        uffdio_writeprotect wp{};
        wp.range.start = reg.range.start;
        wp.range.len = l.protect == Protect::All ? kPmd : 8 * kPage;
        wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
        if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp)) fail(std::string("UFFDIO_WRITEPROTECT: ") + std::strerror(errno));
      }
      for (unsigned i = 0; i < kPages; ++i)
        if (written_after(l, i)) base[i * kPage] = static_cast<char>(i | 2);  // WP_ASYNC resolves in the kernel
    }
    if (madvise(base, kPmd, MADV_HUGEPAGE)) fail(std::string("MADV_HUGEPAGE: ") + std::strerror(errno));
    const int ret = madvise(base, kPmd, MADV_COLLAPSE);
    const int err = ret ? errno : 0;
    const bool huge = (categories(pagemap, base) & PAGE_IS_HUGE) != 0;
    std::cout << "layout " << l.name << " huge " << huge << " anon_huge_kb " << anon_huge_kb(base)
              << " collapse_ret " << ret << " errno " << (err ? strerrorname_np(err) : "0") << "\n";
    if (uffd >= 0) close(uffd);
    munmap(base, kPmd);
  }
  return 0;
}
