// The fuzz targets without libFuzzer: runs a target's LLVMFuzzerTestOneInput over its seed corpus
// and then over a fixed number of deterministic mutations of it, so that the test suite (built
// with the project's usual compiler) exercises every target on every run. tools/fuzz.sh runs the
// same targets under libFuzzer with ASan and UBSan for as long as one likes.
//
//   fuzz_<target>_replay [--inputs N] [--seed S] [--max-seconds T] [--slow-ms M] [--save DIR] PATH...
//
// PATH is a corpus file or directory (its regular files, sorted). Exit 0 when every input ended
// within --slow-ms; a crash or a finding aborts, leaving the input in DIR/crash-input. The
// mutations mix byte-level edits with JSON-aware ones: a value somewhere in the document replaced
// by a hostile one (1e309, 2^64-1, -1, 0.4, deep nesting, a huge string, invalid UTF-8), a
// duplicated key, a truncation; for a corpus of `--set` lines, new lines built from the pointers of
// the shipped scenarios.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Rng {  // splitmix64: deterministic, no std:: distributions (their output differs by library)
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(next() % n) : 0; }
};

const std::vector<std::string> kTokens = {
    "1e309", "-1e309", "18446744073709551615", "9223372036854775808", "-9223372036854775809", "4294967296",
    "-1", "0", "0.4", "0.01", "1e300", "1e-300", "null", "true", "\"\"", "\"\\u0000\"", "[]", "{}",
    "\"1e400s\"", "\"0ns\"", "\"1ns\"", "\"16TiB\"", "\"1e19\"", "\"-5ms\"", "\"10G\"", "\"\xff\xfe\"",
    "\"phases\"", "\"uniform\"", "\"zipf\"", "\"interleave\"", "\"uffd-ws\"", "\"rwp\"", "1024", "65001",
    "64", "65", "[4294967296]", "[[0.4]]", "\"a/b\"", "\"..\""};

std::string hostile_value(Rng& r) {
  switch (r.below(6)) {
    case 0: return std::string(70 + r.below(2000), '[') + std::string(70 + r.below(1), ']');  // truncated or deep
    case 1: {
      const std::size_t d = 60 + r.below(10);
      return std::string(d, '[') + std::string(d, ']');
    }
    case 2: return "\"" + std::string(300 + r.below(5000), 'x') + "\"";
    default: return kTokens[r.below(kTokens.size())];
  }
}

// Every JSON pointer in `v`.
void pointers(const Json& v, const std::string& at, std::vector<std::string>& out) {
  out.push_back(at);
  if (v.is_object())
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string k;
      for (char c : it.key()) k += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
      pointers(it.value(), at + "/" + k, out);
    }
  else if (v.is_array())
    for (std::size_t i = 0; i < v.size(); ++i) pointers(v[i], at + "/" + std::to_string(i), out);
}

std::string mutate_bytes(std::string s, Rng& r) {
  const int edits = 1 + static_cast<int>(r.below(4));
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = r.below(s.size() + 1);
    switch (r.below(6)) {
      case 0:
        if (!s.empty()) s[r.below(s.size())] ^= static_cast<char>(1u << r.below(8));
        break;
      case 1: s.insert(at, 1, static_cast<char>(r.below(256))); break;
      case 2:
        if (!s.empty()) s.erase(at < s.size() ? at : s.size() - 1, 1 + r.below(16));
        break;
      case 3: s.insert(at, kTokens[r.below(kTokens.size())]); break;
      case 4:
        if (!s.empty()) {
          const std::size_t from = r.below(s.size()), len = 1 + r.below(64);
          s.insert(at, s.substr(from, len));
        }
        break;
      default: s = s.substr(0, at); break;
    }
  }
  return s;
}

std::string mutate_json(const Json& doc, Rng& r) {
  std::vector<std::string> ptrs;
  pointers(doc, "", ptrs);
  const std::string target = ptrs[r.below(ptrs.size())];
  std::string text = doc.dump();
  switch (r.below(4)) {
    case 0: {  // replace a value by a hostile one (spliced as text: it may be invalid JSON on purpose)
      Json d = doc;
      const std::string mark = "\"@@VMEMSIM_FUZZ@@\"";
      if (target.empty()) return hostile_value(r);
      d[Json::json_pointer(target)] = "@@VMEMSIM_FUZZ@@";
      text = d.dump();
      const auto pos = text.find(mark);
      return text.replace(pos, mark.size(), hostile_value(r));
    }
    case 1: {  // a key given twice
      const auto brace = text.find('{', r.below(text.size()));
      if (brace == std::string::npos) return text;
      const auto colon = text.find(':', brace);
      if (colon == std::string::npos) return text;
      return text.insert(brace + 1, text.substr(brace + 1, colon - brace) + hostile_value(r) + ",");
    }
    case 2: {  // another valid value of another type
      Json d = doc;
      if (target.empty()) return text;
      static const Json kValues = Json::parse(R"([0, 1, -1, 0.5, 1e30, "", "x", true, null, [], {}, [1], {"a": 1},
                                                 "100us", "1s", "4GiB", "10M", 4096])");
      d[Json::json_pointer(target)] = kValues[r.below(kValues.size())];
      return d.dump();
    }
    default: return mutate_bytes(text, r);
  }
}

std::string mutate_set_lines(const std::string& seed, const std::vector<std::string>& scenario_ptrs, Rng& r) {
  std::string out = seed.empty() ? std::string(1, '\0') : seed.substr(0, 1);
  const int lines = 1 + static_cast<int>(r.below(3));
  static const std::vector<std::string> kPlausible = {"1", "2", "8", "0.9", "\"200ms\"", "100000000", "shmem", "anon",
                                                       "interleave", "uffd-ws", "none", "true", "false", "\"1GiB\"",
                                                       "[0]", "[1]", "7"};
  for (int i = 0; i < lines; ++i) {
    std::string p = scenario_ptrs[r.below(scenario_ptrs.size())];
    if (r.below(2) == 0) {  // a plausible value at an existing key: reaches the checks past the pointer
      out += p + "=" + kPlausible[r.below(kPlausible.size())] + "\n";
      continue;
    }
    switch (r.below(5)) {
      case 0: p += "/01"; break;
      case 1: p += "/" + std::string(1 + r.below(25), '9'); break;
      case 2: p += "/~2x"; break;
      case 3: {
        std::string deep;
        for (std::size_t k = 0, n = 10 + r.below(100); k < n; ++k) deep += "/a";
        p += deep;
        break;
      }
      default: break;
    }
    out += p + "=" + (r.below(3) == 0 ? std::string("plain text") : hostile_value(r)) + "\n";
  }
  return r.below(4) == 0 ? mutate_bytes(out, r) : out;
}

// The input being run, written out by the crash handler (writing every input to a file would
// make the driver I/O-bound on a busy disk).
const char* g_input = nullptr;
std::size_t g_input_len = 0;
std::string g_crash_path;

void on_crash(int sig) {
  const int fd = ::open(g_crash_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    std::size_t off = 0;
    while (off < g_input_len) {
      const ssize_t n = ::write(fd, g_input + off, g_input_len - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  const char msg[] = "fuzz replay: crashed; the input is in the --save directory as crash-input\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

std::vector<std::string> read_corpus(const std::vector<std::string>& paths) {
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t inputs = 1000;
  std::uint64_t seed = 1;
  double max_seconds = 60, slow_ms = 2000;
  std::string save = ".";
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--inputs") inputs = std::stoull(val());
    else if (a == "--seed") seed = std::stoull(val());
    else if (a == "--max-seconds") max_seconds = std::stod(val());
    else if (a == "--slow-ms") slow_ms = std::stod(val());
    else if (a == "--save") save = val();
    else paths.push_back(a);
  }
  const std::vector<std::string> corpus = read_corpus(paths);
  if (corpus.empty()) {
    std::cerr << "no corpus files\n";
    return 2;
  }
  // The pointers of every JSON seed, for --set lines (a `--set` corpus holds no JSON).
  std::vector<std::string> scenario_ptrs;
  std::vector<std::optional<Json>> parsed;
  for (const auto& c : corpus) {
    try {
      parsed.emplace_back(Json::parse(c, nullptr, true, true));
      pointers(*parsed.back(), "", scenario_ptrs);
    } catch (const std::exception&) {
      parsed.emplace_back(std::nullopt);
    }
  }
  if (scenario_ptrs.empty())
    scenario_ptrs = {"/name", "/seed", "/duration", "/quantum", "/vms/0/vcpus", "/vms/0/memory", "/vms/0/cpu_nodes",
                     "/vms/0/workload", "/hosts/0/nodes", "/hosts/0/distances", "/hosts/0/latency_ns",
                     "/output/sampling_interval", "/kernel/costs/dram_latency_ns", "/vms/1/workload/phases/0/duration"};
  fs::create_directories(save);
  g_crash_path = save + "/crash-input";
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, on_crash);

  Rng rng{seed};
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t runs = 0;
  double slowest = 0;
  std::string slowest_input;
  for (std::size_t k = 0; k < corpus.size() + inputs; ++k) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (elapsed > max_seconds) break;
    std::string input;
    if (k < corpus.size()) {
      input = corpus[k];
    } else {
      const std::size_t s = rng.below(corpus.size());
      if (parsed[s]) input = rng.below(5) == 0 ? mutate_bytes(corpus[s], rng) : mutate_json(*parsed[s], rng);
      else input = mutate_set_lines(corpus[s], scenario_ptrs, rng);
    }
    g_input = input.data();
    g_input_len = input.size();
    const auto a = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
    ++runs;
    if (ms > slowest) slowest = ms, slowest_input = input;
    if (ms > slow_ms) {
      std::ofstream o(save + "/slow-input", std::ios::binary | std::ios::trunc);
      o << input;
      std::cerr << "slow input: " << ms << " ms > " << slow_ms << " ms (saved as " << save << "/slow-input)\n";
      return 1;
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%zu inputs (%zu seeds + %zu mutations) in %.1f s: %zu accepted, %zu rejected with a pointer "
              "(exit 2); slowest %.1f ms; no crash, no finding\n",
              runs, std::min(runs, corpus.size()), runs > corpus.size() ? runs - corpus.size() : 0, total,
              vmemsim::fuzz::g_accepted, vmemsim::fuzz::g_rejected, slowest);
  return 0;
}
