// Host profiles (sim/scenario/host_profile.hpp): the pure parts of `vmemsim calibrate` -- the
// median of repeated runs, the derivation of the scenario's cost keys from the measurements, the
// profile document and its reading back -- and a scenario opting into a profile with
// `host_profile` (defaults from the profile, explicit values win, errors at /host_profile).
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "sim/core/error.hpp"
#include "sim/scenario/host_profile.hpp"
#include "sim/scenario/scenario.hpp"

using namespace vmemsim;
using core::Json;
using scenario::Derivation;
using scenario::Measurements;
namespace m = scenario::m;
namespace fs = std::filesystem;

namespace {

// Round numbers, so that every derived key can be checked by hand.
Measurements sample() {
  Measurements ms;
  ms.pages = 1000;
  ms.cpus = 2;
  ms.ns = {{m::kPageClear, 300},
           {m::kMemcpy, 500},
           {m::kFirstTouch, 2300},
           {m::kFirstTouchCold, 15000},
           {m::kReadFault, 900},
           {m::kIpiLost, 1200},
           {m::kIpisPerFlush, 1.0},
           {m::kUffdNoopIoctl, 400},
           {m::kMprotectUnpopulated, 1000},
           {m::mprotect_flush(0), 3000},
           {m::mprotect_flush(1), 4500},
           {m::mprotect_flush(2), 90000},  // oversubscribed on 2 CPUs: not fitted
           {m::kWpPerPte, 50},
           {m::kScanPerPte, 10},
           {m::kUffdCopy, 1500},
           {m::kMissingRoundtrip, 6000}};
  return ms;
}

std::map<std::string, std::int64_t> by_key(const Derivation& d) {
  std::map<std::string, std::int64_t> r;
  for (const auto& c : d.costs) r[c.key] = c.ns;
  return r;
}

std::string how_of(const Derivation& d, const std::string& key) {
  for (const auto& c : d.costs)
    if (c.key == key) return c.how;
  return "";
}

// A fresh directory under the system temp directory.
fs::path scratch() {
  static int n = 0;
  fs::path p = fs::temp_directory_path() / ("vmemsim-unit-profile-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

Json scenario_doc() {
  return Json::parse(R"({
    "name": "t", "duration": "1s",
    "hosts": [{"name": "h", "nodes": [{"cores": 2, "memory": "1GiB"}]}],
    "vms": [{"name": "v", "vcpus": 1, "memory": "64MiB", "workload": {"type": "uniform"}}]
  })");
}

}  // namespace

SCENARIO("calibrate: the median of repeated runs", "[calibrate]") {
  CHECK(std::isnan(scenario::median({})));
  CHECK(scenario::median({7}) == 7);
  CHECK(scenario::median({5, 1, 3}) == 3);
  CHECK(scenario::median({4, 1, 3, 2}) == 2.5);
  CHECK(scenario::median({1, 1000, 2}) == 2);  // one outlier does not move it
}

SCENARIO("calibrate: cost keys are derived from the measurements", "[calibrate]") {
  GIVEN("every measurement") {
    const Derivation d = scenario::derive_costs(sample());
    const auto k = by_key(d);
    THEN("each key is the measured operation minus what the other keys already charge") {
      CHECK(k.at("page_clear_ns") == 300);
      CHECK(k.at("page_copy_ns") == 500);
      CHECK(k.at("minor_fault_ns") == 2000);       // first touch 2300 - clear 300
      CHECK(k.at("tlb_ipi_ns") == 1200);
      CHECK(k.at("uffd/ioctl_ns") == 400);
      CHECK(k.at("uffd/tlb_flush_ns") == 2000);    // 3000 - 1000 without a PTE
      CHECK(k.at("uffd/tlb_per_vcpu_ns") == 1500); // (4500 - 3000) / 1; k=2 is oversubscribed
      CHECK(k.at("uffd/per_pte_ns") == 48);        // 50 - (400 + 2000) / 1000 = 47.6
      CHECK(k.at("uffd/scan_per_pte_ns") == 10);   // 10 - 400 / 1000 = 9.6
      CHECK(k.at("uffd/copy_ns") == 1052);         // 1500 - 400 - 47.6
      CHECK(k.at("uffd/roundtrip_ns") == 4000);  // 6000 - userfault_ns 500 (default) - UFFDIO_COPY 1500
    }
    THEN("the keys calibrate does not measure are listed with the reason") {
      CHECK(k.size() == 11);
      CHECK(d.not_derived.size() == 2);
      CHECK(d.not_derived.count("dram_latency_ns"));
      CHECK(d.not_derived.count("uffd/set_mode_ns"));
    }
    THEN("the derivation says which numbers it used") {
      CHECK(how_of(d, "minor_fault_ns") == "first-touch write fault 2300 - page clear 300");
      CHECK(how_of(d, "uffd/roundtrip_ns") == "MISSING round trip 6000 - userfault_ns 500 (default) - UFFDIO_COPY 1500");
    }
  }
  GIVEN("no userfaultfd (its measurements skipped)") {
    Measurements ms = sample();
    for (const char* id : {m::kUffdNoopIoctl, m::kWpPerPte, m::kUffdCopy, m::kMissingRoundtrip}) ms.ns.erase(id);
    const Derivation d = scenario::derive_costs(ms);
    const auto k = by_key(d);
    THEN("the other keys are still derived, the uffd ones are not, each with its reason") {
      CHECK(k.at("minor_fault_ns") == 2000);
      CHECK(k.at("uffd/tlb_flush_ns") == 2000);
      CHECK(k.at("uffd/scan_per_pte_ns") == 10);  // PAGEMAP_SCAN needs no userfaultfd
      CHECK_FALSE(k.count("uffd/ioctl_ns"));
      CHECK(d.not_derived.at("uffd/ioctl_ns") == "not measured: uffd_noop_ioctl_ns");
      CHECK(d.not_derived.at("uffd/roundtrip_ns") == "not measured: missing_roundtrip_ns");
      CHECK(d.not_derived.at("uffd/per_pte_ns") == "not measured: writeprotect_per_pte_ns");
    }
  }
  GIVEN("a measurement smaller than what it is derived from") {
    Measurements ms = sample();
    ms.ns[m::kFirstTouch] = 200;  // below the page clear
    const Derivation d = scenario::derive_costs(ms);
    THEN("the key is clamped to 0 and the derivation says so") {
      CHECK(by_key(d).at("minor_fault_ns") == 0);
      CHECK(how_of(d, "minor_fault_ns").find("clamped to 0") != std::string::npos);
    }
  }
  GIVEN("shootdowns that never reached the other CPU, or a single CPU") {
    Measurements ms = sample();
    ms.ns[m::kIpisPerFlush] = 0.02;
    CHECK_FALSE(by_key(scenario::derive_costs(ms)).count("uffd/tlb_per_vcpu_ns"));
    CHECK(scenario::derive_costs(ms).not_derived.at("uffd/tlb_per_vcpu_ns").find("0.02 shootdown IPIs per flush") !=
          std::string::npos);
    ms = sample();
    ms.cpus = 1;
    CHECK_FALSE(by_key(scenario::derive_costs(ms)).count("uffd/tlb_per_vcpu_ns"));
    CHECK(by_key(scenario::derive_costs(ms)).at("uffd/tlb_flush_ns") == 2000);
  }
  GIVEN("every derived key") {
    THEN("the scenario reader accepts it under kernel.costs") {
      Json doc = scenario_doc();
      for (const auto& c : scenario::derive_costs(sample()).costs) {
        auto s = c.key.find('/');
        if (s == std::string::npos) doc["kernel"]["costs"][c.key] = c.ns;
        else doc["kernel"]["costs"][c.key.substr(0, s)][c.key.substr(s + 1)] = c.ns;
      }
      CHECK(scenario::parse_scenario(doc, "t.json").kernel.uffd.roundtrip_ns == 4000);
    }
  }
}

SCENARIO("calibrate: a profile is written and read back", "[calibrate]") {
  const Measurements ms = sample();
  const Derivation d = scenario::derive_costs(ms);
  const Json meta = {{"kernel_release", "6.18.0"}, {"hostname", "h"}, {"repeats", 5}, {"zero_page", false}};
  const Json prof = scenario::profile_json(meta, ms, d);
  const fs::path dir = scratch();
  write(dir / "p.json", prof.dump(1));

  THEN("the document carries the metadata, the costs nested like kernel.costs, and the measurements") {
    CHECK(prof["vmemsim_host_profile"] == 1);
    CHECK(prof["metadata"]["kernel_release"] == "6.18.0");
    CHECK(prof["metadata"]["zero_page"] == false);
    CHECK(prof["metadata"]["pages"] == 1000);
    CHECK(prof["kernel"]["costs"]["minor_fault_ns"] == 2000);
    CHECK(prof["kernel"]["costs"]["uffd"]["roundtrip_ns"] == 4000);
    CHECK(prof["derivation"]["minor_fault_ns"] == "first-touch write fault 2300 - page clear 300");
    CHECK(prof["not_derived"].contains("uffd/set_mode_ns"));
  }
  THEN("reading it gives the same costs") {
    std::string why;
    auto costs = scenario::read_host_profile_costs((dir / "p.json").string(), &why);
    REQUIRE(costs);
    CHECK(*costs == prof["kernel"]["costs"]);
  }
  THEN("its measurements give the same derivation again") {
    const Measurements back = scenario::measurements_from_json(Json::parse(prof.dump()));
    CHECK(back.pages == ms.pages);
    CHECK(back.cpus == ms.cpus);
    CHECK(back.ns == ms.ns);
    CHECK(by_key(scenario::derive_costs(back)) == by_key(d));
  }
  fs::remove_all(dir);
}

SCENARIO("calibrate: a profile that cannot be used is reported with the reason", "[calibrate]") {
  const fs::path dir = scratch();
  auto why_of = [&](const std::string& text) {
    write(dir / "p.json", text);
    std::string why;
    auto costs = scenario::read_host_profile_costs((dir / "p.json").string(), &why);
    CHECK_FALSE(costs);
    return why;
  };
  const std::string p = (dir / "p.json").string();
  std::string why;
  CHECK_FALSE(scenario::read_host_profile_costs((dir / "none.json").string(), &why));
  CHECK(why == "cannot open host profile '" + (dir / "none.json").string() + "'");
  CHECK(why_of("{\"vmemsim_host_profile\": ").find("' is not valid JSON: ") != std::string::npos);
  CHECK(why_of(R"({"name": "a scenario"})") ==
        "'" + p + "' is not a host profile (no \"vmemsim_host_profile\" member; `vmemsim calibrate --out FILE` writes one)");
  CHECK(why_of(R"({"vmemsim_host_profile": 2, "kernel": {"costs": {}}})") ==
        "host profile '" + p + "': /vmemsim_host_profile: version 2 is not supported (this vmemsim reads version 1)");
  CHECK(why_of(R"({"vmemsim_host_profile": 1})") ==
        "host profile '" + p + "': /kernel/costs: expected an object of cost keys");
  CHECK(why_of(R"({"vmemsim_host_profile": 1, "kernel": {"costs": {"minor_fault": 10}}})") ==
        "host profile '" + p + "': /kernel/costs/minor_fault: unknown cost key 'minor_fault' (did you mean 'minor_fault_ns'?)");
  CHECK(why_of(R"({"vmemsim_host_profile": 1, "kernel": {"costs": {"uffd": {"copy_ns": -1}}}})") ==
        "host profile '" + p + "': /kernel/costs/uffd/copy_ns: expected an integer number of ns from 0 to 1e9, got -1");
  CHECK(why_of(R"({"vmemsim_host_profile": 1, "kernel": {"costs": {"uffd": {"minor_fault_ns": 1}}}})")
            .find("/kernel/costs/uffd/minor_fault_ns: unknown cost key") != std::string::npos);
  CHECK(why_of(R"({"vmemsim_host_profile": 1, "kernel": {"costs": {"tlb_ipi_ns": "1us"}}})")
            .find("expected an integer number of ns") != std::string::npos);
  fs::remove_all(dir);
}

SCENARIO("calibrate: a scenario opts into a host profile with host_profile", "[calibrate][scenario]") {
  const fs::path dir = scratch();
  fs::create_directories(dir / "profiles");
  write(dir / "profiles" / "here.json",
        R"({"vmemsim_host_profile": 1, "kernel": {"costs": {"minor_fault_ns": 9000, "page_clear_ns": 600,
            "uffd": {"roundtrip_ns": 30000, "ioctl_ns": 250}}}})");
  const std::string file = (dir / "s.json").string();
  Json doc = scenario_doc();
  const scenario::Scenario plain = scenario::parse_scenario(doc, file);
  doc["host_profile"] = "profiles/here.json";

  GIVEN("a profile next to the scenario and no costs in the scenario") {
    const scenario::Scenario sc = scenario::parse_scenario(doc, file);
    THEN("the profile's values are used and recorded in the resolved scenario; the rest keep their defaults") {
      CHECK(sc.kernel.costs.minor_fault_ns == 9000);
      CHECK(sc.kernel.costs.page_clear_ns == 600);
      CHECK(sc.kernel.uffd.roundtrip_ns == 30000);
      CHECK(sc.kernel.uffd.ioctl_ns == 250);
      CHECK(sc.kernel.costs.page_copy_ns == plain.kernel.costs.page_copy_ns);
      CHECK(sc.resolved["host_profile"] == "profiles/here.json");
      CHECK(sc.resolved["kernel"]["costs"]["minor_fault_ns"] == 9000);
      CHECK(sc.resolved["kernel"]["costs"]["uffd"]["roundtrip_ns"] == 30000);
      CHECK(plain.resolved["host_profile"] == "");
    }
    THEN("the run id (a hash of the resolved scenario) changes") {
      CHECK(scenario::scenario_hash(sc.resolved) != scenario::scenario_hash(plain.resolved));
    }
  }
  GIVEN("values given in the scenario, and a null one") {
    doc["kernel"]["costs"]["minor_fault_ns"] = 1234;
    doc["kernel"]["costs"]["uffd"]["ioctl_ns"] = nullptr;  // null means the default: the profile's
    const scenario::Scenario sc = scenario::parse_scenario(doc, file);
    THEN("the scenario's values win over the profile's") {
      CHECK(sc.kernel.costs.minor_fault_ns == 1234);
      CHECK(sc.kernel.uffd.ioctl_ns == 250);
      CHECK(sc.kernel.uffd.roundtrip_ns == 30000);
    }
  }
  GIVEN("a --set of host_profile on a scenario without one") {
    scenario::Overrides ov;
    ov.sets = {"/host_profile=profiles/here.json"};
    CHECK(scenario::parse_scenario(scenario_doc(), file, ov).kernel.uffd.roundtrip_ns == 30000);
  }
  GIVEN("a profile that does not exist") {
    doc["host_profile"] = "profiles/missing.json";
    THEN("it is an input error at /host_profile") {
      try {
        scenario::parse_scenario(doc, file);
        FAIL("no InputError");
      } catch (const core::InputError& e) {
        REQUIRE(e.problems().size() == 1);
        CHECK(e.file() == file);
        CHECK(e.problems()[0].pointer == "/host_profile");
        CHECK(e.problems()[0].message == "cannot open host profile '" + (dir / "profiles/missing.json").string() + "'");
      }
    }
  }
  GIVEN("a kernel member that is not an object") {
    doc["kernel"] = Json::array();
    THEN("the profile leaves it alone and the reader reports it") {
      try {
        scenario::parse_scenario(doc, file);
        FAIL("no InputError");
      } catch (const core::InputError& e) {
        REQUIRE(e.problems().size() == 1);
        CHECK(e.problems()[0].pointer == "/kernel");
      }
    }
  }
  GIVEN("a copy of the scenario written elsewhere (a sweep point)") {
    Json copy = doc;
    scenario::anchor_host_profile(copy, file);
    THEN("its host_profile is absolute and names the same file") {
      CHECK(fs::path(copy["host_profile"].get<std::string>()).is_absolute());
      CHECK(fs::equivalent(copy["host_profile"].get<std::string>(), dir / "profiles" / "here.json"));
      CHECK(scenario::parse_scenario(copy, "/elsewhere/point.json").kernel.uffd.roundtrip_ns == 30000);
    }
  }
  fs::remove_all(dir);
}
