// THP collapse on the live kernel: the layouts of thp_layouts.hpp, one mapping each, all built
// first, then collapsed, then whether each range ended PMD-mapped, by PAGEMAP_SCAN's
// PAGE_IS_HUGE and by smaps' AnonHugePages.
//   thp_runner               MADV_COLLAPSE each (deterministic, no sysfs change)
//   thp_runner --khugepaged  let khugepaged do it: its scan_sleep_millisecs lowered to 100 and
//                            pages_to_scan raised to 65536 (both restored on every exit path),
//                            then wait for two more full_scans (at most 20 s)
//   thp_runner --shmem       the same layouts on a memfd (MAP_SHARED): MADV_COLLAPSE takes the
//                            file path (collapse_file, retract_page_tables,
//                            try_collapse_pte_mapped_thp); the PMD size is ShmemPmdMapped
//   thp_runner --khugepaged --shmem
//                            the memfd layouts collapsed by khugepaged (hpage_collapse_scan_file,
//                            collapse_file, retract_page_tables; collapse_pte_mapped_thp on a
//                            later pass): shmem_enabled set to advise (hugepages-2048kB/
//                            shmem_enabled to inherit) besides the khugepaged knobs, all restored
//                            on every exit path; every range gets MADV_HUGEPAGE twice (below:
//                            the first does not put the mm on khugepaged's list); page 0 is read
//                            before the knobs are restored and the PMD is looked at (khugepaged
//                            leaves the PMD to the next fault)
// One line per layout:
//   layout <name> huge <0|1> anon_huge_kb <n> collapse_ret <0|-1> errno <name|0> [wp_kept <n>]
//          [folio_huge <0|1>]
// wp_kept (--shmem): pages still write-protected (not PAGE_IS_WRITTEN) after every page of the
// range was read back, i.e. whose uffd-wp state survived the collapse.
// folio_huge (--khugepaged --shmem): the memfd's page-cache folio over the range is one PMD-sized
// folio after the readback (collapse_file() ran), from /proc/kpageflags.
// (collapse_ret/errno are MADV_COLLAPSE's; 0 with --khugepaged.)
// Exit: 0 done, 1 a step failed, 77 no THP (transparent_hugepage missing or "never"), no
// userfaultfd or no PAGEMAP_SCAN, or (--khugepaged) not root.
// --khugepaged runs are serialised across checkouts by /run/lock/vmemsim-khugepaged.lock (the
// knobs are global: two runs saving and restoring them interleaved would leave a lowered value).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
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

// The THP sysfs knobs this run changed (paths under kTh), restored on every exit path.
const std::string kTh = "/sys/kernel/mm/transparent_hugepage/";
struct Saved {
  std::string name, value;
};
std::vector<Saved> g_saved;
std::string read_knob(const std::string& n) {
  std::ifstream f(kTh + n);
  std::string v;
  std::getline(f, v);
  // A choice knob reads as every choice with the current one bracketed ("always [never] ...").
  const auto a = v.find('['), b = v.find(']');
  return a != std::string::npos && b > a ? v.substr(a + 1, b - a - 1) : v;
}
bool write_knob(const std::string& n, const std::string& v) {
  const int fd = open((kTh + n).c_str(), O_WRONLY);
  if (fd < 0) return false;
  const bool ok = write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
  close(fd);
  return ok;
}
void restore_knobs() {
  for (auto it = g_saved.rbegin(); it != g_saved.rend(); ++it) write_knob(it->name, it->value);
  g_saved.clear();
}
void on_signal(int sig) {
  restore_knobs();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
void set_knob(const std::string& n, const std::string& v) {
  g_saved.push_back({n, read_knob(n)});
  if (!write_knob(n, v)) {
    restore_knobs();
    std::cout << "SKIP: cannot write " << kTh << n << ": " << std::strerror(errno) << "\n";
    std::exit(77);
  }
}

[[noreturn]] void skip(const std::string& why) {
  std::cout << "SKIP: " << why << "\n";
  std::exit(77);
}
[[noreturn]] void fail(const std::string& why) {
  restore_knobs();
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

// `key` (AnonHugePages, ShmemPmdMapped) of the smaps entry that starts at `base`, kB.
long smaps_kb(const char* base, const std::string& key = "AnonHugePages:") {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(base));
  bool in = false;
  while (std::getline(f, line)) {
    if (line.find('-') != std::string::npos && line.find(':') > line.find(' ') && isxdigit(line[0]))
      in = line.rfind(start, 0) == 0;
    if (in && line.rfind(key, 0) == 0) return std::strtol(line.c_str() + key.size(), nullptr, 10);
  }
  return -1;
}

// Whether the page-cache folio behind the range is one PMD-sized folio, mapped or not: page 0's
// frame a THP compound head and page 511's the frame 511 after it, a tail (/proc/self/pagemap's
// PFN, /proc/kpageflags KPF_COMPOUND_HEAD 15, KPF_COMPOUND_TAIL 16, KPF_THP 22; root). Both
// pages must be mapped.
bool folio_pmd_sized(char* base) {
  const int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (pm < 0 || kf < 0) fail("/proc/self/pagemap or /proc/kpageflags");
  auto pfn = [&](char* p) {
    std::uint64_t e = 0;
    if (pread(pm, &e, 8, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(p) / kPage * 8)) != 8) fail("pagemap read");
    return (e >> 63) ? e & ((1ull << 55) - 1) : 0;
  };
  auto flags = [&](std::uint64_t f) {
    std::uint64_t v = 0;
    if (pread(kf, &v, 8, static_cast<off_t>(f * 8)) != 8) fail("kpageflags read");
    return v;
  };
  const std::uint64_t f0 = pfn(base), f511 = pfn(base + (kPmd - kPage));
  const bool huge = f0 && f511 == f0 + kPmd / kPage - 1 && (flags(f0) >> 15 & 1) && (flags(f0) >> 22 & 1) &&
                    (flags(f511) >> 16 & 1);
  close(pm);
  close(kf);
  return huge;
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

int main(int argc, char** argv) {
  using namespace thp_layouts;
  bool kh = false, shmem = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--khugepaged") kh = true;
    else if (a == "--shmem") shmem = true;
    else {
      std::cerr << "usage: thp_runner [--khugepaged] [--shmem]\n";
      return 2;
    }
  }
  {
    std::ifstream e("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string s;
    if (!std::getline(e, s)) skip("/sys/kernel/mm/transparent_hugepage/enabled missing (no THP)");
    if (s.find("[never]") != std::string::npos) skip("THP is disabled ([never])");
  }
  if (kh && geteuid() != 0) skip("--khugepaged needs root to lower khugepaged's sleep");
  const int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) skip("/proc/self/pagemap");
  {
    pm_scan_arg probe{};
    probe.size = sizeof probe;
    if (ioctl(pagemap, PAGEMAP_SCAN, &probe) < 0 && errno == ENOTTY) skip("no PAGEMAP_SCAN");
  }
  struct Built {
    char* base;
    int uffd;
    int ret = 0, err = 0;
  };
  std::vector<Built> built;
  for (const Layout& l : kLayouts) {
    // A 2 MiB-aligned range inside a 4 MiB reservation.
    char* raw = static_cast<char*>(mmap(nullptr, 2 * kPmd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (raw == MAP_FAILED) fail("mmap");
    char* base = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + kPmd - 1) & ~(kPmd - 1));
    if (base != raw) munmap(raw, base - raw);
    munmap(base + kPmd, raw + 2 * kPmd - (base + kPmd));
    if (shmem) {
      // Guest memory as a memfd (QEMU's memory-backend-memfd), mapped shared at the aligned spot.
      const int fd = memfd_create("thp-layout", MFD_CLOEXEC);
      if (fd < 0 || ftruncate(fd, kPmd)) fail(std::string("memfd: ") + std::strerror(errno));
      if (mmap(base, kPmd, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) fail("mmap memfd");
      close(fd);
    }
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
    built.push_back({base, uffd});
  }
  if (kh) {
    const int lock = open("/run/lock/vmemsim-khugepaged.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock >= 0) flock(lock, LOCK_EX);  // held until exit
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::atexit(restore_knobs);
    if (shmem) {
      // khugepaged's file path needs the VMA eligible by shmem_allowable_huge_orders(): advise
      // with VM_HUGEPAGE. On this kernel the per-size knob decides a memfd's PMD order too
      // (FINDINGS.md "shmem collapse"); inherit defers it to the global one.
      if (access((kTh + "hugepages-2048kB/shmem_enabled").c_str(), F_OK) == 0)
        set_knob("hugepages-2048kB/shmem_enabled", "inherit");
      set_knob("shmem_enabled", "advise");
    }
    set_knob("khugepaged/pages_to_scan", "65536");
    set_knob("khugepaged/scan_sleep_millisecs", "100");
  }
  for (auto& b : built) {
    // khugepaged_enter_vma(): MADV_HUGEPAGE puts the mm on khugepaged's list (an anon VMA: one
    // with an anon_vma, i.e. touched).
    if (madvise(b.base, kPmd, MADV_HUGEPAGE)) fail(std::string("MADV_HUGEPAGE: ") + std::strerror(errno));
    if (!kh) {
      b.ret = madvise(b.base, kPmd, MADV_COLLAPSE);
      b.err = b.ret ? errno : 0;
    }
  }
  if (kh && shmem) {
    // For a memfd VMA the first MADV_HUGEPAGE does not: hugepage_madvise() calls
    // khugepaged_enter_vma() with the new flags, but shmem_allowable_huge_orders() judges
    // vma->vm_flags, still without VM_HUGEPAGE (and here with the VM_NOHUGEPAGE of the build).
    // The second one sees VM_HUGEPAGE and enters the mm, with every range already advised.
    for (auto& b : built)
      if (madvise(b.base, kPmd, MADV_HUGEPAGE)) fail(std::string("MADV_HUGEPAGE: ") + std::strerror(errno));
  }
  if (kh) {
    const long start = std::strtol(read_knob("khugepaged/full_scans").c_str(), nullptr, 10);
    bool done = false;
    for (int i = 0; i < 200 && !done; ++i) {
      usleep(100000);
      done = std::strtol(read_knob("khugepaged/full_scans").c_str(), nullptr, 10) >= start + 2;
    }
    // khugepaged's file path leaves the PMD to the next fault (retract_page_tables(); install_pmd
    // false in collapse_pte_mapped_thp()): read page 0 of every range, under the shmem_enabled
    // the collapse ran with (a range khugepaged left empty then faults by that setting).
    if (shmem)
      for (auto& b : built) static_cast<void>(*static_cast<volatile char*>(b.base));
    restore_knobs();
    if (!done) fail("khugepaged did not finish two full scans in 20 s");
  }
  for (std::size_t k = 0; k < built.size(); ++k) {
    const auto& b = built[k];
    const bool huge = (categories(pagemap, b.base) & PAGE_IS_HUGE) != 0;
    std::cout << "layout " << kLayouts[k].name << " huge " << huge << " anon_huge_kb "
              << smaps_kb(b.base, shmem ? "ShmemPmdMapped:" : "AnonHugePages:") << " collapse_ret " << b.ret
              << " errno " << (b.err ? strerrorname_np(b.err) : "0");
    if (shmem) {
      // Read every page back (a marker faults the page in with its uffd-wp bit), then count the
      // pages still protected.
      volatile char sink = 0;
      for (unsigned i = 0; i < kPages; ++i) sink = sink + b.base[i * kPage];
      unsigned kept = 0;
      for (unsigned i = 0; i < kPages; ++i) kept += !(categories(pagemap, b.base + i * kPage) & PAGE_IS_WRITTEN);
      std::cout << " wp_kept " << kept;
      // collapse_file() ran whether or not the range ended PMD-mapped (the uffd-wp layouts keep
      // their PTE table): the page-cache folio.
      if (kh) std::cout << " folio_huge " << folio_pmd_sized(b.base);
    }
    std::cout << "\n";
  }
  for (auto& b : built) {
    if (b.uffd >= 0) close(b.uffd);
    munmap(b.base, kPmd);
  }
  return 0;
}
