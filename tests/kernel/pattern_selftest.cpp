// Checks pattern.hpp without a kernel: text round trips, determinism of generate(), the
// dump parser and first_mismatch(). Reads kernel_runner output files given as arguments and
// checks that they parse and compare equal to themselves.
//   g++ -std=c++20 -O2 -o /tmp/pattern_selftest tests/kernel/pattern_selftest.cpp && /tmp/pattern_selftest
#include <cstdio>
#include <fstream>
#include <sstream>

#include "pattern.hpp"

namespace kd = vmemsim::kdiff;

static int failures = 0;
#define CHECK(c)                                                  \
  do {                                                            \
    if (!(c)) {                                                   \
      std::fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #c); \
      ++failures;                                                 \
    }                                                             \
  } while (0)

static std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

int main(int argc, char** argv) {
  // generate() is a pure function of its arguments, and its text form round-trips.
  for (std::uint64_t seed : {0ull, 1ull, 42ull, 0xdeadbeefull})
    for (std::uint64_t pages : {1ull, 7ull, 512ull, 513ull, 4096ull})
      for (bool shmem : {false, true})
        for (bool async : {false, true}) {
          const kd::Pattern p = kd::generate(seed, pages, shmem, async);
          const std::string t = kd::to_text(p);
          CHECK(t == kd::to_text(kd::generate(seed, pages, shmem, async)));
          const kd::Pattern q = kd::from_text(t);
          CHECK(kd::to_text(q) == t);
          CHECK(q.ops.size() == p.ops.size());
          CHECK(!p.ops.empty() && p.ops.back().kind == kd::Op::Scan);
          for (const auto& op : p.ops) {
            CHECK(op.lo < op.hi && op.hi <= pages);
            CHECK(shmem || op.kind != kd::Op::PunchHole);
          }
        }
  // A golden value: a change here means patterns stored elsewhere no longer replay the same.
  const std::uint64_t golden = fnv1a(kd::to_text(kd::generate(7, 100, true, false)));
  std::printf("fnv1a(generate(7, 100, shmem, sync)) = %s\n", kd::hex(golden).c_str());
  CHECK(golden == 0x1cf4131cc9da815dull);

  // Experiment knobs and comments survive parsing.
  const auto e = kd::from_text("# c\npattern seed=3 pages=4 backing=anon wp=sync unpopulated=0 registered=0\nwp 0 4 # x\nscan\n");
  CHECK(!e.unpopulated && !e.registered && e.ops.size() == 2 && e.ops[0].kind == kd::Op::Wp && e.ops[1].hi == 4);
  bool threw = false;
  try {
    kd::from_text("pattern pages=4\nwp 3 9\n");
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);

  // Dumps: text round trip and the first mismatch.
  std::vector<kd::ScanDump> a = {{3, false, {0x3, 0x11, 0x29}}, {5, true, {kd::cat::kNotReturned, 0x2, 0x102}}};
  CHECK(kd::to_text(kd::dumps_from_text(kd::to_text(a))) == kd::to_text(a));
  CHECK(!kd::first_mismatch(a, a));
  auto b = a;
  b[1].cats[2] = 0x2;
  const auto m = kd::first_mismatch(a, b);
  CHECK(m && m->scan == 1 && m->op == 5 && m->page == 2 && m->kernel == 0x102 && m->model == 0x2);
  CHECK(!kd::first_mismatch(a, b, ~kd::cat::kGuard));
  b = a;
  b.pop_back();
  CHECK(kd::first_mismatch(a, b) && kd::first_mismatch(a, b)->page == kd::Mismatch::kNoPage);

  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i]);
    std::stringstream ss;
    ss << f.rdbuf();
    const auto d = kd::dumps_from_text(ss.str());
    CHECK(!d.empty());
    CHECK(kd::to_text(kd::dumps_from_text(kd::to_text(d))) == kd::to_text(d));
    std::printf("%s: %zu dumps\n", argv[i], d.size());
  }
  std::printf(failures ? "FAILED (%d)\n" : "ok\n", failures);
  return failures ? 1 : 0;
}
