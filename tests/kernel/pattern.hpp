// Random access/protection patterns for the kernel differential test (KERNEL-MODEL.md §9).
//
// One Pattern is run twice: by tests/kernel/kernel_runner.cpp on the live kernel, and by the
// model; each run records, for every Scan, the PAGEMAP_SCAN categories of every page. The
// two ScanDump lists are then compared page by page (first_mismatch()).
//
// Header-only, pure C++20, no kernel headers and no std::random/std::hash: a pattern is a
// function of its seed and arguments alone, on every platform and standard library.
#pragma once
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vmemsim::kdiff {

// PAGE_IS_* of include/uapi/linux/fs.h.
namespace cat {
constexpr std::uint32_t kWpAllowed = 1u << 0;
constexpr std::uint32_t kWritten = 1u << 1;
constexpr std::uint32_t kFile = 1u << 2;
constexpr std::uint32_t kPresent = 1u << 3;
constexpr std::uint32_t kSwapped = 1u << 4;
constexpr std::uint32_t kPfnZero = 1u << 5;
constexpr std::uint32_t kHuge = 1u << 6;
constexpr std::uint32_t kSoftDirty = 1u << 7;
constexpr std::uint32_t kGuard = 1u << 8;
constexpr std::uint32_t kAll = (1u << 9) - 1;
// ScanDump value of a page the scan did not return (only in the returned-pages dump of a
// ScanWpMatching; a plain Scan returns every page of the VMA).
constexpr std::uint32_t kNotReturned = 0xffffffffu;
}  // namespace cat

// Page numbers are relative to the start of the pattern's mapping; [lo, hi) ranges.
struct Op {
  enum Kind { Read, Write, Wp, Unwp, DontNeed, PunchHole, Scan, ScanWpMatching } kind;
  std::uint64_t lo, hi;  // Read/Write use lo only; Scan always covers [0, pages)
  // ScanWpMatching only: the return_mask of the matching scan. kWritten with no inverted or
  // any-of mask takes the kernel's PAGE_IS_WRITTEN fast path in pagemap_scan_pmd_entry();
  // kAll takes the generic per-page path; 0 means "no output vector" (vec = NULL,
  // vec_len = 0), the exclusive write-protect fast path. The paths differ (FINDINGS.md f).
  std::uint32_t arg = 0;
};

struct Pattern {
  std::uint64_t seed = 0;
  std::uint64_t pages = 0;
  bool shmem = false;     // memfd + MAP_SHARED, else MAP_PRIVATE|MAP_ANONYMOUS
  bool wp_async = false;  // MODE_WP + UFFD_FEATURE_WP_ASYNC, else sync MODE_WP with a handler
  // Experiment knobs (generate() leaves them at their defaults):
  bool unpopulated = true;  // request UFFD_FEATURE_WP_UNPOPULATED explicitly
  bool registered = true;   // register the range with userfaultfd at all
  std::vector<Op> ops;
};

// splitmix64 (Steele, Lea, Flood 2014): tiny, fixed, and the same everywhere.
struct SplitMix64 {
  std::uint64_t s;
  explicit SplitMix64(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for our n).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  bool percent(unsigned p) { return below(100) < p; }
};

struct GenOptions {
  unsigned rounds = 0;          // 0: 3..8, from the seed
  unsigned write_percent = 0;   // 0: 20..80 %, from the seed
  std::uint64_t max_touches = 0;  // per touch phase; 0: min(pages, 1024)
};

namespace detail {
// A random range: a single page, a short run, a large run, everything, or one aligned to a
// 512-page page-table boundary (the kernel keeps PTE tables per 2 MiB; some paths differ
// between a none PTE in a table and a range with no table at all).
inline Op range_op(SplitMix64& r, Op::Kind k, std::uint64_t pages) {
  std::uint64_t lo = 0, hi = pages;
  switch (r.below(6)) {
    case 0: lo = r.below(pages); hi = lo + 1; break;
    case 1: lo = r.below(pages); hi = lo + 1 + r.below(16); break;
    case 2: lo = r.below(pages); hi = lo + 1 + r.below(pages / 2 + 1); break;
    case 3: break;
    case 4: {
      const std::uint64_t tables = (pages + 511) / 512;
      lo = r.below(tables) * 512;
      hi = lo + 512;
      break;
    }
    default: {
      const std::uint64_t a = r.below(pages), b = r.below(pages);
      lo = std::min(a, b);
      hi = std::max(a, b) + 1;
    }
  }
  return Op{k, lo, std::min(hi, pages)};
}

inline void touches(SplitMix64& r, std::vector<Op>& ops, std::uint64_t pages, unsigned wpct,
                    std::uint64_t cap, const std::vector<std::uint64_t>* prefer) {
  const std::uint64_t n = 1 + r.below(cap);
  const bool sequential = r.percent(40);
  std::uint64_t g = r.below(pages);
  for (std::uint64_t i = 0; i < n; ++i) {
    if (prefer && !prefer->empty() && r.percent(70))
      g = (*prefer)[r.below(prefer->size())];
    else if (sequential)
      g = (g + 1) % pages;
    else
      g = r.below(pages);
    ops.push_back(Op{r.percent(wpct) ? Op::Write : Op::Read, g, g + 1});
  }
}

inline std::uint32_t wpm_return_mask(SplitMix64& r) {
  switch (r.below(3)) {
    case 0: return cat::kWritten;
    case 1: return cat::kAll;
    default: return 0;
  }
}
}  // namespace detail

// A deterministic pattern: rounds of touches (reads and writes), WRITEPROTECT of ranges that
// include never-touched pages (markers), UNWP, MADV_DONTNEED, PUNCH_HOLE (shmem), Scans and
// ScanWpMatchings in between, and second passes that touch again pages touched before.
inline Pattern generate(std::uint64_t seed, std::uint64_t pages, bool shmem, bool wp_async, GenOptions o = {}) {
  if (pages == 0) throw std::invalid_argument("generate: pages must be > 0");
  SplitMix64 r(seed ^ (pages * 0x100000001b3ull) ^ (shmem ? 0x5bd1e995ull : 0) ^ (wp_async ? 0xc2b2ae35ull : 0));
  Pattern p;
  p.seed = seed;
  p.pages = pages;
  p.shmem = shmem;
  p.wp_async = wp_async;
  const unsigned rounds = o.rounds ? o.rounds : static_cast<unsigned>(3 + r.below(6));
  const unsigned wpct = o.write_percent ? o.write_percent : static_cast<unsigned>(20 + r.below(61));
  const std::uint64_t cap = o.max_touches ? o.max_touches : std::min<std::uint64_t>(pages, 1024);
  auto& ops = p.ops;
  const auto scan = [&] {
    if (r.percent(60))
      ops.push_back(Op{Op::Scan, 0, pages});
    else {
      Op m = r.percent(50) ? Op{Op::ScanWpMatching, 0, pages} : detail::range_op(r, Op::ScanWpMatching, pages);
      m.arg = detail::wpm_return_mask(r);
      ops.push_back(m);
    }
  };

  if (r.percent(30)) ops.push_back(Op{Op::Scan, 0, pages});
  if (r.percent(50)) ops.push_back(Op{Op::Wp, 0, pages});  // the VMM's "protect everything" start
  std::vector<std::uint64_t> touched;
  for (unsigned round = 0; round < rounds; ++round) {
    const std::size_t before = ops.size();
    detail::touches(r, ops, pages, wpct, cap, nullptr);
    for (std::size_t i = before; i < ops.size(); ++i) touched.push_back(ops[i].lo);
    if (touched.size() > 4096) touched.erase(touched.begin(), touched.begin() + (touched.size() - 4096));
    if (r.percent(50)) scan();
    const unsigned actions = static_cast<unsigned>(1 + r.below(4));
    for (unsigned a = 0; a < actions; ++a) {
      const unsigned c = static_cast<unsigned>(r.below(100));
      if (c < 40)
        ops.push_back(detail::range_op(r, Op::Wp, pages));
      else if (c < 55)
        ops.push_back(detail::range_op(r, Op::Unwp, pages));
      else if (c < 75)
        ops.push_back(detail::range_op(r, Op::DontNeed, pages));
      else if (c < 90 && shmem)
        ops.push_back(detail::range_op(r, Op::PunchHole, pages));
      else
        scan();
    }
    scan();
    if (r.percent(60)) {  // second pass: touch again, mostly pages touched before
      detail::touches(r, ops, pages, wpct, std::max<std::uint64_t>(1, cap / 2), &touched);
      if (r.percent(50)) scan();
    }
  }
  ops.push_back(Op{Op::Scan, 0, pages});
  return p;
}

// ---- text form: a header line, then one op per line; '#' starts a comment -------------------
//   pattern seed=7 pages=64 backing=anon wp=async [unpopulated=0] [registered=0]
//   read 5 | write 5 | wp 0 64 | unwp 3 9 | dontneed 0 8 | punch 4 6 | scan
//   scanwpm 0 64 ret=0x2       (ret=0: no output vector)

inline const char* kind_name(Op::Kind k) {
  switch (k) {
    case Op::Read: return "read";
    case Op::Write: return "write";
    case Op::Wp: return "wp";
    case Op::Unwp: return "unwp";
    case Op::DontNeed: return "dontneed";
    case Op::PunchHole: return "punch";
    case Op::Scan: return "scan";
    case Op::ScanWpMatching: return "scanwpm";
  }
  return "?";
}

inline std::string hex(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), d[v & 15]);
    v >>= 4;
  } while (v);
  return "0x" + s;
}

inline std::string to_text(const Op& op) {
  std::string s = kind_name(op.kind);
  switch (op.kind) {
    case Op::Read:
    case Op::Write: s += " " + std::to_string(op.lo); break;
    case Op::Scan: break;
    case Op::ScanWpMatching: s += " " + std::to_string(op.lo) + " " + std::to_string(op.hi) + " ret=" + hex(op.arg); break;
    default: s += " " + std::to_string(op.lo) + " " + std::to_string(op.hi);
  }
  return s;
}

inline std::string to_text(const Pattern& p) {
  std::string s = "pattern seed=" + std::to_string(p.seed) + " pages=" + std::to_string(p.pages) +
                  " backing=" + (p.shmem ? "shmem" : "anon") + " wp=" + (p.wp_async ? "async" : "sync");
  if (!p.unpopulated) s += " unpopulated=0";
  if (!p.registered) s += " registered=0";
  s += "\n";
  for (const auto& op : p.ops) s += to_text(op) + "\n";
  return s;
}

namespace detail {
inline std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> w;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) w.push_back(line.substr(i, j - i));
    i = j;
  }
  return w;
}

inline std::uint64_t number(std::string_view w, std::size_t lineno) {
  std::uint64_t v = 0;
  int base = 10;
  if (w.size() > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X')) {
    base = 16;
    w.remove_prefix(2);
  }
  if (w.empty()) throw std::invalid_argument("line " + std::to_string(lineno) + ": empty number");
  for (char c : w) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else throw std::invalid_argument("line " + std::to_string(lineno) + ": bad number '" + std::string(w) + "'");
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
  }
  return v;
}
}  // namespace detail

inline Pattern from_text(std::string_view text) {
  Pattern p;
  bool header = false;
  std::size_t lineno = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    if (const auto h = line.find('#'); h != std::string_view::npos) line = line.substr(0, h);
    const auto w = detail::words(line);
    if (w.empty()) continue;
    const auto err = [&](const std::string& m) { return std::invalid_argument("line " + std::to_string(lineno) + ": " + m); };
    if (!header) {
      if (w[0] != "pattern") throw err("expected the 'pattern ...' header");
      for (std::size_t i = 1; i < w.size(); ++i) {
        const auto eq = w[i].find('=');
        if (eq == std::string_view::npos) throw err("expected key=value, got '" + std::string(w[i]) + "'");
        const auto k = w[i].substr(0, eq), v = w[i].substr(eq + 1);
        if (k == "seed") p.seed = detail::number(v, lineno);
        else if (k == "pages") p.pages = detail::number(v, lineno);
        else if (k == "backing") {
          if (v != "anon" && v != "shmem") throw err("backing must be anon or shmem");
          p.shmem = v == "shmem";
        } else if (k == "wp") {
          if (v != "async" && v != "sync") throw err("wp must be async or sync");
          p.wp_async = v == "async";
        } else if (k == "unpopulated") p.unpopulated = detail::number(v, lineno) != 0;
        else if (k == "registered") p.registered = detail::number(v, lineno) != 0;
        else throw err("unknown header key '" + std::string(k) + "'");
      }
      if (p.pages == 0) throw err("pages must be > 0");
      header = true;
      continue;
    }
    Op op{Op::Scan, 0, p.pages};
    std::size_t want = 3;
    if (w[0] == "read") op.kind = Op::Read, want = 2;
    else if (w[0] == "write") op.kind = Op::Write, want = 2;
    else if (w[0] == "wp") op.kind = Op::Wp;
    else if (w[0] == "unwp") op.kind = Op::Unwp;
    else if (w[0] == "dontneed") op.kind = Op::DontNeed;
    else if (w[0] == "punch") op.kind = Op::PunchHole;
    else if (w[0] == "scan") op.kind = Op::Scan, want = 1;
    else if (w[0] == "scanwpm") op.kind = Op::ScanWpMatching, want = 4;
    else throw err("unknown op '" + std::string(w[0]) + "'");
    if (w.size() != want) throw err("'" + std::string(w[0]) + "' takes " + std::to_string(want - 1) + " argument(s)");
    if (want >= 2) op.lo = detail::number(w[1], lineno);
    op.hi = want >= 3 ? detail::number(w[2], lineno) : op.lo + 1;
    if (op.kind == Op::Scan) op.lo = 0, op.hi = p.pages;
    if (op.kind == Op::ScanWpMatching) {
      if (w[3].substr(0, 4) != "ret=") throw err("scanwpm wants ret=MASK");
      op.arg = static_cast<std::uint32_t>(detail::number(w[3].substr(4), lineno));
    }
    if (op.lo >= op.hi || op.hi > p.pages) throw err("range outside [0, pages)");
    p.ops.push_back(op);
  }
  if (!header) throw std::invalid_argument("no 'pattern ...' header");
  return p;
}

// ---- scan dumps ---------------------------------------------------------------------------------
// One ScanDump per Scan op, and two per ScanWpMatching: the pages the matching scan returned
// (returned = true; cat::kNotReturned for the others) and then a plain scan of every page.
// Text: one line per dump,
//   scan <k> op <i>: <cats of page 0> <cats of page 1> ...
//   wpm <k> op <i>: ...
// each page as three hex digits (PAGE_IS_GUARD is bit 8), "---" for a page not returned.
struct ScanDump {
  std::uint64_t op = 0;   // index of the op in Pattern::ops
  bool returned = false;  // the returned pages of a ScanWpMatching, not a plain scan
  std::vector<std::uint32_t> cats;
};

inline std::string to_text(const ScanDump& d, std::size_t k) {
  static const char* h = "0123456789abcdef";
  std::string s = std::string(d.returned ? "wpm " : "scan ") + std::to_string(k) + " op " + std::to_string(d.op) + ":";
  s.reserve(s.size() + d.cats.size() * 4);
  for (auto c : d.cats) {
    s += ' ';
    if (c == cat::kNotReturned) {
      s += "---";
    } else {
      s += h[(c >> 8) & 15];
      s += h[(c >> 4) & 15];
      s += h[c & 15];
    }
  }
  return s;
}

inline std::string to_text(const std::vector<ScanDump>& ds) {
  std::string s;
  for (std::size_t k = 0; k < ds.size(); ++k) s += to_text(ds[k], k) + "\n";
  return s;
}

// Parses the lines written by to_text(); other lines (comments, blank) are skipped.
inline std::vector<ScanDump> dumps_from_text(std::string_view text) {
  std::vector<ScanDump> out;
  std::size_t lineno = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    const auto w = detail::words(line);
    if (w.size() < 4 || (w[0] != "scan" && w[0] != "wpm") || w[2] != "op") continue;
    ScanDump d;
    d.returned = w[0] == "wpm";
    std::string_view opw = w[3];
    if (opw.empty() || opw.back() != ':') throw std::invalid_argument("dump line " + std::to_string(lineno) + ": expected 'op <i>:'");
    opw.remove_suffix(1);
    d.op = detail::number(opw, lineno);
    for (std::size_t i = 4; i < w.size(); ++i) {
      if (w[i] == "---")
        d.cats.push_back(cat::kNotReturned);
      else
        d.cats.push_back(static_cast<std::uint32_t>(detail::number("0x" + std::string(w[i]), lineno)));
    }
    out.push_back(std::move(d));
  }
  return out;
}

struct Mismatch {
  std::size_t scan;    // index into the dump lists
  std::uint64_t op;    // the op that produced it
  std::uint64_t page;  // kNoPage when the dumps differ in count, kind or length
  std::uint32_t kernel, model;
  static constexpr std::uint64_t kNoPage = ~0ull;
};

// The first page where the two runs disagree, comparing only the bits in `mask` (a model
// that does not track soft-dirty passes ~cat::kSoftDirty); nullopt if they agree.
inline std::optional<Mismatch> first_mismatch(const std::vector<ScanDump>& kernel, const std::vector<ScanDump>& model,
                                              std::uint32_t mask = cat::kAll) {
  const std::size_t n = std::min(kernel.size(), model.size());
  for (std::size_t s = 0; s < n; ++s) {
    const auto& a = kernel[s];
    const auto& b = model[s];
    if (a.op != b.op || a.returned != b.returned || a.cats.size() != b.cats.size())
      return Mismatch{s, a.op, Mismatch::kNoPage, 0, 0};
    for (std::uint64_t g = 0; g < a.cats.size(); ++g) {
      const std::uint32_t x = a.cats[g] == cat::kNotReturned ? a.cats[g] : a.cats[g] & mask;
      const std::uint32_t y = b.cats[g] == cat::kNotReturned ? b.cats[g] : b.cats[g] & mask;
      if (x != y) return Mismatch{s, a.op, g, a.cats[g], b.cats[g]};
    }
  }
  if (kernel.size() != model.size()) return Mismatch{n, n < kernel.size() ? kernel[n].op : model[n].op, Mismatch::kNoPage, 0, 0};
  return std::nullopt;
}

inline std::string describe(const Mismatch& m) {
  if (m.page == Mismatch::kNoPage)
    return "dump " + std::to_string(m.scan) + " (op " + std::to_string(m.op) + "): the dumps differ in count, kind or length";
  return "dump " + std::to_string(m.scan) + " (op " + std::to_string(m.op) + ") page " + std::to_string(m.page) +
         ": kernel " + hex(m.kernel) + " model " + hex(m.model);
}

// The pattern a runner's command line names, shared by the kernel and the model runners:
//   gen SEED PAGES anon|shmem async|sync   (also `print ...`: the caller prints it and stops)
//   file PATH|-                            (a pattern in to_text() form; - = stdin)
// nullopt for a malformed command line (the caller prints its usage); throws
// std::runtime_error when the file cannot be read or parsed.
inline std::optional<Pattern> pattern_from_args(const std::vector<std::string>& pos) {
  if (pos.empty()) return std::nullopt;
  if ((pos[0] == "gen" || pos[0] == "print") && pos.size() == 5) {
    if ((pos[3] != "anon" && pos[3] != "shmem") || (pos[4] != "async" && pos[4] != "sync")) return std::nullopt;
    const std::uint64_t pages = std::stoull(pos[2]);
    if (pages == 0 || pages > (1u << 20)) return std::nullopt;
    return generate(std::stoull(pos[1]), pages, pos[3] == "shmem", pos[4] == "async");
  }
  if (pos[0] == "file" && pos.size() == 2) {
    std::stringstream ss;
    if (pos[1] == "-") {
      ss << std::cin.rdbuf();
    } else {
      std::ifstream f(pos[1]);
      if (!f) throw std::runtime_error("cannot read " + pos[1]);
      ss << f.rdbuf();
    }
    return from_text(ss.str());
  }
  return std::nullopt;
}

}  // namespace vmemsim::kdiff
