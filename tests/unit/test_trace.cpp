// Trace readers and writers (models/workload/trace_*.cpp) and the `trace` generator: small
// fixture traces written by the test in each format (plain and zstd), read back record by
// record; format sniffing; errors naming the file and line/record; the generator's mapping,
// split, timing and end-of-trace knobs.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <zstd.h>

#include "models/workload/generator.hpp"
#include "models/workload/trace_reader.hpp"
#include "sim/core/error.hpp"

using namespace vmemsim;
using namespace vmemsim::workload;
namespace fs = std::filesystem;

namespace {

fs::path tmp_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("vmemsim-test-trace-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string zstd_compress(const std::string& s) {
  std::string out(ZSTD_compressBound(s.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), s.data(), s.size(), 3);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::vector<TraceRecord> read_all(const std::string& path, TraceFormat f = TraceFormat::kAuto, std::size_t block = 3) {
  auto r = open_trace(path, f);
  std::vector<TraceRecord> all, buf(block);
  while (std::size_t n = r->read(buf)) all.insert(all.end(), buf.begin(), buf.begin() + static_cast<long>(n));
  return all;
}

std::string oracle_record(std::uint32_t t, std::uint64_t id, std::uint32_t size, std::int64_t next) {
  std::string r(24, '\0');
  for (int i = 0; i < 4; ++i) r[i] = static_cast<char>(t >> (8 * i));
  for (int i = 0; i < 8; ++i) r[4 + i] = static_cast<char>(id >> (8 * i));
  for (int i = 0; i < 4; ++i) r[12 + i] = static_cast<char>(size >> (8 * i));
  for (int i = 0; i < 8; ++i) r[16 + i] = static_cast<char>(static_cast<std::uint64_t>(next) >> (8 * i));
  return r;
}

const std::string kLackey =
    "==4242== Lackey, an example Valgrind tool\n"
    "==4242== Command: ./a.out\n"
    "I  04001000,3\n"
    " L 7ff000ff8,8\n"
    " S 04021ffe,4\n"   // crosses from page 0x4021 into 0x4022
    " M 0402a010,8\n"
    "==4242== \n";

std::string expect_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::InputError& e) {
    return e.what();
  }
  FAIL("no InputError");
  return "";
}

}  // namespace

TEST_CASE("lackey: one reference per page a line touches, M reads and writes", "[trace]") {
  const fs::path p = tmp_file("a.lackey");
  write_file(p, kLackey);
  const auto recs = read_all(p.string());
  REQUIRE(recs.size() == 5);
  CHECK(recs[0].page == 0x4001);
  CHECK(recs[0].flags == (TraceRecord::kRead | TraceRecord::kInstruction));
  CHECK(recs[1].page == 0x7ff000);
  CHECK(recs[1].flags == TraceRecord::kRead);
  CHECK(recs[2].page == 0x4021);
  CHECK(recs[3].page == 0x4022);
  CHECK(recs[2].flags == TraceRecord::kWrite);
  CHECK(recs[3].flags == TraceRecord::kWrite);
  CHECK(recs[4].page == 0x402a);
  CHECK(recs[4].flags == (TraceRecord::kRead | TraceRecord::kWrite));
  CHECK(open_trace(p.string())->format() == TraceFormat::kLackey);
  CHECK_FALSE(open_trace(p.string())->has_timestamps());
}

TEST_CASE("lackey: a malformed access line names the file and line", "[trace]") {
  const fs::path p = tmp_file("bad.lackey");
  write_file(p, "I  04001000,3\n L 7ff0zz0ff8,8\n");
  const std::string e = expect_error([&] { read_all(p.string(), TraceFormat::kLackey); });
  CHECK(e.find(p.string()) != std::string::npos);
  CHECK(e.find("line 2: bad hexadecimal address") != std::string::npos);
}

TEST_CASE("oracleGeneral: 24-byte records, object id = page, seconds, size-0 records skipped", "[trace]") {
  const fs::path p = tmp_file("a.oracleGeneral.bin");
  write_file(p, oracle_record(5, 7, 4096, 2) + oracle_record(6, 1ull << 60, 0, -1) + oracle_record(6, 7, 512, -1));
  const auto recs = read_all(p.string(), TraceFormat::kOracleGeneral);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].page == 7);
  CHECK(recs[0].time_ns == 5'000'000'000ull);
  CHECK(recs[1].page == 7);
  CHECK(recs[1].time_ns == 6'000'000'000ull);
  CHECK(open_trace(p.string())->format() == TraceFormat::kOracleGeneral);

  write_file(p, oracle_record(5, 7, 4096, 2) + std::string(10, '\0'));
  CHECK(expect_error([&] { read_all(p.string(), TraceFormat::kOracleGeneral); }).find("truncated") != std::string::npos);
}

TEST_CASE("pagetrace: round trip with timestamps, writes and 64-bit pages, plain and zstd", "[trace]") {
  std::vector<TraceRecord> in;
  for (std::uint64_t i = 0; i < 20000; ++i) {
    const std::uint64_t page = i % 7 == 0 ? ~0ull - i : (i * 2654435761u) % 5000;
    in.push_back(TraceRecord{page, 1000 * i + (i % 3), static_cast<std::uint8_t>(i % 4 == 0 ? TraceRecord::kWrite : TraceRecord::kRead)});
  }
  for (bool zstd : {false, true}) {
    const fs::path p = tmp_file(zstd ? "a.vmpt.zst" : "a.vmpt");
    auto w = make_trace_writer(p.string(), TraceFormat::kPageTrace, zstd, true);
    w->write(std::span(in).first(123));
    w->write(std::span(in).subspan(123));
    w->finish();
    auto r = open_trace(p.string());
    CHECK(r->format() == TraceFormat::kPageTrace);
    CHECK(r->has_timestamps());
    const auto out = read_all(p.string(), TraceFormat::kAuto, 1000);
    REQUIRE(out.size() == in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
      INFO("record " << i);
      REQUIRE(out[i].page == in[i].page);
      REQUIRE(out[i].time_ns == in[i].time_ns);
      REQUIRE(out[i].write() == in[i].write());
    }
    std::ifstream f(p, std::ios::binary);
    unsigned char head[4];
    f.read(reinterpret_cast<char*>(head), 4);
    CHECK((head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD) == zstd);
  }
}

TEST_CASE("pagetrace: bad magic, version and flags are refused", "[trace]") {
  const fs::path p = tmp_file("bad.vmpt");
  std::string h("VMPGTRC\0", 8);
  write_file(p, h + std::string("\x02\x00\x00\x00\x0c\x00\x00\x00", 8));
  CHECK(expect_error([&] { read_all(p.string(), TraceFormat::kPageTrace); }).find("version 2") != std::string::npos);
  write_file(p, h + std::string("\x01\x00\x08\x00\x0c\x00\x00\x00", 8));
  CHECK(expect_error([&] { read_all(p.string(), TraceFormat::kPageTrace); }).find("unknown flags") != std::string::npos);
  write_file(p, h + std::string("\x01\x00\x00\x00\x0c\x00\x00\x00\x80", 9));
  CHECK(expect_error([&] { read_all(p.string(), TraceFormat::kPageTrace); }).find("truncated") != std::string::npos);
  write_file(p, "not a trace at all\x01\x02");
  CHECK(expect_error([&] { read_all(p.string(), TraceFormat::kPageTrace); }).find("bad magic") != std::string::npos);
}

TEST_CASE("zstd-compressed lackey and oracleGeneral are sniffed and read", "[trace]") {
  const fs::path a = tmp_file("a.lackey.zst");
  write_file(a, zstd_compress(kLackey));
  CHECK(read_all(a.string()).size() == 5);
  CHECK(open_trace(a.string())->format() == TraceFormat::kLackey);
  const fs::path b = tmp_file("b.oracle.zst");
  write_file(b, zstd_compress(oracle_record(1, 3, 4096, -1) + oracle_record(2, 4, 4096, -1)));
  const auto recs = read_all(b.string());
  REQUIRE(recs.size() == 2);
  CHECK(recs[1].page == 4);
  // A corrupt frame is an error naming the file.
  std::string z = zstd_compress(kLackey);
  z.resize(z.size() - 3);
  write_file(a, z);
  CHECK(expect_error([&] { read_all(a.string()); }).find(a.string()) != std::string::npos);
}

TEST_CASE("conversion between the formats keeps pages (and what the target can hold)", "[trace]") {
  const fs::path src = tmp_file("conv.lackey");
  write_file(src, kLackey);
  const auto orig = read_all(src.string());
  for (TraceFormat f : {TraceFormat::kPageTrace, TraceFormat::kOracleGeneral, TraceFormat::kLackey}) {
    const fs::path dst = tmp_file(std::string("conv.") + trace_format_name(f));
    auto w = make_trace_writer(dst.string(), f, false, false);
    w->write(orig);
    w->finish();
    const auto back = read_all(dst.string());
    REQUIRE(back.size() == orig.size());
    for (std::size_t i = 0; i < orig.size(); ++i) {
      CHECK(back[i].page == orig[i].page);
      if (f != TraceFormat::kOracleGeneral) CHECK(back[i].write() == orig[i].write());
    }
  }
}

TEST_CASE("an unknown file is refused by the sniffer", "[trace]") {
  const fs::path p = tmp_file("junk.txt");
  write_file(p, "hello\nworld\n");
  CHECK(expect_error([&] { open_trace(p.string()); }).find("unknown trace format") != std::string::npos);
  CHECK(expect_error([&] { open_trace(tmp_file("missing").string()); }).find("cannot open") != std::string::npos);
}

namespace {

struct Gen {
  core::ErrorSink sink{"scenario.json"};
  core::Json resolved;
  std::unique_ptr<Generator> gen;
};

std::unique_ptr<Gen> trace_gen(core::Json j, std::uint64_t pages, unsigned vcpu = 0, unsigned vcpus = 1) {
  auto g = std::make_unique<Gen>();
  j["type"] = "trace";
  core::Params p(&j, "/vms/0/workload", &g->sink, &g->resolved);
  GenContext ctx{pages, 1, "vm/t/vcpu/0/workload"};
  ctx.vcpu = vcpu;
  ctx.vcpus = vcpus;
  g->gen = make_generator(p, ctx);
  p.finish();
  return g;
}

// Pages 100, 5000, 100, 7, ... with times 0, 10, 30, ... ns and every third a write.
std::string make_timed_trace(const std::string& name, std::size_t n) {
  const fs::path p = tmp_file(name);
  std::vector<TraceRecord> recs;
  const std::uint64_t pages[] = {100, 5000, 100, 7, 5000, 9};
  for (std::size_t i = 0; i < n; ++i)
    recs.push_back(TraceRecord{pages[i % 6], 10 * i * (i + 1) / 2,
                               static_cast<std::uint8_t>(i % 3 == 0 ? TraceRecord::kWrite : TraceRecord::kRead)});
  auto w = make_trace_writer(p.string(), TraceFormat::kPageTrace, false, true);
  w->write(recs);
  w->finish();
  return p.string();
}

}  // namespace

TEST_CASE("trace generator: dense and modulo mapping, writes from the trace, timing gaps", "[trace][workload]") {
  const std::string path = make_timed_trace("gen.vmpt", 6);
  auto g = trace_gen({{"path", path}}, 64);
  REQUIRE(g->sink.empty());
  std::vector<Access> out(8);
  g->gen->fill(0, out);
  const std::uint64_t dense[] = {0, 1, 0, 2, 1, 3, 0, 1};  // looped after 6
  for (std::size_t i = 0; i < 8; ++i) CHECK(access_page(out[i]) == dense[i]);
  CHECK(access_is_write(out[0]));
  CHECK_FALSE(access_is_write(out[1]));
  CHECK(access_is_write(out[3]));
  const core::TimeNs* gaps = g->gen->gaps();
  REQUIRE(gaps != nullptr);
  CHECK(gaps[0] == 10);
  CHECK(gaps[1] == 20);
  CHECK(gaps[4] == 50);
  CHECK(gaps[5] == 0);  // the wrap to the start

  auto m = trace_gen({{"path", path}, {"mapping", "modulo"}, {"timing", "rate"}}, 64);
  m->gen->fill(0, out);
  CHECK(access_page(out[0]) == 100 % 64);
  CHECK(access_page(out[1]) == 5000 % 64);
  CHECK(m->gen->gaps() == nullptr);  // rate-paced and endless: the vCPU's fast path
}

TEST_CASE("trace generator: split deals records round-robin with one mapping; stop ends the stream", "[trace][workload]") {
  const std::string path = make_timed_trace("split.vmpt", 6);
  auto a = trace_gen({{"path", path}, {"vcpus", "split"}, {"at_end", "stop"}}, 64, 0, 2);
  auto b = trace_gen({{"path", path}, {"vcpus", "split"}, {"at_end", "stop"}}, 64, 1, 2);
  REQUIRE(a->sink.empty());
  std::vector<Access> oa(5), ob(5);
  a->gen->fill(0, oa);
  b->gen->fill(0, ob);
  // Records 0..5 are dense pages 0 1 0 2 1 3: vCPU 0 gets 0 0 1, vCPU 1 gets 1 2 3.
  CHECK(access_page(oa[0]) == 0);
  CHECK(access_page(oa[1]) == 0);
  CHECK(access_page(oa[2]) == 1);
  CHECK(access_page(ob[0]) == 1);
  CHECK(access_page(ob[1]) == 2);
  CHECK(access_page(ob[2]) == 3);
  const core::TimeNs* ga = a->gen->gaps();
  CHECK(ga[0] == 30);  // records 0 and 2: times 0 and 30
  CHECK(ga[3] == kGapEnd);
  CHECK(ga[4] == kGapEnd);
}

TEST_CASE("trace generator: bad input is reported at its pointer", "[trace][workload]") {
  auto g = trace_gen({{"path", tmp_file("nope.vmpt").string()}}, 64);
  REQUIRE(g->sink.problems().size() == 1);
  CHECK(g->sink.problems()[0].pointer == "/vms/0/workload/path");
  CHECK(g->sink.problems()[0].message.find("cannot open") != std::string::npos);
  auto h = trace_gen({{"path", "x"}, {"mapping", "sparse"}}, 64);
  CHECK(!h->sink.empty());
  CHECK(h->sink.problems()[0].pointer == "/vms/0/workload/mapping");
}
