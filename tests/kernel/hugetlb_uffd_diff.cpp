// Live-kernel differential test of userfaultfd on hugetlbfs (models/uffd + models/hugetlb).
//
// Reserves a few 2 MiB huge pages (/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages,
// restored on every exit path), creates a memfd with MFD_HUGETLB, registers it with uffd
// MISSING | MINOR | WP (each seed with sync WP, then with WP_ASYNC), and drives the same seeded random pattern on the kernel and on the model
// (mm::AddressSpace with the registered fault mechanisms and uffd::Uffd, hugetlb backing):
// touches (a handler thread answers MISSING with UFFDIO_COPY of the huge page, MINOR with
// UFFDIO_CONTINUE, WP with UFFDIO_WRITEPROTECT(clear)), UFFDIO_COPY / UFFDIO_CONTINUE /
// UFFDIO_WRITEPROTECT / UFFDIO_ZEROPAGE / MADV_DONTNEED / FALLOC_FL_PUNCH_HOLE with aligned,
// misaligned and multi-huge-page ranges,
// and under WP_ASYNC PAGEMAP_SCAN with PM_SCAN_WP_MATCHING (its regions compared too).
// After every op it compares, page by page, PAGEMAP_SCAN's categories (PRESENT, WRITTEN, FILE,
// SWAPPED, PFNZERO, HUGE), the op's errno (and for UFFDIO_COPY / UFFDIO_CONTINUE the copy /
// mapped field: pages filled, or the error), and each fault message's address and reason. After
// every PUNCH_HOLE and at the end of each run it also compares what each 4 KiB page holds (the
// file read with pread(), which reads a hole as zeroes, against the model's page cache and
// content words): zeroes, the UFFDIO_COPY source, or a guest write. That catches
// hugetlbfs_zero_partial_page() on the partial huge pages of a hole.
//
// Usage: hugetlb_uffd_diff [--seeds N] [--ops N] [--trace]
// Exit: 0 all patterns matched, 1 a mismatch (the first is printed), 77 skipped (not root, no
// 2 MiB hugetlb, no userfaultfd / PAGEMAP_SCAN, or the pages could not be reserved).
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "models/hugetlb/hugetlb.hpp"
#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/uffd/uffd.hpp"
#include "uapi_compat.hpp"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef UFFD_FEATURE_MINOR_HUGETLBFS
#define UFFD_FEATURE_MINOR_HUGETLBFS (1 << 9)
#endif
#ifndef UFFDIO_CONTINUE
#define UFFDIO_CONTINUE _IOWR(UFFDIO, 0x07, struct uffdio_continue)
struct uffdio_continue {
  struct uffdio_range range;
  __u64 mode;
  __s64 mapped;
};
#endif
#ifndef UFFDIO_REGISTER_MODE_MINOR
#define UFFDIO_REGISTER_MODE_MINOR ((__u64)1 << 2)
#endif
#ifndef UFFD_PAGEFAULT_FLAG_MINOR
#define UFFD_PAGEFAULT_FLAG_MINOR (1 << 2)
#endif

using namespace vmemsim;
using core::Gfn;
namespace pte = mm::pte;

namespace {

constexpr std::uint64_t H = 512;          // 4 KiB pages per huge page
constexpr std::uint64_t kHuge = 4;        // huge pages in the memfd
constexpr std::uint64_t kPages = H * kHuge;
constexpr std::size_t kPg = 4096;
const char* kNr = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const char* kFree = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";
// The model's content words for the two kinds of data the pattern puts in the file.
constexpr std::uint64_t kCopied = mm::content::unique(0, 1u << 30);  // the UFFDIO_COPY source
constexpr std::uint64_t kWritten = mm::content::unique(0, 1u << 31);  // a guest write
constexpr std::uint32_t kCompared = uffd::cat::kPresent | uffd::cat::kWritten | uffd::cat::kFile | uffd::cat::kSwapped |
                                    uffd::cat::kPfnZero | uffd::cat::kHuge;

long read_long(const char* path) {
  std::ifstream f(path);
  long v = -1;
  f >> v;
  return f ? v : -1;
}
bool write_long(const char* path, long v) {
  std::ofstream f(path);
  f << v;
  f.close();
  return !f.fail();
}
long g_old_nr = -1;
char g_old_text[32];  // the old value, pre-formatted for the signal handler
void restore_nr() {
  if (g_old_nr >= 0) write_long(kNr, g_old_nr);
  g_old_nr = -1;
}
// SIGTERM (ctest's timeout), SIGINT, SIGHUP: restore with async-signal-safe calls only.
void on_signal(int sig) {
  const int fd = ::open(kNr, O_WRONLY);
  if (fd >= 0) {
    (void)!::write(fd, g_old_text, strlen(g_old_text));
    ::close(fd);
  }
  _exit(128 + sig);
}

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

enum class OpK { Read, Write, Copy, Cont, DontNeed, Punch, Wp, Unwp, ScanWp, Zero };
const char* op_name(OpK k) {
  static const char* n[] = {"read", "write", "copy", "continue", "dontneed", "punch", "wp", "unwp", "scan-wp", "zeropage"};
  return n[static_cast<int>(k)];
}
struct Op {
  OpK k;
  std::uint64_t start, len;  // pages
};

// A range of one huge page, or a misaligned one (start off by 1..511 pages, half a huge page
// long, one and a half, or any page-granular range of up to two huge pages), or several whole
// huge pages (a UFFDIO_COPY / CONTINUE over them stops at the first it cannot fill: EAGAIN with
// the pages done in copy / mapped).
Op range_op(OpK k, std::uint64_t& s) {
  (void)k;
  std::uint64_t start = splitmix(s) % kHuge * H, len = H;
  switch (splitmix(s) % 10) {
    case 0: start += 1 + splitmix(s) % (H - 1); break;
    case 1: len = H / 2; break;
    case 2: len = H + H / 2; break;  // DONTNEED rounds the end down, PUNCH_HOLE rounds inwards
    case 3:
      start = splitmix(s) % kPages;
      len = 1 + splitmix(s) % (2 * H);
      break;
    case 4:
    case 5: len = (2 + splitmix(s) % (kHuge - 1)) * H; break;
    default: break;
  }
  if (start + len > kPages) len = kPages - start;
  return {k, start, len};
}

// `async`: WP_ASYNC registration, where PAGEMAP_SCAN with PM_SCAN_WP_MATCHING is allowed too.
std::vector<Op> generate(std::uint64_t seed, int n, bool async) {
  std::uint64_t s = seed * 7919 + 1 + (async ? 1000003 : 0);
  std::vector<Op> ops;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t r = splitmix(s) % (async ? 18 : 16);
    if (r >= 16) {
      ops.push_back(range_op(OpK::ScanWp, s));
      continue;
    }
    if (r < 6) ops.push_back({r % 2 ? OpK::Write : OpK::Read, splitmix(s) % kPages, 1});
    else if (r < 8) ops.push_back(range_op(splitmix(s) % 8 == 0 ? OpK::Zero : OpK::Copy, s));
    else if (r < 9) ops.push_back(range_op(OpK::Cont, s));
    else if (r < 11) ops.push_back(range_op(OpK::DontNeed, s));
    else if (r < 12) ops.push_back(range_op(OpK::Punch, s));
    else if (r < 14) ops.push_back(range_op(OpK::Wp, s));
    else ops.push_back(range_op(OpK::Unwp, s));
  }
  return ops;
}

struct Msg {
  std::uint64_t page;
  char reason;  // 'M'issing, 'm'inor, 'W'p
  bool operator==(const Msg&) const = default;
};

// ---------------------------------------------------------------------------------------------
// The kernel side.
class Kernel {
 public:
  explicit Kernel(bool async) : async_(async) {}
  bool open(std::string& why) {
    fd_ = static_cast<int>(syscall(SYS_memfd_create, "hugetlb-uffd-diff", MFD_HUGETLB));
    if (fd_ < 0) return (why = std::string("memfd_create(MFD_HUGETLB): ") + strerror(errno)), false;
    if (ftruncate(fd_, kPages * kPg) != 0) return (why = "ftruncate"), false;
    base_ = static_cast<char*>(mmap(nullptr, kPages * kPg, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
    if (base_ == MAP_FAILED) return (why = std::string("mmap: ") + strerror(errno)), false;
    uffd_ = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
    if (uffd_ < 0) return (why = std::string("userfaultfd: ") + strerror(errno)), false;
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_MINOR_HUGETLBFS | UFFD_FEATURE_WP_HUGETLBFS_SHMEM | (async_ ? UFFD_FEATURE_WP_ASYNC : 0);
    if (ioctl(uffd_, UFFDIO_API, &api) != 0) return (why = std::string("UFFDIO_API: ") + strerror(errno)), false;
    uffdio_register reg{};
    reg.range = {reinterpret_cast<std::uint64_t>(base_), kPages * kPg};
    reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) return (why = std::string("UFFDIO_REGISTER: ") + strerror(errno)), false;
    // As large as the largest fill (a UFFDIO_COPY over the whole file): a source the copy cannot
    // read would stop it with EFAULT, not the destination state the test compares.
    src_ = static_cast<char*>(aligned_alloc(kPg, kPages * kPg));
    memset(src_, 0x5a, kPages * kPg);
    handler_ = std::thread([this] { serve(); });
    return true;
  }
  ~Kernel() {
    stop_ = true;
    if (handler_.joinable()) handler_.join();
    if (base_ && base_ != MAP_FAILED) munmap(base_, kPages * kPg);
    if (uffd_ >= 0) close(uffd_);
    if (fd_ >= 0) close(fd_);
    free(src_);
  }
  std::string run(const Op& op) {
    char* a = base_ + op.start * kPg;
    const std::uint64_t len = op.len * kPg;
    int r = 0;
    switch (op.k) {
      case OpK::Read: {
        volatile char c = *a;
        (void)c;
        return "0";
      }
      case OpK::Write: *static_cast<volatile char*>(a) = 1; return "0";
      case OpK::Copy: {
        uffdio_copy c{reinterpret_cast<std::uint64_t>(a), reinterpret_cast<std::uint64_t>(src_), len, 0, 0};
        r = ioctl(uffd_, UFFDIO_COPY, &c);
        return filled(r, c.copy);
      }
      case OpK::Cont: {
        uffdio_continue c{{reinterpret_cast<std::uint64_t>(a), len}, 0, 0};
        r = ioctl(uffd_, UFFDIO_CONTINUE, &c);
        return filled(r, c.mapped);
      }
      case OpK::Zero: {  // mfill_atomic_hugetlb(): no zero huge page, EINVAL in .zeropage
        uffdio_zeropage z{{reinterpret_cast<std::uint64_t>(a), len}, 0, 0};
        r = ioctl(uffd_, UFFDIO_ZEROPAGE, &z);
        return filled(r, z.zeropage);
      }
      case OpK::DontNeed: r = madvise(a, len, MADV_DONTNEED); break;
      case OpK::Punch: r = fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, op.start * kPg, len); break;
      case OpK::Wp:
      case OpK::Unwp: {
        uffdio_writeprotect w{{reinterpret_cast<std::uint64_t>(a), len},
                              op.k == OpK::Wp ? static_cast<__u64>(UFFDIO_WRITEPROTECT_MODE_WP) : 0};
        r = ioctl(uffd_, UFFDIO_WRITEPROTECT, &w);
        break;
      }
      case OpK::ScanWp: {
        // PM_SCAN_WP_MATCHING over the range: the pages reported WRITTEN, write-protected.
        std::vector<page_region> regs(kPages);
        pm_scan_arg sa{};
        sa.size = sizeof(sa);
        sa.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        sa.start = reinterpret_cast<std::uint64_t>(a);
        sa.end = sa.start + len;
        sa.vec = reinterpret_cast<std::uint64_t>(regs.data());
        sa.vec_len = regs.size();
        sa.category_mask = PAGE_IS_WRITTEN;
        sa.return_mask = PAGE_IS_WRITTEN;
        const long n = ioctl(fd_proc(), PAGEMAP_SCAN, &sa);
        if (n < 0) return strerrorname(errno);
        std::string out = "0";
        for (long i = 0; i < n; ++i)
          out += " " + std::to_string((regs[i].start - reinterpret_cast<std::uint64_t>(base_)) / kPg) + "+" +
                 std::to_string((regs[i].end - regs[i].start) / kPg);
        return out;
      }
    }
    return r == 0 ? "0" : strerrorname(errno);
  }
  // PAGEMAP_SCAN over the memfd: every page's categories (& kCompared).
  bool scan(std::vector<std::uint32_t>& out, std::string& why) {
    out.assign(kPages, 0);
    std::vector<page_region> regs(kPages);
    pm_scan_arg a{};
    a.size = sizeof(a);
    a.start = reinterpret_cast<std::uint64_t>(base_);
    a.end = a.start + kPages * kPg;
    a.vec = reinterpret_cast<std::uint64_t>(regs.data());
    a.vec_len = regs.size();
    a.return_mask = kCompared;
    const long n = ioctl(fd_proc(), PAGEMAP_SCAN, &a);
    if (n < 0) return (why = std::string("PAGEMAP_SCAN: ") + strerror(errno)), false;
    for (long i = 0; i < n; ++i)
      for (std::uint64_t p = (regs[i].start - a.start) / kPg; p < (regs[i].end - a.start) / kPg; ++p)
        out[p] = static_cast<std::uint32_t>(regs[i].categories);
    return true;
  }
  std::vector<Msg> take_msgs() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(msgs_, {});
  }
  // What each 4 KiB page of the file holds, by its first byte: 'z' zeroes (a hole reads as
  // zeroes), 'c' the UFFDIO_COPY source, 'w' a guest write.
  bool data(std::string& out, std::string& why) {
    out.assign(kPages, '?');
    std::vector<char> buf(H * kPg);
    for (std::uint64_t h = 0; h < kHuge; ++h) {
      if (pread(fd_, buf.data(), buf.size(), static_cast<off_t>(h * H * kPg)) != static_cast<ssize_t>(buf.size()))
        return (why = std::string("pread: ") + strerror(errno)), false;
      for (std::uint64_t p = 0; p < H; ++p) {
        const char b = buf[p * kPg];
        out[h * H + p] = b == 0 ? 'z' : b == 0x5a ? 'c' : b == 1 ? 'w' : '?';
      }
    }
    return true;
  }

 private:
  // The ioctl's result and its copy / mapped field: pages filled, or the negated errno.
  static std::string filled(int r, std::int64_t field) {
    return std::string(r == 0 ? "0" : strerrorname(errno)) + " " +
           (field >= 0 ? std::to_string(field / static_cast<std::int64_t>(kPg)) : strerrorname(static_cast<int>(-field)));
  }
  static const char* strerrorname(int e) {
    switch (e) {
      case EINVAL: return "EINVAL";
      case EEXIST: return "EEXIST";
      case EFAULT: return "EFAULT";
      case ENOENT: return "ENOENT";
      case EAGAIN: return "EAGAIN";
      case ENOMEM: return "ENOMEM";
      default: return "E?";
    }
  }
  int fd_proc() {
    if (pm_ < 0) pm_ = ::open("/proc/self/pagemap", O_RDONLY);
    return pm_;
  }
  void serve() {
    pollfd p{uffd_, POLLIN, 0};
    while (!stop_) {
      if (poll(&p, 1, 20) <= 0) continue;
      uffd_msg m{};
      if (read(uffd_, &m, sizeof(m)) != sizeof(m) || m.event != UFFD_EVENT_PAGEFAULT) continue;
      const std::uint64_t addr = m.arg.pagefault.address;
      const std::uint64_t page = (addr - reinterpret_cast<std::uint64_t>(base_)) / kPg;
      const auto fl = m.arg.pagefault.flags;
      const char reason = (fl & UFFD_PAGEFAULT_FLAG_WP) ? 'W' : (fl & UFFD_PAGEFAULT_FLAG_MINOR) ? 'm' : 'M';
      {
        std::lock_guard<std::mutex> l(mu_);
        msgs_.push_back({page, reason});
      }
      // Resolve the huge page the message names (the kernel rounds the address to it).
      const std::uint64_t h = addr & ~(H * kPg - 1);
      if (reason == 'M') {
        uffdio_copy c{h, reinterpret_cast<std::uint64_t>(src_), H * kPg, 0, 0};
        ioctl(uffd_, UFFDIO_COPY, &c);
      } else if (reason == 'm') {
        uffdio_continue c{{h, H * kPg}, 0, 0};
        ioctl(uffd_, UFFDIO_CONTINUE, &c);
      } else {
        uffdio_writeprotect w{{h, H * kPg}, 0};
        ioctl(uffd_, UFFDIO_WRITEPROTECT, &w);
      }
    }
  }
  bool async_ = false;
  int fd_ = -1, uffd_ = -1, pm_ = -1;
  char* base_ = nullptr;
  char* src_ = nullptr;
  std::thread handler_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Msg> msgs_;
};

// ---------------------------------------------------------------------------------------------
// The model side: the same VMA on mm::AddressSpace (hugetlb backing, upstream kernel).
class Model {
 public:
  explicit Model(bool async) : host_({kPages * 2}) {
    host_.reserve_hugetlb(0, kHuge);
    mm::AddressSpaceConfig c;
    c.pages = kPages;
    c.backing = mm::Backing::Hugetlb;
    c.fallback = {{0}};
    c.epoch_ns = 1000;
    c.duration_ns = 10000;
    as_ = std::make_unique<mm::AddressSpace>(c, host_);
    as_->enable_content(mm::ContentSpec{});  // the test sets the words it compares (data())
    vk_.as = as_.get();
    vk_.vcpus = 1;
    kernel::install_fault_mechanisms(vk_);
    uffd::Modes m;
    m.missing = m.minor = m.wp = true;
    uffd::Features f;
    f.wp_async = async;
    if (!u().register_range(m, f).error.empty()) throw std::runtime_error("model: register");
  }
  uffd::Uffd& u() { return *vk_.uffd; }
  static std::string err(const uffd::IoctlResult& r) { return r.error.empty() ? "0" : r.error.substr(0, r.error.find(':')); }
  // The kernel side's filled(): the copy / mapped field is the pages filled on success and on
  // EAGAIN, the error otherwise.
  static std::string filled(const uffd::IoctlResult& r) {
    return err(r) + " " + (r.error.empty() || r.error == "EAGAIN" ? std::to_string(r.ptes) : err(r));
  }
  std::string run(const Op& op) {
    const Gfn g(op.start);
    std::vector<Gfn> list;
    for (std::uint64_t i = op.start; i < op.start + op.len; ++i) list.push_back(Gfn(i));
    auto src = [](Gfn) { return uffd::CopySrc{0, kCopied}; };
    switch (op.k) {
      case OpK::Read:
      case OpK::Write: touch(op.start, op.k == OpK::Write); return "0";
      case OpK::Copy: return filled(u().copy_range(g, op.len, core::NodeId(0), false, 0, src));
      case OpK::Cont: return filled(u().cont_range(g, op.len));
      case OpK::Zero: return filled(u().copy_range(g, op.len, core::NodeId(0), true, 0, src));
      case OpK::DontNeed: return err(u().dontneed(list));
      case OpK::Punch: return err(u().punch_hole(list));
      case OpK::Wp: return err(u().writeprotect(g, op.len, true));
      case OpK::Unwp: return err(u().writeprotect(g, op.len, false));
      case OpK::ScanWp: {
        uffd::ScanArgs a;
        a.start = op.start;
        a.len = op.len;
        a.flags = uffd::kScanWpMatching | uffd::kScanCheckWpAsync;
        a.category_mask = uffd::cat::kWritten;
        a.return_mask = uffd::cat::kWritten;
        const auto r = u().pagemap_scan(a);
        if (!r.error.empty()) return r.error;
        std::string out = "0";
        for (const auto& reg : r.regions) out += " " + std::to_string(reg.start) + "+" + std::to_string(reg.len);
        return out;
      }
    }
    return "?";
  }
  void scan(std::vector<std::uint32_t>& out) {
    out.resize(kPages);
    for (std::uint64_t g = 0; g < kPages; ++g) out[g] = u().categories(Gfn(g)) & kCompared;
  }
  std::vector<Msg> take_msgs() { return std::exchange(msgs_, {}); }
  void check() { as_->check_invariants(); }
  // Kernel::data() on the model: a page out of the page cache reads as zeroes, one in it holds
  // its content word.
  void data(std::string& out) {
    out.assign(kPages, '?');
    for (std::uint64_t g = 0; g < kPages; ++g) {
      if (!as_->in_page_cache(Gfn(g))) {
        out[g] = 'z';
        continue;
      }
      const std::uint64_t c = as_->content(Gfn(g));
      out[g] = c == mm::content::kZero ? 'z' : c == kCopied ? 'c' : c == kWritten ? 'w' : '?';
    }
  }

 private:
  void touch(std::uint64_t g, bool write) {
    for (int i = 0; i < 8; ++i) {
      if (pte::accessible(as_->pte_at(Gfn(g)), write)) {
        if (write) as_->set_content(Gfn(g), kWritten);  // the guest's store
        return;
      }
      const auto f = as_->fault(Gfn(g), write, 0, core::NodeId(0), 0);
      if (f.result != mm::FaultResult::Blocked) continue;
      // The handler thread: the message's address, then the same resolution as the kernel's.
      const Gfn h = u().msg_address(Gfn(g));
      const char reason = f.reason == mm::UffdReason::Wp ? 'W' : f.reason == mm::UffdReason::Minor ? 'm' : 'M';
      msgs_.push_back({h.v, reason});
      if (reason == 'M') u().copy_range(h, H, core::NodeId(0), false, 0, [](Gfn) { return uffd::CopySrc{0, kCopied}; });
      else if (reason == 'm') u().cont_range(h, H);
      else u().writeprotect(h, H, false);
    }
    throw std::runtime_error("model: access to page " + std::to_string(g) + " does not resolve");
  }
  mm::HostMemory host_;
  std::unique_ptr<mm::AddressSpace> as_;
  kernel::VmKernel vk_;
  std::vector<Msg> msgs_;
};

std::string cats(std::uint32_t c) {
  static const char* n[] = {"WPALLOWED", "WRITTEN", "FILE", "PRESENT", "SWAPPED", "PFNZERO", "HUGE"};
  std::string s;
  for (int i = 0; i < 7; ++i)
    if (c & (1u << i)) s += (s.empty() ? "" : "|") + std::string(n[i]);
  return s.empty() ? "-" : s;
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 20, nops = 60;
  bool trace = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seeds" && i + 1 < argc) seeds = std::atoi(argv[++i]);
    else if (a == "--ops" && i + 1 < argc) nops = std::atoi(argv[++i]);
    else if (a == "--trace") trace = true;
  }
  if (geteuid() != 0) {
    std::printf("SKIP: needs root to reserve hugetlb pages\n");
    return 77;
  }
  g_old_nr = read_long(kNr);
  if (g_old_nr < 0) {
    std::printf("SKIP: no 2 MiB hugetlb (%s)\n", kNr);
    return 77;
  }
  std::snprintf(g_old_text, sizeof g_old_text, "%ld", g_old_nr);
  std::atexit(restore_nr);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGABRT, SIGSEGV}) std::signal(sig, on_signal);
  const long free_before = read_long(kFree);
  if (!write_long(kNr, g_old_nr + static_cast<long>(kHuge)) || read_long(kFree) < free_before + static_cast<long>(kHuge) ||
      read_long(kFree) < static_cast<long>(kHuge)) {
    restore_nr();
    std::printf("SKIP: could not reserve %llu huge pages\n", static_cast<unsigned long long>(kHuge));
    return 77;
  }
  int passed = 0, failed = 0;
  std::uint64_t ops_run = 0, einval = 0, eexist = 0, eagain = 0, faults = 0, scanwp = 0;
  std::uint64_t data_checks = 0, zeroed_partial = 0;  // content compares; pages a punch zeroed in place
  std::uint64_t seen_present = 0, seen_marker = 0, seen_none = 0, seen_hole = 0, seen_wp = 0;  // coverage
  for (int run = 0; run < 2 * seeds; ++run) {
    const int seed = run % seeds + 1;
    const bool async = run >= seeds;  // the second half: WP_ASYNC, with PM_SCAN_WP_MATCHING ops
    const auto ops = generate(static_cast<std::uint64_t>(seed), nops, async);
    std::string why, fail;
    Model model(async);
    {
      Kernel k(async);
      if (!k.open(why)) {
        restore_nr();
        std::printf("SKIP: %s\n", why.c_str());
        return 77;
      }
      std::vector<std::uint32_t> ks, ms;
      std::string kd, md, kd_before(kPages, 'z');
      for (std::size_t i = 0; i < ops.size() && fail.empty(); ++i) {
        const Op& op = ops[i];
        const std::string ke = k.run(op);
        std::string me;
        try {
          me = model.run(op);
        } catch (const std::exception& e) {  // a model that cannot complete the op is a mismatch
          me = std::string("exception: ") + e.what();
        }
        ++ops_run;
        auto is = [&](const char* e) { return ke.compare(0, strlen(e), e) == 0; };
        einval += is("EINVAL");
        scanwp += op.k == OpK::ScanWp;
        eexist += is("EEXIST");
        eagain += is("EAGAIN");
        if (trace) std::printf("  %s seed %d op %zu %s %llu+%llu: kernel %s model %s\n", async ? "wp-async" : "wp-sync", seed, i, op_name(op.k),
                               static_cast<unsigned long long>(op.start), static_cast<unsigned long long>(op.len), ke.c_str(), me.c_str());
        char at[160];
        std::snprintf(at, sizeof at, "%s seed %d op %zu (%s %llu+%llu)", async ? "wp-async" : "wp-sync", seed, i, op_name(op.k),
                      static_cast<unsigned long long>(op.start), static_cast<unsigned long long>(op.len));
        if (ke != me) {
          fail = std::string(at) + ": kernel " + ke + ", model " + me;
          break;
        }
        const auto km = k.take_msgs(), mm_ = model.take_msgs();
        faults += km.size();
        if (km != mm_) {
          fail = std::string(at) + ": fault messages differ (kernel " + std::to_string(km.size()) + ", model " +
                 std::to_string(mm_.size()) + (km.empty() || mm_.empty() ? "" : "; first kernel page " + std::to_string(km[0].page) + " " + km[0].reason + ", model " + std::to_string(mm_[0].page) + " " + mm_[0].reason) + ")";
          break;
        }
        if (!k.scan(ks, why)) {
          restore_nr();
          std::printf("SKIP: %s\n", why.c_str());
          return 77;
        }
        model.scan(ms);
        for (std::uint64_t p = 0; p < kPages; ++p) {
          const std::uint32_t c = ks[p];
          seen_present += (c & uffd::cat::kPresent) != 0;
          seen_wp += (c & uffd::cat::kPresent) && !(c & uffd::cat::kWritten);
          seen_marker += (c & uffd::cat::kSwapped) != 0;
          seen_none += c == uffd::cat::kHuge;
          seen_hole += c == 0;
        }
        for (std::uint64_t p = 0; p < kPages; ++p)
          if (ks[p] != ms[p]) {
            fail = std::string(at) + ": page " + std::to_string(p) + " kernel " + cats(ks[p]) + ", model " + cats(ms[p]);
            break;
          }
        // The data, after a hole punch (which zeroes partial huge pages) and after the last op.
        if (fail.empty() && (op.k == OpK::Punch || i + 1 == ops.size())) {
          if (!k.data(kd, why)) {
            restore_nr();
            std::printf("SKIP: %s\n", why.c_str());
            return 77;
          }
          model.data(md);
          ++data_checks;
          if (op.k == OpK::Punch)
            for (std::uint64_t p = op.start; p < op.start + op.len; ++p) zeroed_partial += kd_before[p] != 'z' && kd[p] == 'z' && (ks[p] & uffd::cat::kPresent);
          for (std::uint64_t p = 0; p < kPages; ++p)
            if (kd[p] != md[p]) {
              fail = std::string(at) + ": data of page " + std::to_string(p) + " kernel " + kd[p] + ", model " + md[p];
              break;
            }
        }
        if (fail.empty() && i + 1 < ops.size() && ops[i + 1].k == OpK::Punch && !k.data(kd_before, why)) {
          restore_nr();
          std::printf("SKIP: %s\n", why.c_str());
          return 77;
        }
      }
      model.check();
    }
    if (fail.empty()) {
      ++passed;
      std::printf("ok %s seed %d (%d ops)\n", async ? "wp-async" : "wp-sync", seed, nops);
    } else {
      ++failed;
      std::printf("FAIL %s\n", fail.c_str());
    }
  }
  restore_nr();
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("ops %llu (EINVAL %llu, EEXIST %llu, EAGAIN %llu, PM_SCAN_WP_MATCHING %llu), fault messages %llu; pages compared after each op: present %llu "
              "(write-protected %llu), uffd-wp marker %llu, none huge PTE %llu, hole %llu; data compared %llu times, "
              "pages a punch zeroed in place %llu\n%d passed, %d failed\n",
              u(ops_run), u(einval), u(eexist), u(eagain), u(scanwp), u(faults), u(seen_present), u(seen_wp), u(seen_marker),
              u(seen_none), u(seen_hole), u(data_checks), u(zeroed_partial), passed, failed);
  return failed ? 1 : 0;
}
