// models/reclaim tiers: every registered tier builds from its `tier` object and spends the
// platform resource it models through TierIo; stored bytes; configuration errors reported
// with their JSON pointers and a did-you-mean.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "models/reclaim/tier.hpp"
#include "sim/core/params.hpp"
#include "tests/unit/kernel_fixture.hpp"

using namespace vmemsim;
using core::Json;
using core::TimeNs;

namespace {

// The resources the engine lends a tier, recorded.
class RecordingIo final : public reclaim::TierIo {
 public:
  std::vector<std::string> log;
  void disk_io(std::uint64_t bytes, bool write) override {
    log.push_back(std::string("disk ") + (write ? "write " : "read ") + std::to_string(bytes));
  }
  void net_transfer(const std::string& server, std::uint64_t bytes, bool to_server) override {
    log.push_back("net " + server + (to_server ? " to " : " from ") + std::to_string(bytes));
  }
  void cpu(TimeNs d) override { log.push_back("cpu " + std::to_string(d)); }
};

struct Read {
  core::ErrorSink sink{"scenario.json"};
  Json resolved = Json::object();
  std::unique_ptr<reclaim::Tier> tier;
  std::map<std::string, std::string> problems() const {
    std::map<std::string, std::string> m;
    for (const auto& p : sink.problems()) m[p.pointer] = p.message;
    return m;
  }
};

// Reads {"tier": tier} of a vmm config at /vmm, as a policy's make() does.
std::unique_ptr<Read> read(const Json& tier, std::vector<std::string> servers = {"mem0", "mem1"}) {
  auto r = std::make_unique<Read>();
  const Json vmm = {{"tier", tier}};
  core::Params p(&vmm, "/vmm", &r->sink, &r->resolved);
  reclaim::TierContext ctx;
  ctx.memory_servers = std::move(servers);
  r->tier = reclaim::read_tier(p, ctx);
  p.finish();
  return r;
}

}  // namespace

TEST_CASE("every registered tier builds from its params and uses its resource", "[reclaim][tier]") {
  std::vector<std::string> names;
  for (const auto& t : reclaim::tier_registry()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"ssd", "remote", "compressed"});
  const std::map<std::string, std::vector<std::string>> io = {
      {"ssd", {"disk write 12288", "disk read 8192"}},
      {"remote", {"net mem0 to 12288", "net mem0 from 8192"}},  // the first server by default
      {"compressed", {"cpu 6000", "cpu 2000"}},                 // 2 us / 1 us per page
  };
  for (const auto& info : reclaim::tier_registry()) {
    DYNAMIC_SECTION(info.name) {
      auto r = read(Json{{"kind", info.name}});
      INFO(r->sink.problems().size() << " problems");
      REQUIRE(r->sink.empty());
      REQUIRE(r->tier);
      CHECK(std::string(r->tier->kind()) == info.name);
      CHECK(r->resolved["tier"]["kind"] == info.name);
      // The resolved object holds `kind` and every key the tier declares, defaults included.
      CHECK(r->resolved["tier"].size() == info.params.size() + 1);
      for (const auto& spec : info.params) {
        INFO(spec.name);
        CHECK(r->resolved["tier"].contains(spec.name));
      }
      RecordingIo rec;
      r->tier->write(rec, 3);
      r->tier->read(rec, 2);
      CHECK(rec.log == io.at(info.name));
    }
  }
  SECTION("an absent tier object is the ssd") {
    core::ErrorSink sink("scenario.json");
    const Json vmm = Json::object();
    core::Params p(&vmm, "/vmm", &sink, nullptr);
    auto t = reclaim::read_tier(p, {});
    p.finish();
    CHECK(sink.empty());
    CHECK(std::string(t->kind()) == "ssd");
  }
}

TEST_CASE("stored bytes: 4 KiB per page, or 4 KiB / ratio per page when compressed", "[reclaim][tier]") {
  CHECK(read(Json{{"kind", "ssd"}})->tier->stored_bytes(10) == 10 * 4096);
  CHECK(read(Json{{"kind", "remote"}})->tier->stored_bytes(10) == 10 * 4096);
  auto def = read(Json{{"kind", "compressed"}});
  CHECK(def->resolved["tier"]["compression_ratio"] == 2.5);
  CHECK(def->tier->stored_bytes(1) == 1638);  // 4096 / 2.5, rounded down per page
  CHECK(def->tier->stored_bytes(10) == 16380);
  auto four = read(Json{{"kind", "compressed"}, {"compression_ratio", 4}, {"compress_ns", "3us"}});
  REQUIRE(four->sink.empty());
  CHECK(four->tier->stored_bytes(10) == 10 * 1024);
  CHECK(four->tier->stored_bytes(0) == 0);
  RecordingIo rec;
  four->tier->write(rec, 2);
  CHECK(rec.log == std::vector<std::string>{"cpu 6000"});
}

TEST_CASE("tier configuration errors carry their pointer and a did-you-mean", "[reclaim][tier]") {
  SECTION("a remote tier naming an unknown server") {
    auto r = read(Json{{"kind", "remote"}, {"server", "mem1x"}});
    const auto p = r->problems();
    REQUIRE(p.size() == 1);
    REQUIRE(p.count("/vmm/tier/server"));
    CHECK(p.at("/vmm/tier/server") == "no memory server named 'mem1x' (did you mean 'mem1'?)");
  }
  SECTION("a remote tier with a name nothing resembles") {
    auto r = read(Json{{"kind", "remote"}, {"server", "storage-array-7"}});
    REQUIRE(r->problems().count("/vmm/tier/server"));
    CHECK(r->problems().at("/vmm/tier/server") == "no memory server named 'storage-array-7'");
  }
  SECTION("a named server that exists") {
    auto r = read(Json{{"kind", "remote"}, {"server", "mem1"}});
    CHECK(r->sink.empty());
    RecordingIo rec;
    r->tier->write(rec, 1);
    CHECK(rec.log == std::vector<std::string>{"net mem1 to 4096"});
  }
  SECTION("a remote tier without memory servers") {
    auto r = read(Json{{"kind", "remote"}}, {});
    REQUIRE(r->problems().count("/vmm/tier/kind"));
    CHECK(r->problems().at("/vmm/tier/kind").find("needs a memory server") != std::string::npos);
  }
  SECTION("an unknown kind falls back to the first tier after reporting") {
    auto r = read(Json{{"kind", "sdd"}});
    REQUIRE(r->problems().count("/vmm/tier/kind"));
    CHECK(r->problems().at("/vmm/tier/kind") == "'sdd' is not one of ssd|remote|compressed (did you mean 'ssd'?)");
    REQUIRE(r->tier);
    CHECK(std::string(r->tier->kind()) == "ssd");
  }
  SECTION("another tier's key is an unknown key") {
    auto r = read(Json{{"kind", "ssd"}, {"compression_ratio", 3}});
    REQUIRE(r->problems().count("/vmm/tier/compression_ratio"));
  }
  SECTION("a compression ratio out of range") {
    auto r = read(Json{{"kind", "compressed"}, {"compression_ratio", 0.5}});
    REQUIRE(r->problems().count("/vmm/tier/compression_ratio"));
  }
}
