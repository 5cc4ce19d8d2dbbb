// The kernel differential test (KERNEL-MODEL.md §9): generated patterns run on the live
// kernel (kernel_runner, a child process) and on the model (model_replay, in process); the
// PAGEMAP_SCAN dumps must agree page by page (SOFT_DIRTY and GUARD masked out), and in sync
// mode the number of WP messages the handler answered must agree too.
//
//   kdiff --kernel-runner PATH [options]
//     --seeds N           seeds first-seed .. first-seed+N-1 (default 6)
//     --first-seed S      (default 1)
//     --sizes A,B,...     fixed sizes in pages (default 1,2,511,512,513,4096)
//     --random-sizes K    K more sizes in 1..4096 per seed, drawn from the seed (default 3)
//     --backing anon,shmem   --mode async,sync   (default: both of each)
//     --pattern FILE      run this one pattern instead of generated ones (repeatable)
//     --min-patterns N    fail unless at least N patterns ran
//     --require-coverage  fail unless the patterns exercised DONTNEED of protected pages,
//                         re-protection of pages that lost a protection, WP_MATCHING scans
//                         and (with shmem) PUNCH_HOLE
//     --diagnose N        trace and reduce the first N disagreements (default 5; 0: none)
//     --no-unpopulated    generated patterns do not ask for UFFD_FEATURE_WP_UNPOPULATED
//                         (header unpopulated=0; WP_ASYNC turns it on anyway)
//     --ignore-wpm-returned  compare only the plain scans, not the pages WP_MATCHING scans
//                         returned (to look past a known disagreement there)
//     --keep DIR          keep the pattern and both outputs of every failing pattern in DIR
//     -v                  print the coverage counters of every pattern
// Per pattern one line, "ok ..." or "FAIL ..." (with a diagnosis below a FAIL: the first op
// after which kernel and model disagree, the history of the page under it, and a reduced
// pattern that still disagrees). Then the coverage counters, and last, alone on its line,
// "N passed, M failed".
// Exit: 0 all passed, 1 a pattern failed (or coverage / min-patterns not met), 2 usage,
// 77 the kernel runner skipped every pattern (userfaultfd, WP_ASYNC, PAGEMAP_SCAN or memfd
// unavailable or not permitted; its reason is printed).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "model_replay.hpp"
#include "pattern.hpp"

namespace kd = vmemsim::kdiff;

namespace {

// The model does not track soft-dirty (FINDINGS.md h) nor guard regions.
constexpr std::uint32_t kCompareMask = kd::cat::kAll & ~(kd::cat::kSoftDirty | kd::cat::kGuard);

struct Options {
  std::string kernel_runner;
  std::uint64_t seeds = 6, first_seed = 1;
  std::vector<std::uint64_t> sizes{1, 2, 511, 512, 513, 4096};
  unsigned random_sizes = 3;
  std::vector<bool> shmem{false, true};
  std::vector<bool> async{true, false};
  std::vector<std::string> pattern_files;
  std::uint64_t min_patterns = 0;
  bool require_coverage = false, verbose = false, ignore_wpm_returned = false, no_unpopulated = false;
  unsigned diagnose = 5;  // failures traced and reduced (the first ones)
  std::string keep;
  std::string tmp;
};

struct Proc {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// Runs argv with stdout and stderr into files of the scratch directory.
Proc run_proc(const std::vector<std::string>& argv, const std::string& dir) {
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) {
    Proc p;
    p.err = std::string("fork: ") + std::strerror(errno);
    return p;
  }
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
    std::vector<char*> args;
    for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) break;
  Proc p;
  p.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  p.out = slurp(out);
  p.err = slurp(err);
  return p;
}

std::string first_line(const std::string& s) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > 300 ? l.substr(0, 300) + "..." : l;
}

// "# wp faults handled: N, other uffd messages: M" of either runner's stderr.
std::optional<std::uint64_t> wp_messages(const std::string& err) {
  const std::string key = "# wp faults handled: ";
  const auto at = err.find(key);
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(err.c_str() + at + key.size(), nullptr, 10);
}

const char* mode_name(const kd::Pattern& p) { return p.wp_async ? "async" : "sync"; }

std::string label(const kd::Pattern& p) {
  return "seed=" + std::to_string(p.seed) + " pages=" + std::to_string(p.pages) + " " + (p.shmem ? "shmem" : "anon") +
         " " + mode_name(p) + (p.unpopulated ? "" : " unpopulated=0");
}

// One comparison of kernel and model on a pattern.
struct Outcome {
  enum { Pass, Fail, Skip } status = Pass;
  std::string why;           // Fail: what differs; Skip: the runner's reason
  std::string kind;          // Fail: the disagreement without seed and page, for the summary
  bool model_side = false;   // a disagreement (not a kernel runner failure)
  std::string kernel_out, kernel_err;
  kd::ModelRun model;
};

class Driver {
 public:
  explicit Driver(const Options& o) : o_(o) {}

  Outcome compare(const kd::Pattern& p) {
    Outcome r;
    const std::string file = o_.tmp + "/pattern";
    spit(file, kd::to_text(p));
    const Proc k = run_proc({o_.kernel_runner, "file", file, "--timeout", "20"}, o_.tmp);
    r.kernel_out = k.out;
    r.kernel_err = k.err;
    if (k.rc == 77) {
      r.status = Outcome::Skip;
      r.why = first_line(k.err);
      if (r.why.rfind("SKIP: ", 0) == 0) r.why.erase(0, 6);
      return r;
    }
    if (k.rc != 0) {
      r.status = Outcome::Fail;
      r.why = "kernel runner exit " + std::to_string(k.rc) + ": " + first_line(k.err);
      return r;
    }
    r.model = kd::run_model(p);
    r.model_side = true;
    if (!r.model.ok()) {
      r.status = Outcome::Fail;
      r.why = "model failed at op " + std::to_string(r.model.error_op) +
              (r.model.error_op < p.ops.size() ? " (" + kd::to_text(p.ops[r.model.error_op]) + ")" : "") + ": " +
              r.model.error;
      return r;
    }
    std::vector<kd::ScanDump> kernel;
    try {
      kernel = kd::dumps_from_text(k.out);
      if (o_.ignore_wpm_returned) {
        for (auto& d : kernel)
          if (d.returned) d.cats.clear();
        for (auto& d : r.model.dumps)
          if (d.returned) d.cats.clear();
      }
    } catch (const std::exception& e) {
      r.status = Outcome::Fail;
      r.model_side = false;
      r.why = std::string("cannot parse the kernel runner's dumps: ") + e.what();
      return r;
    }
    if (const auto m = kd::first_mismatch(kernel, r.model.dumps, kCompareMask)) {
      r.status = Outcome::Fail;
      r.why = kd::describe(*m);
      if (m->page != kd::Mismatch::kNoPage) {
        r.why += " (" + kd::to_text(p.ops[m->op]) + ")";
        const auto c = [](std::uint32_t v) { return v == kd::cat::kNotReturned ? std::string("---") : kd::hex(v); };
        r.kind = std::string(p.shmem ? "shmem " : "anon ") + mode_name(p) + ", " + kd::kind_name(p.ops[m->op].kind) +
                 (kernel[m->scan].returned ? " (pages returned)" : "") + ": kernel " + c(m->kernel) + ", model " +
                 c(m->model);
      } else {
        r.kind = "dumps differ in count, kind or length";
      }
      return r;
    }
    const auto kwp = wp_messages(k.err);
    if (!kwp) {
      r.status = Outcome::Fail;
      r.model_side = false;
      r.why = "the kernel runner did not report its WP message count";
      return r;
    }
    if (*kwp != r.model.stats.wp_messages) {
      r.status = Outcome::Fail;
      r.why = "WP messages: kernel " + std::to_string(*kwp) + ", model " + std::to_string(r.model.stats.wp_messages);
      r.kind = std::string(p.shmem ? "shmem " : "anon ") + "sync: WP message count";
    }
    return r;
  }

  bool disagrees(const kd::Pattern& p) {
    const Outcome r = compare(p);
    return r.status == Outcome::Fail && r.model_side;
  }

  // The first op after which kernel and model states differ, from --trace runs of both.
  void diagnose(const kd::Pattern& p) {
    const std::string file = o_.tmp + "/pattern";
    spit(file, kd::to_text(p));
    const Proc k = run_proc({o_.kernel_runner, "file", file, "--trace", "--timeout", "20"}, o_.tmp);
    if (k.rc != 0) {
      std::cout << "    (the traced kernel run exited " << k.rc << ": " << first_line(k.err) << ")\n";
      return;
    }
    kd::ModelOptions mo;
    mo.trace = true;
    const kd::ModelRun m = kd::run_model(p, mo);
    // Kernel: "after i: ..." lines are the state after op i; scan/wpm lines are dumps of op i.
    std::string text;
    for (std::size_t at = 0; at < k.out.size();) {
      std::size_t nl = k.out.find('\n', at);
      if (nl == std::string::npos) nl = k.out.size();
      std::string line = k.out.substr(at, nl - at);
      at = nl + 1;
      if (line.rfind("after ", 0) == 0) line = "scan 0 op " + line.substr(6);
      text += line + "\n";
    }
    std::vector<kd::ScanDump> kd_all;
    try {
      kd_all = kd::dumps_from_text(text);
    } catch (const std::exception& e) {
      std::cout << "    (cannot parse the traced kernel run: " << e.what() << ")\n";
      return;
    }
    std::map<std::uint64_t, const kd::ScanDump*> kstate, kwpm;
    for (const auto& d : kd_all) (d.returned ? kwpm : kstate)[d.op] = &d;
    std::map<std::uint64_t, const kd::ScanDump*> mwpm;
    for (const auto& d : m.dumps)
      if (d.returned) mwpm[d.op] = &d;

    const std::uint64_t nops = std::min<std::uint64_t>(m.after.size(), p.ops.size());
    std::uint64_t bad_op = ~0ull, page = 0;
    bool in_wpm = false;
    for (std::uint64_t i = 0; i < nops && bad_op == ~0ull; ++i) {
      const auto ks = kstate.find(i);
      if (ks == kstate.end()) {
        std::cout << "    (no kernel state after op " << i << ")\n";
        return;
      }
      if (const auto kw = kwpm.find(i); kw != kwpm.end() && !o_.ignore_wpm_returned) {
        const auto mw = mwpm.find(i);
        for (std::uint64_t g = 0; g < p.pages && mw != mwpm.end(); ++g) {
          const std::uint32_t a = kw->second->cats[g], b = mw->second->cats[g];
          if ((a == kd::cat::kNotReturned) != (b == kd::cat::kNotReturned) ||
              (a != kd::cat::kNotReturned && ((a ^ b) & kCompareMask))) {
            bad_op = i, page = g, in_wpm = true;
            break;
          }
        }
      }
      for (std::uint64_t g = 0; g < p.pages && bad_op == ~0ull; ++g)
        if ((ks->second->cats[g] ^ m.after[i][g]) & kCompareMask) bad_op = i, page = g;
    }
    if (bad_op == ~0ull) {
      if (!m.ok())
        std::cout << "    model failed at op " << m.error_op << ": " << m.error << "\n";
      else
        std::cout << "    (the traced runs agree op by op; the difference is in the WP message count)\n";
      return;
    }
    const auto kat = [&](std::uint64_t i) { return kstate.at(i)->cats[page]; };
    std::cout << "    first disagreement after op " << bad_op << " (" << kd::to_text(p.ops[bad_op]) << "), page " << page
              << (in_wpm ? ", in the pages the WP_MATCHING scan returned" : "") << "\n";
    if (in_wpm) {
      const auto c = [](std::uint32_t v) { return v == kd::cat::kNotReturned ? std::string("---") : kd::hex(v); };
      std::cout << "      returned: kernel " << c(kwpm.at(bad_op)->cats[page]) << ", model "
                << c(mwpm.at(bad_op)->cats[page]) << "\n";
    }
    std::cout << "    history of page " << page << " (state after each op touching it: kernel / model):\n";
    unsigned shown = 0;
    for (std::uint64_t i = 0; i <= bad_op; ++i) {
      const kd::Op& op = p.ops[i];
      if (op.kind == kd::Op::Scan || !(op.lo <= page && page < op.hi)) continue;
      if (++shown > 40 && i != bad_op) continue;
      std::cout << "      op " << i << ": " << kd::to_text(op) << " -> " << kd::hex(kat(i)) << " / " << kd::hex(m.after[i][page])
                << "\n";
    }
    if (shown > 40) std::cout << "      (" << shown - 40 << " more ops not shown)\n";
    reduce(p, bad_op, page);
  }

 private:
  // A smaller pattern that still disagrees: the ops touching `page` up to `bad_op`, on a
  // one-page mapping if that still disagrees, then single ops dropped while it does.
  void reduce(const kd::Pattern& p, std::uint64_t bad_op, std::uint64_t page) {
    kd::Pattern base = p;
    base.ops.clear();
    for (std::uint64_t i = 0; i <= bad_op; ++i) {
      const kd::Op& op = p.ops[i];
      if (op.kind == kd::Op::Scan) continue;
      if ((op.lo <= page && page < op.hi) || i == bad_op) base.ops.push_back(op);
    }
    base.ops.push_back({kd::Op::Scan, 0, p.pages});
    kd::Pattern one = base;
    one.pages = 1;
    for (auto& op : one.ops) op.lo = 0, op.hi = 1;
    kd::Pattern cur;
    unsigned runs = 0;
    if (++runs, disagrees(one)) cur = one;
    else if (++runs, disagrees(base)) cur = base;
    else {
      std::cout << "    (no reduced pattern found: the ops on this page alone agree)\n";
      return;
    }
    for (bool progress = true; progress && runs < 400;) {
      progress = false;
      for (std::size_t j = 0; j + 1 < cur.ops.size() && runs < 400; ++j) {
        kd::Pattern t = cur;
        t.ops.erase(t.ops.begin() + static_cast<std::ptrdiff_t>(j));
        ++runs;
        if (disagrees(t)) {
          cur = std::move(t);
          progress = true;
          --j;
        }
      }
    }
    const Outcome r = compare(cur);
    std::cout << "    reduced (" << cur.ops.size() << " ops): " << r.why << "\n";
    std::istringstream ss(kd::to_text(cur));
    for (std::string line; std::getline(ss, line);) std::cout << "      | " << line << "\n";
  }

  const Options& o_;
};

std::vector<std::uint64_t> numbers(const std::string& s) {
  std::vector<std::uint64_t> v;
  std::stringstream ss(s);
  for (std::string w; std::getline(ss, w, ',');) v.push_back(std::stoull(w));
  return v;
}

int usage() {
  std::cerr << "usage: kdiff --kernel-runner PATH [--seeds N] [--first-seed S] [--sizes A,B,..] [--random-sizes K]\n"
               "             [--backing anon,shmem] [--mode async,sync] [--pattern FILE]... [--min-patterns N]\n"
               "             [--require-coverage] [--diagnose N] [--ignore-wpm-returned] [--no-unpopulated]\n"
               "             [--keep DIR] [-v]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto need = [&]() -> const std::string& {
        if (i + 1 >= a.size()) std::exit(usage());
        return a[++i];
      };
      if (a[i] == "--kernel-runner") o.kernel_runner = need();
      else if (a[i] == "--seeds") o.seeds = std::stoull(need());
      else if (a[i] == "--first-seed") o.first_seed = std::stoull(need());
      else if (a[i] == "--sizes") o.sizes = numbers(need());
      else if (a[i] == "--random-sizes") o.random_sizes = static_cast<unsigned>(std::stoul(need()));
      else if (a[i] == "--backing" || a[i] == "--mode") {
        const bool backing = a[i] == "--backing";
        std::vector<bool>& v = backing ? o.shmem : o.async;
        v.clear();
        std::stringstream ss(need());
        for (std::string w; std::getline(ss, w, ',');) {
          if (w == (backing ? "anon" : "sync")) v.push_back(false);
          else if (w == (backing ? "shmem" : "async")) v.push_back(true);
          else return usage();
        }
      } else if (a[i] == "--pattern") o.pattern_files.push_back(need());
      else if (a[i] == "--min-patterns") o.min_patterns = std::stoull(need());
      else if (a[i] == "--require-coverage") o.require_coverage = true;
      else if (a[i] == "--diagnose") o.diagnose = static_cast<unsigned>(std::stoul(need()));
      else if (a[i] == "--ignore-wpm-returned") o.ignore_wpm_returned = true;
      else if (a[i] == "--no-unpopulated") o.no_unpopulated = true;
      else if (a[i] == "--keep") o.keep = need();
      else if (a[i] == "-v") o.verbose = true;
      else return usage();
    }
  } catch (const std::exception&) {
    return usage();
  }
  if (o.kernel_runner.empty() || access(o.kernel_runner.c_str(), X_OK) != 0) {
    std::cerr << "kdiff: --kernel-runner must name the kernel_runner executable\n";
    return usage();
  }
  char tmpl[] = "/tmp/kdiff.XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  o.tmp = tmpl;

  // The pattern set.
  std::vector<kd::Pattern> patterns;
  try {
    for (const auto& f : o.pattern_files) patterns.push_back(kd::from_text(slurp(f)));
  } catch (const std::exception& e) {
    std::cerr << "kdiff: " << e.what() << "\n";
    return 2;
  }
  if (o.pattern_files.empty()) {
    for (std::uint64_t s = o.first_seed; s < o.first_seed + o.seeds; ++s) {
      std::vector<std::uint64_t> sizes = o.sizes;
      kd::SplitMix64 r(s ^ 0x6b64696666ull);
      for (unsigned k = 0; k < o.random_sizes; ++k) sizes.push_back(1 + r.below(4096));
      for (auto pages : sizes)
        for (bool shmem : o.shmem)
          for (bool async : o.async) {
            patterns.push_back(kd::generate(s, pages, shmem, async));
            if (o.no_unpopulated) patterns.back().unpopulated = false;
          }
    }
  }

  Driver d(o);
  std::uint64_t passed = 0, failed = 0, skipped = 0;
  unsigned diagnosed = 0;
  std::map<std::string, std::uint64_t> kinds;  // failures by kind of disagreement
  std::string skip_reason;
  std::vector<std::uint64_t> ops(kd::Op::ScanWpMatching + 1, 0);
  kd::ModelStats cov;
  bool any_shmem = false;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& p : patterns) {
    const auto t = std::chrono::steady_clock::now();
    const Outcome r = d.compare(p);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    if (r.status == Outcome::Skip) {
      ++skipped;
      if (skip_reason.empty()) skip_reason = r.why;
      std::cout << "skip " << label(p) << ": " << r.why << "\n";
      continue;
    }
    const auto n = kd::count_ops(p);
    for (std::size_t k = 0; k < n.size(); ++k) ops[k] += n[k];
    any_shmem = any_shmem || p.shmem;
    const auto& st = r.model.stats;
    cov.wp_messages += st.wp_messages;
    cov.dontneed_protected += st.dontneed_protected;
    cov.reprotected += st.reprotected;
    cov.touched_after_drop += st.touched_after_drop;
    char timing[32];
    std::snprintf(timing, sizeof timing, "%.2f s", sec);
    if (r.status == Outcome::Pass) {
      ++passed;
      std::cout << "ok   " << label(p) << ": " << p.ops.size() << " ops, " << r.model.dumps.size() << " dumps, "
                << st.wp_messages << " WP messages (" << timing << ")\n";
      if (o.verbose)
        std::cout << "     dontneed'd while protected " << st.dontneed_protected << ", re-protected " << st.reprotected
                  << ", touched after a protected zap " << st.touched_after_drop << "\n";
      continue;
    }
    ++failed;
    ++kinds[r.kind.empty() ? (r.model_side ? "model failed" : "kernel runner failed") : r.kind];
    std::cout << "FAIL " << label(p) << ": " << r.why << "\n";
    std::cout << "    repro: kdiff_kernel_runner gen " << p.seed << " " << p.pages << " " << (p.shmem ? "shmem" : "anon") << " "
              << mode_name(p) << "  vs  kdiff_model_runner gen (same arguments)"
              << (p.unpopulated ? "" : ", with unpopulated=0 in the pattern header") << "\n";
    if (!o.keep.empty()) {
      const std::string stem = o.keep + "/" + std::to_string(p.seed) + "-" + std::to_string(p.pages) + "-" +
                               (p.shmem ? "shmem" : "anon") + "-" + mode_name(p);
      spit(stem + ".pattern", kd::to_text(p));
      spit(stem + ".kernel", r.kernel_out + r.kernel_err);
      spit(stem + ".model", kd::to_text(r.model.dumps) + (r.model.ok() ? "" : "# " + r.model.error + "\n"));
    }
    if (r.model_side && diagnosed < o.diagnose) {
      ++diagnosed;
      d.diagnose(p);
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::remove((o.tmp + "/pattern").c_str());
  std::remove((o.tmp + "/stdout").c_str());
  std::remove((o.tmp + "/stderr").c_str());
  rmdir(o.tmp.c_str());

  std::cout << "ops run: " << ops[kd::Op::Read] << " read, " << ops[kd::Op::Write] << " write, " << ops[kd::Op::Wp]
            << " wp, " << ops[kd::Op::Unwp] << " unwp, " << ops[kd::Op::DontNeed] << " dontneed, "
            << ops[kd::Op::PunchHole] << " punch, " << ops[kd::Op::Scan] << " scan, " << ops[kd::Op::ScanWpMatching]
            << " scanwpm\n";
  std::cout << "coverage: " << cov.dontneed_protected << " protected pages zapped (dontneed/punch), "
            << cov.touched_after_drop << " of them touched again, " << cov.reprotected
            << " pages re-protected after losing a protection, " << cov.wp_messages << " sync WP messages\n";
  for (const auto& [k, n] : kinds) std::cout << "failures: " << n << " x " << k << "\n";
  if (skipped) std::cout << "skipped: " << skipped << " (" << skip_reason << ")\n";
  char wall[32];
  std::snprintf(wall, sizeof wall, "%.1f", total);
  std::cout << "wall: " << wall << " s\n";
  bool short_ = false;
  if (passed + failed > 0 && o.require_coverage) {
    std::vector<std::string> missing;
    if (!ops[kd::Op::DontNeed]) missing.push_back("DONTNEED ops");
    if (!cov.dontneed_protected) missing.push_back("DONTNEED of protected pages");
    if (!cov.touched_after_drop) missing.push_back("touches after a protected zap");
    if (!cov.reprotected) missing.push_back("re-protection");
    if (!ops[kd::Op::ScanWpMatching]) missing.push_back("WP_MATCHING scans");
    if (any_shmem && !ops[kd::Op::PunchHole]) missing.push_back("PUNCH_HOLE");
    for (const auto& m : missing) std::cout << "coverage missing: " << m << "\n";
    short_ = !missing.empty();
  }
  if (passed + failed > 0 && passed + failed < o.min_patterns) {
    std::cout << "only " << passed + failed << " patterns ran, fewer than " << o.min_patterns << "\n";
    short_ = true;
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  if (passed + failed == 0) {
    std::cerr << "SKIP: " << (skip_reason.empty() ? "no patterns" : skip_reason) << "\n";
    return 77;
  }
  return failed || short_ ? 1 : 0;
}
