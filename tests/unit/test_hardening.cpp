// The reader's rules against hostile input (issue 13), one SCENARIO per class of input that
// used to crash, hang, exit 1 or truncate silently: bounded nesting, every time quantity >= 1 ns
// after rounding, integers range-checked before narrowing, names that can name a directory,
// --set pointer tokens, and the JSON text rules (duplicate keys, numbers beyond double, UTF-8).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "models/workload/generator.hpp"
#include "sim/core/error.hpp"
#include "sim/core/json_input.hpp"
#include "sim/core/watchdog.hpp"
#include "sim/scenario/resources.hpp"
#include "sim/scenario/scenario.hpp"

using namespace vmemsim;
using core::InputError;
using core::InputProblem;
using core::Json;

namespace {

constexpr const char* kFile = "h.json";

Json base() {
  return Json::parse(R"({
    "name": "h",
    "duration": "1s",
    "hosts": [{"name": "h", "nodes": [{"cores": 4, "memory": "1GiB"}, {"cores": 4, "memory": "1GiB"}]}],
    "vms": [{"name": "web", "vcpus": 2, "memory": "256MiB", "workload": {"type": "zipf", "theta": 0.9}}]
  })");
}

Json with(const std::string& ptr, const Json& value, Json doc = base()) {
  doc[Json::json_pointer(ptr)] = value;
  return doc;
}

std::vector<InputProblem> problems_of(const Json& doc, const scenario::Overrides& ov = {}) {
  try {
    scenario::parse_scenario(doc, kFile, ov);
  } catch (const InputError& e) {
    REQUIRE(e.file() == kFile);
    return e.problems();
  }
  FAIL("no InputError for " << core::json_excerpt(doc, 200));
  return {};
}

InputProblem one_problem(const Json& doc, const scenario::Overrides& ov = {}) {
  auto ps = problems_of(doc, ov);
  std::string all;
  for (const auto& p : ps) all += "\n  " + p.pointer + ": " + p.message;
  INFO("problems:" << all);
  REQUIRE(ps.size() == 1);
  return ps[0];
}

InputProblem set_problem(const std::string& set) {
  scenario::Overrides ov;
  ov.sets = {set};
  return one_problem(base(), ov);
}

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

SCENARIO("JSON text: nesting is bounded before a document is built", "[hardening]") {
  GIVEN("a value nested 100 000 deep where a string is expected") {
    const std::string text = "{\"name\": " + nested_arrays(100000) + "}";
    THEN("reading stops at the limit with the pointer of the level that is too deep") {
      try {
        core::parse_json_text(text, kFile);
        FAIL("no error");
      } catch (const InputError& e) {
        REQUIRE(e.problems().size() == 1);
        const auto& p = e.problems()[0];
        CHECK(p.pointer.rfind("/name/0/0/0", 0) == 0);
        CHECK(p.message.find("nested more than 64 levels deep") != std::string::npos);
      }
    }
  }
  GIVEN("exactly the limit") {
    THEN("it reads") { CHECK(core::parse_json_text(nested_arrays(core::kMaxJsonDepth), kFile).is_array()); }
    THEN("one more level does not") { CHECK_THROWS_AS(core::parse_json_text(nested_arrays(core::kMaxJsonDepth + 1), kFile), InputError); }
  }
  GIVEN("a document built in memory, too deep (as --set or a test could build it)") {
    Json deep = Json::array();
    for (int i = 0; i < 70; ++i) deep = Json::array({deep});
    auto p = one_problem(with("/description", deep));
    CHECK(p.pointer.rfind("/description/0/0", 0) == 0);
    CHECK(p.message.find("nested more than 64 levels deep") != std::string::npos);
  }
  GIVEN("a --set pointer with more tokens than the depth limit") {
    std::string ptr;
    for (int i = 0; i < 100; ++i) ptr += "/a";
    auto p = set_problem(ptr + "=1");
    CHECK(p.message.find("a scenario is at most 64 levels deep") != std::string::npos);
  }
}

SCENARIO("JSON text: duplicate keys, numbers beyond double range, invalid UTF-8", "[hardening]") {
  GIVEN("an object with a key given twice") {
    try {
      core::parse_json_text(R"({"vms": [{"name": "a", "vcpus": 1, "vcpus": 2}]})", kFile);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.problems()[0].pointer == "/vms/0/vcpus");
      CHECK(e.problems()[0].message == "duplicate key 'vcpus' in this object");
    }
  }
  GIVEN("the same key in two different objects") {
    CHECK_NOTHROW(core::parse_json_text(R"({"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]})", kFile));
  }
  GIVEN("1e309") {
    try {
      core::parse_json_text(R"({"seed": [1, 1e309]})", kFile);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.problems()[0].pointer == "/seed/1");
      CHECK(e.problems()[0].message.find("number out of range") != std::string::npos);
    }
  }
  GIVEN("--set values that break those rules") {
    CHECK(set_problem("/seed=1e309").message.find("number out of range") != std::string::npos);
    CHECK(set_problem(R"(/vms/0/workload={"type": "zipf", "type": "uniform"})").message.find("duplicate key 'type'") !=
          std::string::npos);
    CHECK(set_problem("/name=\xff\xfe").message == "--set: the text is not valid UTF-8");
  }
  GIVEN("UTF-8 validation") {
    CHECK(core::valid_utf8("plain ascii"));
    CHECK(core::valid_utf8("\xC2\xB5s"));            // µs
    CHECK(core::valid_utf8("\xF0\x9F\x98\x80"));     // U+1F600
    CHECK_FALSE(core::valid_utf8("\xC0\xAF"));       // overlong '/'
    CHECK_FALSE(core::valid_utf8("\xED\xA0\x80"));   // a UTF-16 surrogate
    CHECK_FALSE(core::valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
    CHECK_FALSE(core::valid_utf8("\xE2\x82"));       // truncated
  }
  GIVEN("a wrong-typed value of any size") {
    Json big = Json::array();
    for (int i = 0; i < 100000; ++i) big.push_back(i);
    auto p = one_problem(with("/vms/0/vcpus", big));
    THEN("the message quotes at most 80 bytes of it") {
      CHECK(p.pointer == "/vms/0/vcpus");
      CHECK(p.message.size() < 160);
      CHECK(p.message.find("...") != std::string::npos);
    }
  }
}

SCENARIO("--set pointer tokens are RFC 6901 array indices or errors", "[hardening]") {
  CHECK(set_problem("/vms/01/vcpus=2").message ==
        "--set: '/vms/01': '01' is not an array index (digits without a leading zero)");
  CHECK(set_problem("/vms/00000000000000000000001/vcpus=2").message.find("is not an array index") != std::string::npos);
  CHECK(set_problem("/vms/99999999999999999999999/vcpus=2").message.find("is not an array index") != std::string::npos);
  CHECK(set_problem("/vms/9999999999999999999/vcpus=2").message == "--set: '/vms/9999999999999999999' does not exist in the scenario");
  CHECK(set_problem("/vms/-/vcpus=2").message.find("is not an array index") != std::string::npos);
  CHECK(set_problem("/hosts/0/nodes/01=1").message.find("is not an array index") != std::string::npos);
  CHECK(core::parse_array_index("0") == std::optional<std::size_t>(0));
  CHECK(core::parse_array_index("1234") == std::optional<std::size_t>(1234));
  CHECK_FALSE(core::parse_array_index(""));
  CHECK_FALSE(core::parse_array_index("+1"));
  CHECK_FALSE(core::parse_array_index("12345678901234567890"));
}

SCENARIO("integers are range-checked before they are narrowed", "[hardening]") {
  GIVEN("a seed of 2^64-1 (as --seed gives it)") {
    scenario::Overrides ov;
    ov.seed = 18446744073709551615ull;
    auto p = one_problem(base(), ov);
    THEN("the message shows the value given, not -1") {
      CHECK(p.pointer == "/seed");
      CHECK(p.message == "value 18446744073709551615 is out of range [0, 9e+18]");
    }
  }
  GIVEN("an integral float beyond int64") {
    CHECK(one_problem(with("/vms/0/vcpus", 1e300)).message == "value 1e+300 is out of range [1, 1024]");
    CHECK(one_problem(with("/vms/0/memory", 18446744073709551615ull)).message.find("18446744073709551615 is out of range") !=
          std::string::npos);
  }
  GIVEN("a node index of 2^32 (would narrow to node 0)") {
    auto p = one_problem(with("/vms/0/cpu_nodes", Json::array({4294967296ull})));
    CHECK(p.pointer == "/vms/0/cpu_nodes/0");
    CHECK(p.message == "expected a node index below 2, got 4294967296");
  }
}

SCENARIO("every access takes at least 1 ns after rounding", "[hardening]") {
  GIVEN("a latency matrix entry that rounds to 0 ns") {
    auto ps = problems_of(with("/hosts/0/latency_ns", Json::parse("[[0.4, 100], [100, 90]]")));
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/hosts/0/latency_ns/0/0");
    CHECK(ps[0].message == "latency 0.4 ns (as given) rounds to 0 ns: every access must take between 1 ns and 1 s");
  }
  GIVEN("a SLIT distance that scales dram_latency_ns below 0.5 ns") {
    auto ps = problems_of(with("/hosts/0/distances", Json::parse("[[10, 0.01], [21, 10]]")));
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/hosts/0/distances/0/1");
    CHECK(ps[0].message.find("rounds to 0 ns") != std::string::npos);
  }
  GIVEN("a distance of 1e300 (overflowed llround)") {
    auto p = one_problem(with("/hosts/0/distances", Json::parse("[[10, 1e300], [21, 10]]")));
    CHECK(p.pointer == "/hosts/0/distances");
    CHECK(p.message == "expected a 2x2 matrix of positive numbers (one row per node), each at most 1e9");
  }
  GIVEN("a distance whose latency exceeds a second") {
    auto ps = problems_of(with("/hosts/0/distances", Json::parse("[[10, 1e9], [21, 10]]")));
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].pointer == "/hosts/0/distances/0/1");
    CHECK(ps[0].message.find("rounds to more than 1 s") != std::string::npos);
  }
  GIVEN("durations beyond the simulator's clock") {
    auto p = one_problem(with("/duration", "1000000000s"));
    CHECK(p.pointer == "/duration");
    CHECK(p.message.find("longer than the simulator's limit") != std::string::npos);
    CHECK(one_problem(with("/quantum", 9000000000000000000ll)).message.find("longer than the simulator's limit") !=
          std::string::npos);
  }
}

SCENARIO("sizes that would allocate before they are checked are refused first", "[hardening]") {
  GIVEN("65 000 NUMA nodes") {
    Json nodes = Json::array();
    for (int i = 0; i < 65000; ++i) nodes.push_back({{"cores", 1}, {"memory", "4MiB"}});
    auto ps = problems_of(with("/hosts/0/nodes", nodes));
    THEN("the node count is reported and no n x n matrix is built (the resolved host has none)") {
      REQUIRE_FALSE(ps.empty());
      CHECK(ps[0].pointer == "/hosts/0/nodes");
      CHECK(ps[0].message == "at most 64 NUMA nodes per host, got 65000");
    }
  }
  GIVEN("three fleets of 65 000 VMs") {
    Json doc = base();
    doc["vms"][0]["count"] = 65000;
    doc["vms"][0]["memory"] = "4KiB";
    doc["vms"][0]["vcpus"] = 1;
    doc["vms"] = Json::array({doc["vms"][0], doc["vms"][0], doc["vms"][0]});
    for (int i = 0; i < 3; ++i) doc["vms"][i]["name"] = "fleet" + std::to_string(i);
    auto ps = problems_of(doc);
    THEN("the second entry is refused before its copies are made") {
      REQUIRE_FALSE(ps.empty());
      CHECK(ps[0].pointer == "/vms/1/count");
      CHECK(ps[0].message == "the scenario would have more than 65000 VMs");
    }
  }
  GIVEN("host memory beyond the 32-bit frame space") {
    auto p = one_problem(with("/hosts/0/nodes", Json::parse(R"([{"cores": 4, "memory": "16TiB"}, {"cores": 4, "memory": "16TiB"}])")));
    CHECK(p.pointer == "/hosts/0/nodes");
    CHECK(p.message.find("exceeds the simulator's 32-bit frame numbers") != std::string::npos);
  }
  GIVEN("`phases` nested in `phases` deeper than the limit") {
    Json w = {{"type", "uniform"}};
    for (unsigned i = 0; i <= workload::kMaxPhaseDepth; ++i)
      w = {{"type", "phases"}, {"phases", Json::array({{{"duration", "1s"}, {"workload", w}}})}};
    auto p = one_problem(with("/vms/0/workload", w));
    CHECK(p.message == "`phases` workloads nested more than 8 deep");
    THEN("one level less reads") {
      Json ok = w["phases"][0]["workload"];
      CHECK_NOTHROW(scenario::parse_scenario(with("/vms/0/workload", ok), kFile));
    }
  }
  GIVEN("more phases than the limit") {
    Json phases = Json::array();
    for (int i = 0; i < 5000; ++i) phases.push_back({{"duration", "1ms"}, {"workload", {{"type", "uniform"}}}});
    auto p = one_problem(with("/vms/0/workload", {{"type", "phases"}, {"phases", phases}}));
    CHECK(p.pointer == "/vms/0/workload/phases");
    CHECK(p.message == "at most 4096 phases, got 5000");
  }
}

SCENARIO("a scenario name must be able to name its results directory", "[hardening]") {
  CHECK(one_problem(with("/name", "")).message == "must not be empty (it names the results directory)");
  CHECK(one_problem(with("/name", std::string(300, 'a'))).message ==
        "is 300 bytes long; at most 200 (it names the results directory)");
  CHECK(one_problem(with("/name", std::string(1, '\0'))).message ==
        "must not contain control characters (it names the results directory)");
  CHECK(one_problem(with("/name", "a\nb")).message ==
        "must not contain control characters (it names the results directory)");
  CHECK_NOTHROW(scenario::parse_scenario(with("/name", std::string(200, 'a')), kFile));
  CHECK_NOTHROW(scenario::parse_scenario(with("/name", "caf\xC3\xA9 2"), kFile));
}

SCENARIO("the progress watchdog trips on a clock that stands still, not on simultaneous steps", "[hardening]") {
  GIVEN("a watchdog with a limit of 5") {
    core::ProgressWatchdog w(5);
    THEN("steps that advance time never trip it") {
      for (core::TimeNs t = 0; t < 100; ++t) REQUIRE(w.step(t));
    }
    THEN("4 more steps at one time are fine, the 5th trips, and it names the time") {
      REQUIRE(w.step(7));
      for (int i = 0; i < 4; ++i) REQUIRE(w.step(7));
      CHECK_FALSE(w.step(7));
      CHECK(w.stuck_at() == 7);
      CHECK(w.steps_without_progress() == 5);
    }
    THEN("an advance resets the count") {
      for (int i = 0; i < 4; ++i) REQUIRE(w.step(3));
      REQUIRE(w.step(4));
      for (int i = 0; i < 4; ++i) REQUIRE(w.step(4));
    }
  }
  GIVEN("the engine's limit") {
    CHECK(core::ProgressWatchdog::limit_for(1) == 1'000'000);
    CHECK(core::ProgressWatchdog::limit_for(65000ull * 1024) == 65000ull * 1024 * 1024);
  }
}

SCENARIO("resource estimates grow with the keys that drive them", "[hardening]") {
  const auto sc = scenario::parse_scenario(base(), kFile);
  const auto e = scenario::estimate_resources(sc);
  GIVEN("the base scenario") {
    THEN("guest pages cost 32 B each, plus the sampler's series, threads and the process") {
      CHECK(e.resident > 65536ull * 32);
      CHECK(e.resident < (200ull << 20));
      CHECK(e.actors == 1 + 2 + sc.kernel.daemons.size() * 2);
      CHECK(e.stack_bytes == scenario::kDefaultStackBytes);
    }
  }
  GIVEN("a tighter --max-memory") {
    try {
      scenario::check_resources(sc, 1 << 20);
      FAIL("no error");
    } catch (const InputError& e2) {
      CHECK(e2.problems()[0].message.find("allowed by --max-memory") != std::string::npos);
    }
  }
  GIVEN("a sampling interval of 1 us over 1000 s") {
    auto doc = with("/duration", "1000s");
    doc["output"] = {{"sampling_interval", "1us"}, {"wss_windows", {"1ms"}}};
    doc["quantum"] = "1us";
    const auto big = scenario::estimate_resources(scenario::parse_scenario(doc, kFile));
    THEN("the per-interval series dominate and name /output/sampling_interval") {
      CHECK(big.parts.front().pointer == "/output/sampling_interval");
      CHECK(big.parts.front().bytes > (1ull << 40));
    }
  }
  GIVEN("a VM of 1 TiB") {
    auto doc = with("/vms/0/memory", "1TiB");
    doc["hosts"][0]["nodes"] = Json::parse(R"([{"cores": 4, "memory": "1TiB"}, {"cores": 4, "memory": "1TiB"}])");
    const auto big = scenario::estimate_resources(scenario::parse_scenario(doc, kFile));
    CHECK(big.parts.front().pointer == "/vms/0/memory");
    // Two nodes: NUMA balancing is on by the kernel's boot rule and adds its per-folio state.
    CHECK(big.parts.front().bytes == (1ull << 28) * (32 + scenario::kBytesPerPageNuma));
    CHECK(big.frames_pointer == "/hosts/0/nodes");
    CHECK(big.frame_bytes == 2 * (1ull << 28) * scenario::kBytesPerFrame);
  }
  GIVEN("the same VM with NUMA balancing off") {
    auto doc = with("/vms/0/memory", "1TiB");
    doc["hosts"][0]["nodes"] = Json::parse(R"([{"cores": 4, "memory": "1TiB"}, {"cores": 4, "memory": "1TiB"}])");
    doc["kernel"]["numa"] = {{"numa_balancing", 0}};
    const auto big = scenario::estimate_resources(scenario::parse_scenario(doc, kFile));
    CHECK(big.parts.front().bytes == (1ull << 28) * 32);
  }
  GIVEN("the same VM on one node with KSM on (and off but with a content description)") {
    auto doc = with("/vms/0/memory", "1TiB");
    doc["hosts"][0]["nodes"] = Json::parse(R"([{"cores": 4, "memory": "1TiB"}])");
    doc["kernel"]["ksm"] = {{"run", 1}};
    const auto ksm = scenario::estimate_resources(scenario::parse_scenario(doc, kFile));
    CHECK(ksm.parts.front().bytes ==
          (1ull << 28) * (32 + scenario::kBytesPerPageKsm + scenario::kBytesPerPageContent));
    doc["kernel"]["ksm"] = {{"run", 0}};
    doc["vms"][0]["content"] = {{"zero_share", 0.5}};
    const auto described = scenario::estimate_resources(scenario::parse_scenario(doc, kFile));
    CHECK(described.parts.front().bytes == (1ull << 28) * (32 + scenario::kBytesPerPageContent));
  }
  GIVEN("1024 vCPUs and SimGrid's 8 MiB stacks") {
    auto doc = with("/vms/0/vcpus", 1024);
    const auto big = scenario::estimate_resources(scenario::parse_scenario(doc, kFile));
    CHECK(big.address_space > 1024ull * (8 << 20));
    doc["simgrid"] = {{"cfg", {"contexts/stack-size:64"}}};
    const auto small = scenario::estimate_resources(scenario::parse_scenario(doc, kFile));
    CHECK(small.stack_bytes == 64 << 10);
    CHECK(small.address_space < big.address_space / 10);
  }
}

SCENARIO("a sweep point's default timeout follows its simulated work", "[hardening]") {
  const auto sc = scenario::parse_scenario(base(), kFile);
  // 2 vCPUs x 10 M accesses/s x 1 s = 20 M accesses: 20 s beyond the minute, plus samples.
  CHECK(scenario::default_point_timeout(sc) == Approx(80.0).margin(0.1));
  const auto longer = scenario::parse_scenario(with("/duration", "100s"), kFile);
  CHECK(scenario::default_point_timeout(longer) == Approx(60.0 + 2000.0).margin(1.0));
}
