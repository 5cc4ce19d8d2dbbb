// models/kernel: the kernel-daemon seam, driven the way the engine's daemon actor drives it
// (sleep until next_wakeup(), run_batch(), repeat) against a recording fake DaemonEnv, with the
// vmstat sampler built through the daemon registry from a scenario section.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "models/kernel/daemon.hpp"
#include "models/kernel/registry.hpp"
#include "models/mm/host_memory.hpp"
#include "sim/core/params.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using core::Gfn;
using core::Json;
using core::NodeId;
using core::TimeNs;
using core::VmId;

namespace {

// What the engine lends a daemon, recorded: CPU time advances the clock.
class FakeDaemonEnv final : public kernel::DaemonEnv {
 public:
  TimeNs t = 0;
  std::vector<TimeNs> cpu_calls;
  std::vector<std::uint16_t> flushes;
  struct Slice {
    std::string what;
    TimeNs start, end;
  };
  std::vector<Slice> slices;
  TimeNs now() override { return t; }
  void cpu(TimeNs d) override {
    cpu_calls.push_back(d);
    t += d;
  }
  void tlb_flush(core::VmId vm) override { flushes.push_back(vm.v); }
  void slice(const char* what, TimeNs start, TimeNs end) override { slices.push_back({what, start, end}); }
  void swap_io(std::uint64_t bytes, bool write) override { (write ? written : read) += bytes; }
  std::uint64_t written = 0, read = 0;
};

struct Built {
  core::ErrorSink sink{"scenario.json"};
  Json resolved = Json::object();
  std::vector<std::unique_ptr<kernel::KernelDaemon>> daemons;
};

// Reads kernel.<name> from `section` as the scenario reader and build_world() do.
std::unique_ptr<Built> build(const char* name, const Json& section, const kernel::DaemonContext& ctx) {
  auto b = std::make_unique<Built>();
  const kernel::DaemonInfo* info = kernel::find_daemon(name);
  REQUIRE(info);
  core::Params p(&section, std::string("/kernel/") + name, &b->sink, &b->resolved);
  b->daemons = info->make(p, ctx);
  p.finish();
  return b;
}

}  // namespace

TEST_CASE("the kernel sections list their on/off switch first", "[kernel][daemon]") {
  REQUIRE_FALSE(kernel::daemon_registry().empty());
  for (const auto& d : kernel::daemon_registry()) {
    INFO(d.name);
    REQUIRE_FALSE(d.params.empty());
    // `enabled`, or the kernel's own switch where it has one (kernel.numa_balancing, ksm's run,
    // transparent_hugepage/enabled whose "never" is off).
    const std::string first = d.params[0].name;
    const bool kernel_enum = d.params[0].kind == core::Kind::Enum && d.params[0].choices &&
                             std::string(d.params[0].choices).find("never") != std::string::npos;
    CHECK((first == "enabled" ? d.params[0].kind == core::Kind::Bool || kernel_enum
                              : first == "numa_balancing" || first == "run"));
    CHECK(kernel::find_daemon(d.name) == &d);
  }
  CHECK(kernel::find_daemon("vmstat") != nullptr);
  CHECK(kernel::find_daemon("kswapd0") == nullptr);
}

SCENARIO("the vmstat daemon samples free memory against the watermarks", "[kernel][daemon]") {
  // Node 0: 4096 frames, node 1: 4096 frames, CPUs on node 1 only. min_free_kbytes 1024:
  // pages_min 256, per node min 128, gap max(32, 4) = 32 -> min 128, low 160, high 192.
  mm::HostMemory mem({4096, 4096});
  mem.setup_watermarks(1024, 10);
  REQUIRE(mem.watermarks(0).min == 128);
  REQUIRE(mem.watermarks(0).low == 160);
  REQUIRE(mem.watermarks(0).high == 192);
  kernel::DaemonContext ctx;
  ctx.duration_ns = core::kNsPerSec;
  kernel::HostKernel hk;
  hk.name = "h0";
  hk.memory = &mem;
  hk.cpu_nodes = {1};
  ctx.hosts.push_back(hk);

  GIVEN("kernel.vmstat = {enabled: true, interval: 10ms}") {
    auto b = build("vmstat", Json{{"enabled", true}, {"interval", "10ms"}}, ctx);
    REQUIRE(b->sink.empty());
    REQUIRE(b->daemons.size() == 1);
    kernel::KernelDaemon& d = *b->daemons[0];
    CHECK(d.name() == "vmstat.h0");
    CHECK(d.host() == 0);
    CHECK(d.node() == 1);  // the host's first node with cores
    CHECK(b->resolved["interval"] == 10 * core::kNsPerMs);
    CHECK(b->resolved["cost_per_node_ns"] == 200);

    WHEN("it runs three batches, node 0 dropping below low and then below min between them") {
      FakeDaemonEnv env;
      std::vector<TimeNs> wakeups;
      std::uint64_t g = 0;
      auto alloc_until_free = [&](std::uint64_t free) {
        bool ok = true;
        while (ok && mem.free_frames(0) > free) ok = mem.alloc_on(NodeId(0), mm::Mapper{VmId(0), Gfn(g++)}).has_value();
        REQUIRE(mem.free_frames(0) == free);
      };
      for (int batch = 0; batch < 3; ++batch) {
        const TimeNs w = d.next_wakeup(env.t);
        wakeups.push_back(w);
        REQUIRE(w >= env.t);
        env.t = w;  // the actor sleeps until then
        d.run_batch(env, env.t);
        if (batch == 0) alloc_until_free(150);  // below low (160) and high, above min (128)
        if (batch == 1) alloc_until_free(100);  // below min
      }
      wakeups.push_back(d.next_wakeup(env.t));
      THEN("it wakes every interval from time 0") {
        CHECK(wakeups == std::vector<TimeNs>{0, 10 * core::kNsPerMs, 20 * core::kNsPerMs, 30 * core::kNsPerMs});
      }
      THEN("each batch charges cost_per_node_ns per node sampled, as one slice") {
        CHECK(env.cpu_calls == std::vector<TimeNs>{400, 400, 400});
        REQUIRE(env.slices.size() == 3);
        for (std::size_t i = 0; i < 3; ++i) {
          CHECK(env.slices[i].what == "vmstat");
          CHECK(env.slices[i].start == wakeups[i]);
          CHECK(env.slices[i].end == wakeups[i] + 400);
        }
        CHECK(env.flushes.empty());
      }
      THEN("the stats count the samples below each watermark, per node") {
        const Json s = d.stats();
        CHECK(s["runs"] == 3);
        const Json& n0 = s["nodes"]["node0"];
        CHECK(n0["samples"] == 3);
        CHECK(n0["min_free_pages"] == 100);
        CHECK(n0["watermark_pages"] == Json{{"min", 128}, {"low", 160}, {"high", 192}});
        CHECK(n0["samples_below"] == Json{{"min", 1}, {"low", 2}, {"high", 2}});
        const Json& n1 = s["nodes"]["node1"];
        CHECK(n1["samples"] == 3);
        CHECK(n1["min_free_pages"] == 4096);
        CHECK(n1["samples_below"] == Json{{"min", 0}, {"low", 0}, {"high", 0}});
      }
    }
    WHEN("it has not run yet") {
      const Json s = d.stats();
      THEN("no samples, and no minimum reported") {
        CHECK(s["runs"] == 0);
        CHECK(s["nodes"]["node0"]["samples"] == 0);
        CHECK(s["nodes"]["node0"]["min_free_pages"] == 0);
      }
    }
  }
  GIVEN("two hosts") {
    mm::HostMemory mem2({1024});
    kernel::HostKernel hk2;
    hk2.name = "h1";
    hk2.memory = &mem2;
    hk2.cpu_nodes = {0};
    ctx.hosts.push_back(hk2);
    auto b = build("vmstat", Json{{"enabled", true}}, ctx);
    THEN("one daemon per host, in host order, at the default 1 s interval") {
      REQUIRE(b->daemons.size() == 2);
      CHECK(b->daemons[0]->name() == "vmstat.h0");
      CHECK(b->daemons[1]->name() == "vmstat.h1");
      CHECK(b->daemons[1]->host() == 1);
      FakeDaemonEnv env;
      b->daemons[1]->run_batch(env, 0);
      CHECK(b->daemons[1]->next_wakeup(env.t) == core::kNsPerSec);
      CHECK(env.cpu_calls == std::vector<TimeNs>{200});  // one node
    }
  }
  GIVEN("a disabled or absent section") {
    auto off = build("vmstat", Json{{"enabled", false}, {"interval", "10ms"}}, ctx);
    CHECK(off->sink.empty());
    CHECK(off->daemons.empty());
    core::ErrorSink sink("scenario.json");
    core::Params absent(nullptr, "/kernel/vmstat", &sink, nullptr);
    CHECK(kernel::find_daemon("vmstat")->make(absent, ctx).empty());
    absent.finish();
    CHECK(sink.empty());
  }
  GIVEN("a scenario only being validated (no hosts yet)") {
    auto b = build("vmstat", Json{{"enabled", true}}, kernel::DaemonContext{});
    CHECK(b->sink.empty());
    CHECK(b->daemons.empty());
  }
  GIVEN("a mistyped key and an interval below the minimum") {
    auto b = build("vmstat", Json{{"enabled", true}, {"intervall", "10ms"}, {"cost_per_node_ns", -1}}, ctx);
    THEN("both are reported with their pointers") {
      std::map<std::string, std::string> by_ptr;
      for (const auto& p : b->sink.problems()) by_ptr[p.pointer] = p.message;
      REQUIRE(by_ptr.count("/kernel/vmstat/intervall"));
      CHECK(by_ptr["/kernel/vmstat/intervall"] == "unknown key 'intervall' (did you mean 'interval'?)");
      CHECK(by_ptr.count("/kernel/vmstat/cost_per_node_ns") == 1);
    }
  }
}
