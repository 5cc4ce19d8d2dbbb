#include "sim/cli/calibrate.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sim/output/result_writer.hpp"
#include "sim/scenario/host_profile.hpp"
#include "sim/scenario/scenario.hpp"

// Kernel interfaces newer than the build machine's headers (Debian bookworm ships 6.1's): the
// running kernel decides whether they work, and a measurement that gets ENOTTY/EINVAL is skipped.
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)  // 6.7
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)  // /dev/userfaultfd, 6.1
#endif
#ifndef PAGEMAP_SCAN  // include/uapi/linux/fs.h, 6.7
struct page_region {
  __u64 start, end, categories;
};
struct pm_scan_arg {
  __u64 size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
      category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_PFNZERO (1 << 5)
#endif

namespace vmemsim::cli {
namespace {

namespace m = scenario::m;
using core::Json;
constexpr std::size_t kPage = 4096;
// Range-wide operations are repeated until they have walked this many PTEs per run, so that a
// small --pages still times something longer than the clock's resolution.
constexpr std::uint64_t kMinPtes = 1u << 18;

double now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// The compiler must neither drop nor reorder stores into measured memory across a clock read.
inline void clobber() { asm volatile("" ::: "memory"); }
inline void touch_write(char* p) { *reinterpret_cast<volatile char*>(p) = 1; }
inline char touch_read(const char* p) { return *reinterpret_cast<const volatile char*>(p); }

// A measurement that cannot run here (feature missing, not permitted): its reason is reported.
struct Skip : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void skip_errno(const std::string& what) { throw Skip(what + ": " + std::strerror(errno)); }

// An anonymous private mapping of 4 KiB pages (THP off, as the model's PTEs).
class Region {
 public:
  explicit Region(std::size_t pages, int prot = PROT_READ | PROT_WRITE) : pages_(pages), len_(pages * kPage) {
    void* p = ::mmap(nullptr, len_, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) skip_errno("mmap of " + std::to_string(len_) + " bytes");
    p_ = static_cast<char*>(p);
    ::madvise(p_, len_, MADV_NOHUGEPAGE);
  }
  ~Region() { ::munmap(p_, len_); }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  char* data() const { return p_; }
  char* page(std::size_t i) const { return p_ + i * kPage; }
  std::size_t pages() const { return pages_; }
  std::size_t bytes() const { return len_; }
  void populate() const {
    for (std::size_t i = 0; i < pages_; ++i) touch_write(page(i));
  }

 private:
  std::size_t pages_, len_;
  char* p_ = nullptr;
};

// ---- userfaultfd ----

int open_uffd() {
  const int flags = O_CLOEXEC | O_NONBLOCK;
  int fd = -1;
#ifdef __NR_userfaultfd
  fd = static_cast<int>(::syscall(__NR_userfaultfd, flags));
  if (fd >= 0) return fd;
#else
  errno = ENOSYS;
#endif
  const int err = errno;
  // Where vm.unprivileged_userfaultfd forbids the syscall, /dev/userfaultfd may still be open to us.
  int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, flags);
    ::close(dev);
    if (fd >= 0) return fd;
  }
  errno = err;
  skip_errno("userfaultfd()");
}

class Uffd {
 public:
  explicit Uffd(std::uint64_t features) : fd_(open_uffd()) {
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = features;
    if (::ioctl(fd_, UFFDIO_API, &api) != 0) {
      const int e = errno;
      ::close(fd_);
      errno = e;
      skip_errno("UFFDIO_API");
    }
    offered_ = api.features;
  }
  ~Uffd() { ::close(fd_); }
  Uffd(const Uffd&) = delete;
  Uffd& operator=(const Uffd&) = delete;

  int fd() const { return fd_; }
  std::uint64_t offered() const { return offered_; }  // with features 0: what the kernel offers

  void register_range(const Region& r, std::uint64_t mode) const {
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<std::uintptr_t>(r.data());
    reg.range.len = r.bytes();
    reg.mode = mode;
    if (::ioctl(fd_, UFFDIO_REGISTER, &reg) != 0) skip_errno("UFFDIO_REGISTER");
  }
  void writeprotect(const char* p, std::size_t len, bool on) const {
    uffdio_writeprotect wp{};
    wp.range.start = reinterpret_cast<std::uintptr_t>(p);
    wp.range.len = len;
    wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
    if (::ioctl(fd_, UFFDIO_WRITEPROTECT, &wp) != 0) skip_errno("UFFDIO_WRITEPROTECT");
  }

 private:
  int fd_;
  std::uint64_t offered_ = 0;
};

int uffd_copy(int fd, const char* dst, const char* src) {
  uffdio_copy c{};
  c.dst = reinterpret_cast<std::uintptr_t>(dst);
  c.src = reinterpret_cast<std::uintptr_t>(src);
  c.len = kPage;
  return ::ioctl(fd, UFFDIO_COPY, &c);
}

// A VMM-style handler thread: poll(), read() the fault messages, UFFDIO_COPY each page.
class FaultHandler {
 public:
  FaultHandler(int uffd, const Region& r, const char* src) : uffd_(uffd), region_(r), src_(src) {
    efd_ = ::eventfd(0, EFD_CLOEXEC);
    if (efd_ < 0) skip_errno("eventfd");
    thread_ = std::thread([this] { loop(); });
  }
  ~FaultHandler() {
    stop();
    ::close(efd_);
  }
  void stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    (void)!::write(efd_, &one, sizeof one);
    thread_.join();
  }
  const std::string& error() const { return error_; }

 private:
  void fail(const std::string& what) {
    error_ = what + ": " + std::strerror(errno);
    // Unregistering wakes the blocked faulting thread, which then faults the page in itself.
    uffdio_range rg{reinterpret_cast<std::uintptr_t>(region_.data()), region_.bytes()};
    ::ioctl(uffd_, UFFDIO_UNREGISTER, &rg);
  }
  void loop() {
    uffd_msg msgs[16];
    for (;;) {
      pollfd p[2] = {{uffd_, POLLIN, 0}, {efd_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return fail("poll");
      }
      if (p[1].revents) return;
      const ssize_t got = ::read(uffd_, msgs, sizeof msgs);
      if (got < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return fail("read of the userfaultfd");
      }
      for (std::size_t k = 0; k < static_cast<std::size_t>(got) / sizeof(uffd_msg); ++k) {
        if (msgs[k].event != UFFD_EVENT_PAGEFAULT) continue;
        const std::uint64_t addr = msgs[k].arg.pagefault.address & ~static_cast<std::uint64_t>(kPage - 1);
        if (uffd_copy(uffd_, reinterpret_cast<const char*>(addr), src_) == 0) continue;
        if (errno != EEXIST) return fail("UFFDIO_COPY");
        uffdio_range rg{addr, kPage};  // already there: wake the thread waiting for it
        ::ioctl(uffd_, UFFDIO_WAKE, &rg);
      }
    }
  }

  int uffd_, efd_ = -1;
  const Region& region_;
  const char* src_;
  std::string error_;
  std::thread thread_;
};

// ---- samples of all runs ----

struct Samples {
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, std::string> skipped;  // id -> reason

  void add(const std::string& id, double ns) { values[id].push_back(ns); }
  void skip(const std::vector<std::string>& ids, const std::string& why) {
    for (const auto& id : ids) skipped.emplace(id, why);
  }
  // Runs one group of measurements; a Skip marks every id of the group not measured so far.
  template <class F>
  void group(const std::vector<std::string>& ids, F&& f) {
    try {
      f();
    } catch (const Skip& e) {
      std::vector<std::string> left;
      for (const auto& id : ids)
        if (!values.count(id)) left.push_back(id);
      skip(left, e.what());
    }
  }
};

struct ZeroPage {
  std::optional<bool> zero;  // unknown when neither check could run
  std::string how;
};

int open_pagemap() { return ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC); }

// Did the read faults map the shared zero page? PAGEMAP_SCAN's PAGE_IS_PFNZERO where the kernel
// has it; otherwise equal PFNs in /proc/self/pagemap (PFNs read as 0 without CAP_SYS_ADMIN).
ZeroPage check_zero_page(const Region& r, int pagemap_fd) {
  ZeroPage z;
  if (pagemap_fd < 0) {
    z.how = "cannot open /proc/self/pagemap";
    return z;
  }
  std::vector<page_region> regs(64);
  pm_scan_arg a{};
  a.size = sizeof a;
  a.start = reinterpret_cast<std::uintptr_t>(r.data());
  a.end = a.start + r.bytes();
  a.vec = reinterpret_cast<std::uintptr_t>(regs.data());
  a.vec_len = regs.size();
  a.category_mask = PAGE_IS_PFNZERO;
  a.return_mask = PAGE_IS_PFNZERO;
  const long nr = ::ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
  const int scan_errno = errno;
  if (nr >= 0) {
    std::uint64_t zero = 0;
    for (long i = 0; i < nr; ++i) zero += (regs[i].end - regs[i].start) / kPage;
    z.zero = zero == r.pages();
    z.how = "PAGEMAP_SCAN: " + std::to_string(zero) + " of " + std::to_string(r.pages()) + " pages PAGE_IS_PFNZERO";
  }
  // The PFN check, as a second opinion (or the only one).
  const std::size_t n = std::min<std::size_t>(r.pages(), 64);
  std::vector<std::uint64_t> pfns;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t e = 0;
    const off_t off = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(r.page(i)) / kPage * 8);
    if (::pread(pagemap_fd, &e, sizeof e, off) != sizeof e || !(e >> 63)) continue;
    pfns.push_back(e & ((1ull << 55) - 1));
  }
  const bool visible = !pfns.empty() && std::none_of(pfns.begin(), pfns.end(), [](auto p) { return p == 0; });
  if (visible) {
    std::vector<std::uint64_t> u = pfns;
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    const bool same = u.size() == 1 && pfns.size() > 1;
    if (!z.zero) z.zero = same;
    z.how += std::string(z.how.empty() ? "" : "; ") + "pagemap: " + std::to_string(u.size()) + " distinct PFN(s) over " +
             std::to_string(pfns.size()) + " pages";
  } else if (!z.zero) {
    z.how += std::string(z.how.empty() ? "" : "; ") + "pagemap shows no PFNs (needs CAP_SYS_ADMIN) and " +
             "PAGEMAP_SCAN failed: " + std::strerror(scan_errno);
  }
  return z;
}

// ---- one run of each group ----

// Anonymous memory, no userfaultfd: faults, clear, copy, mprotect, PAGEMAP_SCAN, MADV_DONTNEED.
void run_anon(Samples& s, std::size_t n, int pagemap_fd, ZeroPage* zp) {
  s.group({m::kFirstTouch, m::kReadFault, m::kPageClear, m::kMemcpy, m::kMprotectPerPte, m::kScanPerPte, m::kDontneed},
          [&] {
            const double dn = static_cast<double>(n);
            Region a(n);
            double t0 = now_ns();
            for (std::size_t i = 0; i < n; ++i) touch_write(a.page(i));
            double t1 = now_ns();
            s.add(m::kFirstTouch, (t1 - t0) / dn);

            Region b(n);
            char sink = 0;
            t0 = now_ns();
            for (std::size_t i = 0; i < n; ++i) sink ^= touch_read(b.page(i));
            t1 = now_ns();
            s.add(m::kReadFault, (t1 - t0) / dn);
            if (zp && !zp->zero) *zp = check_zero_page(b, pagemap_fd);
            asm volatile("" ::"r"(sink));

            // Clearing and copying pages of a region bigger than the caches, as the kernel does
            // for a new page (clear_page) or a COW copy (copy_page).
            t0 = now_ns();
            for (std::size_t i = 0; i < n; ++i) {
              std::memset(a.page(i), 0, kPage);
              clobber();
            }
            t1 = now_ns();
            s.add(m::kPageClear, (t1 - t0) / dn);
            b.populate();  // a private page under each (a COW of the zero page where it was mapped)
            t0 = now_ns();
            for (std::size_t i = 0; i < n; ++i) {
              std::memcpy(b.page(i), a.page(n - 1 - i), kPage);
              clobber();
            }
            t1 = now_ns();
            s.add(m::kMemcpy, (t1 - t0) / dn);

            // mprotect of the whole populated region: change_protection() per PTE plus one flush.
            const std::uint64_t loops = std::max<std::uint64_t>(1, kMinPtes / n);
            double sum = 0;
            for (std::uint64_t l = 0; l < loops; ++l) {
              t0 = now_ns();
              if (::mprotect(a.data(), a.bytes(), PROT_READ) != 0) skip_errno("mprotect");
              t1 = now_ns();
              sum += t1 - t0;
              if (::mprotect(a.data(), a.bytes(), PROT_READ | PROT_WRITE) != 0) skip_errno("mprotect");
            }
            s.add(m::kMprotectPerPte, sum / (dn * static_cast<double>(loops)));

            s.group({m::kScanPerPte}, [&] {
              if (pagemap_fd < 0) skip_errno("open /proc/self/pagemap");
              std::vector<page_region> regs(16);
              double total = 0;
              for (std::uint64_t l = 0; l < loops; ++l) {
                pm_scan_arg arg{};
                arg.size = sizeof arg;
                arg.start = reinterpret_cast<std::uintptr_t>(a.data());
                arg.end = arg.start + a.bytes();
                arg.vec = reinterpret_cast<std::uintptr_t>(regs.data());
                arg.vec_len = regs.size();
                arg.category_mask = PAGE_IS_PRESENT;
                arg.return_mask = PAGE_IS_PRESENT;
                t0 = now_ns();
                if (::ioctl(pagemap_fd, PAGEMAP_SCAN, &arg) < 0) skip_errno("PAGEMAP_SCAN");
                t1 = now_ns();
                total += t1 - t0;
              }
              s.add(m::kScanPerPte, total / (dn * static_cast<double>(loops)));
            });

            t0 = now_ns();
            if (::madvise(a.data(), a.bytes(), MADV_DONTNEED) != 0) skip_errno("MADV_DONTNEED");
            t1 = now_ns();
            s.add(m::kDontneed, (t1 - t0) / dn);
          });
}

alignas(kPage) char g_src[kPage];  // what the handler copies in

// userfaultfd MISSING: UFFDIO_COPY alone, then faults served by a handler thread.
void run_missing(Samples& s, std::size_t n) {
  s.group({m::kUffdCopy, m::kMissingRoundtrip}, [&] {
    std::memset(g_src, 0x5a, kPage);
    const double dn = static_cast<double>(n);
    {
      Uffd u(0);
      Region r(n);
      u.register_range(r, UFFDIO_REGISTER_MODE_MISSING);
      const double t0 = now_ns();
      for (std::size_t i = 0; i < n; ++i)
        if (uffd_copy(u.fd(), r.page(i), g_src) != 0) skip_errno("UFFDIO_COPY");
      const double t1 = now_ns();
      s.add(m::kUffdCopy, (t1 - t0) / dn);
    }
    Uffd u(0);
    Region r(n);
    u.register_range(r, UFFDIO_REGISTER_MODE_MISSING);
    FaultHandler h(u.fd(), r, g_src);
    const double t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i) touch_write(r.page(i));
    const double t1 = now_ns();
    h.stop();
    if (!h.error().empty()) throw Skip("the handler thread failed: " + h.error());
    s.add(m::kMissingRoundtrip, (t1 - t0) / dn);
  });
}

// userfaultfd write-protect with WP_ASYNC: UFFDIO_WRITEPROTECT of a range, the write faults the
// kernel resolves itself, and an ioctl that changes no PTE.
void run_wp(Samples& s, std::size_t n) {
  s.group({m::kWpPerPte, m::kWpAsyncFault, m::kUffdNoopIoctl}, [&] {
    {
      Uffd probe(0);
      if (!(probe.offered() & UFFD_FEATURE_WP_ASYNC)) throw Skip("this kernel offers no UFFD_FEATURE_WP_ASYNC");
    }
    const double dn = static_cast<double>(n);
    Uffd u(UFFD_FEATURE_WP_ASYNC);
    Region r(n);
    r.populate();
    u.register_range(r, UFFDIO_REGISTER_MODE_WP);
    const std::uint64_t loops = std::max<std::uint64_t>(1, kMinPtes / n);
    double sum = 0;
    for (std::uint64_t l = 0; l < loops; ++l) {
      const double t0 = now_ns();
      u.writeprotect(r.data(), r.bytes(), true);
      sum += now_ns() - t0;
      if (l + 1 < loops) u.writeprotect(r.data(), r.bytes(), false);
    }
    s.add(m::kWpPerPte, sum / (dn * static_cast<double>(loops)));
    double t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i) touch_write(r.page(i));
    double t1 = now_ns();
    s.add(m::kWpAsyncFault, (t1 - t0) / dn);

    // An untouched page: after the first call (which may install a PTE marker) the ioctl
    // changes nothing: syscall, mmap lock, VMA lookup, an empty walk.
    Region z(1);
    u.register_range(z, UFFDIO_REGISTER_MODE_WP);
    u.writeprotect(z.data(), kPage, true);
    constexpr int kCalls = 2000;
    t0 = now_ns();
    for (int i = 0; i < kCalls; ++i) u.writeprotect(z.data(), kPage, true);
    t1 = now_ns();
    s.add(m::kUffdNoopIoctl, (t1 - t0) / kCalls);
  });
}

// ---- TLB shootdowns: one page's protection toggled while other threads of the process spin ----

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

bool pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

// TLB shootdown IPIs received so far, by CPU: the "TLB:" row of /proc/interrupts (x86).
std::optional<std::map<int, std::uint64_t>> tlb_ipis() {
  std::ifstream in("/proc/interrupts");
  std::string line;
  std::vector<int> cols;  // CPU number of each column
  if (std::getline(in, line)) {
    std::istringstream is(line);
    std::string tok;
    while (is >> tok)
      if (tok.rfind("CPU", 0) == 0) cols.push_back(std::atoi(tok.c_str() + 3));
  }
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string tok;
    is >> tok;
    if (tok != "TLB:") continue;
    std::map<int, std::uint64_t> by_cpu;
    for (std::size_t i = 0; i < cols.size() && is >> tok; ++i) {
      if (tok.find_first_not_of("0123456789") != std::string::npos) break;
      by_cpu[cols[i]] = std::stoull(tok);
    }
    return by_cpu;
  }
  return std::nullopt;
}

std::uint64_t sum_ipis(const std::map<int, std::uint64_t>& m) {
  std::uint64_t s = 0;
  for (const auto& [cpu, n] : m) s += n;
  return s;
}

enum Phase { kIdle = 0, kBaseline = 1, kToggling = 2 };

// Threads that keep reading the toggled page on other CPUs (so that they hold its TLB entry and
// the shootdowns must reach them). The first one also records the gaps in its own progress: time
// lost to interrupts, by phase.
class Spinners {
 public:
  Spinners(unsigned k, const char* page, const std::vector<int>& cpus) {
    if (k > 0) cpu_ = cpus[1 % cpus.size()];
    for (unsigned i = 0; i < k; ++i) {
      threads_.emplace_back([this, page, cpu = cpus[(1 + i) % cpus.size()], first = i == 0] {
        if (!pin_self(cpu)) pinned_ = false;
        spin(page, first);
      });
    }
    while (ready_.load() < k) std::this_thread::yield();
  }
  ~Spinners() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  Spinners(const Spinners&) = delete;
  Spinners& operator=(const Spinners&) = delete;

  void phase(Phase p) { phase_.store(p, std::memory_order_relaxed); }
  double lost(Phase p) const { return static_cast<double>(lost_[p].load()); }  // ns, first spinner
  bool pinned() const { return pinned_; }
  int cpu() const { return cpu_; }  // the first spinner's CPU

 private:
  static std::uint64_t now() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
  }
  void spin(const char* page, bool first) {
    // A usual iteration, to tell an interruption from the loop itself.
    std::vector<std::uint64_t> gaps(20000);
    std::uint64_t last = now();
    char sink = 0;
    for (auto& g : gaps) {
      sink ^= touch_read(page);
      const std::uint64_t t = now();
      g = t - last;
      last = t;
    }
    std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
    const std::uint64_t usual = gaps[gaps.size() / 2];
    const std::uint64_t threshold = std::max<std::uint64_t>(200, 8 * usual);
    // A gap longer than this is the thread being descheduled (by this kernel or the
    // hypervisor), not an interrupt: it is not counted.
    constexpr std::uint64_t kMaxGap = 1000000;
    ready_.fetch_add(1);
    last = now();
    int ph = phase_.load(std::memory_order_relaxed);
    while (!stop_.load(std::memory_order_relaxed)) {
      sink ^= touch_read(page);
      const std::uint64_t t = now();
      const int ph_now = phase_.load(std::memory_order_relaxed);
      const std::uint64_t gap = t - last;
      last = t;
      // Only gaps wholly inside one phase count.
      if (first && gap > threshold && gap < kMaxGap && ph_now == ph) lost_[ph].fetch_add(gap - usual);
      ph = ph_now;
    }
    asm volatile("" ::"r"(sink));
  }

  std::vector<std::thread> threads_;
  std::atomic<unsigned> ready_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> phase_{kIdle};
  std::atomic<std::uint64_t> lost_[3] = {0, 0, 0};
  std::atomic<bool> pinned_{true};
  int cpu_ = -1;
};

struct ShootdownNotes {
  std::map<unsigned, std::string> by_k;  // spinners -> note
};

void run_shootdown(Samples& s, unsigned repeats, const std::vector<int>& cpus, ShootdownNotes& notes) {
  std::vector<std::string> ids = {m::kMprotectUnpopulated, m::kIpisPerFlush, m::kIpiLost};
  for (unsigned k : m::kSpinners) ids.push_back(m::mprotect_flush(k));
  s.group(ids, [&] {
    // Two pages with a VMA each between PROT_NONE guards, so that mprotect never splits or
    // merges VMAs: one page is populated (its PTE changes and is flushed), the other never is.
    Region guard(5, PROT_NONE);
    char* page = guard.page(1);
    char* empty = guard.page(3);
    if (::mprotect(page, kPage, PROT_READ | PROT_WRITE) != 0 || ::mprotect(empty, kPage, PROT_READ | PROT_WRITE) != 0)
      skip_errno("mprotect");
    touch_write(page);
    cpu_set_t saved;
    const bool have_saved = ::sched_getaffinity(0, sizeof saved, &saved) == 0;
    pin_self(cpus[0]);
    const unsigned ncpu = static_cast<unsigned>(cpus.size());
    // Per call, both directions: each changes _PAGE_RW, so each flushes.
    auto toggle = [](char* p) {
      if (::mprotect(p, kPage, PROT_READ) != 0) skip_errno("mprotect");
      if (::mprotect(p, kPage, PROT_READ | PROT_WRITE) != 0) skip_errno("mprotect");
    };
    // Toggles for at least 100 ms and 2000 toggles, at most 300 ms (oversubscribed runs are slow).
    auto window = [&](char* p, unsigned* done) {
      const double start = now_ns();
      double t = start;
      for (*done = 0; (*done < 2000 || t - start < 100e6) && t - start < 300e6; ++*done) {
        toggle(p);
        t = now_ns();
      }
      return t - start;
    };
    for (unsigned k : m::kSpinners) {
      Spinners sp(k, page, cpus);
      for (int i = 0; i < 100; ++i) toggle(page);  // warm-up
      const auto ipi0 = tlb_ipis();
      std::uint64_t flushes = 0;
      for (unsigned r = 0; r < repeats; ++r) {
        const double lost_toggling = sp.lost(kToggling), lost_baseline = sp.lost(kBaseline);
        const auto before = k == 1 ? tlb_ipis() : std::nullopt;
        unsigned done = 0;
        sp.phase(kToggling);
        const double dt = window(page, &done);
        sp.phase(kIdle);
        const auto after = k == 1 ? tlb_ipis() : std::nullopt;
        flushes += 2 * done;
        s.add(m::mprotect_flush(k), dt / (2.0 * done));
        if (k == 0) {
          const double de = window(empty, &done);
          s.add(m::kMprotectUnpopulated, de / (2.0 * done));
        }
        if (k == 1 && ncpu >= 2 && before && after) {
          auto on = [&](const std::map<int, std::uint64_t>& c) {
            auto it = c.find(sp.cpu());
            return it == c.end() ? 0.0 : static_cast<double>(it->second);
          };
          const double got = on(*after) - on(*before);
          s.add(m::kIpisPerFlush, got / (2.0 * done));
          // As long again without toggling: what the spinner loses anyway (timer ticks, other
          // interrupts) is subtracted from what it lost while the page was toggled.
          sp.phase(kBaseline);
          const double b0 = now_ns();
          while (now_ns() - b0 < dt) clobber();
          sp.phase(kIdle);
          const double extra = (sp.lost(kToggling) - lost_toggling) - (sp.lost(kBaseline) - lost_baseline);
          // Too few IPIs and the difference is noise.
          if (got >= 50) s.add(m::kIpiLost, extra / got);
        }
      }
      std::string note;
      if (k + 1 > ncpu) note = "oversubscribed: " + std::to_string(k + 1) + " threads on " + std::to_string(ncpu) + " CPUs";
      if (!sp.pinned()) note += std::string(note.empty() ? "" : "; ") + "could not pin the spinners";
      const auto ipi1 = tlb_ipis();
      if (k > 0 && ipi0 && ipi1 && flushes) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2f TLB IPIs per flush",
                      static_cast<double>(sum_ipis(*ipi1) - sum_ipis(*ipi0)) / static_cast<double>(flushes));
        note += std::string(note.empty() ? "" : "; ") + buf;
      }
      notes.by_k[k] = note;
    }
    if (have_saved) ::sched_setaffinity(0, sizeof saved, &saved);
    if (ncpu < 2) s.skip({m::kIpisPerFlush, m::kIpiLost}, "one CPU: no other CPU to send a shootdown to");
    else if (!s.values.count(m::kIpiLost))
      s.skip({m::kIpiLost}, "the other CPU took too few shootdown IPIs to time (the hypervisor defers flushes for "
                            "preempted vCPUs)");
  });
}

// ---- the report ----

// The model's defaults: the ParamSpec defaults, read the way a scenario reads them.
scenario::KernelSpec default_kernel() {
  Json doc = Json::parse(R"({"name": "calibrate-defaults", "duration": "1s",
    "hosts": [{"name": "h", "nodes": [{"cores": 1, "memory": "1GiB"}]}],
    "vms": [{"name": "v", "vcpus": 1, "memory": "64MiB", "workload": {"type": "uniform"}}]})");
  return scenario::parse_scenario(doc, "<defaults>").kernel;
}

std::optional<double> default_of(const scenario::KernelSpec& k, const std::string& key) {
  const auto& c = k.costs;
  const auto& u = k.uffd;
  const std::map<std::string, double> v = {
      {"dram_latency_ns", k.dram_latency_ns},  {"minor_fault_ns", c.minor_fault_ns},
      {"page_clear_ns", c.page_clear_ns},      {"page_copy_ns", c.page_copy_ns},
      {"tlb_ipi_ns", c.tlb_ipi_ns},            {"uffd/ioctl_ns", u.ioctl_ns},
      {"uffd/per_pte_ns", u.per_pte_ns},       {"uffd/tlb_flush_ns", u.tlb_flush_ns},
      {"uffd/tlb_per_vcpu_ns", u.tlb_per_vcpu_ns}, {"uffd/scan_per_pte_ns", u.scan_per_pte_ns},
      {"uffd/copy_ns", u.copy_ns},             {"uffd/set_mode_ns", u.set_mode_ns},
      {"uffd/roundtrip_ns", u.roundtrip_ns}};
  auto it = v.find(key);
  return it == v.end() ? std::nullopt : std::optional<double>(it->second);
}

// One measured quantity: what the model charges for the same operation with its default costs,
// and the published bare-metal figure where there is one (KERNEL-MODEL.md §8).
struct Row {
  std::string id, name;
  double model = 0;
  std::string model_how;
  std::optional<double> published;
  std::string source, note;
};

std::vector<Row> report_rows(const scenario::KernelSpec& k, const ZeroPage& zp, const ShootdownNotes& notes) {
  const double minor = static_cast<double>(k.costs.minor_fault_ns), clear = static_cast<double>(k.costs.page_clear_ns);
  const auto& u = k.uffd;
  const double ioctl = static_cast<double>(u.ioctl_ns), pte = static_cast<double>(u.per_pte_ns);
  const double copy = ioctl + pte + static_cast<double>(u.copy_ns);
  // e2b-dev/infra PR 2974: 1 GiB touched at ~1.3 GiB/s through a MISSING handler.
  const double e2b_missing = 4096.0 / (1.3 * 1073741824.0) * 1e9;
  std::vector<Row> rows = {
      {m::kFirstTouch, "anon first-touch write fault /page", minor + clear, "minor_fault+page_clear", 2000.0,
       "HeMem memsim page fault (e2b unregistered: ~1.9 us)", ""},
      {m::kFirstTouchCold, "  the same, first run, before warm-up (not in the profile)", minor + clear,
       "minor_fault+page_clear", 2000.0, "HeMem memsim page fault", "includes the hypervisor's faults, if any"},
      {m::kReadFault, "anon read fault, untouched memory /page", k.use_zero_page ? minor : minor + clear,
       k.use_zero_page ? "minor_fault (zero page)" : "minor_fault+page_clear", std::nullopt, "",
       !zp.zero ? "zero page: unknown" : *zp.zero ? "host maps the zero page" : "host maps a private page"},
      {m::kPageClear, "clear 4 KiB, memset of a cold page /page", clear, "page_clear", std::nullopt, "", ""},
      {m::kMemcpy, "copy 4 KiB, memcpy of a cold page /page", static_cast<double>(k.costs.page_copy_ns), "page_copy",
       std::nullopt, "", ""},
      {m::kUffdCopy, "UFFDIO_COPY, no fault waiting /page", copy, "ioctl+per_pte+copy", std::nullopt, "", ""},
      {m::kMissingRoundtrip, "uffd MISSING fault, handler thread + UFFDIO_COPY /page",
       static_cast<double>(k.costs.userfault_ns) + static_cast<double>(u.roundtrip_ns) + copy,
       "userfault+roundtrip+ioctl+per_pte+copy", e2b_missing,
       "e2b: 1 GiB at ~1.3 GiB/s with a handler", ""},
      {m::kWpAsyncFault, "WP_ASYNC write fault /page", minor, "minor_fault", std::nullopt, "", ""},
      {m::kUffdNoopIoctl, "uffd ioctl changing no PTE /call", ioctl, "ioctl", std::nullopt, "", ""},
      {m::kWpPerPte, "UFFDIO_WRITEPROTECT of the region /PTE", pte, "per_pte", std::nullopt, "", ""},
      {m::kMprotectPerPte, "mprotect(PROT_READ) of the region /PTE", pte, "per_pte", std::nullopt, "", ""},
      {m::kScanPerPte, "PAGEMAP_SCAN of the region /PTE", static_cast<double>(u.scan_per_pte_ns), "scan_per_pte",
       std::nullopt, "", ""},
      {m::kDontneed, "MADV_DONTNEED of the region /page", pte, "per_pte", std::nullopt, "", ""},
      {m::kMprotectUnpopulated, "mprotect 1 page without a PTE (no flush) /call", ioctl, "ioctl", std::nullopt, "",
       ""},
  };
  for (unsigned n : m::kSpinners) {
    Row r{m::mprotect_flush(n),
          "mprotect 1 page R<->RW, " + std::to_string(n) + " other thread" + (n == 1 ? "" : "s") + " /call",
          ioctl + pte + static_cast<double>(u.tlb_flush_ns + n * u.tlb_per_vcpu_ns),
          "ioctl+per_pte+tlb_flush" + (n ? "+" + std::to_string(n) + "x tlb_per_vcpu" : std::string()),
          std::nullopt, "", ""};
    if (n > 0) {
      r.published = 4000.0;
      r.source = "HeMem memsim TLB shootdown";
    }
    if (auto it = notes.by_k.find(n); it != notes.by_k.end()) r.note = it->second;
    rows.push_back(std::move(r));
  }
  rows.push_back({m::kIpisPerFlush, "TLB IPIs the other CPU took /flush (count)", 1, "1 per vCPU", std::nullopt, "",
                  "below 1: flushes deferred for preempted vCPUs (KVM PV TLB flush)"});
  rows.push_back({m::kIpiLost, "TLB IPI: time a spinning thread loses /IPI", static_cast<double>(k.costs.tlb_ipi_ns),
                  "tlb_ipi", std::nullopt, "", ""});
  return rows;
}

std::string fmt_ns(double x) {
  char buf[32];
  if (std::fabs(x) < 1 && x != 0) std::snprintf(buf, sizeof buf, "%.2f", x);
  else if (std::fabs(x) < 100 && x != std::floor(x)) std::snprintf(buf, sizeof buf, "%.1f", x);
  else std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

// The 1-minute load average (other processes competing for the CPUs skew every figure).
double load_average() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int cmd_calibrate(const CalibrateOptions& opt) {
  if (::sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) {
    std::cerr << "vmemsim calibrate: the model has 4 KiB pages; this machine's page size is "
              << ::sysconf(_SC_PAGESIZE) << "\n";
    return 1;
  }
  const scenario::KernelSpec kernel = default_kernel();
  const std::vector<int> cpus = allowed_cpus();
  const std::size_t n = opt.pages;
  const bool progress = ::isatty(STDERR_FILENO);
  auto say = [&](const std::string& what) {
    if (progress) std::cerr << "\r[calibrate] " << what << "\x1b[K" << std::flush;
  };

  Samples s;
  ZeroPage zp;
  ShootdownNotes notes;
  const int pagemap_fd = open_pagemap();
  const double t_start = now_ns();
  const double load = load_average();
  if (load > 0.5 * static_cast<double>(cpus.size()))
    std::cerr << "vmemsim calibrate: warning: load average " << load << " on " << cpus.size()
              << " CPU(s): other processes compete with the measurements\n";

  // Where this machine is itself a VM, the first touch of a guest frame the hypervisor has not
  // backed (or has taken back: free page reporting) also pays the hypervisor's fault. Measured
  // once, for the table; then frames for every region are touched and freed, so that the runs
  // measure this kernel with its frames backed (the guest reuses frames it freed last).
  say("first touch before warm-up");
  s.group({m::kFirstTouchCold}, [&] {
    Region cold(n);
    const double t0 = now_ns();
    cold.populate();
    s.add(m::kFirstTouchCold, (now_ns() - t0) / static_cast<double>(n));
  });
  s.group({}, [&] { Region(3 * n).populate(); });
  for (unsigned r = 0; r < opt.repeats; ++r) {
    const std::string run = "run " + std::to_string(r + 1) + "/" + std::to_string(opt.repeats) + ": ";
    say(run + "anonymous memory");
    run_anon(s, n, pagemap_fd, r == 0 ? &zp : nullptr);
    say(run + "userfaultfd MISSING");
    run_missing(s, n);
    say(run + "userfaultfd WP_ASYNC");
    run_wp(s, n);
  }
  say("TLB shootdowns");
  run_shootdown(s, opt.repeats, cpus, notes);
  if (pagemap_fd >= 0) ::close(pagemap_fd);
  if (progress) std::cerr << "\r\x1b[K";

  scenario::Measurements ms;
  ms.pages = n;
  ms.cpus = static_cast<unsigned>(cpus.size());
  for (const auto& [id, v] : s.values) ms.ns[id] = scenario::median(v);
  std::map<std::string, std::string> skipped;
  for (const auto& [id, why] : s.skipped)
    if (!ms.get(id)) skipped[id] = why;
  const scenario::Derivation d = scenario::derive_costs(ms);

  utsname un{};
  ::uname(&un);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  Json meta = {{"kernel_release", un.release},
               {"machine", un.machine},
               {"hostname", host},
               {"date", utc_now()},
               {"repeats", opt.repeats},
               {"load_average", std::round(load * 100) / 100},
               {"zero_page", zp.zero ? Json(*zp.zero) : Json(nullptr)},
               {"zero_page_check", zp.how},
               {"wall_seconds", std::round((now_ns() - t_start) / 1e7) / 100},
               {"vmemsim", "0.1.0"}};
  Json profile = scenario::profile_json(meta, ms, d);
  profile["skipped"] = skipped;
  if (!opt.out.empty()) output::write_file_atomic(opt.out, profile.dump(1) + "\n");

  const std::vector<Row> rows = report_rows(kernel, zp, notes);
  if (opt.json) {
    Json jr = Json::array();
    for (const auto& r : rows) {
      Json o = {{"id", r.id}, {"name", r.name}, {"model_ns", r.model}, {"model", r.model_how}};
      auto v = ms.get(r.id);
      o["measured_ns"] = v ? Json(std::round(*v * 10) / 10) : Json(nullptr);
      o["published_ns"] = r.published ? Json(std::round(*r.published)) : Json(nullptr);
      o["published"] = r.source;
      o["ratio"] = v && r.published ? Json(std::round(*v / *r.published * 100) / 100) : Json(nullptr);
      if (!r.note.empty()) o["note"] = r.note;
      if (auto it = skipped.find(r.id); it != skipped.end()) o["skipped"] = it->second;
      jr.push_back(o);
    }
    Json jd = Json::array();
    for (const auto& c : d.costs)
      jd.push_back({{"key", c.key}, {"default_ns", default_of(kernel, c.key).value_or(0)}, {"ns", c.ns}, {"how", c.how}});
    Json out = {{"metadata", profile["metadata"]}, {"rows", jr}, {"derived", jd}, {"not_derived", d.not_derived}};
    if (!opt.out.empty()) out["profile"] = opt.out;
    std::cout << out.dump(1) << "\n";
    return 0;
  }

  std::printf("vmemsim calibrate: Linux %s (%s), %u CPU(s), median of %u run(s), regions of %zu pages\n\n",
              un.release, host, ms.cpus, opt.repeats, n);
  std::printf("%-56s %9s %9s %9s %6s  %s\n", "measured (ns)", "model", "here", "published", "ratio", "published figure / note");
  for (const auto& r : rows) {
    auto v = ms.get(r.id);
    std::string here = v ? fmt_ns(*v) : "skipped";
    std::string pub = r.published ? fmt_ns(*r.published) : "-";
    std::string ratio = "-";
    if (v && r.published) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.1f", *v / *r.published);
      ratio = buf;
    }
    std::string note = r.source;
    if (!r.note.empty()) note += (note.empty() ? "" : "; ") + r.note;
    if (!v)
      if (auto it = skipped.find(r.id); it != skipped.end()) note += (note.empty() ? "" : "; ") + it->second;
    std::printf("%-56s %9s %9s %9s %6s  %s\n", r.name.c_str(), fmt_ns(r.model).c_str(), here.c_str(), pub.c_str(),
                ratio.c_str(), note.c_str());
  }
  std::printf("\n'model' is what the simulator charges for the same operation with its default costs.\n\n");
  std::printf("%-22s %9s %9s  %s\n", "kernel.costs key", "default", "profile", "derived from (ns)");
  for (const auto& c : d.costs) {
    auto def = default_of(kernel, c.key);
    std::string key = c.key;
    std::replace(key.begin(), key.end(), '/', '.');
    std::printf("%-22s %9s %9lld  %s\n", key.c_str(), def ? fmt_ns(*def).c_str() : "-", static_cast<long long>(c.ns),
                c.how.c_str());
  }
  for (const auto& [key, why] : d.not_derived) {
    std::string k = key;
    std::replace(k.begin(), k.end(), '/', '.');
    auto def = default_of(kernel, key);
    std::printf("%-22s %9s %9s  %s\n", k.c_str(), def ? fmt_ns(*def).c_str() : "-", "-", why.c_str());
  }
  if (!opt.out.empty()) std::printf("\nhost profile written to %s\n", opt.out.c_str());
  return 0;
}

}  // namespace vmemsim::cli
