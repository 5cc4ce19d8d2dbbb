// Runs a tests/kernel pattern on the live Linux kernel and prints what PAGEMAP_SCAN reports
// for every page at every Scan (the kernel half of the differential test, KERNEL-MODEL.md §9).
//
// Builds alone (it needs no project code) or as the CMake target kdiff_kernel_runner (Linux):
//   g++ -std=c++20 -O2 -pthread -o /tmp/kr tests/kernel/kernel_runner.cpp
//   /tmp/kr gen SEED PAGES anon|shmem async|sync [options]   run generate(SEED, PAGES, ...)
//   /tmp/kr file PATTERN [options]                           run a pattern file ('-': stdin)
//   /tmp/kr print SEED PAGES anon|shmem async|sync           print the generated pattern
// Options:
//   --trace           after every op print "# op <i>: <op> -> ok|<errno>" and a full scan
//                     ("after <i>: ..."); failing ops are reported, not fatal
//   --pagemap         with --trace: also /proc/self/pagemap per page (present, swap, uffd-wp,
//                     exclusive, file bits and the PFN) after every op
//   --vec-len N       page_region entries per PAGEMAP_SCAN call (default: pages + 1); a small
//                     value exercises the walk_end continuation loop
//   --check-wpasync   set PM_SCAN_CHECK_WPASYNC on every ScanWpMatching (also for sync WP)
//   --thp             leave THP to the system setting (no MADV_NOHUGEPAGE on the mapping)
//   --timeout S       watchdog: give up after S seconds, exit 3 (default 20)
//   --save-pattern F  write the pattern text to F before running it
// stdout: the ScanDump text of pattern.hpp (plus '#' comments); stderr: diagnostics.
// Exit: 0 done, 1 an op failed or a scan broke an invariant, 2 usage, 3 watchdog,
//       77 userfaultfd / WP_ASYNC / PAGEMAP_SCAN / memfd unavailable or not permitted.
//
// The mapping is aligned to 2 MiB so page-table boundaries fall on multiples of 512 pages in
// pattern coordinates (some kernel paths depend on whether a PTE table exists), and anon
// mappings get MADV_NOHUGEPAGE (unless --thp) so THP never replaces the 4 KiB PTEs under test.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pattern.hpp"

#include "uapi_compat.hpp"

namespace kd = vmemsim::kdiff;

namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kTable = 512 * kPage;  // one PTE table maps 2 MiB

[[noreturn]] void skip(const std::string& why) {
  std::cerr << "SKIP: " << why << "\n";
  std::exit(77);
}

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "FAIL: " << why << "\n";
  std::exit(1);
}

std::string err_name(int e) {
  switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case ENOTTY: return "ENOTTY";
    case EEXIST: return "EEXIST";
    case ENOMEM: return "ENOMEM";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOSYS: return "ENOSYS";
    default: return "errno " + std::to_string(e);
  }
}

void watchdog(int) {
  static const char m[] = "FAIL: watchdog: the run did not finish in time (a fault nobody resolved?)\n";
  [[maybe_unused]] auto r = write(2, m, sizeof m - 1);
  _exit(3);
}

struct Options {
  bool trace = false, pagemap = false, check_wpasync = false, thp = false;
  std::uint64_t vec_len = 0;
  unsigned timeout = 20;
  std::string save_pattern;
};

// The process-side view of one pattern run: the mapping, the uffd, and its handler thread.
class Kernel {
 public:
  Kernel(const kd::Pattern& p, const Options& o) : p_(p), o_(o), len_(p.pages * kPage) {
    map();
    pagemap_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap_ < 0) skip(std::string("open /proc/self/pagemap: ") + std::strerror(errno));
    probe_scan();
    if (p_.registered) uffd_setup();
    vec_.resize(o_.vec_len ? o_.vec_len : p_.pages + 1);
  }

  ~Kernel() {
    if (handler_.joinable()) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto r = write(stop_, &one, sizeof one);
      handler_.join();
    }
    if (uffd_ >= 0) close(uffd_);
    if (stop_ >= 0) close(stop_);
    if (pagemap_ >= 0) close(pagemap_);
    if (base_) munmap(base_, len_);
    if (memfd_ >= 0) close(memfd_);
  }

  std::uint64_t wp_faults() const { return wp_faults_.load(); }
  std::uint64_t other_faults() const { return other_faults_.load(); }

  // Applies one op; returns 0 or the errno of the failing call.
  int apply(std::size_t i, const kd::Op& op) {
    volatile std::uint8_t* page = base_ + op.lo * kPage;
    switch (op.kind) {
      case kd::Op::Read: {
        [[maybe_unused]] std::uint8_t v = *page;
        return 0;
      }
      case kd::Op::Write:
        *page = static_cast<std::uint8_t>(i | 1);
        return 0;
      case kd::Op::Wp:
      case kd::Op::Unwp:
        return writeprotect(op.lo, op.hi, op.kind == kd::Op::Wp);
      case kd::Op::DontNeed:
        return madvise(base_ + op.lo * kPage, (op.hi - op.lo) * kPage, MADV_DONTNEED) ? errno : 0;
      case kd::Op::PunchHole:
        if (memfd_ < 0) return EOPNOTSUPP;  // PunchHole is a shmem op
        return fallocate(memfd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(op.lo * kPage),
                         static_cast<off_t>((op.hi - op.lo) * kPage))
                   ? errno
                   : 0;
      case kd::Op::Scan:
      case kd::Op::ScanWpMatching:
        return 0;  // run() does the scans
    }
    return EINVAL;
  }

  // PAGEMAP_SCAN over [lo, hi) with the given flags and masks; the per-page categories of the
  // whole mapping (cat::kNotReturned for pages not returned). novec: vec = NULL, vec_len = 0.
  int scan(std::uint64_t lo, std::uint64_t hi, std::uint64_t flags, std::uint64_t category_mask,
           std::uint64_t return_mask, bool novec, std::vector<std::uint32_t>& out) {
    out.assign(p_.pages, kd::cat::kNotReturned);
    const std::uint64_t base = reinterpret_cast<std::uint64_t>(base_);
    std::uint64_t start = base + lo * kPage;
    const std::uint64_t end = base + hi * kPage;
    for (unsigned calls = 0; start < end; ++calls) {
      if (calls > p_.pages + 2) fail("PAGEMAP_SCAN made no progress");
      pm_scan_arg a{};
      a.size = sizeof a;
      a.flags = flags;
      a.start = start;
      a.end = end;
      a.vec = novec ? 0 : reinterpret_cast<std::uint64_t>(vec_.data());
      a.vec_len = novec ? 0 : vec_.size();
      a.category_mask = category_mask;
      a.return_mask = return_mask;
      const long n = ioctl(pagemap_, PAGEMAP_SCAN, &a);
      if (n < 0) return errno;
      if (novec && n != 0) fail("PAGEMAP_SCAN without a vector returned regions");
      for (long r = 0; r < n; ++r) {
        const auto& reg = vec_[static_cast<std::size_t>(r)];
        if (reg.start < start || reg.end > end || reg.start >= reg.end || (reg.start | reg.end) % kPage)
          fail("PAGEMAP_SCAN returned a region outside the walked range");
        if (reg.categories & ~static_cast<std::uint64_t>(kd::cat::kAll)) fail("unknown category bits " + kd::hex(reg.categories));
        for (std::uint64_t va = reg.start; va < reg.end; va += kPage) {
          auto& c = out[(va - base) / kPage];
          if (c != kd::cat::kNotReturned) fail("PAGEMAP_SCAN returned a page twice");
          c = static_cast<std::uint32_t>(reg.categories);
        }
      }
      // A vector not filled means the walk reached `end`. walk_end cannot say so: when one call
      // needs more than one round of the kernel's 512-entry bounce buffer, walk_end is left at
      // the start of the last round (FINDINGS.md, scan mechanics). When the vector is full,
      // resume after the last region returned, or at walk_end if that is further.
      if (static_cast<std::uint64_t>(n) < a.vec_len || a.vec_len == 0) break;
      if (a.walk_end > end) fail("PAGEMAP_SCAN walk_end " + kd::hex(a.walk_end) + " beyond the end");
      const std::uint64_t next = std::max<std::uint64_t>(a.walk_end, vec_[static_cast<std::size_t>(n - 1)].end);
      if (next <= start) fail("PAGEMAP_SCAN made no progress");
      start = next;
    }
    return 0;
  }

  // The plain scan of every page: category_mask 0 returns every page the walk visits.
  std::vector<std::uint32_t> full_scan() {
    std::vector<std::uint32_t> c;
    if (const int e = scan(0, p_.pages, 0, 0, kd::cat::kAll, false, c)) fail("PAGEMAP_SCAN: " + err_name(e));
    for (std::uint64_t g = 0; g < p_.pages; ++g)
      if (c[g] == kd::cat::kNotReturned) fail("a scan with category_mask 0 did not return page " + std::to_string(g));
    crosscheck(c);
    return c;
  }

  // PAGEMAP_SCAN must agree with /proc/self/pagemap (bits 63 present, 62 swap or marker,
  // 61 file/shared, 57 uffd-wp) on every page: a second, independent reading of the PTEs.
  void crosscheck(const std::vector<std::uint32_t>& c) {
    std::vector<std::uint64_t> e(p_.pages);
    const off_t off = static_cast<off_t>(reinterpret_cast<std::uint64_t>(base_) / kPage * 8);
    if (pread(pagemap_, e.data(), e.size() * 8, off) != static_cast<ssize_t>(e.size() * 8)) fail("read /proc/self/pagemap");
    for (std::uint64_t g = 0; g < p_.pages; ++g) {
      const bool present = (e[g] >> 63) & 1, swap = (e[g] >> 62) & 1, file = (e[g] >> 61) & 1, wp = (e[g] >> 57) & 1;
      bool ok = present == ((c[g] & kd::cat::kPresent) != 0) && swap == ((c[g] & kd::cat::kSwapped) != 0);
      if (present || swap) ok = ok && wp == !(c[g] & kd::cat::kWritten);
      if (present) ok = ok && file == ((c[g] & kd::cat::kFile) != 0);
      if (!ok) fail("page " + std::to_string(g) + ": PAGEMAP_SCAN says " + kd::hex(c[g]) + ", /proc/self/pagemap " + kd::hex(e[g]));
    }
  }

  // /proc/self/pagemap: "P" present, "S" swap/marker, "W" uffd-wp, "X" exclusive, "F" file or
  // shared anon, "G" guard region, then the PFN (root only) -- for the experiments.
  std::string pagemap_line() {
    std::string s;
    std::vector<std::uint64_t> e(p_.pages);
    const off_t off = static_cast<off_t>(reinterpret_cast<std::uint64_t>(base_) / kPage * 8);
    if (pread(pagemap_, e.data(), e.size() * 8, off) != static_cast<ssize_t>(e.size() * 8)) return "pagemap read failed";
    for (auto v : e) {
      s += ' ';
      s += (v >> 63) & 1 ? 'P' : '.';
      s += (v >> 62) & 1 ? 'S' : '.';
      s += (v >> 57) & 1 ? 'W' : '.';
      s += (v >> 56) & 1 ? 'X' : '.';
      s += (v >> 61) & 1 ? 'F' : '.';
      s += (v >> 58) & 1 ? 'G' : '.';
      if ((v >> 63) & 1) s += ":" + kd::hex(v & ((1ull << 55) - 1));
    }
    return s;
  }

 private:
  void map() {
    if (p_.shmem) {
      memfd_ = static_cast<int>(syscall(SYS_memfd_create, "vmemsim-kdiff", MFD_CLOEXEC));
      if (memfd_ < 0) skip(std::string("memfd_create: ") + std::strerror(errno));
      if (ftruncate(memfd_, static_cast<off_t>(len_))) fail(std::string("ftruncate: ") + std::strerror(errno));
    }
    // Reserve 2 MiB more, then place the mapping on a 2 MiB boundary inside the reservation.
    void* res = mmap(nullptr, len_ + kTable, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED) fail(std::string("mmap reserve: ") + std::strerror(errno));
    const std::uint64_t r = reinterpret_cast<std::uint64_t>(res);
    const std::uint64_t a = (r + kTable - 1) & ~(kTable - 1);
    void* m = p_.shmem ? mmap(reinterpret_cast<void*>(a), len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd_, 0)
                       : mmap(reinterpret_cast<void*>(a), len_, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (m == MAP_FAILED) fail(std::string("mmap: ") + std::strerror(errno));
    // Keep the PROT_NONE reservation up to the next 2 MiB boundary: no other mapping shares
    // the mapping's last PTE table, so whether a table exists depends on the pattern alone.
    const std::uint64_t tail = (a + len_ + kTable - 1) & ~(kTable - 1);
    if (a > r) munmap(res, a - r);
    if (r + len_ + kTable > tail) munmap(reinterpret_cast<void*>(tail), r + len_ + kTable - tail);
    base_ = static_cast<std::uint8_t*>(m);
    if (!o_.thp && madvise(base_, len_, MADV_NOHUGEPAGE))
      fail(std::string("madvise(MADV_NOHUGEPAGE): ") + std::strerror(errno));
  }

  void probe_scan() {
    pm_scan_arg a{};
    a.size = sizeof a;
    a.start = a.end = reinterpret_cast<std::uint64_t>(base_);
    a.end += kPage;
    page_region r;
    a.vec = reinterpret_cast<std::uint64_t>(&r);
    a.vec_len = 1;
    a.return_mask = kd::cat::kPresent;
    if (ioctl(pagemap_, PAGEMAP_SCAN, &a) < 0) skip("PAGEMAP_SCAN: " + err_name(errno) + " (needs Linux 6.7+)");
  }

  static int open_uffd() {
    int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
    if (fd < 0) fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    if (fd < 0) {
      const int e = errno;
      const int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
      if (dev >= 0) {
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
        close(dev);
      }
      if (fd < 0) skip("userfaultfd: " + err_name(e) + " (and /dev/userfaultfd did not help)");
    }
    return fd;
  }

  void uffd_setup() {
    std::uint64_t want = 0;
    if (p_.wp_async) want |= UFFD_FEATURE_WP_ASYNC;
    if (p_.unpopulated) want |= UFFD_FEATURE_WP_UNPOPULATED;
    if (p_.shmem) want |= UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
    {  // what the kernel offers: a throwaway context answers UFFDIO_API with features 0
      const int q = open_uffd();
      uffdio_api api{UFFD_API, 0, 0};
      if (ioctl(q, UFFDIO_API, &api)) skip("UFFDIO_API: " + err_name(errno));
      close(q);
      if ((api.features & want) != want) skip("userfaultfd lacks features " + kd::hex(want & ~api.features));
    }
    uffd_ = open_uffd();
    uffdio_api api{UFFD_API, want, 0};
    if (ioctl(uffd_, UFFDIO_API, &api)) skip("UFFDIO_API with features " + kd::hex(want) + ": " + err_name(errno));
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<std::uint64_t>(base_);
    reg.range.len = len_;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd_, UFFDIO_REGISTER, &reg)) skip("UFFDIO_REGISTER MODE_WP: " + err_name(errno));
    if (!(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT))) skip("UFFDIO_WRITEPROTECT not offered on this range");
    if (!p_.wp_async) {
      stop_ = eventfd(0, EFD_CLOEXEC);
      if (stop_ < 0) fail(std::string("eventfd: ") + std::strerror(errno));
      handler_ = std::thread([this] { handle(); });
    }
  }

  int writeprotect(std::uint64_t lo, std::uint64_t hi, bool protect) {
    if (uffd_ < 0) return EBADF;
    uffdio_writeprotect w{};
    w.range.start = reinterpret_cast<std::uint64_t>(base_ + lo * kPage);
    w.range.len = (hi - lo) * kPage;
    w.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
    for (int tries = 0; tries < 1000; ++tries) {
      if (ioctl(uffd_, UFFDIO_WRITEPROTECT, &w) == 0) return 0;
      if (errno != EAGAIN) return errno;
    }
    return EAGAIN;
  }

  // The sync-WP handler: resolve each WP fault by un-protecting that one page (which wakes the
  // faulting thread). Stops when stop_ is signalled; poll() has a timeout so it never hangs.
  void handle() {
    for (;;) {
      pollfd fds[2] = {{uffd_, POLLIN, 0}, {stop_, POLLIN, 0}};
      const int n = poll(fds, 2, 200);
      if (n < 0 && errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
      if (n <= 0) continue;
      if (fds[1].revents) return;
      if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;
      uffd_msg msg;
      const ssize_t r = read(uffd_, &msg, sizeof msg);
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        fail(std::string("read(uffd): ") + std::strerror(errno));
      }
      if (r != sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT) {
        ++other_faults_;
        continue;
      }
      const std::uint64_t addr = msg.arg.pagefault.address & ~(kPage - 1);
      if (!(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
        ++other_faults_;  // never expected (no MODE_MISSING); the watchdog ends the run
        continue;
      }
      const std::uint64_t g = (addr - reinterpret_cast<std::uint64_t>(base_)) / kPage;
      // Counted before the ioctl that wakes the faulting thread, so the main thread, which
      // reads the count when the pattern is done, never misses the last one.
      ++wp_faults_;
      if (const int e = writeprotect(g, g + 1, false)) fail("UFFDIO_WRITEPROTECT(clear) in the handler: " + err_name(e));
    }
  }

  const kd::Pattern& p_;
  const Options& o_;
  std::uint64_t len_;
  std::uint8_t* base_ = nullptr;
  int memfd_ = -1, uffd_ = -1, stop_ = -1, pagemap_ = -1;
  std::thread handler_;
  std::atomic<std::uint64_t> wp_faults_{0}, other_faults_{0};
  std::vector<page_region> vec_;
};

int run(const kd::Pattern& p, const Options& o) {
  if (!o.save_pattern.empty()) {
    std::ofstream f(o.save_pattern);
    f << kd::to_text(p);
    if (!f) fail("cannot write " + o.save_pattern);
  }
  signal(SIGALRM, watchdog);
  alarm(o.timeout);
  std::vector<kd::ScanDump> dumps;
  std::string out = "# " + kd::to_text(p).substr(0, kd::to_text(p).find('\n')) + "\n";
  std::cout << out;
  int status = 0;
  {
    Kernel k(p, o);
    for (std::size_t i = 0; i < p.ops.size(); ++i) {
      const kd::Op& op = p.ops[i];
      int e = k.apply(i, op);
      if (op.kind == kd::Op::Scan) {
        dumps.push_back({i, false, k.full_scan()});
      } else if (op.kind == kd::Op::ScanWpMatching) {
        std::uint64_t flags = PM_SCAN_WP_MATCHING;
        if (p.wp_async || o.check_wpasync) flags |= PM_SCAN_CHECK_WPASYNC;
        kd::ScanDump d{i, true, {}};
        e = k.scan(op.lo, op.hi, flags, kd::cat::kWritten, op.arg, op.arg == 0, d.cats);
        if (!e) {
          dumps.push_back(std::move(d));
          dumps.push_back({i, false, k.full_scan()});
        }
      }
      if (o.trace) {
        std::cout << "# op " << i << ": " << kd::to_text(op) << " -> " << err_name(e) << "\n";
        if (op.kind != kd::Op::Scan && !(op.kind == kd::Op::ScanWpMatching && !e)) {
          kd::ScanDump d{i, false, k.full_scan()};
          std::string line = kd::to_text(d, 0);
          std::cout << "after " << i << line.substr(line.find(':')) << "\n";
        } else {
          for (std::size_t j = dumps.size() - (op.kind == kd::Op::Scan ? 1 : 2); j < dumps.size(); ++j)
            std::cout << kd::to_text(dumps[j], j) << "\n";
        }
        if (o.pagemap) std::cout << "# pagemap " << i << ":" << k.pagemap_line() << "\n";
      } else if (e) {
        std::cerr << "FAIL: op " << i << " (" << kd::to_text(op) << "): " << err_name(e) << "\n";
        status = 1;
        break;
      }
    }
    std::cerr << "# wp faults handled: " << k.wp_faults() << ", other uffd messages: " << k.other_faults() << "\n";
    if (k.other_faults()) status = 1;
  }
  alarm(0);
  if (!o.trace) std::cout << kd::to_text(dumps);
  return status;
}

int usage() {
  std::cerr << "usage: kernel_runner gen SEED PAGES anon|shmem async|sync [options]\n"
               "       kernel_runner file PATTERN|- [options]\n"
               "       kernel_runner print SEED PAGES anon|shmem async|sync\n"
               "options: --trace --pagemap --vec-len N --check-wpasync --thp --timeout S --save-pattern FILE\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) return usage();
  Options o;
  std::vector<std::string> pos;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto need = [&]() -> const std::string& {
      if (i + 1 >= a.size()) std::exit(usage());
      return a[++i];
    };
    if (a[i] == "--trace") o.trace = true;
    else if (a[i] == "--pagemap") o.pagemap = true;
    else if (a[i] == "--check-wpasync") o.check_wpasync = true;
    else if (a[i] == "--thp") o.thp = true;
    else if (a[i] == "--vec-len") o.vec_len = std::stoull(need());
    else if (a[i] == "--timeout") o.timeout = static_cast<unsigned>(std::stoul(need()));
    else if (a[i] == "--save-pattern") o.save_pattern = need();
    else if (a[i].rfind("--", 0) == 0) return usage();
    else pos.push_back(a[i]);
  }
  if (pos.empty()) return usage();
  try {
    const std::optional<kd::Pattern> parsed = kd::pattern_from_args(pos);
    if (!parsed) return usage();
    const kd::Pattern& p = *parsed;
    if (pos[0] == "print") {
      std::cout << kd::to_text(p);
      return 0;
    }
    return run(p, o);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
