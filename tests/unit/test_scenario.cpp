// Scenario reading (sim/scenario): every kind of input error with its exact JSON pointer and
// message, --set/--seed overrides, defaults in the resolved scenario, NUMA distances, units,
// `count` expansion, the overcommit check; and the unit parsers of sim/core/units.hpp.
//
// Messages are compared in full where a user reads them (did-you-mean, ranges, units), so a
// change in wording or in the pointer fails here first.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"
#include "sim/scenario/scenario.hpp"

using namespace vmemsim;
using core::InputError;
using core::InputProblem;
using core::Json;
using scenario::Overrides;
using scenario::parse_scenario;
using scenario::Scenario;

namespace {

constexpr const char* kFile = "t.json";

// A small valid scenario: one two-node host, one VM.
Json base() {
  return Json::parse(R"({
    "name": "t",
    "duration": "1s",
    "hosts": [{"name": "h", "nodes": [{"cores": 4, "memory": "1GiB"}, {"cores": 4, "memory": "1GiB"}]}],
    "vms": [{"name": "web", "vcpus": 2, "memory": "256MiB", "workload": {"type": "zipf", "theta": 0.9}}]
  })");
}

// `base()` with the value at `ptr` replaced (or added to an existing object).
Json with(const std::string& ptr, const Json& value, Json doc = base()) {
  doc[Json::json_pointer(ptr)] = value;
  return doc;
}

Json without(const std::string& ptr, Json doc = base()) {
  Json::json_pointer p(ptr);
  doc[p.parent_pointer()].erase(p.back());
  return doc;
}

std::string show(const std::vector<InputProblem>& ps) {
  std::string s;
  for (const auto& p : ps) s += "\n  " + p.pointer + ": " + p.message;
  return s;
}

Scenario parse_ok(const Json& doc, const Overrides& ov = {}) {
  try {
    return parse_scenario(doc, kFile, ov);
  } catch (const InputError& e) {
    FAIL("unexpected InputError:" << show(e.problems()));
  }
  return {};
}

// The problems parse_scenario reports (it must throw an InputError naming kFile).
std::vector<InputProblem> problems_of(const Json& doc, const Overrides& ov = {}) {
  try {
    parse_scenario(doc, kFile, ov);
  } catch (const InputError& e) {
    REQUIRE(e.file() == kFile);
    return e.problems();
  }
  FAIL("no InputError for " << doc.dump());
  return {};
}

// Exactly one problem (no cascade), returned for exact checks.
InputProblem one_problem(const Json& doc, const Overrides& ov = {}) {
  auto ps = problems_of(doc, ov);
  INFO("problems:" << show(ps));
  REQUIRE(ps.size() == 1);
  return ps[0];
}

}  // namespace

SCENARIO("unknown keys are errors with their JSON pointer and a did-you-mean", "[scenario]") {
  GIVEN("a misspelt top-level key") {
    auto p = one_problem(with("/durration", "2s"));
    THEN("the pointer names it and the closest known key is suggested") {
      CHECK(p.pointer == "/durration");
      CHECK(p.message == "unknown key 'durration' (did you mean 'duration'?)");
    }
  }
  GIVEN("misspelt keys in nested objects") {
    CHECK(one_problem(with("/vms/0/workload/thetaa", 0.5)).pointer == "/vms/0/workload/thetaa");
    CHECK(one_problem(with("/vms/0/workload/thetaa", 0.5)).message ==
          "unknown key 'thetaa' (did you mean 'theta'?)");
    CHECK(one_problem(with("/hosts/0/nodes/1/memroy", 1)).pointer == "/hosts/0/nodes/1/memroy");
    CHECK(one_problem(with("/kernel", {{"costs", {{"dram_latency", 90}}}})).message ==
          "unknown key 'dram_latency' (did you mean 'dram_latency_ns'?)");
    CHECK(one_problem(with("/kernel", {{"costs", {{"dram_latency", 90}}}})).pointer ==
          "/kernel/costs/dram_latency");
  }
  GIVEN("a key far from every known one") {
    auto p = one_problem(with("/hosts/0/swap", {{"read_bw", "1GB/s"}}));
    THEN("there is no suggestion") {
      CHECK(p.pointer == "/hosts/0/swap/read_bw");
      CHECK(p.message == "unknown key 'read_bw'");
    }
  }
  GIVEN("a key of another generator, and a vCPU-level key inside a phase") {
    CHECK(one_problem(with("/vms/0/workload/stride", 2)).message == "unknown key 'stride'");
    Json ph = with("/vms/0/workload", Json::parse(R"({"type": "phases", "phases": [
        {"duration": "1s", "workload": {"type": "uniform"}},
        {"duration": "1s", "workload": {"type": "uniform", "rate": "1M"}}]})"));
    auto p = one_problem(ph);
    CHECK(p.pointer == "/vms/0/workload/phases/1/workload/rate");
    CHECK(p.message == "unknown key 'rate'");
  }
  GIVEN("a key with '/' and '~' in it") {
    auto p = one_problem(with("/output", {{"a/b~c", 1}}));
    THEN("the pointer escapes them (RFC 6901)") { CHECK(p.pointer == "/output/a~1b~0c"); }
  }
}

SCENARIO("values of the wrong type are reported with what was expected", "[scenario]") {
  auto p = one_problem(with("/vms/0/vcpus", "2"));
  CHECK(p.pointer == "/vms/0/vcpus");
  CHECK(p.message == "expected integer, got string \"2\"");

  p = one_problem(with("/vms/0/vcpus", 2.5));
  CHECK(p.message == "expected integer, got number 2.5");

  p = one_problem(with("/hosts/0/nodes/0/memory", true));
  CHECK(p.pointer == "/hosts/0/nodes/0/memory");
  CHECK(p.message == "expected size, got boolean true (a size: bytes or a string such as \"4GiB\")");

  p = one_problem(with("/vms/0/workload/scramble", "yes"));
  CHECK(p.message == "expected boolean, got string \"yes\"");

  p = one_problem(with("/kernel", Json::array()));
  CHECK(p.pointer == "/kernel");
  CHECK(p.message == "expected an object, got array");

  p = one_problem(with("/hosts", Json::object()));
  CHECK(p.pointer == "/hosts");
  CHECK(p.message == "expected an array, got object");

  p = one_problem(with("/vms/0/cpu_nodes", {"1"}));
  CHECK(p.pointer == "/vms/0/cpu_nodes/0");
  CHECK(p.message == "expected a node index below 2, got \"1\"");
}

SCENARIO("strings with unknown units are reported once, naming the accepted units", "[scenario]") {
  auto p = one_problem(with("/duration", "2 sec"));
  CHECK(p.pointer == "/duration");
  CHECK(p.message == "unknown time unit 'sec' in '2 sec' (expected one of: ns, us, \xC2\xB5s, ms, s, min, h)");

  p = one_problem(with("/hosts/0/nodes/0/memory", "1gib"));
  CHECK(p.pointer == "/hosts/0/nodes/0/memory");
  CHECK(p.message == "unknown size unit 'gib' in '1gib' (expected one of: B, KiB, MiB, GiB, TiB, kB, KB, MB, GB, TB)");

  auto ps = problems_of(with("/vms/0/workload/rate", "5 m"));
  REQUIRE(!ps.empty());
  CHECK(ps[0].pointer == "/vms/0/workload/rate");
  CHECK(ps[0].message == "unknown count unit 'm' in '5 m' (expected one of: k, K, M, G)");

  p = one_problem(with("/hosts/0/swap", {{"read_bandwidth", "3GB"}}));
  CHECK(p.pointer == "/hosts/0/swap/read_bandwidth");
  CHECK(p.message == "'3GB' is not a bandwidth (expected bytes/s or a string such as \"2GiB/s\")");

  p = one_problem(with("/output", {{"wss_windows", {"1s", "2 sec"}}}));
  CHECK(p.pointer == "/output/wss_windows/1");
  CHECK(p.message == "unknown time unit 'sec' in '2 sec' (expected one of: ns, us, \xC2\xB5s, ms, s, min, h)");
}

SCENARIO("out-of-range values name the range", "[scenario]") {
  auto p = one_problem(with("/vms/0/vcpus", 0));
  CHECK(p.pointer == "/vms/0/vcpus");
  CHECK(p.message == "value 0 is out of range [1, 1024]");

  p = one_problem(with("/vms/0/workload/write_ratio", 1.5));
  CHECK(p.pointer == "/vms/0/workload/write_ratio");
  CHECK(p.message == "value 1.5 is out of range [0, 1]");

  p = one_problem(with("/duration", "0ms"));
  CHECK(p.pointer == "/duration");
  CHECK(p.message == "value 0 is out of range [1, inf]");

  p = one_problem(with("/vms/0/home_node", 2));
  CHECK(p.pointer == "/vms/0/home_node");
  CHECK(p.message == "host has 2 node(s)");

  p = one_problem(with("/vms/0/workload/theta", 10));
  CHECK(p.message == "theta must be < 10, got 10.000000");

  p = one_problem(with("/vms/0/memory", "6KiB"));
  CHECK(p.pointer == "/vms/0/memory");
  CHECK(p.message == "6KiB is not a multiple of the 4KiB page size");
}

SCENARIO("missing required keys are reported with what they are", "[scenario]") {
  auto ps = problems_of(without("/vms/0/memory"));
  REQUIRE(!ps.empty());
  CHECK(ps[0].pointer == "/vms/0/memory");
  CHECK(ps[0].message == "missing required size 'memory': guest memory size (multiple of 4KiB)");

  auto p = one_problem(without("/name"));
  CHECK(p.pointer == "/name");
  CHECK(p.message == "missing required string 'name': scenario name; results go to results/<name>/");

  p = one_problem(without("/vms/0/workload/type"));
  CHECK(p.pointer == "/vms/0/workload/type");
  CHECK(p.message == "missing required enum 'type': which access generator (a registered name)");

  p = one_problem(without("/vms/0/workload"));
  CHECK(p.pointer == "/vms/0/workload");
  CHECK(p.message == "missing: give 'workload' (all vCPUs) or 'vcpu_groups'");

  p = one_problem(with("/vms/0/name", nullptr));  // null counts as absent
  CHECK(p.pointer == "/vms/0/name");
  CHECK(p.message.rfind("missing required string 'name'", 0) == 0);

  GIVEN("a host without nodes and a VM on it") {
    auto ps = problems_of(without("/hosts/0/nodes"));
    THEN("the missing nodes are reported (and the VM's node checks do not index them)") {
      INFO(show(ps));
      REQUIRE(!ps.empty());
      CHECK(ps[0].pointer == "/hosts/0/nodes");
      CHECK(ps[0].message == "missing required array 'nodes'");
    }
  }
}

SCENARIO("values outside an enum are reported with the choices and a did-you-mean", "[scenario]") {
  auto p = one_problem(with("/vms/0/backing", "shm"));
  CHECK(p.pointer == "/vms/0/backing");
  CHECK(p.message == "'shm' is not one of anon|shmem|hugetlb (did you mean 'shmem'?)");

  p = one_problem(with("/kernel", {{"variant", "rfc-v2"}}));
  CHECK(p.pointer == "/kernel/variant");
  CHECK(p.message == "'rfc-v2' is not one of upstream|rfc-v1|rwp (did you mean 'rfc-v1'?)");

  p = one_problem(with("/vms/0/workload/type", "zipff"));
  CHECK(p.pointer == "/vms/0/workload/type");
  CHECK(p.message == "'zipff' is not one of uniform|zipf|hot_cold|sequential|phases|trace (did you mean 'zipf'?)");

  p = one_problem(with("/vms/0/placement", "everywhere"));
  CHECK(p.message == "'everywhere' is not one of local|preferred|interleave");
}

SCENARIO("all problems of a file are reported together in one InputError", "[scenario]") {
  Json doc = with("/vms/0/vcpus", 0);
  doc["outptu"] = Json::object();
  doc["hosts"][0]["nodes"][1]["memory"] = "1 gigabyte";
  doc["vms"][0]["backing"] = "shm";
  try {
    parse_scenario(doc, kFile);
    FAIL("no InputError");
  } catch (const InputError& e) {
    const auto& ps = e.problems();
    INFO(show(ps));
    REQUIRE(ps.size() == 4);
    // In reading order: hosts, then the VM, then the top level's unknown keys.
    CHECK(ps[0].pointer == "/hosts/0/nodes/1/memory");
    CHECK(ps[1].pointer == "/vms/0/vcpus");
    CHECK(ps[2].pointer == "/vms/0/backing");
    CHECK(ps[3].pointer == "/outptu");
    CHECK(ps[3].message == "unknown key 'outptu' (did you mean 'output'?)");
    // what() is what main prints: one `file:/pointer: message` line per problem.
    const std::string what = e.what();
    CHECK(what.find("t.json:/vms/0/vcpus: value 0 is out of range [1, 1024]\n") != std::string::npos);
    CHECK(what.find("t.json:/outptu: unknown key 'outptu' (did you mean 'output'?)") != std::string::npos);
    CHECK(std::count(what.begin(), what.end(), '\n') == 3);
  }
}

SCENARIO("--set overrides values by JSON pointer", "[scenario]") {
  GIVEN("overrides of a string (bare), a number and a unit string") {
    Overrides ov;
    ov.sets = {"/vms/0/backing=shmem", "/vms/0/vcpus=3", "/vms/0/workload/rate=\"2M\"", "/duration=\"2s\""};
    Scenario sc = parse_ok(base(), ov);
    THEN("they are applied before reading") {
      CHECK(sc.vms[0].backing == mm::Backing::Shmem);
      CHECK(sc.vms[0].vcpus == 3);
      CHECK(sc.vms[0].groups[0].workload.rate == 2e6);
      CHECK(sc.duration_ns == 2'000'000'000);
      CHECK(sc.resolved["vms"][0]["backing"] == "shmem");
    }
  }
  GIVEN("an override adding a key to an existing object") {
    Overrides ov;
    ov.sets = {"/vms/0/bogus=1"};
    THEN("the reader reports the key like one written in the file") {
      auto p = one_problem(base(), ov);
      CHECK(p.pointer == "/vms/0/bogus");
      CHECK(p.message == "unknown key 'bogus'");
    }
  }
  GIVEN("a pointer through objects the file does not have") {
    Overrides ov;
    ov.sets = {"/kernel/costs/dram_latency_ns=100"};
    THEN("the objects are created, like the defaults they stand for") {
      auto sc = parse_scenario(base(), "t.json", ov);
      CHECK(sc.kernel.dram_latency_ns == 100);
      CHECK(sc.resolved["kernel"]["costs"]["dram_latency_ns"] == 100);
    }
  }
  GIVEN("a pointer through a scalar") {
    Overrides ov;
    ov.sets = {"/duration/x=1"};
    auto p = one_problem(base(), ov);
    CHECK(p.pointer == "/duration/x");
    CHECK(p.message == "--set: '/duration' is a string, not an object or array");
  }
  GIVEN("an array index past the end, or not a number") {
    Overrides ov;
    ov.sets = {"/vms/1/name=x"};
    auto p = one_problem(base(), ov);
    CHECK(p.pointer == "/vms/1/name");
    CHECK(p.message == "--set: '/vms/1' does not exist in the scenario");
    ov.sets = {"/vms/1={}"};
    p = one_problem(base(), ov);
    CHECK(p.pointer == "/vms/1");
    CHECK(p.message == "--set: array index '1' out of range (size 1)");
    ov.sets = {"/hosts/0/nodes/x=1"};
    p = one_problem(base(), ov);
    CHECK(p.message == "--set: '/hosts/0/nodes/x': 'x' is not an array index (digits without a leading zero)");
  }
  GIVEN("malformed overrides") {
    Overrides ov;
    ov.sets = {"seed=3"};
    auto p = one_problem(base(), ov);
    CHECK(p.pointer == "");
    CHECK(p.message == "--set 'seed=3': expected /json/pointer=value");
    ov.sets = {"/seed"};
    CHECK(one_problem(base(), ov).message == "--set '/seed': expected /json/pointer=value");
  }
}

SCENARIO("--seed overrides the scenario's seed", "[scenario]") {
  Overrides ov;
  ov.seed = 99;
  Scenario sc = parse_ok(with("/seed", 5), ov);
  CHECK(sc.seed == 99);
  CHECK(sc.resolved["seed"] == 99);
  CHECK(parse_ok(with("/seed", 5)).seed == 5);
  CHECK(parse_ok(base()).seed == 1);  // the default
}

SCENARIO("SimGrid settings (simgrid.cfg, --cfg) are part of the resolved scenario and its hash", "[scenario]") {
  GIVEN("none") {
    Scenario sc = parse_ok(base());
    CHECK(sc.simgrid_cfg.empty());
    CHECK(sc.resolved["simgrid"] == Json{{"cfg", Json::array()}});
  }
  GIVEN("settings in the file, then --cfg (appended, in order)") {
    Overrides ov;
    ov.simgrid_cfg = {"network/crosstraffic:1"};
    Scenario sc = parse_ok(with("/simgrid", {{"cfg", {"network/latency-factor:2"}}}), ov);
    CHECK(sc.simgrid_cfg == std::vector<std::string>{"network/latency-factor:2", "network/crosstraffic:1"});
    CHECK(sc.resolved["simgrid"]["cfg"] == Json{"network/latency-factor:2", "network/crosstraffic:1"});
    CHECK(scenario::scenario_hash(sc.resolved) != scenario::scenario_hash(parse_ok(base()).resolved));
    THEN("--cfg is the same as writing the setting in the file, and reads back to itself") {
      Scenario same = parse_ok(with("/simgrid/cfg", {"network/latency-factor:2", "network/crosstraffic:1"}));
      CHECK(same.resolved == sc.resolved);
      CHECK(parse_ok(sc.resolved).resolved == sc.resolved);
    }
  }
  GIVEN("--cfg on a file whose simgrid.cfg is not an array") {
    Overrides ov;
    ov.simgrid_cfg = {"network/latency-factor:2"};
    auto p = one_problem(with("/simgrid", {{"cfg", "x:1"}}), ov);
    CHECK(p.pointer == "/simgrid/cfg");
    CHECK(p.message == "--cfg: expected an array, got string");
  }
  GIVEN("malformed settings") {
    auto ps = problems_of(with("/simgrid/cfg", {"network/latency-factor", "a:1,b:2", "--cfg=a:1", 3, "ok:1"}));
    INFO(show(ps));
    REQUIRE(ps.size() == 4);
    CHECK(ps[0].pointer == "/simgrid/cfg/0");
    CHECK(ps[0].message == "'network/latency-factor': expected \"name:value\", e.g. \"network/latency-factor:2\"");
    CHECK(ps[1].pointer == "/simgrid/cfg/1");
    CHECK(ps[1].message == "'a:1,b:2': one setting per item (SimGrid splits a setting at spaces and commas)");
    CHECK(ps[2].pointer == "/simgrid/cfg/2");
    CHECK(ps[2].message == "'--cfg=a:1': give the setting without the --cfg= prefix, e.g. \"network/latency-factor:2\"");
    CHECK(ps[3].pointer == "/simgrid/cfg/3");
    CHECK(ps[3].message == "expected a string \"name:value\", got number");
  }
  GIVEN("one --cfg value holding several settings") {
    CHECK(scenario::split_simgrid_cfg("a:1,b:2 c:3") == std::vector<std::string>{"a:1", "b:2", "c:3"});
    CHECK(scenario::split_simgrid_cfg("").empty());
  }
}

SCENARIO("the resolved scenario has every default filled in, in base units", "[scenario]") {
  Scenario sc = parse_ok(base());
  const Json& r = sc.resolved;
  CHECK(r["schema_version"] == 1);
  CHECK(r["description"] == "");
  CHECK(r["seed"] == 1);
  CHECK(r["duration"] == 1'000'000'000);
  CHECK(r["quantum"] == 100'000);
  CHECK(sc.quantum_ns == 100'000);
  const Json& h = r["hosts"][0];
  CHECK(h["core_speed"] == 1e9);
  CHECK(h["nodes"][0]["memory"] == 1073741824);
  CHECK(h["swap"]["read_bandwidth"] == 3e9);
  CHECK(h["swap"]["write_bandwidth"] == 2e9);
  CHECK(h["swap"]["latency"] == 80'000);
  CHECK(h["swap"]["size"] == 64ll << 30);
  CHECK(h["nic"]["bandwidth"] == 12.5e9);
  CHECK(h["nic"]["latency"] == 2'000);
  CHECK(sc.hosts[0].swap.read_bw == 3e9);
  CHECK(sc.hosts[0].nic.latency_ns == 2'000);
  const Json& k = r["kernel"];
  CHECK(k["variant"] == "upstream");
  CHECK(k["mm"]["use_zero_page"] == true);
  CHECK(k["costs"]["dram_latency_ns"] == 90);
  CHECK(k["costs"]["minor_fault_ns"] == 1500);
  CHECK(k["costs"]["page_clear_ns"] == 250);
  CHECK(k["costs"]["page_copy_ns"] == 400);
  CHECK(r["output"]["sampling_interval"] == 100'000'000);
  CHECK(r["output"]["wss_windows"] == Json{1'000'000'000ll, 10'000'000'000ll, 60'000'000'000ll});
  const Json& v = r["vms"][0];
  CHECK(v["count"] == 1);
  CHECK(v["host"] == "h");
  CHECK(v["backing"] == "anon");
  CHECK(v["placement"] == "local");
  CHECK(v["home_node"] == 0);
  CHECK(v["cpu_nodes"] == Json{0});
  CHECK(v["interleave_nodes"] == Json{0, 1});
  CHECK(v["memory"] == 256 << 20);
  CHECK_FALSE(v.contains("vcpu_groups"));  // the resolved scenario must read back (no workload + [] groups)
  const Json& w = v["workload"];
  CHECK(w["type"] == "zipf");
  CHECK(w["theta"] == 0.9);
  CHECK(w["scramble"] == true);
  CHECK(w["write_ratio"] == 0.0);
  CHECK(w["rate"] == 1e7);
  CHECK(w["region_offset"] == 0);
  CHECK(w["region_size"] == 0);
  CHECK(sc.vms[0].groups[0].workload.region_pages == 65536);

  THEN("the resolved scenario reads back to itself") {
    Scenario again = parse_ok(sc.resolved);
    CHECK(again.resolved == sc.resolved);
    CHECK(scenario::scenario_hash(again.resolved) == scenario::scenario_hash(sc.resolved));
  }
}

SCENARIO("NUMA distances become a latency matrix scaled by dram_latency_ns", "[scenario]") {
  GIVEN("no distances: 10 local, 21 remote") {
    Scenario sc = parse_ok(base());
    CHECK(sc.hosts[0].latency_ns == std::vector<std::vector<core::TimeNs>>{{90, 189}, {189, 90}});
    CHECK(sc.resolved["hosts"][0]["latency_ns"] == Json{{90, 189}, {189, 90}});
  }
  GIVEN("SLIT distances and another DRAM latency") {
    Json doc = with("/hosts/0/distances", {{10, 24}, {30, 10}});
    doc["kernel"] = {{"costs", {{"dram_latency_ns", 100}}}};
    Scenario sc = parse_ok(doc);
    CHECK(sc.hosts[0].latency_ns == std::vector<std::vector<core::TimeNs>>{{100, 240}, {300, 100}});
    CHECK(sc.resolved["hosts"][0]["distances"] == Json{{10, 24}, {30, 10}});
  }
  GIVEN("a fractional distance: rounded to the nearest ns") {
    Scenario sc = parse_ok(with("/hosts/0/distances", {{10, 21.5}, {21.5, 10}}));
    CHECK(sc.hosts[0].latency_ns[0][1] == 194);  // 90 * 2.15 = 193.5
  }
  GIVEN("an explicit latency matrix, which wins over distances") {
    Json doc = with("/hosts/0/latency_ns", {{80, 150}, {150, 80}});
    doc["hosts"][0]["distances"] = {{10, 40}, {40, 10}};
    CHECK(parse_ok(doc).hosts[0].latency_ns == std::vector<std::vector<core::TimeNs>>{{80, 150}, {150, 80}});
  }
  GIVEN("a matrix of the wrong shape or with a zero") {
    for (const Json& m : {Json{{10, 21}}, Json{{10, 21}, {21}}, Json{{10, 21}, {21, 0}}, Json{{10, 21}, {21, "10"}}}) {
      auto p = one_problem(with("/hosts/0/distances", m));
      CHECK(p.pointer == "/hosts/0/distances");
      CHECK(p.message == "expected a 2x2 matrix of positive numbers (one row per node)");
    }
  }
}

SCENARIO("sizes and durations accept unit strings", "[scenario]") {
  Json doc = with("/hosts/0/nodes/0/memory", "4GiB");
  doc["hosts"][0]["swap"] = {{"size", "1.5GB"}, {"read_bandwidth", "2GiB/s"}, {"latency", "250us"}};
  doc["duration"] = "1.5s";
  doc["quantum"] = "250\xC2\xB5s";
  doc["output"] = {{"sampling_interval", "500ms"}, {"wss_windows", {"1500ms", 3'000'000'000ll}}};
  doc["vms"][0]["memory"] = "512 MiB";
  Scenario sc = parse_ok(doc);
  CHECK(sc.hosts[0].nodes[0].memory_bytes == 4ull << 30);
  CHECK(sc.hosts[0].swap.size_bytes == 1'500'000'000);
  CHECK(sc.hosts[0].swap.read_bw == 2147483648.0);
  CHECK(sc.hosts[0].swap.latency_ns == 250'000);
  CHECK(sc.duration_ns == 1'500'000'000);
  CHECK(sc.quantum_ns == 250'000);
  CHECK(sc.output.sampling_ns == 500'000'000);
  CHECK(sc.output.wss_windows_ns == std::vector<core::TimeNs>{1'500'000'000, 3'000'000'000});
  CHECK(sc.vms[0].pages == 131072);
  CHECK(sc.resolved["quantum"] == 250'000);

  THEN("a size that is not a whole number of pages is rejected where pages are needed") {
    auto p = one_problem(with("/vms/0/memory", "1.5GB"));
    CHECK(p.pointer == "/vms/0/memory");
    CHECK(p.message == "1500000000B is not a multiple of the 4KiB page size");
  }
  THEN("cross-field rules on durations are reported at the right key") {
    auto p = one_problem(with("/output", {{"sampling_interval", "300ms"}, {"wss_windows", {"600ms"}}}));
    CHECK(p.pointer == "/output/sampling_interval");
    CHECK(p.message == "300ms does not divide the duration 1s");
    p = one_problem(with("/output", {{"sampling_interval", "100ms"}, {"wss_windows", {"250ms"}}}));
    CHECK(p.pointer == "/output/wss_windows");
    CHECK(p.message == "250ms is not a multiple of the sampling interval 100ms");
  }
}

SCENARIO("a VM entry with count > 1 expands into suffixed VMs", "[scenario]") {
  Json doc = with("/vms/0/count", 3);
  doc["vms"].push_back(Json::parse(R"({"name": "db", "vcpus": 1, "memory": "128MiB", "workload": {"type": "uniform"}})"));
  Scenario sc = parse_ok(doc);
  REQUIRE(sc.vms.size() == 4);
  CHECK(sc.vms[0].name == "web-0");
  CHECK(sc.vms[1].name == "web-1");
  CHECK(sc.vms[2].name == "web-2");
  CHECK(sc.vms[3].name == "db");  // count 1 keeps the name
  CHECK(sc.vms[2].pages == 65536);
  CHECK(sc.vms[2].vcpus == 2);
  THEN("the resolved scenario keeps one entry with its count") {
    CHECK(sc.resolved["vms"].size() == 2);
    CHECK(sc.resolved["vms"][0]["count"] == 3);
    CHECK(sc.resolved["vms"][0]["name"] == "web");
  }
  THEN("a name that collides with an expanded one is rejected") {
    doc["vms"][1]["name"] = "web-1";
    auto p = one_problem(doc);
    CHECK(p.pointer == "/vms/1/name");
    CHECK(p.message == "VM name 'web-1' is already used at /vms/0");
  }
}

SCENARIO("guest memory beyond a host's DRAM needs kernel reclaim, and fits DRAM + swap", "[scenario]") {
  Json doc = with("/vms/0/count", 9);  // 9 x 256MiB > 2 x 1GiB
  auto p = one_problem(doc);
  CHECK(p.pointer == "/vms");
  CHECK(p.message ==
        "guest memory on host 'h' (2304MiB) exceeds its DRAM (2GiB): overcommit needs kernel reclaim to swap "
        "(kernel.reclaim.enabled)");
  CHECK_NOTHROW(parse_scenario(with("/vms/0/count", 8), kFile));  // exactly full is fine
  doc["kernel"]["reclaim"] = {{"enabled", true}};
  doc["hosts"][0]["swap"] = {{"size", "256MiB"}};
  CHECK_NOTHROW(parse_scenario(doc, kFile));  // 2304MiB <= 2GiB + 256MiB
  doc["vms"][0]["count"] = 10;
  p = one_problem(doc);
  CHECK(p.message == "guest memory on host 'h' (2560MiB) exceeds its DRAM (2GiB) plus swap (256MiB)");
  doc["vms"][0]["count"] = 9;
  doc["vms"][0]["backing"] = "shmem";
  CHECK_NOTHROW(parse_scenario(doc, kFile));  // shmem overcommits too: reclaim swaps it from the page cache
}

SCENARIO("unit strings parse to base units (sim/core/units.hpp)", "[scenario][units]") {
  using core::parse_count;
  using core::parse_duration_ns;
  using core::parse_size;
  GIVEN("sizes") {
    CHECK(parse_size("4GiB") == 4ll << 30);
    CHECK(parse_size("512 MB") == 512'000'000);
    CHECK(parse_size("1.5GB") == 1'500'000'000);
    CHECK(parse_size(" 4 KiB ") == 4096);
    CHECK(parse_size("0.5KiB") == 512);
    CHECK(parse_size("4096") == 4096);
    CHECK(parse_size("4096B") == 4096);
    CHECK(parse_size("1kB") == 1000);
    CHECK(parse_size("1KB") == 1000);
    CHECK(parse_size("2TiB") == 2ll << 40);
    CHECK(parse_size("1e3B") == 1000);
    std::string why;
    CHECK_FALSE(parse_size("4gib", &why));
    CHECK(why == "unknown size unit 'gib' in '4gib' (expected one of: B, KiB, MiB, GiB, TiB, kB, KB, MB, GB, TB)");
    CHECK_FALSE(parse_size("GiB", &why));
    CHECK(why == "'GiB' does not start with a number");
    CHECK_FALSE(parse_size("1.5B", &why));
    CHECK(why == "'1.5B' is not a whole number of bytes");
    CHECK_FALSE(parse_size("1e30B", &why));
    CHECK(why == "'1e30B' is out of range");
    CHECK_FALSE(parse_size("inf", &why));
    CHECK(why == "'inf' does not start with a number");
    CHECK_FALSE(parse_size(""));
  }
  GIVEN("durations") {
    CHECK(parse_duration_ns("250ms") == 250'000'000);
    CHECK(parse_duration_ns("1.5s") == 1'500'000'000);
    CHECK(parse_duration_ns("250us") == 250'000);
    CHECK(parse_duration_ns("250\xC2\xB5s") == 250'000);  // U+00B5 MICRO SIGN
    CHECK(parse_duration_ns("80 ns") == 80);
    CHECK(parse_duration_ns("100") == 100);
    CHECK(parse_duration_ns("2min") == 120'000'000'000);
    CHECK(parse_duration_ns("1h") == 3'600'000'000'000);
    std::string why;
    CHECK_FALSE(parse_duration_ns("250\xCE\xBCs", &why));  // U+03BC GREEK SMALL LETTER MU is not accepted
    CHECK(why.rfind("unknown time unit '\xCE\xBCs'", 0) == 0);
    CHECK_FALSE(parse_duration_ns("1.5ns", &why));
    CHECK(why == "'1.5ns' is not a whole number of nanoseconds");
    CHECK_FALSE(parse_duration_ns("2 sec", &why));
    CHECK(why == "unknown time unit 'sec' in '2 sec' (expected one of: ns, us, \xC2\xB5s, ms, s, min, h)");
  }
  GIVEN("counts") {
    CHECK(parse_count("10M") == 1e7);
    CHECK(parse_count("2.5k") == 2500.0);
    CHECK(parse_count("3K") == 3000.0);
    CHECK(parse_count("1G") == 1e9);
    CHECK(parse_count("7") == 7.0);
    CHECK(parse_count("0.5") == 0.5);  // counts need not be whole
    std::string why;
    CHECK_FALSE(parse_count("10m", &why));
    CHECK(why == "unknown count unit 'm' in '10m' (expected one of: k, K, M, G)");
  }
  GIVEN("the canonical forms used in messages") {
    CHECK(core::format_size(4ll << 30) == "4GiB");
    CHECK(core::format_size(1536ll << 20) == "1536MiB");
    CHECK(core::format_size(1000) == "1000B");
    CHECK(core::format_size(0) == "0B");
    CHECK(core::format_duration(2'000'000'000) == "2s");
    CHECK(core::format_duration(1'500'000'000) == "1500ms");
    CHECK(core::format_duration(250'000) == "250us");
    CHECK(core::format_duration(1'500) == "1500ns");
    CHECK(core::format_duration(0) == "0ns");
  }
}

// No cascades: a value that failed to read is not range-checked again, and checks that depend
// on it are skipped.
SCENARIO("a count with a bad unit is reported once", "[scenario]") {
  CHECK(problems_of(with("/vms/0/workload/rate", "5 m")).size() == 1);
  CHECK(problems_of(with("/vms/0/workload/rate", true)).size() == 1);
}

SCENARIO("a VM whose memory failed to read reports no region error", "[scenario]") {
  CHECK(problems_of(without("/vms/0/memory")).size() == 1);
  CHECK(problems_of(with("/vms/0/memory", "1 gigabyte")).size() == 1);
}
