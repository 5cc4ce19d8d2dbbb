#include "sim/cli/trace_cmd.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "models/reclaim/replay.hpp"
#include "models/workload/dense_map.hpp"
#include "models/workload/trace_reader.hpp"
#include "sim/core/error.hpp"
#include "sim/core/params.hpp"

namespace vmemsim::cli {
namespace {

using workload::TraceFormat;
using workload::TraceRecord;

TraceFormat format_arg(const std::string& s, const char* option) {
  TraceFormat f;
  if (!workload::parse_trace_format(s, f))
    throw core::InputError("command line", {{"", std::string(option) + " '" + s + "': not one of " +
                                                     workload::kTraceFormatChoices}});
  return f;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A whole trace in memory as dense page numbers (first touch order), with what stats needs.
struct Loaded {
  std::vector<reclaim::PageRef> refs;
  std::uint64_t distinct = 0, reads = 0, writes = 0, instructions = 0;
  std::uint64_t first_ns = 0, last_ns = 0;
  TraceFormat format = TraceFormat::kAuto;
  bool timestamps = false;
};

Loaded load(const std::string& path, TraceFormat f) {
  auto reader = workload::open_trace(path, f);
  Loaded l;
  l.format = reader->format();
  l.timestamps = reader->has_timestamps();
  workload::DenseMap map;
  l.refs.reserve(reader->size_hint());
  std::vector<TraceRecord> buf(1 << 14);
  while (const std::size_t n = reader->read(buf)) {
    if (l.refs.empty()) l.first_ns = buf[0].time_ns;
    for (std::size_t i = 0; i < n; ++i) {
      const TraceRecord& r = buf[i];
      const std::uint64_t p = map.get(r.page);
      if (p >= reclaim::kRefWrite)
        throw core::InputError(path, {{"", "more than 2^31 distinct pages: too many for replay"}});
      l.refs.push_back(static_cast<reclaim::PageRef>(p) | (r.write() ? reclaim::kRefWrite : 0));
      l.reads += (r.flags & TraceRecord::kRead) != 0;
      l.writes += r.write();
      l.instructions += (r.flags & TraceRecord::kInstruction) != 0;
    }
    l.last_ns = buf[n - 1].time_ns;
  }
  l.distinct = map.size();
  if (l.refs.empty()) throw core::InputError(path, {{"", "the trace has no references"}});
  return l;
}

}  // namespace

int cmd_trace_convert(const TraceConvertOptions& o) {
  const TraceFormat from = format_arg(o.from, "--from");
  TraceFormat to = TraceFormat::kPageTrace;
  if (!o.to.empty()) to = format_arg(o.to, "--to");
  if (to == TraceFormat::kAuto) throw core::InputError("command line", {{"", "--to auto: name an output format"}});
  auto reader = workload::open_trace(o.in, from);
  auto writer = workload::make_trace_writer(o.out, to, o.zstd || ends_with(o.out, ".zst"), reader->has_timestamps());
  std::vector<TraceRecord> buf(1 << 14);
  std::uint64_t n = 0;
  while (const std::size_t got = reader->read(buf)) {
    writer->write(std::span(buf).first(got));
    n += got;
  }
  writer->finish();
  std::cerr << o.in << " (" << workload::trace_format_name(reader->format()) << ") -> " << o.out << " ("
            << workload::trace_format_name(to) << (o.zstd || ends_with(o.out, ".zst") ? ", zstd" : "") << "): " << n
            << " references\n";
  return 0;
}

int cmd_trace_stats(const TraceStatsOptions& o) {
  const Loaded l = load(o.trace, format_arg(o.format, "--format"));
  const reclaim::StackDistances sd(l.refs, l.distinct);
  // Reuse distance = distinct other pages between two references to a page, in power-of-two
  // buckets [0, 1), [1, 2), [2, 4), [4, 8), ...; first references are counted apart (cold).
  nlohmann::ordered_json hist = nlohmann::ordered_json::array();
  const auto& c = sd.count();
  for (std::uint64_t lo = 0, hi = 1; lo < c.size(); lo = hi, hi *= 2) {
    std::uint64_t s = 0;
    for (std::uint64_t d = lo; d < hi && d < c.size(); ++d) s += c[d];
    hist.push_back({{"min", lo}, {"max", hi - 1}, {"count", s}});
  }
  nlohmann::ordered_json j;
  j["trace"] = o.trace;
  j["format"] = workload::trace_format_name(l.format);
  j["references"] = l.refs.size();
  j["distinct_pages"] = l.distinct;
  j["reads"] = l.reads;
  j["writes"] = l.writes;
  j["instruction_fetches"] = l.instructions;
  j["timestamps"] = l.timestamps;
  if (l.timestamps) j["duration_ns"] = l.last_ns - l.first_ns;
  j["reuse_distance"] = {{"cold", sd.compulsory()}, {"buckets", hist}};
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("trace: %s (%s)\nreferences: %llu\ndistinct pages: %llu (%.1f MiB)\n", o.trace.c_str(),
              workload::trace_format_name(l.format), static_cast<unsigned long long>(l.refs.size()),
              static_cast<unsigned long long>(l.distinct), static_cast<double>(l.distinct) * 4096 / (1 << 20));
  const double n = static_cast<double>(l.refs.size());
  std::printf("reads: %llu (%.1f%%), writes: %llu (%.1f%%), instruction fetches: %llu\n",
              static_cast<unsigned long long>(l.reads), 100.0 * static_cast<double>(l.reads) / n,
              static_cast<unsigned long long>(l.writes), 100.0 * static_cast<double>(l.writes) / n,
              static_cast<unsigned long long>(l.instructions));
  if (l.timestamps) std::printf("duration: %.6f s\n", static_cast<double>(l.last_ns - l.first_ns) / 1e9);
  std::printf("reuse distance (distinct pages between references to a page):\n  %-22s %12llu\n", "cold (first)",
              static_cast<unsigned long long>(sd.compulsory()));
  for (const auto& b : hist) {
    const std::string range = b["min"] == b["max"] ? std::to_string(b["min"].get<std::uint64_t>())
                                                   : std::to_string(b["min"].get<std::uint64_t>()) + "-" +
                                                         std::to_string(b["max"].get<std::uint64_t>());
    std::printf("  %-22s %12llu\n", range.c_str(), static_cast<unsigned long long>(b["count"].get<std::uint64_t>()));
  }
  return 0;
}

int cmd_replay(const ReplayOptions& o) {
  const reclaim::SelectorInfo* info = reclaim::find_selector(o.policy);
  if (!info) {
    std::vector<std::string> names;
    std::string all;
    for (const auto& s : reclaim::selector_registry()) {
      if (s.threshold) continue;
      names.push_back(s.name);
      all += (all.empty() ? "" : "|") + std::string(s.name);
    }
    std::string m = "--policy '" + o.policy + "': no such victim selector (one of " + all + ")";
    const std::string d = core::did_you_mean(o.policy, names);
    if (!d.empty()) m += " (did you mean '" + d + "'?)";
    throw core::InputError("command line", {{"", m}});
  }
  // A threshold rule (age) offers only pages past its threshold, which replay's frame limits
  // have no rounds to produce: it is not a replacement order.
  if (info->threshold)
    throw core::InputError("command line", {{"", "--policy '" + o.policy + "' is a threshold rule driven by tracking "
                                                 "rounds (a VMM policy's selector), not a replacement order replay "
                                                 "can run at a frame limit"}});
  std::vector<std::uint64_t> frames;
  {
    std::size_t at = 0;
    const std::string& s = o.frames;
    while (at <= s.size()) {
      const std::size_t comma = std::min(s.find(',', at), s.size());
      const std::string tok = s.substr(at, comma - at);
      std::size_t used = 0;
      unsigned long long v = 0;
      try {
        v = std::stoull(tok, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (tok.empty() || used != tok.size() || v == 0 || tok[0] == '-')
        throw core::InputError("command line", {{"", "--frames '" + s + "': expected positive integers separated by commas"}});
      frames.push_back(v);
      at = comma + 1;
    }
  }
  const Loaded l = load(o.trace, format_arg(o.format, "--format"));
  const auto t0 = std::chrono::steady_clock::now();
  // The selector decides whether one pass can serve every limit (no branch on its name here);
  // the pass is O(log n) per reference against O(1) per reference and limit for a simulation,
  // about five simulations' worth (bench/README.md), so it is taken from four limits on.
  constexpr std::size_t kOnePassFromLimits = 4;
  bool one_pass = false;
  if (!o.per_limit && frames.size() >= kOnePassFromLimits) {
    core::ErrorSink sink("replay");
    core::Params p(nullptr, "", &sink, nullptr);
    one_pass = info->make(p, reclaim::SelectorContext{l.distinct, o.seed})->lru_stack_property();
  }
  std::vector<reclaim::LimitResult> results;
  if (one_pass) {
    const reclaim::StackDistances sd(l.refs, l.distinct);
    for (std::uint64_t f : frames) results.push_back(sd.at(f));
  } else {
    for (std::uint64_t f : frames) results.push_back(reclaim::simulate(*info, l.refs, l.distinct, f, o.seed));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::ordered_json j;
  j["trace"] = o.trace;
  j["format"] = workload::trace_format_name(l.format);
  j["policy"] = info->name;
  j["method"] = one_pass ? "stack-distance" : "simulation";
  j["seed"] = o.seed;
  j["references"] = l.refs.size();
  j["distinct_pages"] = l.distinct;
  j["limits"] = nlohmann::ordered_json::array();
  for (const auto& r : results)
    j["limits"].push_back({{"frames", r.frames},
                           {"references", r.references},
                           {"misses", r.misses},
                           {"compulsory_misses", r.compulsory},
                           {"miss_ratio", static_cast<double>(r.misses) / static_cast<double>(r.references)}});
  // Wall time goes to stderr only: the JSON stays byte-identical between runs.
  const double simulated = static_cast<double>(l.refs.size()) * (one_pass ? 1.0 : static_cast<double>(results.size()));
  std::fprintf(stderr, "replay: %.0f references replayed in %.6f s (%.2f M references/s, trace loading excluded)\n",
               simulated, secs, simulated / secs / 1e6);
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("trace: %s (%s, %llu references, %llu distinct pages)\npolicy: %s (%s)\n", o.trace.c_str(),
              workload::trace_format_name(l.format), static_cast<unsigned long long>(l.refs.size()),
              static_cast<unsigned long long>(l.distinct), info->name,
              one_pass ? "every limit from one stack-distance pass" : "one simulation per limit");
  std::printf("%12s %14s %14s %14s %10s\n", "frames", "references", "misses", "compulsory", "miss ratio");
  for (const auto& r : results)
    std::printf("%12llu %14llu %14llu %14llu %10.6f\n", static_cast<unsigned long long>(r.frames),
                static_cast<unsigned long long>(r.references), static_cast<unsigned long long>(r.misses),
                static_cast<unsigned long long>(r.compulsory),
                static_cast<double>(r.misses) / static_cast<double>(r.references));
  return 0;
}

}  // namespace vmemsim::cli
