// The live-kernel half of the NUMA scanner comparison (KERNEL-MODEL.md §3 items 3-4, §9):
// sets kernel.numa_balancing=1 (restoring the old value), runs threads that touch an anon
// mapping at random, and samples the scanner's /proc/vmstat counters, the mm's pass counter
// (mm->numa_scan_seq from /proc/self/sched) and the process's minor faults over time.
// Optionally (--wp-async) the mapping is registered with userfaultfd WP_ASYNC and write-
// protected first, and PAGEMAP_SCAN's categories of every page are checked while the scanner
// protnones pages and the threads take hinting faults on them.
//
// Builds alone (it needs no project code) or as the CMake target numa_kernel_runner (Linux):
//   g++ -std=c++20 -O2 -pthread -o /tmp/nr tests/kernel/numa_runner.cpp
//   /tmp/nr --pages 65536 --threads 2 --seconds 8 --sample-ms 20 --seed 1 --write-share 0.3
//   /tmp/nr --baseline --seconds 8 --sample-ms 20      # numa_balancing=1, no test process
//   /tmp/nr --pages 65536 --threads 2 --seconds 8 --wp-async --ro-share 0.5 --dump-ms 2000
// Options:
//   --pages N         size of the mapping in 4 KiB pages (MADV_NOHUGEPAGE: one PTE per page)
//   --threads T       threads in the process that touch it (T = 1: the process has one thread
//                     only; the first worker is also the sampler, never an extra thread)
//   --seconds S       how long the threads run after numa_balancing is set (wall clock)
//   --cpu-seconds C   stop earlier, once the threads have had C s of CPU time each on average
//                     (the scanner is paced by thread CPU time; --seconds is then the cap)
//   --sample-ms M     sampling interval (default 20)
//   --seed X          per-thread splitmix64 streams (default 1)
//   --write-share F   fraction of touches that are stores (default 0.3), as the model's
//                     workload write_ratio
//   --rate R          touches per second of each thread's CPU time, 0 = as fast as it can
//                     (default 0); a throttled thread spins, so it stays on the CPU either way
//   --stack-kib K     stack size of the threads (default 256; 0 = the glibc default, 8 MiB),
//                     see class Thread
//   --sampler-thread  the T touching threads are all created threads and the main thread only
//                     samples (T + 1 threads), as a VMM's vCPU threads are clones of its main
//                     thread: each clone starts with numa_scan_period = scan_delay, while the
//                     mm's first thread, whose node_stamp is 0, resets its period to
//                     task_scan_start() at its first trigger (init_numa_balancing, task_tick_numa)
//   --wp-async        register MODE_WP with WP_ASYNC|WP_UNPOPULATED and WRITEPROTECT the whole
//                     mapping after the prefault, before numa_balancing is set
//   --ro-share F      with --wp-async: fraction of pages never stored to (default 0.5; a store
//                     drawn on such a page becomes a load), so PAGEMAP_SCAN must keep them
//                     !WRITTEN
//   --dump-ms D       with --wp-async: pause the threads every D ms and check every page's
//                     categories (default 2000; the last check is after the threads stop)
//   --dump-on-scan    with --wp-async: also check right after each sample that saw the
//                     scanner pass over the mapping (most pages are still PROT_NONE then)
//   --writes-after-scan  no stores until the scanner's first pass over the mapping, so the
//                     first stores land on PROT_NONE (and, with --wp-async, protected) PTEs
//   --baseline        no test process: set numa_balancing=1 and sample /proc/vmstat only
//                     (the system-wide background of the counters)
//   --out FILE        write the JSON there instead of stdout
//   --timeout S       watchdog for the whole run (default: seconds + 120)
// stdout (or --out): one JSON document; stderr: progress and diagnostics.
// Exit: 0 done, 1 a step failed, 2 usage, 3 watchdog, 77 not root, no NUMA balancing,
//       userfaultfd WP_ASYNC or PAGEMAP_SCAN missing (the reason is on stderr).
//
// What it changes and restores: kernel.numa_balancing (read first, written back when the run
// ends, also on failure and on SIGINT/SIGTERM/SIGHUP: the work runs in a child process and
// the parent restores the value whatever way the child ends); a debugfs mount at
// /sys/kernel/debug and a securityfs mount at /sys/kernel/security, made only if absent (to
// read the scanner knobs and the lockdown mode) and unmounted again. Runs of this program are
// serialised by a lock file (/run/lock/vmemsim-numa-balancing.lock).
//
// Order of a run (the child): map 2 MiB-aligned + MADV_NOHUGEPAGE; a helper thread prefaults
// with MADV_POPULATE_WRITE (and registers/write-protects with --wp-async) and exits, so the
// prefault's CPU time is not charged to a worker (the scanner is paced by each thread's CPU
// time); then numa_balancing=1 is written, t0 is taken and the threads start touching. Times
// in the JSON are ms since t0 (fork_ms: the child's fork, relative to t0, is negative).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pattern.hpp"

#include "uapi_compat.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace kd = vmemsim::kdiff;

namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kTable = 512 * kPage;
constexpr const char* kSysctl = "/proc/sys/kernel/numa_balancing";
constexpr const char* kKnobDir = "/sys/kernel/debug/sched/numa_balancing";
constexpr const char* kLock = "/run/lock/vmemsim-numa-balancing.lock";
const char* const kCounters[] = {"numa_pte_updates",       "numa_huge_pte_updates", "numa_hint_faults",
                                 "numa_hint_faults_local", "numa_pages_migrated"};
constexpr std::size_t kNCounters = sizeof kCounters / sizeof *kCounters;

[[noreturn]] void skip(const std::string& why) {
  std::cerr << "SKIP: " << why << "\n";
  std::exit(77);
}

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "FAIL: " << why << "\n";
  std::exit(1);
}

double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double cpu_ms(clockid_t c) {
  timespec ts;
  if (clock_gettime(c, &ts)) return -1;
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

std::string read_file(const std::string& path, int* err = nullptr) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = errno;
    return {};
  }
  std::string s;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (err) *err = errno;
      close(fd);
      return {};
    }
    if (n == 0) break;
    s.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  if (err) *err = 0;
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
    else o += c;
  }
  return o + "\"";
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  std::string s = b;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// --- /proc readers ------------------------------------------------------------------------

struct Vmstat {
  std::uint64_t v[kNCounters] = {};
};

// /proc/vmstat is read with one read() into a fixed buffer: the sampler must not allocate
// much or block while the workers run.
Vmstat read_vmstat() {
  static const int fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
  static char buf[16384];
  Vmstat out;
  if (fd < 0) fail("open /proc/vmstat");
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) fail("read /proc/vmstat");
  buf[n] = 0;
  for (std::size_t k = 0; k < kNCounters; ++k) {
    const std::size_t len = std::strlen(kCounters[k]);
    for (const char* p = buf; (p = std::strstr(p, kCounters[k])); p += len) {
      if ((p == buf || p[-1] == '\n') && p[len] == ' ') {
        out.v[k] = std::strtoull(p + len + 1, nullptr, 10);
        break;
      }
    }
  }
  return out;
}

// A "name : value" field of /proc/<pid>/sched ("mm->numa_scan_seq", "total_numa_faults", ...).
long long sched_field(const std::string& text, const std::string& name) {
  for (std::size_t p = 0; (p = text.find(name, p)) != std::string::npos; p += name.size()) {
    if (p != 0 && text[p - 1] != '\n') continue;
    const std::size_t colon = text.find(':', p);
    const std::size_t eol = text.find('\n', p);
    if (colon == std::string::npos || colon > eol) continue;
    return std::strtoll(text.c_str() + colon + 1, nullptr, 10);
  }
  return -1;
}

// The lines of /proc/<pid>/sched that CONFIG_NUMA_BALANCING adds (shown without schedstats).
std::string sched_numa_lines(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find("numa") != std::string::npos || line.find("current_node") != std::string::npos) {
      if (!out.empty()) out += "; ";
      std::string t = line;
      // collapse the column padding
      std::string c;
      for (char ch : t)
        if (!(ch == ' ' && !c.empty() && c.back() == ' ')) c += ch;
      out += trim(c);
    }
  }
  return out;
}

std::string errname(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    default: return "errno " + std::to_string(e);
  }
}

// --- what the parent changes, and how it gets it back --------------------------------------

struct Restore {
  char old_value[32] = {};
  std::size_t old_len = 0;
  bool armed = false;  // old_value must be written back
  bool debugfs_mounted = false, securityfs_mounted = false;
};
Restore g_restore;
volatile sig_atomic_t g_child = 0;
volatile sig_atomic_t g_signal = 0;

// Async-signal-safe: open/write/close only.
bool restore_sysctl() {
  if (!g_restore.armed) return true;
  const int fd = open(kSysctl, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, g_restore.old_value, g_restore.old_len) == static_cast<ssize_t>(g_restore.old_len);
  close(fd);
  if (ok) g_restore.armed = false;
  return ok;
}

void on_signal(int sig) {
  g_signal = sig;
  if (g_child > 0) kill(static_cast<pid_t>(g_child), SIGKILL);
  restore_sysctl();
  if (g_restore.debugfs_mounted) umount("/sys/kernel/debug");
  if (g_restore.securityfs_mounted) umount("/sys/kernel/security");
}

bool write_sysctl(const char* value) {
  const int fd = open(kSysctl, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, value, std::strlen(value)) == static_cast<ssize_t>(std::strlen(value));
  close(fd);
  return ok;
}

bool is_mounted(const std::string& dir, const std::string& fstype) {
  std::istringstream in(read_file("/proc/self/mounts"));
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string dev, mnt, type;
    f >> dev >> mnt >> type;
    if (mnt == dir && type == fstype) return true;
  }
  return false;
}

// The scanner knobs (debugfs) and the lockdown mode (securityfs), mounting either only for the
// read. Under lockdown=integrity debugfs refuses to open files that have a write mode bit, so
// the knobs read as EPERM (and nobody can have changed them from their compiled-in values).
std::string read_knobs() {
  std::string lockdown = "null";
  if (!is_mounted("/sys/kernel/security", "securityfs")) {
    if (mount("none", "/sys/kernel/security", "securityfs", 0, nullptr) == 0) g_restore.securityfs_mounted = true;
  }
  int e = 0;
  std::string ld = trim(read_file("/sys/kernel/security/lockdown", &e));
  if (!e) lockdown = json_str(ld);
  if (g_restore.securityfs_mounted && umount("/sys/kernel/security") == 0) g_restore.securityfs_mounted = false;

  bool mounted_here = false;
  std::string mount_note = "already mounted";
  if (!is_mounted("/sys/kernel/debug", "debugfs")) {
    if (mount("none", "/sys/kernel/debug", "debugfs", 0, nullptr) == 0) {
      g_restore.debugfs_mounted = mounted_here = true;
      mount_note = "mounted for the read, unmounted after";
    } else {
      mount_note = "mount failed: " + errname(errno);
    }
  }
  std::string out = "{\"debugfs\": " + json_str(mount_note) + ", \"lockdown\": " + lockdown;
  for (const char* k : {"scan_delay_ms", "scan_period_min_ms", "scan_period_max_ms", "scan_size_mb", "hot_threshold_ms"}) {
    int err = 0;
    const std::string v = trim(read_file(std::string(kKnobDir) + "/" + k, &err));
    out += ", \"" + std::string(k) + "\": ";
    if (err || v.empty()) out += "{\"error\": " + json_str(err ? errname(err) : "empty") + "}";
    else out += v;
  }
  out += "}";
  if (mounted_here && umount("/sys/kernel/debug") == 0) g_restore.debugfs_mounted = false;
  return out;
}

// --- the run --------------------------------------------------------------------------------

// A thread with a stack of the given size (0: the glibc default, 8 MiB here). Thread stacks are
// VMAs of the process, mapped after the mapping and so below it: task_numa_work() walks them
// first, and a stack with a touched page costs its whole size from the scan window's page
// budget (every chunk with an update is subtracted), so four 8 MiB stacks would take 6144 of
// the 65536 pages of a 256 MiB window.
class Thread {
 public:
  Thread(std::size_t stack_bytes, std::function<void()> fn) : fn_(std::move(fn)) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (stack_bytes && pthread_attr_setstacksize(&a, stack_bytes)) fail("pthread_attr_setstacksize");
    const int e = pthread_create(&t_, &a, &Thread::run, this);
    pthread_attr_destroy(&a);
    if (e) fail(std::string("pthread_create: ") + std::strerror(e));
  }
  void join() { pthread_join(t_, nullptr); }

 private:
  static void* run(void* p) {
    static_cast<Thread*>(p)->fn_();
    return nullptr;
  }
  std::function<void()> fn_;
  pthread_t t_{};
};

struct Options {
  std::uint64_t pages = 65536;
  unsigned threads = 2;
  double seconds = 8;
  double sample_ms = 20;
  std::uint64_t seed = 1;
  double write_share = 0.3;
  double rate = 0;
  bool wp_async = false;
  double ro_share = 0.5;
  double dump_ms = 2000;
  double cpu_seconds = 0;
  unsigned stack_kib = 256;
  bool sampler_thread = false;
  bool dump_on_scan = false;
  bool writes_after_scan = false;
  bool baseline = false;
  std::string out;
  unsigned timeout = 0;
};

struct Sample {
  double t_ms;
  Vmstat vm;
  long long scan_seq;
  long minflt, majflt;
  double utime_ms, stime_ms;
  std::uint64_t touches;
  std::vector<double> thread_cpu_ms;
};

std::string sample_json(const Sample& s, const Sample& prev, bool process) {
  std::string o = "{\"t_ms\": " + num(s.t_ms);
  for (std::size_t k = 0; k < kNCounters; ++k)
    o += ", \"" + std::string(kCounters[k]) + "\": " + std::to_string(s.vm.v[k] - prev.vm.v[k]);
  if (process) {
    o += ", \"scan_seq\": " + std::to_string(s.scan_seq) + ", \"minflt\": " + std::to_string(s.minflt - prev.minflt) +
         ", \"majflt\": " + std::to_string(s.majflt - prev.majflt) + ", \"touches\": " + std::to_string(s.touches - prev.touches) +
         ", \"utime_ms\": " + num(s.utime_ms) + ", \"stime_ms\": " + num(s.stime_ms) + ", \"thread_cpu_ms\": [";
    for (std::size_t i = 0; i < s.thread_cpu_ms.size(); ++i) o += (i ? ", " : "") + num(s.thread_cpu_ms[i]);
    o += "]";
  }
  return o + "}";
}

class Run {
 public:
  Run(const Options& o, double fork_ms) : o_(o), len_(o.pages * kPage), fork_ms_(fork_ms) {}

  std::string go() {
    map();
    pagemap_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap_ < 0) fail(std::string("open /proc/self/pagemap: ") + std::strerror(errno));
    if (o_.wp_async) probe_wp();
    ro_.assign(o_.pages, 0);
    written_ = std::make_unique<std::atomic<std::uint8_t>[]>(o_.pages);
    if (o_.wp_async) {
      kd::SplitMix64 r(o_.seed ^ 0x524f5041474553ull);  // "ROPAGES"
      for (std::uint64_t g = 0; g < o_.pages; ++g) ro_[g] = r.next() < static_cast<std::uint64_t>(o_.ro_share * 18446744073709551615.0);
    }

    // The prefault (and the WP registration) in a helper thread that exits before the workers
    // start: its CPU time must not count towards a worker's scan trigger.
    double prefault_ms = 0, wp_ms = 0;
    std::string helper_error;
    Thread helper(stack_bytes(), [&] {
      const double t = now_ms();
      if (madvise(base_, len_, MADV_POPULATE_WRITE)) {
        helper_error = std::string("madvise(MADV_POPULATE_WRITE): ") + std::strerror(errno);
        return;
      }
      prefault_ms = now_ms() - t;
      if (o_.wp_async) {
        const double w = now_ms();
        uffd_register_and_protect();
        wp_ms = now_ms() - w;
      }
    });
    helper.join();
    if (!helper_error.empty()) fail(helper_error);
    pfn_before_ = pfns();
    if (o_.wp_async) first_dump_ = dump_check(-1, "before_t0");

    const long long seq_before = sched_field(read_file("/proc/self/sched"), "mm->numa_scan_seq");
    if (!write_sysctl("1")) fail(std::string("write 1 to ") + kSysctl + ": " + std::strerror(errno));
    t0_ = now_ms();

    stop_.store(false);
    writes_on_.store(!o_.writes_after_scan);
    clocks_.resize(o_.threads);
    tids_.resize(o_.threads);
    touches_ = std::make_unique<std::atomic<std::uint64_t>[]>(o_.threads);
    std::vector<std::unique_ptr<Thread>> ws;
    // Worker 0 is the main thread, which also samples, unless --sampler-thread: then every
    // worker is a created thread and the main thread only samples.
    const unsigned first_created = o_.sampler_thread ? 0 : 1;
    pausable_ = o_.threads - first_created;
    next_sample_ = t0_ + o_.sample_ms;
    next_dump_ = t0_ + o_.dump_ms;
    if (!o_.sampler_thread) {
      pthread_getcpuclockid(pthread_self(), &clocks_[0]);
      tids_[0] = static_cast<pid_t>(syscall(SYS_gettid));
    }
    std::atomic<unsigned> started{first_created}, go{0};
    for (unsigned i = first_created; i < o_.threads; ++i)
      ws.push_back(std::make_unique<Thread>(stack_bytes(), [this, i, &started, &go] {
        pthread_getcpuclockid(pthread_self(), &clocks_[i]);
        tids_[i] = static_cast<pid_t>(syscall(SYS_gettid));
        started.fetch_add(1);
        while (!go.load()) sched_yield();
        worker(i, false);
      }));
    while (started.load() < o_.threads) sched_yield();
    for (unsigned i = 0; i < o_.threads; ++i) cpu_at_t0_.push_back(cpu_ms(clocks_[i]));
    samples_.reserve(static_cast<std::size_t>(o_.seconds * 1000 / o_.sample_ms) + 16);
    samples_.push_back(sample());
    go.store(1);
    // The sampler returns when the time is up and the other workers are told to stop.
    if (o_.sampler_thread) sampler_loop();
    else worker(0, true);
    for (auto& w : ws) w->join();

    if (o_.wp_async) last_dump_ = dump_check(now_ms() - t0_, "end");
    const std::vector<std::uint64_t> pfn_after = pfns();
    std::uint64_t changed = 0, absent = 0;
    for (std::uint64_t g = 0; g < o_.pages; ++g) {
      if (!pfn_after[g]) ++absent;
      else if (pfn_after[g] != pfn_before_[g]) ++changed;
    }

    std::string j = "{\n  \"pages\": " + std::to_string(o_.pages) + ", \"threads\": " + std::to_string(o_.threads) +
                    ", \"seconds\": " + num(o_.seconds) + ", \"sample_ms\": " + num(o_.sample_ms) +
                    ", \"seed\": " + std::to_string(o_.seed) + ", \"write_share\": " + num(o_.write_share) +
                    ", \"rate\": " + num(o_.rate) + ", \"wp_async\": " + (o_.wp_async ? "true" : "false") +
                    ", \"stack_kib\": " + std::to_string(o_.stack_kib) +
                    ", \"sampler_thread\": " + (o_.sampler_thread ? "true" : "false") +
                    ", \"writes_after_scan\": " + (o_.writes_after_scan ? "true" : "false") +
                    ", \"writes_on_ms\": " + (o_.writes_after_scan ? (writes_on_ms_ > 0 ? num(writes_on_ms_) : "null") : "0") + ",\n";
    j += "  \"thp\": \"MADV_NOHUGEPAGE on the mapping (counts are per 4 KiB PTE)\",\n";
    j += "  \"prefault\": {\"method\": \"MADV_POPULATE_WRITE from a helper thread that exits before t0\", \"ms\": " +
         num(prefault_ms) + ", \"wp_ms\": " + num(wp_ms) + "},\n";
    j += "  \"cpu_seconds\": " + num(o_.cpu_seconds) + ", \"thread_cpu_at_t0_ms\": [";
    for (std::size_t i = 0; i < cpu_at_t0_.size(); ++i) j += (i ? ", " : "") + num(cpu_at_t0_[i]);
    j += "],\n";
    j += "  \"fork_ms\": " + num(fork_ms_ - t0_) + ", \"scan_seq_before_t0\": " + std::to_string(seq_before) + ",\n";
    j += "  \"pfn\": {\"changed\": " + std::to_string(changed) + ", \"not_present\": " + std::to_string(absent) + "},\n";
    j += "  \"threads_sched\": [";
    for (std::size_t i = 0; i < thread_sched_.size(); ++i) j += (i ? ", " : "") + thread_sched_[i];
    j += "],\n";
    j += "  \"totals\": " + sample_json(samples_.back(), samples_.front(), true) + ",\n";
    j += "  \"samples\": [\n";
    for (std::size_t i = 1; i < samples_.size(); ++i)
      j += "    " + sample_json(samples_[i], samples_[i - 1], true) + (i + 1 < samples_.size() ? ",\n" : "\n");
    j += "  ]";
    if (o_.wp_async) {
      j += ",\n  \"wp\": {\"ro_share\": " + num(o_.ro_share) + ", \"dumps\": [\n    " + first_dump_;
      for (std::size_t i = 0; i < dumps_.size(); ++i) {
        std::string d = dumps_[i];
        if (dump_meta_[i].after_scan) {
          // The pages still PROT_NONE when the dump ran take their hinting fault after it: the
          // hint faults (system-wide) and minor faults (this process) from the dump to the next
          // pass over the mapping (or the end) count them.
          std::uint64_t hints = 0, minflt = 0;
          for (std::size_t k = dump_meta_[i].sample + 1; k < samples_.size(); ++k) {
            const std::uint64_t dp = samples_[k].vm.v[0] - samples_[k - 1].vm.v[0];
            if (dp >= std::max<std::uint64_t>(o_.pages / 8, 1024)) break;
            hints += samples_[k].vm.v[2] - samples_[k - 1].vm.v[2];
            minflt += static_cast<std::uint64_t>(samples_[k].minflt - samples_[k - 1].minflt);
          }
          d.pop_back();
          d += ", \"hint_faults_after\": " + std::to_string(hints) + ", \"minflt_after\": " + std::to_string(minflt) + "}";
        }
        j += ",\n    " + d;
      }
      j += ",\n    " + last_dump_ + "\n  ]}";
    }
    return j + "\n}";
  }

 private:
  std::size_t stack_bytes() const { return static_cast<std::size_t>(o_.stack_kib) << 10; }

  void map() {
    void* res = mmap(nullptr, len_ + kTable, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED) fail(std::string("mmap reserve: ") + std::strerror(errno));
    const std::uint64_t r = reinterpret_cast<std::uint64_t>(res);
    const std::uint64_t a = (r + kTable - 1) & ~(kTable - 1);
    void* m = mmap(reinterpret_cast<void*>(a), len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (m == MAP_FAILED) fail(std::string("mmap: ") + std::strerror(errno));
    if (a > r) munmap(res, a - r);
    const std::uint64_t tail = a + len_;
    if (r + len_ + kTable > tail) munmap(reinterpret_cast<void*>(tail), r + len_ + kTable - tail);
    base_ = static_cast<std::uint8_t*>(m);
    if (madvise(base_, len_, MADV_NOHUGEPAGE)) fail(std::string("madvise(MADV_NOHUGEPAGE): ") + std::strerror(errno));
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
      if (fd < 0) skip("userfaultfd: " + errname(e));
    }
    return fd;
  }

  // Before anything is changed: does the kernel offer what --wp-async needs?
  void probe_wp() {
    const int q = open_uffd();
    uffdio_api api{UFFD_API, 0, 0};
    if (ioctl(q, UFFDIO_API, &api)) skip("UFFDIO_API: " + errname(errno));
    close(q);
    const std::uint64_t want = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
    if ((api.features & want) != want) skip("userfaultfd lacks WP_ASYNC/WP_UNPOPULATED");
    pm_scan_arg a{};
    a.size = sizeof a;
    a.start = reinterpret_cast<std::uint64_t>(base_);
    a.end = a.start + kPage;
    page_region r;
    a.vec = reinterpret_cast<std::uint64_t>(&r);
    a.vec_len = 1;
    a.return_mask = PAGE_IS_PRESENT;
    if (ioctl(pagemap_, PAGEMAP_SCAN, &a) < 0) skip("PAGEMAP_SCAN: " + errname(errno) + " (needs Linux 6.7+)");
  }

  // MODE_WP + WP_ASYNC (which on 6.18 implies WP_UNPOPULATED; both are asked for), then
  // UFFDIO_WRITEPROTECT of the whole mapping: every page present, protected, not WRITTEN.
  void uffd_register_and_protect() {
    uffd_ = open_uffd();
    uffdio_api api{UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, 0};
    if (ioctl(uffd_, UFFDIO_API, &api)) skip("UFFDIO_API WP_ASYNC|WP_UNPOPULATED: " + errname(errno));
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<std::uint64_t>(base_);
    reg.range.len = len_;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd_, UFFDIO_REGISTER, &reg)) skip("UFFDIO_REGISTER MODE_WP: " + errname(errno));
    uffdio_writeprotect w{};
    w.range = reg.range;
    w.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    for (int tries = 0;; ++tries) {
      if (ioctl(uffd_, UFFDIO_WRITEPROTECT, &w) == 0) break;
      if (errno != EAGAIN || tries > 1000) fail("UFFDIO_WRITEPROTECT: " + errname(errno));
    }
  }

  // The touching loop. Worker 0 also samples and, with --wp-async, pauses the others for the
  // category checks; it tells them to stop when the time is up.
  void worker(unsigned id, bool sampler) {
    kd::SplitMix64 r(o_.seed * 0x9e3779b97f4a7c15ull + id + 1);
    const std::uint64_t wthresh =
        o_.write_share >= 1 ? ~0ull : static_cast<std::uint64_t>(o_.write_share * 18446744073709551615.0);
    const double per_touch_ms = o_.rate > 0 ? 1000.0 / o_.rate : 0;
    const clockid_t self = clocks_[id];
    const double start = cpu_ms(self);
    std::uint64_t n = 0;
    std::uint64_t sink = 0;
    for (;;) {
      for (int k = 0; k < 256; ++k) {
        const std::uint64_t x = r.next();
        const std::uint64_t g = static_cast<std::uint64_t>((static_cast<unsigned __int128>(x) * o_.pages) >> 64);
        volatile std::uint8_t* p = base_ + g * kPage + ((x >> 20) & 0xfc0);
        if (r.next() < wthresh && !ro_[g] && writes_on_.load(std::memory_order_relaxed)) {
          *p = static_cast<std::uint8_t>(x);
          if (o_.wp_async && !written_[g].load(std::memory_order_relaxed)) written_[g].store(1, std::memory_order_relaxed);
        } else {
          sink += *p;
        }
      }
      n += 256;
      touches_[id].store(n, std::memory_order_relaxed);
      if (per_touch_ms > 0)  // spin until this thread's CPU time allows the next batch
        while (cpu_ms(self) < start + static_cast<double>(n) * per_touch_ms && !stop_.load(std::memory_order_relaxed)) {
        }
      if (sampler) {
        if (sampler_step()) break;
        continue;
      }
      if (pause_.load(std::memory_order_acquire)) {
        paused_.fetch_add(1);
        while (pause_.load(std::memory_order_acquire)) sched_yield();
        paused_.fetch_sub(1);
      }
      if (stop_.load(std::memory_order_relaxed)) break;
    }
    sink_ += sink;
  }

  // --sampler-thread: the process's main thread only samples, sleeping in between.
  void sampler_loop() {
    for (;;) {
      const double w = next_sample_ - now_ms();
      if (w > 0) {
        timespec ts{static_cast<time_t>(w / 1000), static_cast<long>(std::fmod(w, 1000.0) * 1e6)};
        nanosleep(&ts, nullptr);
      }
      if (sampler_step()) return;
    }
  }

  // One look of the sampler: a sample when one is due, a category check when one is due (with
  // --wp-async; the touching threads are paused meanwhile), and the end of the run. Returns
  // true when the run is over (the other threads are told to stop).
  bool sampler_step() {
    const double t = now_ms();
    bool region_scan = false;
    if (t >= next_sample_) {
      samples_.push_back(sample());
      // A sample in which at least 1/8 of the mapping's PTEs were updated: the scanner has
      // just passed over the mapping (the system-wide background is far below that).
      const Sample& a = samples_[samples_.size() - 2];
      const Sample& b = samples_.back();
      region_scan = b.vm.v[0] - a.vm.v[0] >= std::max<std::uint64_t>(o_.pages / 8, 1024);
      if (region_scan && !writes_on_.load()) {
        writes_on_.store(true);
        writes_on_ms_ = b.t_ms;
      }
      while (next_sample_ <= t) next_sample_ += o_.sample_ms;
    }
    const double end = t0_ + o_.seconds * 1000;
    const bool timed = t >= next_dump_ && t + o_.dump_ms / 4 < end;
    if (o_.wp_async && (timed || (o_.dump_on_scan && region_scan))) {
      pause_.store(true, std::memory_order_release);
      while (paused_.load() < pausable_) sched_yield();
      dumps_.push_back(dump_check(t - t0_, region_scan ? "after_scan" : "timed"));
      dump_meta_.push_back({samples_.size() - 1, region_scan});
      pause_.store(false, std::memory_order_release);
      if (timed)
        while (next_dump_ <= now_ms()) next_dump_ += o_.dump_ms;
    }
    bool done = t >= end;
    if (o_.cpu_seconds > 0 && !done) {  // mean CPU time of the threads since t0
      double c = 0;
      for (unsigned i = 0; i < o_.threads; ++i) c += cpu_ms(clocks_[i]) - cpu_at_t0_[i];
      done = c / o_.threads >= o_.cpu_seconds * 1000;
    }
    if (done) {  // the last sample and the per-thread view while every thread still runs
      samples_.push_back(sample());
      thread_sched_ = thread_sched();
      stop_.store(true);
    }
    return done;
  }

  Sample sample() {
    Sample s;
    s.t_ms = now_ms() - t0_;
    s.vm = read_vmstat();
    s.scan_seq = sched_field(read_file("/proc/self/sched"), "mm->numa_scan_seq");
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    s.minflt = u.ru_minflt;
    s.majflt = u.ru_majflt;
    s.utime_ms = static_cast<double>(u.ru_utime.tv_sec) * 1e3 + static_cast<double>(u.ru_utime.tv_usec) / 1e3;
    s.stime_ms = static_cast<double>(u.ru_stime.tv_sec) * 1e3 + static_cast<double>(u.ru_stime.tv_usec) / 1e3;
    s.touches = 0;
    for (unsigned i = 0; i < o_.threads; ++i) {
      s.touches += touches_[i].load(std::memory_order_relaxed);
      s.thread_cpu_ms.push_back(cpu_ms(clocks_[i]));
    }
    return s;
  }

  std::vector<std::string> thread_sched() {
    std::vector<std::string> out;
    for (unsigned i = 0; i < o_.threads; ++i) {
      const std::string t = read_file("/proc/self/task/" + std::to_string(tids_[i]) + "/sched");
      out.push_back("{\"thread\": " + std::to_string(i) +
                    ", \"sum_exec_runtime_ms\": " + std::to_string(sched_field(t, "se.sum_exec_runtime")) +
                    ", \"numa\": " + json_str(sched_numa_lines(t)) + "}");
    }
    return out;
  }

  std::vector<std::uint64_t> pfns() {
    std::vector<std::uint64_t> e(o_.pages), out(o_.pages);
    const off_t off = static_cast<off_t>(reinterpret_cast<std::uint64_t>(base_) / kPage * 8);
    if (pread(pagemap_, e.data(), e.size() * 8, off) != static_cast<ssize_t>(e.size() * 8)) fail("read /proc/self/pagemap");
    for (std::uint64_t g = 0; g < o_.pages; ++g) out[g] = (e[g] >> 63) & 1 ? (e[g] & ((1ull << 55) - 1)) | (1ull << 60) : 0;
    return out;
  }

  // PAGEMAP_SCAN of every page (category_mask 0, every category returned), checked against
  // what the writes say: a page stored to since the WRITEPROTECT is PRESENT|WRITTEN|WPALLOWED
  // (0x00b), any other page PRESENT|WPALLOWED (0x009). Also /proc/self/pagemap's uffd-wp bit
  // (57) must be the inverse of WRITTEN. Returns the dump's JSON.
  std::string dump_check(double t_ms, const char* why) {
    std::vector<std::uint32_t> c(o_.pages, kd::cat::kNotReturned);
    std::vector<page_region> vec(4096);
    const std::uint64_t base = reinterpret_cast<std::uint64_t>(base_);
    std::uint64_t start = base;
    const std::uint64_t end = base + len_;
    const double ts = now_ms();
    while (start < end) {
      pm_scan_arg a{};
      a.size = sizeof a;
      a.start = start;
      a.end = end;
      a.vec = reinterpret_cast<std::uint64_t>(vec.data());
      a.vec_len = vec.size();
      a.return_mask = kd::cat::kAll;
      const long n = ioctl(pagemap_, PAGEMAP_SCAN, &a);
      if (n < 0) fail("PAGEMAP_SCAN: " + errname(errno));
      for (long i = 0; i < n; ++i)
        for (std::uint64_t va = vec[static_cast<std::size_t>(i)].start; va < vec[static_cast<std::size_t>(i)].end; va += kPage)
          c[(va - base) / kPage] = static_cast<std::uint32_t>(vec[static_cast<std::size_t>(i)].categories);
      if (static_cast<std::size_t>(n) < vec.size()) break;
      start = std::max<std::uint64_t>(a.walk_end, vec[static_cast<std::size_t>(n - 1)].end);
    }
    const double scan_ms = now_ms() - ts;
    std::vector<std::uint64_t> pm(o_.pages);
    if (pread(pagemap_, pm.data(), pm.size() * 8, static_cast<off_t>(base / kPage * 8)) != static_cast<ssize_t>(pm.size() * 8))
      fail("read /proc/self/pagemap");
    std::map<std::uint32_t, std::uint64_t> hist_written, hist_other;
    std::uint64_t bad_written = 0, bad_other = 0, pagemap_disagree = 0, written = 0, ro_written = 0;
    std::string examples;
    int nex = 0;
    const std::uint32_t want_w = kd::cat::kPresent | kd::cat::kWritten | kd::cat::kWpAllowed;
    const std::uint32_t want_o = kd::cat::kPresent | kd::cat::kWpAllowed;
    for (std::uint64_t g = 0; g < o_.pages; ++g) {
      const bool w = written_[g].load(std::memory_order_relaxed);
      written += w;
      ro_written += w && ro_[g];
      (w ? hist_written : hist_other)[c[g]]++;
      const bool bad = c[g] != (w ? want_w : want_o);
      (w ? bad_written : bad_other) += bad;
      const bool present = (pm[g] >> 63) & 1, uffd_wp = (pm[g] >> 57) & 1;
      const bool disagree = c[g] == kd::cat::kNotReturned || present != ((c[g] & kd::cat::kPresent) != 0) ||
                            (present && uffd_wp == ((c[g] & kd::cat::kWritten) != 0));
      pagemap_disagree += disagree;
      if ((bad || disagree) && nex < 8) {
        ++nex;
        examples += std::string(examples.empty() ? "" : ", ") + "{\"page\": " + std::to_string(g) + ", \"written\": " +
                    (w ? "true" : "false") + ", \"cats\": " + json_str(kd::hex(c[g])) + ", \"pagemap\": " +
                    json_str(kd::hex(pm[g] >> 55)) + "}";
      }
    }
    const auto hist = [](const std::map<std::uint32_t, std::uint64_t>& h) {
      std::string s = "{";
      for (const auto& [k, v] : h) s += (s.size() > 1 ? ", " : "") + json_str(kd::hex(k)) + ": " + std::to_string(v);
      return s + "}";
    };
    const Vmstat vm = read_vmstat();
    const long long seq = sched_field(read_file("/proc/self/sched"), "mm->numa_scan_seq");
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return "{\"t_ms\": " + num(t_ms) + ", \"why\": " + json_str(why) + ", \"scan_ms\": " + num(scan_ms) + ", \"scan_seq\": " + std::to_string(seq) +
           ", \"numa_pte_updates_abs\": " + std::to_string(vm.v[0]) + ", \"numa_hint_faults_abs\": " +
           std::to_string(vm.v[2]) + ", \"minflt_abs\": " + std::to_string(u.ru_minflt) +
           ", \"written_pages\": " + std::to_string(written) + ", \"ro_pages_written\": " + std::to_string(ro_written) +
           ", \"written_not_0x00b\": " + std::to_string(bad_written) + ", \"unwritten_not_0x009\": " +
           std::to_string(bad_other) + ", \"pagemap_disagree\": " + std::to_string(pagemap_disagree) +
           ", \"cats_written\": " + hist(hist_written) + ", \"cats_unwritten\": " + hist(hist_other) +
           ", \"examples\": [" + examples + "]}";
  }

  const Options& o_;
  std::uint64_t len_;
  double fork_ms_, t0_ = 0;
  std::uint8_t* base_ = nullptr;
  int pagemap_ = -1, uffd_ = -1;
  std::vector<std::uint8_t> ro_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> written_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> touches_;
  std::vector<clockid_t> clocks_;
  std::vector<double> cpu_at_t0_;
  std::vector<pid_t> tids_;
  std::atomic<bool> stop_{false}, pause_{false}, writes_on_{true};
  double writes_on_ms_ = 0;
  std::atomic<unsigned> paused_{0};
  unsigned pausable_ = 0;
  double next_sample_ = 0, next_dump_ = 0;
  std::atomic<std::uint64_t> sink_{0};
  std::vector<Sample> samples_;
  std::vector<std::uint64_t> pfn_before_;
  std::string first_dump_, last_dump_;
  std::vector<std::string> dumps_, thread_sched_;
  struct DumpMeta {
    std::size_t sample;  // index of the last sample taken before the dump
    bool after_scan;
  };
  std::vector<DumpMeta> dump_meta_;
};

// numa_balancing=1 and /proc/vmstat sampled with no test process at all.
std::string baseline(const Options& o) {
  if (!write_sysctl("1")) fail(std::string("write 1 to ") + kSysctl + ": " + std::strerror(errno));
  const double t0 = now_ms();
  Vmstat prev = read_vmstat();
  const Vmstat first = prev;
  std::string s;
  for (double next = t0 + o.sample_ms; next <= t0 + o.seconds * 1000 + 1e-6 && !g_signal; next += o.sample_ms) {
    const double w = next - now_ms();
    if (w > 0) {
      timespec ts{static_cast<time_t>(w / 1000), static_cast<long>(std::fmod(w, 1000.0) * 1e6)};
      nanosleep(&ts, nullptr);
    }
    const Vmstat v = read_vmstat();
    s += std::string(s.empty() ? "" : ",\n") + "    {\"t_ms\": " + num(now_ms() - t0);
    for (std::size_t k = 0; k < kNCounters; ++k) s += ", \"" + std::string(kCounters[k]) + "\": " + std::to_string(v.v[k] - prev.v[k]);
    s += "}";
    prev = v;
  }
  std::string tot = "{\"t_ms\": " + num(now_ms() - t0);
  for (std::size_t k = 0; k < kNCounters; ++k) tot += ", \"" + std::string(kCounters[k]) + "\": " + std::to_string(prev.v[k] - first.v[k]);
  return "{\n  \"baseline\": true, \"seconds\": " + num(o.seconds) + ", \"sample_ms\": " + num(o.sample_ms) +
         ",\n  \"totals\": " + tot + "},\n  \"samples\": [\n" + s + "\n  ]\n}";
}

int usage() {
  std::cerr << "usage: numa_runner --pages N --threads T --seconds S [--sample-ms M] [--seed X] [--write-share F]\n"
               "                   [--rate R] [--wp-async [--ro-share F] [--dump-ms D]] [--out FILE] [--timeout S]\n"
               "       numa_runner --baseline --seconds S [--sample-ms M] [--out FILE]\n";
  return 2;
}

int lock_runs() {
  const int fd = open(kLock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;  // no lock directory: run unserialised
  for (int i = 0; i < 600; ++i) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    if (i == 0) std::cerr << "# waiting for another numa_runner (" << kLock << ")\n";
    usleep(500000);
  }
  skip(std::string("another numa_runner holds ") + kLock + " for more than 300 s");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  Options o;
  try {
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto need = [&]() -> const std::string& {
        if (i + 1 >= a.size()) std::exit(usage());
        return a[++i];
      };
      if (a[i] == "--pages") o.pages = std::stoull(need());
      else if (a[i] == "--threads") o.threads = static_cast<unsigned>(std::stoul(need()));
      else if (a[i] == "--seconds") o.seconds = std::stod(need());
      else if (a[i] == "--cpu-seconds") o.cpu_seconds = std::stod(need());
      else if (a[i] == "--stack-kib") o.stack_kib = static_cast<unsigned>(std::stoul(need()));
      else if (a[i] == "--sampler-thread") o.sampler_thread = true;
      else if (a[i] == "--sample-ms") o.sample_ms = std::stod(need());
      else if (a[i] == "--seed") o.seed = std::stoull(need());
      else if (a[i] == "--write-share") o.write_share = std::stod(need());
      else if (a[i] == "--rate") o.rate = std::stod(need());
      else if (a[i] == "--wp-async") o.wp_async = true;
      else if (a[i] == "--ro-share") o.ro_share = std::stod(need());
      else if (a[i] == "--dump-ms") o.dump_ms = std::stod(need());
      else if (a[i] == "--dump-on-scan") o.dump_on_scan = true;
      else if (a[i] == "--writes-after-scan") o.writes_after_scan = true;
      else if (a[i] == "--baseline") o.baseline = true;
      else if (a[i] == "--out") o.out = need();
      else if (a[i] == "--timeout") o.timeout = static_cast<unsigned>(std::stoul(need()));
      else return usage();
    }
  } catch (const std::exception&) {
    return usage();
  }
  if (o.pages == 0 || o.threads == 0 || o.threads > 256 || o.seconds <= 0 || o.sample_ms <= 0 || o.write_share < 0 ||
      o.write_share > 1 || o.ro_share < 0 || o.ro_share > 1 || o.dump_ms <= 0)
    return usage();

  if (access(kSysctl, F_OK)) skip(std::string(kSysctl) + " missing (kernel without CONFIG_NUMA_BALANCING)");
  if (geteuid() != 0) skip("needs root to set kernel.numa_balancing");
  if (read_file("/proc/vmstat").find("\nnuma_pte_updates ") == std::string::npos) skip("/proc/vmstat has no numa_pte_updates");
  if (sched_field(read_file("/proc/self/sched"), "mm->numa_scan_seq") < 0 && !o.baseline)
    skip("/proc/self/sched shows no mm->numa_scan_seq");

  const int lock = lock_runs();
  int e = 0;
  const std::string old = trim(read_file(kSysctl, &e));
  if (e || old.empty()) skip(std::string("read ") + kSysctl + ": " + errname(e));
  std::snprintf(g_restore.old_value, sizeof g_restore.old_value, "%s\n", old.c_str());
  g_restore.old_len = std::strlen(g_restore.old_value);
  {  // can it be written at all (the same value)? Otherwise skip before anything changes.
    const int fd = open(kSysctl, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, g_restore.old_value, g_restore.old_len) < 0) skip(std::string("cannot write ") + kSysctl + ": " + errname(errno));
    close(fd);
  }
  const std::string knobs = read_knobs();

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM}) sigaction(s, &sa, nullptr);
  alarm(o.timeout ? o.timeout : static_cast<unsigned>(o.seconds) + 120);
  g_restore.armed = true;  // from here on the value may change

  utsname un{};
  uname(&un);
  std::string head = "{\n\"runner\": \"numa_runner\", \"kernel\": " + json_str(std::string(un.release) + " " + un.version) +
                     ",\n\"numa_balancing_before\": " + json_str(old) + ",\n\"knobs\": " + knobs +
                     ",\n\"loadavg_before\": " + json_str(trim(read_file("/proc/loadavg"))) + ",\n";
  std::string body;
  int status = 0;
  if (o.baseline) {
    body = "\"run\": " + baseline(o);
  } else {
    const int memfd = static_cast<int>(syscall(SYS_memfd_create, "numa-runner-out", 0));
    if (memfd < 0) fail(std::string("memfd_create: ") + std::strerror(errno));
    const double fork_ms = now_ms();
    const pid_t pid = fork();
    if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // the parent restores the sysctl; never outlive it
      struct sigaction dfl{};
      dfl.sa_handler = SIG_DFL;
      for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM}) sigaction(s, &dfl, nullptr);
      alarm(0);
      Run run(o, fork_ms);
      const std::string j = run.go();
      if (write(memfd, j.data(), j.size()) != static_cast<ssize_t>(j.size())) _exit(1);
      std::fflush(nullptr);
      _exit(0);
    }
    g_child = pid;
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    g_child = 0;
    if (g_signal) {
      restore_sysctl();
      std::cerr << "FAIL: signal " << g_signal << " (the child was killed; numa_balancing restored)\n";
      return g_signal == SIGALRM ? 3 : 1;
    }
    if (WIFEXITED(ws) && WEXITSTATUS(ws) != 0) {
      restore_sysctl();
      return WEXITSTATUS(ws);
    }
    if (!WIFEXITED(ws)) {
      restore_sysctl();
      std::cerr << "FAIL: the child ended by signal " << (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0) << "\n";
      return 1;
    }
    std::string out;
    char buf[65536];
    for (off_t off = 0;;) {
      const ssize_t n = pread(memfd, buf, sizeof buf, off);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      off += n;
    }
    close(memfd);
    body = "\"run\": " + out;
  }
  const bool restored = restore_sysctl();
  const std::string now = trim(read_file(kSysctl));
  if (!restored || now != old) {
    std::cerr << "FAIL: kernel.numa_balancing is " << now << ", was " << old << "\n";
    status = 1;
  }
  alarm(0);
  if (lock >= 0) close(lock);
  const std::string doc = head + body + ",\n\"loadavg_after\": " + json_str(trim(read_file("/proc/loadavg"))) +
                          ",\n\"numa_balancing_after\": " + json_str(now) + "\n}\n";
  if (o.out.empty()) std::cout << doc;
  else {
    std::ofstream f(o.out);
    f << doc;
    if (!f) fail("cannot write " + o.out);
  }
  return status;
}
