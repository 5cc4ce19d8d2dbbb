// Workload generators (models/workload): distributions, determinism, the phases schedule, and
// parameter errors with their JSON pointers.
//
// Statistical checks use a fixed seed, so they are reproducible; their tolerances are still
// sound (>= 5 sigma, or a chi-square bound 6 standard deviations out) so a change of seed or
// stream derivation does not make them flaky.
#include <algorithm>
#include <cstdio>
#include <unistd.h>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "models/workload/generator.hpp"
#include "sim/core/params.hpp"

using namespace vmemsim;
using namespace vmemsim::workload;
using core::Json;

namespace {

constexpr const char* kPointer = "/vms/0/workload";
constexpr const char* kPath = "vm/test/vcpu/0/workload";
constexpr std::uint64_t kSeed = 20240607;

struct Built {
  core::ErrorSink sink{"scenario.json"};
  Json resolved;
  std::unique_ptr<Generator> gen;
};

// Builds a generator as the scenario layer will: make_generator, then finish() on the object.
std::unique_ptr<Built> build(const Json& j, std::uint64_t pages, std::uint64_t seed = kSeed,
                             const std::string& path = kPath) {
  auto b = std::make_unique<Built>();
  core::Params p(&j, kPointer, &b->sink, &b->resolved);
  b->gen = make_generator(p, GenContext{pages, seed, path});
  p.finish();
  return b;
}

std::unique_ptr<Generator> build_ok(const Json& j, std::uint64_t pages, std::uint64_t seed = kSeed,
                                    const std::string& path = kPath) {
  auto b = build(j, pages, seed, path);
  INFO("input: " << j.dump());
  for (const auto& pr : b->sink.problems()) INFO(pr.pointer << ": " << pr.message);
  REQUIRE(b->sink.empty());
  REQUIRE(b->gen);
  return std::move(b->gen);
}

// `n` accesses in batches of `batch` (the vCPU's batch size), all at time `now`.
std::vector<Access> draw(Generator& g, std::size_t n, core::TimeNs now = 0, std::size_t batch = 256) {
  std::vector<Access> out(n);
  for (std::size_t i = 0; i < n; i += batch) {
    g.fill(now, std::span<Access>(out.data() + i, std::min(batch, n - i)));
  }
  return out;
}

std::vector<std::uint64_t> counts(const std::vector<Access>& a, std::uint64_t pages) {
  std::vector<std::uint64_t> c(pages, 0);
  std::size_t out_of_range = 0;
  for (Access x : a) {
    if (access_page(x) < pages) ++c[access_page(x)];
    else ++out_of_range;
  }
  REQUIRE(out_of_range == 0);
  return c;
}

// Pearson chi-square of `c` against equal expected counts.
double chi_square_uniform(const std::vector<std::uint64_t>& c) {
  double total = 0;
  for (auto v : c) total += static_cast<double>(v);
  const double e = total / static_cast<double>(c.size());
  double x2 = 0;
  for (auto v : c) x2 += (static_cast<double>(v) - e) * (static_cast<double>(v) - e) / e;
  return x2;
}

// The chi-square statistic with k - 1 degrees of freedom is within 6 standard deviations.
void require_chi_square_uniform(const std::vector<std::uint64_t>& c) {
  const double df = static_cast<double>(c.size() - 1);
  const double x2 = chi_square_uniform(c);
  INFO("chi-square " << x2 << " with " << df << " degrees of freedom");
  REQUIRE(x2 < df + 6 * std::sqrt(2 * df));
  REQUIRE(x2 > df - 6 * std::sqrt(2 * df));  // too regular is not random either
}

// |observed - expected| within `sigmas` binomial standard deviations.
void require_binomial(std::uint64_t observed, std::uint64_t n, double p, double sigmas = 5.0) {
  const double mean = static_cast<double>(n) * p;
  const double sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
  INFO("observed " << observed << ", expected " << mean << " +- " << sigmas << " * " << sd);
  REQUIRE(std::fabs(static_cast<double>(observed) - mean) <= sigmas * sd + 1e-9);
}

std::size_t writes(const std::vector<Access>& a) {
  return static_cast<std::size_t>(std::count_if(a.begin(), a.end(), access_is_write));
}

// A minimal valid workload object for every registered type (the contract tests below run
// against each; adding a generator without a sample here fails the registry test).
// `trace` needs a file: a small lackey trace written once into the temp directory.
std::string sample_trace_path() {
  static const std::string path = [] {
    const std::string p = "/tmp/vmemsim-test-workload-" + std::to_string(::getpid()) + ".lackey";
    std::FILE* f = std::fopen(p.c_str(), "w");
    for (int i = 0; i < 64; ++i) std::fprintf(f, " %c %08x,8\n", i % 4 ? 'L' : 'S', 0x10000 + 4096 * (i * 7 % 13));
    std::fclose(f);
    return p;
  }();
  return path;
}

const std::map<std::string, Json>& samples() {
  static const std::map<std::string, Json> m = {
      {"trace", {{"type", "trace"}, {"path", sample_trace_path()}}},
      {"uniform", {{"type", "uniform"}}},
      {"zipf", {{"type", "zipf"}, {"theta", 0.99}}},
      {"hot_cold", {{"type", "hot_cold"}}},
      {"sequential", {{"type", "sequential"}, {"stride", 3}}},
      {"phases",
       {{"type", "phases"},
        {"phases", Json::array({{{"duration", "1ms"}, {"workload", {{"type", "uniform"}}}},
                                {{"duration", "1ms"}, {"workload", {{"type", "zipf"}}}}})}}},
  };
  return m;
}

Json with(Json j, const std::string& key, Json v) {
  j[key] = std::move(v);
  return j;
}

bool has_problem(const core::ErrorSink& s, const std::string& pointer, const std::string& text) {
  for (const auto& p : s.problems()) {
    if (p.pointer == pointer && p.message.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string problems_text(const core::ErrorSink& s) {
  std::string t;
  for (const auto& p : s.problems()) t += p.pointer + ": " + p.message + "\n";
  return t;
}

}  // namespace

TEST_CASE("the registry lists the generators in a fixed order, each self-described", "[workload]") {
  const auto& reg = generator_registry();
  std::vector<std::string> names;
  for (const auto& g : reg) names.push_back(g.name);
  REQUIRE(names == std::vector<std::string>{"uniform", "zipf", "hot_cold", "sequential", "phases", "trace"});
  for (const auto& g : reg) {
    INFO(g.name);
    REQUIRE(find_generator(g.name) == &g);
    REQUIRE(std::string(g.summary).size() > 10);
    REQUIRE(g.make != nullptr);
    REQUIRE(samples().count(g.name) == 1);
    for (const auto& s : g.params) REQUIRE(std::string(s.desc).size() > 10);
  }
  REQUIRE(find_generator("zipff") == nullptr);

  const auto common = common_generator_params();
  REQUIRE(common.size() == 2);
  REQUIRE(std::string(common[0].name) == "type");
  REQUIRE(std::string(common[0].choices) == "uniform|zipf|hot_cold|sequential|phases|trace");
  REQUIRE(std::string(common[1].name) == "write_ratio");
  const std::string d = core::describe_params(find_generator("zipf")->params);
  REQUIRE(d.find("theta") != std::string::npos);
  REQUIRE(d.find("scramble") != std::string::npos);
}

SCENARIO("uniform draws every page equally often", "[workload]") {
  GIVEN("a uniform generator over 1000 pages") {
    auto g = build_ok({{"type", "uniform"}}, 1000);
    WHEN("it draws 1M accesses") {
      const auto c = counts(draw(*g, 1'000'000), 1000);
      THEN("the per-page counts pass a chi-square test") { require_chi_square_uniform(c); }
    }
  }
  GIVEN("a uniform generator over 2^28 pages (a 1 TiB region)") {
    const std::uint64_t pages = 1ull << 28;
    auto g = build_ok({{"type", "uniform"}}, pages);
    THEN("draws stay in range and reach both halves, in 16 buckets evenly") {
      std::vector<std::uint64_t> buckets(16, 0);
      std::size_t out_of_range = 0;
      for (Access a : draw(*g, 400'000)) {
        if (access_page(a) < pages) ++buckets[access_page(a) >> 24];
        else ++out_of_range;
      }
      REQUIRE(out_of_range == 0);
      require_chi_square_uniform(buckets);
    }
  }
}

SCENARIO("zipf matches the exact Zipf pmf", "[workload]") {
  const std::uint64_t pages = 100'000;
  const std::uint64_t n = 2'000'000;
  for (double theta : {0.99, 1.2, 0.5, 2.5, 1.0 - 1e-9}) {
    GIVEN("theta " << theta << " with scramble off (rank k is page k - 1)") {
      auto g = build_ok({{"type", "zipf"}, {"theta", theta}, {"scramble", false}}, pages);
      long double norm = 0;
      for (std::uint64_t k = 1; k <= pages; ++k) norm += std::pow(static_cast<long double>(k), -theta);
      const auto c = counts(draw(*g, n), pages);
      THEN("ranks 1..10 occur with their exact probabilities (5 sigma)") {
        for (std::uint64_t k = 1; k <= 10; ++k) {
          INFO("rank " << k);
          const double p = static_cast<double>(std::pow(static_cast<long double>(k), -theta) / norm);
          require_binomial(c[k - 1], n, p);
        }
      }
      THEN("the tail beyond rank 1000 has its exact mass") {
        long double tail = 0;
        for (std::uint64_t k = 1001; k <= pages; ++k) tail += std::pow(static_cast<long double>(k), -theta);
        std::uint64_t observed = 0;
        for (std::uint64_t k = 1000; k < pages; ++k) observed += c[k];
        require_binomial(observed, n, static_cast<double>(tail / norm));
      }
    }
  }
  GIVEN("theta exactly 1 over 2^28 pages (no zeta table could be built here)") {
    const std::uint64_t big = 1ull << 28;
    auto g = build_ok({{"type", "zipf"}, {"theta", 1.0}, {"scramble", false}}, big);
    const auto a = draw(*g, 1'000'000);
    THEN("rank 1 has probability 1/H(n) and rank 2 half of it") {
      // H(n) by its asymptotic expansion, accurate to ~1e-17 at this n.
      const double nd = static_cast<double>(big);
      const double harmonic = std::log(nd) + 0.57721566490153286 + 1 / (2 * nd) - 1 / (12 * nd * nd);
      std::uint64_t r1 = 0, r2 = 0, out_of_range = 0;
      for (Access x : a) {
        out_of_range += access_page(x) >= big;
        r1 += access_page(x) == 0;
        r2 += access_page(x) == 1;
      }
      REQUIRE(out_of_range == 0);
      require_binomial(r1, a.size(), 1 / harmonic);
      require_binomial(r2, a.size(), 0.5 / harmonic);
    }
  }
  GIVEN("theta 0") {
    auto g = build_ok({{"type", "zipf"}, {"theta", 0.0}}, 500);
    THEN("it is uniform") { require_chi_square_uniform(counts(draw(*g, 500'000), 500)); }
  }
  GIVEN("a single page") {
    auto g = build_ok({{"type", "zipf"}, {"theta", 1.5}}, 1);
    THEN("every access is page 0") {
      for (Access x : draw(*g, 1000)) REQUIRE(access_page(x) == 0);
    }
  }
}

SCENARIO("zipf's scramble is a bijection that spreads the hot ranks", "[workload]") {
  for (std::uint64_t pages : {2ull, 12ull, 1024ull, 1'000'003ull, (1ull << 33) + 6}) {
    GIVEN(pages << " pages, the same seed with scramble off and on") {
      auto plain = build_ok({{"type", "zipf"}, {"theta", 0.8}, {"scramble", false}}, pages);
      auto mixed = build_ok({{"type", "zipf"}, {"theta", 0.8}, {"scramble", true}}, pages);
      const auto a = draw(*plain, 300'000);
      const auto b = draw(*mixed, 300'000);
      THEN("the scrambled stream is a one-to-one relabelling of the plain one") {
        // Same seed, same ranks: only the rank -> page map differs. It must be a function and
        // injective, hence the multiset of page frequencies is the same.
        std::map<std::uint64_t, std::uint64_t> fwd, back;
        std::size_t conflicts = 0, out_of_range = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
          const std::uint64_t pa = access_page(a[i]), pb = access_page(b[i]);
          conflicts += fwd.emplace(pa, pb).first->second != pb;   // not a function
          conflicts += back.emplace(pb, pa).first->second != pa;  // not injective
          out_of_range += pb >= pages;
        }
        REQUIRE(conflicts == 0);
        REQUIRE(out_of_range == 0);
        if (pages > 2) {
          REQUIRE(fwd.size() > 2);
          // Ranks 1 and 2 land far apart, not on neighbouring pages.
          const std::uint64_t p1 = fwd.at(0), p2 = fwd.at(1);
          const std::uint64_t dist = p1 > p2 ? p1 - p2 : p2 - p1;
          REQUIRE(std::min(dist, pages - dist) >= pages / 4);
        }
      }
    }
  }
}

SCENARIO("hot_cold sends hot_probability of the accesses to the hot set", "[workload]") {
  const std::uint64_t pages = 1000, n = 1'000'000;
  GIVEN("the defaults (20% of pages take 80% of the accesses)") {
    auto g = build_ok({{"type", "hot_cold"}}, pages);
    const auto c = counts(draw(*g, n), pages);
    THEN("pages 0..199 take 80%, uniformly inside each set") {
      std::uint64_t hot = 0;
      for (std::uint64_t i = 0; i < 200; ++i) hot += c[i];
      require_binomial(hot, n, 0.8);
      require_chi_square_uniform(std::vector<std::uint64_t>(c.begin(), c.begin() + 200));
      require_chi_square_uniform(std::vector<std::uint64_t>(c.begin() + 200, c.end()));
    }
  }
  GIVEN("a hot set at offset 0.9 that wraps past the end") {
    auto g = build_ok({{"type", "hot_cold"}, {"hot_fraction", 0.25}, {"hot_probability", 0.6},
                       {"hot_offset", 0.9}},
                      pages);
    const auto c = counts(draw(*g, n), pages);
    THEN("the hot set is pages 900..999 and 0..149") {
      auto is_hot = [](std::uint64_t p) { return p >= 900 || p < 150; };
      std::uint64_t hot = 0;
      std::vector<std::uint64_t> hot_c, cold_c;
      for (std::uint64_t i = 0; i < pages; ++i) {
        (is_hot(i) ? hot_c : cold_c).push_back(c[i]);
        if (is_hot(i)) hot += c[i];
      }
      REQUIRE(hot_c.size() == 250);
      require_binomial(hot, n, 0.6);
      require_chi_square_uniform(hot_c);
      require_chi_square_uniform(cold_c);
    }
  }
  GIVEN("hot_probability 1 and hot_fraction 0.07 of 100 pages (0.07 * 100 is 7.000000000000001)") {
    auto g = build_ok({{"type", "hot_cold"}, {"hot_fraction", 0.07}, {"hot_probability", 1.0}}, 100);
    THEN("all draws are in the 7 hot pages, and each is used") {
      const auto c = counts(draw(*g, 30'000), 100);
      for (std::uint64_t i = 0; i < 100; ++i) REQUIRE((c[i] > 0) == (i < 7));
    }
  }
  GIVEN("hot_probability 0") {
    auto g = build_ok({{"type", "hot_cold"}, {"hot_probability", 0.0}}, 100);
    THEN("no draw is in the hot set") {
      const auto c = counts(draw(*g, 10'000), 100);
      for (std::uint64_t i = 0; i < 20; ++i) REQUIRE(c[i] == 0);
    }
  }
  GIVEN("an empty hot set (hot_fraction 0) or no cold set (hot_fraction 1)") {
    auto none = build_ok({{"type", "hot_cold"}, {"hot_fraction", 0.0}}, 100);
    auto all = build_ok({{"type", "hot_cold"}, {"hot_fraction", 1.0}}, 100);
    THEN("both are uniform over the whole region") {
      require_chi_square_uniform(counts(draw(*none, 100'000), 100));
      require_chi_square_uniform(counts(draw(*all, 100'000), 100));
    }
  }
}

SCENARIO("sequential scans with a stride and wraps", "[workload]") {
  auto pages_of = [](const std::vector<Access>& a) {
    std::vector<std::uint64_t> p;
    for (Access x : a) p.push_back(access_page(x));
    return p;
  };
  GIVEN("stride 3 from page 8 over 10 pages (coprime)") {
    auto g = build_ok({{"type", "sequential"}, {"stride", 3}, {"start", 8}}, 10);
    THEN("it visits every page once per cycle, across odd batch boundaries") {
      REQUIRE(pages_of(draw(*g, 12, 0, 5)) ==
              std::vector<std::uint64_t>{8, 1, 4, 7, 0, 3, 6, 9, 2, 5, 8, 1});
    }
  }
  GIVEN("stride 4 from page 1 over 10 pages (gcd 2)") {
    auto g = build_ok({{"type", "sequential"}, {"stride", 4}, {"start", 1}}, 10);
    THEN("it cycles deterministically through the 5 pages congruent to 1 mod 2") {
      REQUIRE(pages_of(draw(*g, 11, 0, 3)) == std::vector<std::uint64_t>{1, 5, 9, 3, 7, 1, 5, 9, 3, 7, 1});
    }
  }
  GIVEN("a stride larger than the region, and the defaults") {
    auto big = build_ok({{"type", "sequential"}, {"stride", 13}}, 10);
    auto dflt = build_ok({{"type", "sequential"}}, 4);
    THEN("the stride is taken modulo the region; the default is a plain scan") {
      REQUIRE(pages_of(draw(*big, 5)) == std::vector<std::uint64_t>{0, 3, 6, 9, 2});
      REQUIRE(pages_of(draw(*dflt, 6)) == std::vector<std::uint64_t>{0, 1, 2, 3, 0, 1});
    }
  }
}

SCENARIO("phases switches workloads by simulated time", "[workload]") {
  // Two sequential scans that are easy to tell apart: phase 0 from page 0, phase 1 from 500.
  auto phases_json = [](bool repeat) {
    return Json{{"type", "phases"},
                {"repeat", repeat},
                {"phases", Json::array({{{"duration", "1ms"}, {"workload", {{"type", "sequential"}}}},
                                        {{"duration", 2'000'000},
                                         {"workload", {{"type", "sequential"}, {"start", 500}}}}})}};
  };
  const core::TimeNs ms = core::kNsPerMs;
  GIVEN("phases of 1 ms and 2 ms, repeating") {
    auto g = build_ok(phases_json(true), 1000);
    THEN("each batch goes to the phase of its time, and each phase resumes where it stopped") {
      REQUIRE(access_page(draw(*g, 4, 0)[0]) == 0);
      REQUIRE(access_page(draw(*g, 4, ms - 1)[0]) == 4);
      REQUIRE(access_page(draw(*g, 4, ms)[0]) == 500);
      REQUIRE(access_page(draw(*g, 4, 3 * ms - 1)[0]) == 504);
      REQUIRE(access_page(draw(*g, 4, 3 * ms)[0]) == 8);  // the cycle starts again
      REQUIRE(access_page(draw(*g, 4, 4 * ms + 5)[0]) == 508);
      REQUIRE(access_page(draw(*g, 4, 300 * ms + 10)[0]) == 12);  // 300 ms = 100 cycles
      REQUIRE(access_page(draw(*g, 4, 0)[0]) == 16);  // time may jump back (a new quantum origin)
    }
  }
  GIVEN("the same phases without repeat") {
    auto g = build_ok(phases_json(false), 1000);
    THEN("after the last phase it stays on the last") {
      REQUIRE(access_page(draw(*g, 4, 0)[0]) == 0);
      REQUIRE(access_page(draw(*g, 4, 3 * ms)[0]) == 500);
      REQUIRE(access_page(draw(*g, 4, 1000 * ms)[0]) == 504);
    }
  }
  GIVEN("phases of uniform and zipf") {
    const Json j = samples().at("phases");
    auto g = build_ok(j, 5000);
    auto u = build_ok({{"type", "uniform"}}, 5000, kSeed, std::string(kPath) + "/phase/0");
    auto z = build_ok({{"type", "zipf"}}, 5000, kSeed, std::string(kPath) + "/phase/1");
    THEN("phase i draws from its own stream <path>/phase/<i>") {
      REQUIRE(draw(*g, 1000, 0) == draw(*u, 1000));
      REQUIRE(draw(*g, 1000, core::kNsPerMs) == draw(*z, 1000));
      REQUIRE(draw(*g, 1000, 2 * core::kNsPerMs) == draw(*u, 1000));
    }
  }
  GIVEN("a nested phases workload inside the second phase") {
    const Json inner = {{"type", "phases"},
                        {"phases", Json::array({{{"duration", "100us"}, {"workload", {{"type", "sequential"}, {"start", 100}}}},
                                                {{"duration", "100us"}, {"workload", {{"type", "sequential"}, {"start", 200}}}}})}};
    const Json j = {{"type", "phases"},
                    {"phases", Json::array({{{"duration", "1ms"}, {"workload", {{"type", "sequential"}}}},
                                            {{"duration", "1ms"}, {"workload", inner}}})}};
    auto g = build_ok(j, 1000);
    THEN("the inner durations count from the start of the outer phase") {
      REQUIRE(access_page(draw(*g, 1, ms)[0]) == 100);
      REQUIRE(access_page(draw(*g, 1, ms + 99'999)[0]) == 101);
      REQUIRE(access_page(draw(*g, 1, ms + 100'000)[0]) == 200);
      REQUIRE(access_page(draw(*g, 1, ms + 200'000)[0]) == 102);
      REQUIRE(access_page(draw(*g, 1, 3 * ms + 100'000)[0]) == 201);
    }
  }
  GIVEN("a write_ratio on the phases object and one phase that sets its own") {
    const Json j = {{"type", "phases"},
                    {"write_ratio", 1.0},
                    {"phases", Json::array({{{"duration", "1ms"}, {"workload", {{"type", "uniform"}}}},
                                            {{"duration", "1ms"},
                                             {"workload", {{"type", "uniform"}, {"write_ratio", 0.0}}}}})}};
    auto b = build(j, 100);
    REQUIRE(b->sink.empty());
    THEN("phases without their own write_ratio inherit it, and the resolved object says so") {
      REQUIRE(writes(draw(*b->gen, 1000, 0)) == 1000);
      REQUIRE(writes(draw(*b->gen, 1000, ms)) == 0);
      REQUIRE(b->resolved["phases"][0]["workload"]["write_ratio"] == 1.0);
      REQUIRE(b->resolved["phases"][1]["workload"]["write_ratio"] == 0.0);
      REQUIRE(b->resolved["phases"][0]["duration"] == ms);
      REQUIRE(b->resolved["repeat"] == true);
    }
  }
}

// `trace` replays a file: its writes and its stream are the file's, not drawn from write_ratio
// or the seed (its own tests are in test_trace.cpp).
bool replays_a_file(const GeneratorInfo& info) { return std::string(info.name) == "trace"; }

SCENARIO("every generator honours write_ratio", "[workload]") {
  for (const auto& info : generator_registry()) {
    if (replays_a_file(info)) continue;
    GIVEN(info.name) {
      const Json base = samples().at(info.name);
      THEN("0 gives no writes, 1 gives only writes, 0.3 gives 30% (5 sigma)") {
        auto none = build_ok(base, 4096);
        auto all = build_ok(with(base, "write_ratio", 1.0), 4096);
        auto some = build_ok(with(base, "write_ratio", 0.3), 4096);
        REQUIRE(writes(draw(*none, 100'000)) == 0);
        REQUIRE(writes(draw(*all, 100'000)) == 100'000);
        require_binomial(writes(draw(*some, 1'000'000, core::kNsPerMs / 2)), 1'000'000, 0.3);
      }
    }
  }
}

SCENARIO("every generator is deterministic per (seed, path)", "[workload]") {
  for (const auto& info : generator_registry()) {
    if (replays_a_file(info)) continue;
    GIVEN(info.name << " with writes (so even a scan has randomness)") {
      const Json j = with(samples().at(info.name), "write_ratio", 0.5);
      auto a = build_ok(j, 1 << 20);
      auto b = build_ok(j, 1 << 20);
      auto other_path = build_ok(j, 1 << 20, kSeed, "vm/test/vcpu/1/workload");
      auto other_seed = build_ok(j, 1 << 20, kSeed + 1);
      THEN("the same seed and path give the same stream, another path or seed another") {
        const auto ref = draw(*a, 10'000);
        REQUIRE(draw(*b, 10'000) == ref);
        REQUIRE(draw(*other_path, 10'000) != ref);
        REQUIRE(draw(*other_seed, 10'000) != ref);
      }
      THEN("the batch size does not change the stream") {
        REQUIRE(draw(*a, 10'000, 0, 256) == draw(*b, 10'000, 0, 7));
      }
    }
  }
}

SCENARIO("bad workload parameters are reported with their JSON pointers", "[workload]") {
  auto expect = [](const Json& j, const std::string& pointer, const std::string& text,
                   std::uint64_t pages = 1000) {
    auto b = build(j, pages);
    INFO("input: " << j.dump() << "\nproblems:\n" << problems_text(b->sink));
    REQUIRE(b->gen == nullptr);
    REQUIRE(has_problem(b->sink, pointer, text));
    return b;
  };
  const std::string w = kPointer;
  GIVEN("an unknown type") {
    auto b = expect({{"type", "zipff"}, {"theta", 1.1}}, w + "/type", "did you mean 'zipf'?");
    THEN("that is the only problem: the type's own keys are not called unknown") {
      REQUIRE(b->sink.problems().size() == 1);
    }
  }
  GIVEN("a missing type, or not a string") {
    expect(Json::object(), w + "/type", "missing required");
    expect({{"type", 3}}, w + "/type", "expected enum");
  }
  GIVEN("theta out of [0, 10)") {
    expect({{"type", "zipf"}, {"theta", 10}}, w + "/theta", "< 10");
    expect({{"type", "zipf"}, {"theta", 12.5}}, w + "/theta", "out of range");
    expect({{"type", "zipf"}, {"theta", -0.5}}, w + "/theta", "out of range");
  }
  GIVEN("write_ratio or hot_probability outside [0, 1]") {
    expect({{"type", "uniform"}, {"write_ratio", 1.5}}, w + "/write_ratio", "out of range");
    expect({{"type", "hot_cold"}, {"hot_probability", -0.1}}, w + "/hot_probability", "out of range");
  }
  GIVEN("sequential with stride 0 or a start past the region") {
    expect({{"type", "sequential"}, {"stride", 0}}, w + "/stride", "out of range");
    expect({{"type", "sequential"}, {"start", 1000}}, w + "/start", "outside the region", 1000);
  }
  GIVEN("phases missing, empty, or not an array") {
    expect({{"type", "phases"}}, w + "/phases", "missing required array");
    expect({{"type", "phases"}, {"phases", Json::array()}}, w + "/phases", "at least one phase");
    expect({{"type", "phases"}, {"phases", 5}}, w + "/phases", "expected an array");
  }
  GIVEN("a phase with duration 0, a negative one, or none") {
    const Json wl = {{"type", "uniform"}};
    expect({{"type", "phases"}, {"phases", Json::array({{{"duration", "0ms"}, {"workload", wl}}})}},
           w + "/phases/0/duration", "> 0");
    expect({{"type", "phases"},
            {"phases", Json::array({{{"duration", "1ms"}, {"workload", wl}}, {{"duration", -5}, {"workload", wl}}})}},
           w + "/phases/1/duration", "> 0");
    expect({{"type", "phases"}, {"phases", Json::array({{{"workload", wl}}})}}, w + "/phases/0/duration",
           "missing required");
    auto b = expect({{"type", "phases"}, {"phases", Json::array({{{"duration", "1 fortnight"}, {"workload", wl}}})}},
                    w + "/phases/0/duration", "unknown time unit");
    REQUIRE(b->sink.problems().size() == 1);  // not also "must last > 0"
  }
  GIVEN("a phase that is not an object") {
    auto b = expect({{"type", "phases"}, {"phases", Json::array({7})}}, w + "/phases/0", "expected an object");
    REQUIRE(b->sink.problems().size() == 1);
  }
  GIVEN("problems inside a phase's workload") {
    expect({{"type", "phases"}, {"phases", Json::array({{{"duration", "1ms"}}})}}, w + "/phases/0/workload",
           "missing required object");
    expect({{"type", "phases"},
            {"phases", Json::array({{{"duration", "1ms"}, {"workload", {{"type", "zipf"}, {"thta", 1.0}}}}})}},
           w + "/phases/0/workload/thta", "did you mean 'theta'?");
    expect({{"type", "phases"},
            {"phases", Json::array({{{"duration", "1ms"}, {"workload", {{"type", "unifrom"}}}}})}},
           w + "/phases/0/workload/type", "did you mean 'uniform'?");
    expect({{"type", "phases"},
            {"phases", Json::array({{{"duration", "1ms"}, {"dur", 1}, {"workload", {{"type", "uniform"}}}}})}},
           w + "/phases/0/dur", "unknown key");
  }
  GIVEN("an unknown key next to a valid type") {
    auto b = build({{"type", "zipf"}, {"scrambel", false}}, 1000);
    THEN("the generator is built and the caller's finish() reports the key") {
      REQUIRE(b->gen != nullptr);  // make_generator does not call finish(); the caller does
      REQUIRE(has_problem(b->sink, w + "/scrambel", "did you mean 'scramble'?"));
    }
  }
  GIVEN("an empty region") { expect({{"type", "uniform"}}, w, "0 pages", 0); }
}

SCENARIO("the resolved workload object lists every parameter with its value", "[workload]") {
  auto b = build({{"type", "zipf"}}, 1000);
  REQUIRE(b->sink.empty());
  REQUIRE(b->resolved == Json{{"type", "zipf"}, {"write_ratio", 0.0}, {"theta", 0.99}, {"scramble", true}});
  auto h = build({{"type", "hot_cold"}, {"hot_fraction", 0.5}}, 1000);
  REQUIRE(h->resolved == Json{{"type", "hot_cold"}, {"write_ratio", 0.0}, {"hot_fraction", 0.5},
                              {"hot_probability", 0.8}, {"hot_offset", 0.0}});
}
