// The live-kernel half of the KSM comparison (KERNEL-MODEL.md §3 item 11, §6, §9): builds a
// layout of page contents in one or several anon mappings (one process per mapping: several
// VMs booted from one image), marks them MADV_MERGEABLE, sets the ksmd knobs in
// /sys/kernel/mm/ksm, starts ksmd (run=1) and samples every counter over time. With --wp
// async|sync the one mapping is registered with userfaultfd MODE_WP and write-protected before
// ksmd runs, and what a merge does to the uffd-wp state is measured: PAGEMAP_SCAN categories of
// merged and unmerged pages before and after, and (sync) whether a write to a merged page
// reaches the WP handler.
//
// Builds alone (no project code) or as the CMake target ksm_kernel_runner (Linux):
//   g++ -std=c++20 -O2 -pthread -o /tmp/kr tests/kernel/ksm_runner.cpp
//   /tmp/kr --mappings 4 --pages 4096 --zero 1024 --dup 1024 --contents 16 --same 1024
//           --pages-to-scan 1000 --sleep-ms 10 --steady-scans 3 --seconds 30
//   /tmp/kr --mappings 1 --pages 512 --dup 256 --contents 4 --wp sync --steady-scans 3
// Layout of each mapping (pages, in this order; contents are splitmix64 streams of a tag):
//   --pages N       pages per mapping (4 KiB, MADV_NOHUGEPAGE)
//   --zero Z        zero-filled pages (written with zeros, so present private pages)
//   --dup D         pages over K = --contents contents (page i has content i mod K); the same
//                   K contents in every mapping unless --dup-local
//   --same S        pages identical across the mappings (page j of this run is the same in
//                   every mapping, unique within one)
//   --volatile V    pages rewritten with a new content every --write-ms ms (default 50)
//   the rest        unique pages (different in every mapping)
//   --mappings M    number of mappings (each in its own process; 1 with --wp)
// Knobs (each left as it is unless given; written before run=1; run=2 is written first when
// max_page_sharing or merge_across_nodes is to change, as the kernel refuses them while KSM
// pages exist):
//   --pages-to-scan P --sleep-ms S --max-page-sharing X --merge-across-nodes 0|1
//   --use-zero-pages 0|1 --smart-scan 0|1
// Run:
//   --seconds T       cap on the time ksmd runs (default 20)
//   --steady-scans F  stop earlier once pages_shared, pages_sharing, ksm_zero_pages and
//                     stable_node_dups have not changed over F full scans (0: run T seconds)
//   --sample-ms M     sampling interval (default 20)
//   --wp async|sync   userfaultfd MODE_WP on the mapping (WP_ASYNC|WP_UNPOPULATED for async),
//                     UFFDIO_WRITEPROTECT of the whole mapping before ksmd runs
//   --out FILE        JSON there instead of stdout
//   --timeout S       watchdog (default seconds + 60)
// Exit: 0 done, 1 a step failed, 2 usage, 3 watchdog, 77 not root, no KSM, KSM in use by
//       another process (pages_sharing > 0 before the run, which run=2 would unmerge), or
//       userfaultfd/PAGEMAP_SCAN missing for --wp (the reason is on stderr).
//
// What it changes and restores: every writable file in /sys/kernel/mm/ksm that it writes
// (run, pages_to_scan, sleep_millisecs, max_page_sharing, merge_across_nodes, use_zero_pages,
// smart_scan). The old values are read first; the work runs in a child process (its own
// process group), and the parent writes run=2 (unmerging what the run merged, so that
// max_page_sharing and merge_across_nodes can be written back), the old knob values, then the
// old run value, whatever way the child ends (also on SIGINT/SIGTERM/SIGHUP/SIGQUIT and the
// watchdog). Runs are serialised by /run/lock/vmemsim-ksm.lock.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "uapi_compat.hpp"

namespace {

constexpr std::size_t kPage = 4096;
constexpr const char* kKsm = "/sys/kernel/mm/ksm/";
const char* const kCounters[] = {"pages_shared",   "pages_sharing",      "pages_unshared",   "pages_volatile",
                                 "pages_scanned",  "pages_skipped",      "full_scans",       "ksm_zero_pages",
                                 "stable_node_chains", "stable_node_dups", "general_profit"};
// Knobs in the order they are written back (run last, by itself).
const char* const kKnobs[] = {"max_page_sharing", "merge_across_nodes", "pages_to_scan", "sleep_millisecs",
                              "use_zero_pages",   "smart_scan"};
constexpr int kNumKnobs = 6;

[[noreturn]] void skip(const std::string& why) {
  std::cerr << "SKIP: " << why << "\n";
  std::exit(77);
}
[[noreturn]] void fail(const std::string& why) {
  std::cerr << "FAIL: " << why << "\n";
  std::exit(1);
}

double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

std::string read_file(const std::string& path, int* err = nullptr) {
  std::ifstream f(path);
  if (!f) {
    if (err) *err = errno ? errno : ENOENT;
    return {};
  }
  std::stringstream ss;
  ss << f.rdbuf();
  if (err) *err = 0;
  return ss.str();
}
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
long long ksm_value(const char* name) {
  const std::string s = trim(read_file(std::string(kKsm) + name));
  if (s.empty()) return -1;
  return std::strtoll(s.c_str(), nullptr, 10);
}
std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o + "\"";
}
std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

// --- what the parent changes, and how it gets it back (async-signal-safe) ---------------------

struct Saved {
  char path[96] = {};
  char value[32] = {};
  std::size_t len = 0;
  bool changed = false;  // might have been written: write the old value back
};
Saved g_knob[kNumKnobs];
Saved g_run;
volatile sig_atomic_t g_child = 0;
volatile sig_atomic_t g_signal = 0;

bool write_path(const char* path, const char* v, std::size_t n) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, v, n) == static_cast<ssize_t>(n);
  close(fd);
  return ok;
}
bool write_knob(const char* name, const std::string& v) {
  const std::string p = std::string(kKsm) + name;
  return write_path(p.c_str(), v.c_str(), v.size());
}

// run=2 first (it unmerges every KSM page, so max_page_sharing and merge_across_nodes are
// accepted again), then the knobs, then the old run value.
bool restore_all() {
  bool any = g_run.changed;
  for (auto& k : g_knob) any = any || k.changed;
  if (!any) return true;
  bool ok = true;
  static const char two[] = "2\n";
  if (!write_path(g_run.path, two, 2)) ok = false;
  for (auto& k : g_knob)
    if (k.changed) {
      bool w = false;
      for (int i = 0; i < 50 && !w; ++i) {  // EBUSY while the stable tree drains
        w = write_path(k.path, k.value, k.len);
        if (!w) {
          timespec ts{0, 20 * 1000 * 1000};
          nanosleep(&ts, nullptr);
        }
      }
      if (w) k.changed = false;
      else ok = false;
    }
  if (write_path(g_run.path, g_run.value, g_run.len)) g_run.changed = false;
  else ok = false;
  return ok;
}

void on_signal(int sig) {
  g_signal = sig;
  if (g_child > 0) kill(-static_cast<pid_t>(g_child), SIGKILL);
  if (g_child > 0) kill(static_cast<pid_t>(g_child), SIGKILL);
}

void save(Saved& s, const char* name) {
  std::snprintf(s.path, sizeof s.path, "%s%s", kKsm, name);
  const std::string v = trim(read_file(s.path));
  if (v.empty()) skip(std::string("cannot read ") + s.path);
  std::snprintf(s.value, sizeof s.value, "%s\n", v.c_str());
  s.len = std::strlen(s.value);
}

// --- options -------------------------------------------------------------------------------

struct Options {
  std::size_t mappings = 4, pages = 4096, zero = 0, dup = 0, contents = 1, same = 0, volatile_pages = 0;
  bool dup_local = false;
  double write_ms = 50;
  long knob[kNumKnobs] = {-1, -1, -1, -1, -1, -1};
  double seconds = 20, sample_ms = 20;
  int steady_scans = 0;
  std::string wp;  // "", "async", "sync"
  std::string out;
  unsigned timeout = 0;
  std::size_t unique() const { return pages - zero - dup - same - volatile_pages; }
};

int usage() {
  std::cerr << "usage: ksm_runner [--mappings M] [--pages N] [--zero Z] [--dup D --contents K] [--dup-local]\n"
               "  [--same S] [--volatile V --write-ms W] [--pages-to-scan P] [--sleep-ms S]\n"
               "  [--max-page-sharing X] [--merge-across-nodes 0|1] [--use-zero-pages 0|1] [--smart-scan 0|1]\n"
               "  [--seconds T] [--steady-scans F] [--sample-ms M] [--wp async|sync] [--out FILE] [--timeout S]\n";
  return 2;
}

// --- page contents -------------------------------------------------------------------------

std::uint64_t mix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
void fill(char* page, std::uint64_t tag) {
  auto* w = reinterpret_cast<std::uint64_t*>(page);
  std::uint64_t s = tag;
  for (std::size_t i = 0; i < kPage / 8; ++i) w[i] = mix(s);
}
enum Kind { kZero = 0, kDup = 1, kSame = 2, kVolatile = 3, kUnique = 4 };
const char* const kKindName[] = {"zero", "dup", "same", "volatile", "unique"};
Kind kind_of(const Options& o, std::size_t i) {
  if (i < o.zero) return kZero;
  i -= o.zero;
  if (i < o.dup) return kDup;
  i -= o.dup;
  if (i < o.same) return kSame;
  i -= o.same;
  if (i < o.volatile_pages) return kVolatile;
  return kUnique;
}
// Writes page i of mapping m (already populated with zeros).
void write_page(const Options& o, char* base, std::size_t m, std::size_t i, std::uint64_t generation = 0) {
  char* p = base + i * kPage;
  std::size_t j = i;
  switch (kind_of(o, i)) {
    case kZero: std::memset(p, 0, kPage); return;
    case kDup: j -= o.zero; fill(p, (1ull << 60) + (o.dup_local ? m << 32 : 0) + j % o.contents); return;
    case kSame: j -= o.zero + o.dup; fill(p, (2ull << 60) + j); return;
    case kVolatile: fill(p, (3ull << 60) + (m << 40) + (generation << 20) + i); return;
    case kUnique: fill(p, (4ull << 60) + (m << 32) + i); return;
  }
}

char* map_layout(const Options& o, std::size_t m) {
  void* a = mmap(nullptr, o.pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) fail(std::string("mmap: ") + std::strerror(errno));
  auto* base = static_cast<char*>(a);
  if (madvise(base, o.pages * kPage, MADV_NOHUGEPAGE)) fail(std::string("MADV_NOHUGEPAGE: ") + std::strerror(errno));
  for (std::size_t i = 0; i < o.pages; ++i) write_page(o, base, m, i);
  return base;
}

// --- the worker (one per mapping) ------------------------------------------------------------

[[noreturn]] void worker(const Options& o, std::size_t m, int ready_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  char* base = map_layout(o, m);
  if (madvise(base, o.pages * kPage, MADV_MERGEABLE)) {
    const char c = 'E';
    (void)!write(ready_fd, &c, 1);
    _exit(1);
  }
  const char c = 'R';
  (void)!write(ready_fd, &c, 1);
  close(ready_fd);
  if (o.volatile_pages == 0)
    for (;;) pause();
  for (std::uint64_t gen = 1;; ++gen) {
    timespec ts{static_cast<time_t>(o.write_ms / 1000), static_cast<long>(std::fmod(o.write_ms, 1000.0) * 1e6)};
    nanosleep(&ts, nullptr);
    for (std::size_t i = o.zero + o.dup + o.same; i < o.zero + o.dup + o.same + o.volatile_pages; ++i)
      write_page(o, base, m, i, gen);
  }
}

// --- userfaultfd / PAGEMAP_SCAN / pagemap helpers (the --wp mapping) ---------------------------

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

std::vector<std::uint64_t> scan_categories(int pagemap, char* base, std::size_t pages) {
  std::vector<std::uint64_t> cats(pages, 0);
  std::vector<page_region> vec(pages + 1);
  pm_scan_arg a{};
  a.size = sizeof a;
  a.start = reinterpret_cast<std::uint64_t>(base);
  a.end = a.start + pages * kPage;
  a.vec = reinterpret_cast<std::uint64_t>(vec.data());
  a.vec_len = vec.size();
  a.return_mask = 0x1ff & ~PAGE_IS_SOFT_DIRTY;
  for (;;) {
    const long n = ioctl(pagemap, PAGEMAP_SCAN, &a);
    if (n < 0) fail(std::string("PAGEMAP_SCAN: ") + std::strerror(errno));
    for (long r = 0; r < n; ++r)
      for (std::uint64_t p = vec[r].start; p < vec[r].end; p += kPage)
        cats[(p - reinterpret_cast<std::uint64_t>(base)) / kPage] = vec[r].categories;
    if (a.walk_end >= a.end) break;
    a.start = a.walk_end;
  }
  return cats;
}

struct PageInfo {
  std::uint64_t pfn = 0;
  bool present = false, uffd_wp = false, ksm = false, zero_pfn = false;
};
std::vector<PageInfo> page_info(int pagemap, int kpageflags, char* base, std::size_t pages) {
  std::vector<PageInfo> out(pages);
  std::vector<std::uint64_t> e(pages);
  const off_t off = static_cast<off_t>(reinterpret_cast<std::uint64_t>(base) / kPage * 8);
  if (pread(pagemap, e.data(), pages * 8, off) != static_cast<ssize_t>(pages * 8)) fail("pread pagemap");
  for (std::size_t i = 0; i < pages; ++i) {
    out[i].present = e[i] >> 63 & 1;
    out[i].uffd_wp = e[i] >> 57 & 1;
    out[i].pfn = e[i] & ((1ull << 55) - 1);
    if (out[i].present && out[i].pfn && kpageflags >= 0) {
      std::uint64_t f = 0;
      if (pread(kpageflags, &f, 8, static_cast<off_t>(out[i].pfn * 8)) == 8) {
        out[i].ksm = f >> 21 & 1;        // KPF_KSM
        out[i].zero_pfn = f >> 24 & 1;   // KPF_ZERO_PAGE
      }
    }
  }
  return out;
}

// Per kind and merged/unmerged: pages, and how many have each PAGEMAP_SCAN category and the
// pagemap uffd-wp bit.
std::string wp_summary(const Options& o, const std::vector<std::uint64_t>& cats, const std::vector<PageInfo>& info) {
  struct C {
    std::size_t n = 0, written = 0, wpallowed = 0, present = 0, pfnzero = 0, uffd_wp = 0;
  };
  std::map<std::string, C> by;
  for (std::size_t i = 0; i < o.pages; ++i) {
    const std::string key = std::string(kKindName[kind_of(o, i)]) + (info[i].ksm ? "/ksm" : info[i].zero_pfn ? "/zeropfn" : "/plain");
    C& c = by[key];
    ++c.n;
    c.written += (cats[i] & PAGE_IS_WRITTEN) != 0;
    c.wpallowed += (cats[i] & PAGE_IS_WPALLOWED) != 0;
    c.present += (cats[i] & PAGE_IS_PRESENT) != 0;
    c.pfnzero += (cats[i] & PAGE_IS_PFNZERO) != 0;
    c.uffd_wp += info[i].uffd_wp;
  }
  std::string j = "{";
  bool first = true;
  for (const auto& [k, c] : by) {
    j += std::string(first ? "" : ", ") + json_str(k) + ": {\"pages\": " + std::to_string(c.n) +
         ", \"written\": " + std::to_string(c.written) + ", \"wpallowed\": " + std::to_string(c.wpallowed) +
         ", \"present\": " + std::to_string(c.present) + ", \"pfnzero\": " + std::to_string(c.pfnzero) +
         ", \"pagemap_uffd_wp\": " + std::to_string(c.uffd_wp) + "}";
    first = false;
  }
  return j + "}";
}

std::atomic<int> g_wp_msgs{0};
std::atomic<bool> g_stop_handler{false};
void wp_handler(int uffd) {
  while (!g_stop_handler) {
    pollfd p{uffd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    uffd_msg msg{};
    if (read(uffd, &msg, sizeof msg) != sizeof msg) continue;
    if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
    ++g_wp_msgs;
    uffdio_writeprotect wp{};
    wp.range.start = msg.arg.pagefault.address & ~(kPage - 1);
    wp.range.len = kPage;
    wp.mode = 0;
    ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
  }
}

// --- the child: workers, knobs, run=1, sampling ---------------------------------------------

std::string sample_json(double t) {
  std::string j = "{\"t_ms\": " + num(t);
  for (const char* c : kCounters) j += std::string(", \"") + c + "\": " + std::to_string(ksm_value(c));
  return j + "}";
}

std::string child(const Options& o) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::vector<pid_t> workers;
  char* wp_base = nullptr;
  int uffd = -1, pagemap = -1, kpageflags = -1;
  std::string wp_json;
  const double t_build = now_ms();
  if (o.wp.empty()) {
    int pfd[2];
    if (pipe(pfd)) fail("pipe");
    for (std::size_t m = 0; m < o.mappings; ++m) {
      const pid_t p = fork();
      if (p < 0) fail("fork");
      if (p == 0) {
        close(pfd[0]);
        worker(o, m, pfd[1]);
      }
      workers.push_back(p);
    }
    close(pfd[1]);
    for (std::size_t m = 0; m < o.mappings; ++m) {
      char c = 0;
      if (read(pfd[0], &c, 1) != 1 || c != 'R') fail("a worker could not build or MADV_MERGEABLE its mapping");
    }
    close(pfd[0]);
  } else {
    uffd = open_uffd();
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = o.wp == "async" ? (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED) : 0;
    if (ioctl(uffd, UFFDIO_API, &api)) skip(std::string("UFFDIO_API (") + o.wp + "): " + std::strerror(errno));
    wp_base = map_layout(o, 0);
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<std::uint64_t>(wp_base);
    reg.range.len = o.pages * kPage;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd, UFFDIO_REGISTER, &reg)) skip(std::string("UFFDIO_REGISTER MODE_WP: ") + std::strerror(errno));
    uffdio_writeprotect wp{};
    wp.range = reg.range;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp)) fail(std::string("UFFDIO_WRITEPROTECT: ") + std::strerror(errno));
    pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) skip("/proc/self/pagemap");
    pm_scan_arg probe{};
    probe.size = sizeof probe;
    if (ioctl(pagemap, PAGEMAP_SCAN, &probe) < 0 && errno == ENOTTY) skip("no PAGEMAP_SCAN");
    wp_json = "\"before\": " + wp_summary(o, scan_categories(pagemap, wp_base, o.pages), page_info(pagemap, kpageflags, wp_base, o.pages));
    if (madvise(wp_base, o.pages * kPage, MADV_MERGEABLE)) fail(std::string("MADV_MERGEABLE: ") + std::strerror(errno));
  }
  const double build_ms = now_ms() - t_build;

  // Knobs (run=2 first when max_page_sharing or merge_across_nodes change), then run=1.
  if (o.knob[0] >= 0 || o.knob[1] >= 0)
    if (!write_knob("run", "2")) fail(std::string("run=2: ") + std::strerror(errno));
  for (int k = 0; k < kNumKnobs; ++k)
    if (o.knob[k] >= 0 && !write_knob(kKnobs[k], std::to_string(o.knob[k])))
      fail(std::string("write ") + kKnobs[k] + "=" + std::to_string(o.knob[k]) + ": " + std::strerror(errno));
  std::string knobs = "{";
  for (int k = 0; k < kNumKnobs; ++k) knobs += std::string(k ? ", \"" : "\"") + kKnobs[k] + "\": " + std::to_string(ksm_value(kKnobs[k]));
  knobs += ", \"advisor_mode\": " + json_str(trim(read_file(std::string(kKsm) + "advisor_mode"))) + "}";

  std::string samples = "[\n" + sample_json(0);
  const long long scans0 = ksm_value("full_scans");
  if (!write_knob("run", "1")) fail(std::string("run=1: ") + std::strerror(errno));
  const double t0 = now_ms();
  double first_merge_ms = -1;
  long long first_merge_scans = -1;
  std::vector<long long> at_scan;  // steady-state detection: key counters at each full scan
  long long last_scans = scans0, prev_scans = scans0;
  long long scans_before_first_merge = -1;
  std::string stop = "seconds";
  for (double next = t0 + o.sample_ms; next <= t0 + o.seconds * 1000; next += o.sample_ms) {
    const double wait = next - now_ms();
    if (wait > 0) {
      timespec ts{static_cast<time_t>(wait / 1000), static_cast<long>(std::fmod(wait, 1000.0) * 1e6)};
      nanosleep(&ts, nullptr);
    }
    const double t = now_ms() - t0;
    samples += ",\n" + sample_json(t);
    const long long sharing = ksm_value("pages_sharing"), zp = ksm_value("ksm_zero_pages"), scans = ksm_value("full_scans");
    if (first_merge_ms < 0 && (sharing > 0 || zp > 0)) {
      first_merge_ms = t;
      first_merge_scans = scans - scans0;
      scans_before_first_merge = prev_scans - scans0;
    }
    prev_scans = scans;
    if (o.steady_scans > 0 && scans != last_scans) {
      last_scans = scans;
      const long long key = ksm_value("pages_shared") * 1000003 + sharing * 1009 + zp * 7 + ksm_value("stable_node_dups");
      at_scan.push_back(key);
      const std::size_t n = at_scan.size();
      bool steady = first_merge_ms >= 0 && n > static_cast<std::size_t>(o.steady_scans);
      for (std::size_t i = n - o.steady_scans; steady && i < n; ++i) steady = at_scan[i] == at_scan[n - 1 - o.steady_scans];
      if (steady) {
        stop = "steady";
        break;
      }
    }
  }
  samples += "\n]";
  const double run_ms = now_ms() - t0;

  std::string ksm_stat = "[";
  for (std::size_t m = 0; m < workers.size(); ++m) {
    const std::string s = trim(read_file("/proc/" + std::to_string(workers[m]) + "/ksm_stat"));
    ksm_stat += std::string(m ? ", " : "") + json_str(s);
  }
  if (!o.wp.empty()) ksm_stat += json_str(trim(read_file("/proc/self/ksm_stat")));
  ksm_stat += "]";

  if (!o.wp.empty()) {
    // After the merge: categories, then (with ksmd stopped: run=0 keeps the merges) writes.
    write_knob("run", "0");
    auto cats = scan_categories(pagemap, wp_base, o.pages);
    auto info = page_info(pagemap, kpageflags, wp_base, o.pages);
    wp_json += ",\n\"after_merge\": " + wp_summary(o, cats, info);
    std::size_t merged = o.pages, plain = o.pages;
    for (std::size_t i = 0; i < o.pages; ++i) {
      if (merged == o.pages && (info[i].ksm || info[i].zero_pfn)) merged = i;
      if (plain == o.pages && kind_of(o, i) == kUnique && !info[i].ksm) plain = i;
    }
    std::thread h;
    if (o.wp == "sync") h = std::thread(wp_handler, uffd);
    auto write_one = [&](std::size_t i, const char* what) {
      if (i >= o.pages) {
        wp_json += std::string(",\n\"write_") + what + "\": null";
        return;
      }
      const int before = g_wp_msgs;
      const auto c0 = scan_categories(pagemap, wp_base, o.pages)[i];
      const auto p0 = page_info(pagemap, kpageflags, wp_base, o.pages)[i];
      const double tw = now_ms();
      *reinterpret_cast<volatile char*>(wp_base + i * kPage) = 1;  // blocks until answered if it faults to the handler
      const double dt = now_ms() - tw;
      usleep(100 * 1000);
      const auto c1 = scan_categories(pagemap, wp_base, o.pages)[i];
      const auto p1 = page_info(pagemap, kpageflags, wp_base, o.pages)[i];
      char b[512];
      std::snprintf(b, sizeof b,
                    ",\n\"write_%s\": {\"page\": %zu, \"kind\": \"%s\", \"ksm_before\": %d, \"cats_before\": %llu, "
                    "\"uffd_wp_before\": %d, \"handler_msgs\": %d, \"write_us\": %.1f, \"cats_after\": %llu, "
                    "\"uffd_wp_after\": %d, \"ksm_after\": %d, \"pfn_changed\": %d}",
                    what, i, kKindName[kind_of(o, i)], p0.ksm || p0.zero_pfn, static_cast<unsigned long long>(c0), p0.uffd_wp,
                    g_wp_msgs - before, dt * 1000, static_cast<unsigned long long>(c1), p1.uffd_wp, p1.ksm || p1.zero_pfn,
                    p0.pfn != p1.pfn);
      wp_json += b;
    };
    write_one(merged, "merged");
    write_one(plain, "unmerged");
    g_stop_handler = true;
    if (h.joinable()) h.join();
  }
  for (pid_t p : workers) kill(p, SIGKILL);
  for (pid_t p : workers) waitpid(p, nullptr, 0);

  std::string j = "{\"knobs\": " + knobs + ",\n\"layout\": {\"mappings\": " + std::to_string(o.mappings) +
                  ", \"pages\": " + std::to_string(o.pages) + ", \"zero\": " + std::to_string(o.zero) +
                  ", \"dup\": " + std::to_string(o.dup) + ", \"contents\": " + std::to_string(o.contents) +
                  ", \"dup_local\": " + (o.dup_local ? "true" : "false") + ", \"same\": " + std::to_string(o.same) +
                  ", \"volatile\": " + std::to_string(o.volatile_pages) + ", \"write_ms\": " + num(o.write_ms) +
                  ", \"unique\": " + std::to_string(o.unique()) + ", \"wp\": " + json_str(o.wp) + "},\n" +
                  "\"build_ms\": " + num(build_ms) + ", \"run_ms\": " + num(run_ms) + ", \"stop\": " + json_str(stop) +
                  ", \"full_scans_at_start\": " + std::to_string(scans0) + ",\n\"first_merge_ms\": " + num(first_merge_ms) +
                  ", \"first_merge_full_scans\": " + std::to_string(first_merge_scans) +
                  ", \"full_scans_at_sample_before_first_merge\": " + std::to_string(scans_before_first_merge) + ",\n\"ksm_stat\": " + ksm_stat +
                  ",\n\"samples\": " + samples;
  if (!o.wp.empty()) j += ",\n\"wp\": {" + wp_json + "}";
  return j + "}";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage());
      return argv[++i];
    };
    auto knob = [&](int k) { o.knob[k] = std::stol(val()); };
    if (a == "--mappings") o.mappings = std::stoul(val());
    else if (a == "--pages") o.pages = std::stoul(val());
    else if (a == "--zero") o.zero = std::stoul(val());
    else if (a == "--dup") o.dup = std::stoul(val());
    else if (a == "--contents") o.contents = std::stoul(val());
    else if (a == "--dup-local") o.dup_local = true;
    else if (a == "--same") o.same = std::stoul(val());
    else if (a == "--volatile") o.volatile_pages = std::stoul(val());
    else if (a == "--write-ms") o.write_ms = std::stod(val());
    else if (a == "--max-page-sharing") knob(0);
    else if (a == "--merge-across-nodes") knob(1);
    else if (a == "--pages-to-scan") knob(2);
    else if (a == "--sleep-ms") knob(3);
    else if (a == "--use-zero-pages") knob(4);
    else if (a == "--smart-scan") knob(5);
    else if (a == "--seconds") o.seconds = std::stod(val());
    else if (a == "--steady-scans") o.steady_scans = std::stoi(val());
    else if (a == "--sample-ms") o.sample_ms = std::stod(val());
    else if (a == "--wp") o.wp = val();
    else if (a == "--out") o.out = val();
    else if (a == "--timeout") o.timeout = static_cast<unsigned>(std::stoul(val()));
    else return usage();
  }
  if (o.pages == 0 || o.mappings == 0 || o.contents == 0 || o.zero + o.dup + o.same + o.volatile_pages > o.pages ||
      o.sample_ms <= 0 || o.seconds <= 0 || (!o.wp.empty() && o.wp != "async" && o.wp != "sync") ||
      (!o.wp.empty() && (o.mappings != 1 || o.volatile_pages)))
    return usage();

  if (access(kKsm, F_OK)) skip("/sys/kernel/mm/ksm missing (kernel without CONFIG_KSM)");
  if (geteuid() != 0) skip("needs root to write /sys/kernel/mm/ksm/*");
  const int lock = open("/run/lock/vmemsim-ksm.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock >= 0) flock(lock, LOCK_EX);
  save(g_run, "run");
  for (int k = 0; k < kNumKnobs; ++k) save(g_knob[k], kKnobs[k]);
  std::string before = "{";
  for (const char* c : kCounters) before += std::string(before.size() > 1 ? ", \"" : "\"") + c + "\": " + std::to_string(ksm_value(c));
  before += "}";
  if (ksm_value("pages_sharing") > 0 || ksm_value("ksm_zero_pages") > 0)
    skip("KSM is in use on this machine (pages_sharing " + std::to_string(ksm_value("pages_sharing")) +
         ", ksm_zero_pages " + std::to_string(ksm_value("ksm_zero_pages")) + "): run=2 would unmerge it");
  if (!write_path(g_run.path, g_run.value, g_run.len)) skip(std::string("cannot write ") + g_run.path + ": " + std::strerror(errno));

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM}) sigaction(s, &sa, nullptr);
  alarm(o.timeout ? o.timeout : static_cast<unsigned>(o.seconds) + 60);
  g_run.changed = true;  // from here on values may change
  for (int k = 0; k < kNumKnobs; ++k) g_knob[k].changed = o.knob[k] >= 0;

  utsname un{};
  uname(&un);
  const int memfd = static_cast<int>(syscall(SYS_memfd_create, "ksm-runner-out", 0));
  if (memfd < 0) fail(std::string("memfd_create: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM}) sigaction(s, &dfl, nullptr);
    alarm(0);
    const std::string j = child(o);
    if (write(memfd, j.data(), j.size()) != static_cast<ssize_t>(j.size())) _exit(1);
    std::fflush(nullptr);
    _exit(0);
  }
  setpgid(pid, pid);
  g_child = pid;
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  kill(-pid, SIGKILL);  // workers left behind by a failed child
  g_child = 0;
  const bool restored = restore_all();
  std::string after = "{";
  bool same = true;
  for (int k = 0; k < kNumKnobs; ++k) {
    const std::string v = trim(read_file(std::string(kKsm) + kKnobs[k]));
    same = same && v + "\n" == g_knob[k].value;
    after += std::string(k ? ", \"" : "\"") + kKnobs[k] + "\": " + json_str(v);
  }
  const std::string run_now = trim(read_file(g_run.path));
  same = same && run_now + "\n" == g_run.value;
  after += ", \"run\": " + json_str(run_now) + "}";
  if (!restored || !same) {
    std::cerr << "FAIL: /sys/kernel/mm/ksm not restored: " << after << "\n";
    return 1;
  }
  if (g_signal) {
    std::cerr << "FAIL: signal " << g_signal << " (the child was killed; /sys/kernel/mm/ksm restored)\n";
    return g_signal == SIGALRM ? 3 : 1;
  }
  if (!WIFEXITED(ws)) {
    std::cerr << "FAIL: the child ended by signal " << (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0) << "\n";
    return 1;
  }
  if (WEXITSTATUS(ws) != 0) return WEXITSTATUS(ws);
  std::string out;
  char buf[65536];
  for (off_t off = 0;;) {
    const ssize_t n = pread(memfd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  std::string initial = "{\"run\": " + json_str(trim(g_run.value));
  for (int k = 0; k < kNumKnobs; ++k) initial += std::string(", \"") + kKnobs[k] + "\": " + json_str(trim(g_knob[k].value));
  initial += "}";
  const std::string doc = "{\n\"runner\": \"ksm_runner\", \"kernel\": " + json_str(std::string(un.release) + " " + un.version) +
                          ",\n\"initial\": " + initial + ",\n\"counters_before\": " + before + ",\n\"restored\": " + after +
                          ",\n\"run\": " + out + "\n}\n";
  alarm(0);
  if (o.out.empty()) std::cout << doc;
  else {
    std::ofstream f(o.out);
    f << doc;
    if (!f) fail("cannot write " + o.out);
  }
  if (lock >= 0) close(lock);
  return 0;
}
