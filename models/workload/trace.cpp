// `trace`: replays a memory-reference trace file (lackey, oracle-general or pagetrace, plain or
// zstd; trace_reader.hpp) as a vCPU's access stream.
//
// Knobs:
//  - vcpus: "each" -- every vCPU sharing the workload object replays the whole trace; a
//    "{vcpu}" in `path` becomes the vCPU's index among them, so each can have its own file.
//    "split" -- one trace dealt over the vCPUs: record k goes to vCPU k mod n (each vCPU reads
//    the whole file and keeps its share, so all of them see the same page mapping).
//  - mapping: "dense" -- trace pages are numbered in order of first touch (0, 1, 2, ...), so a
//    sparse 64-bit address space becomes the region's first pages; "modulo" -- trace page mod
//    the region size. Dense numbering wraps modulo the region when the trace touches more
//    pages than the region has.
//  - timing: "trace" -- when the format has timestamps, the time from one reference to the
//    next replaces the vCPU's think time (Generator::gaps()); without timestamps, or with
//    "rate", the workload's rate paces the accesses as for any generator.
//  - at_end: "loop" -- start the trace again (the time across the wrap is 0); "stop" -- the
//    vCPU issues no access after the last record (it idles until the end of the run).
//
// The hot loop reads records in blocks of kBlock into a reused buffer and maps pages through
// an open-addressing table in flat arrays: no allocation per access.
#include <algorithm>
#include <limits>
#include <string>

#include "models/workload/builtin.hpp"
#include "models/workload/dense_map.hpp"
#include "models/workload/trace_reader.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::workload {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr core::ParamSpec kParams[] = {
    {"path", core::Kind::String, nullptr,
     "trace file (lackey text, libCacheSim oracleGeneral or vmemsim pagetrace; may be zstd-compressed); "
     "relative to the working directory; \"{vcpu}\" is replaced by the vCPU's index"},
    {"format", core::Kind::Enum, "\"auto\"", "trace format; auto = recognised from the file's first bytes", -kInf,
     kInf, kTraceFormatChoices},
    {"vcpus", core::Kind::Enum, "\"each\"",
     "each = every vCPU replays the whole trace; split = record k goes to vCPU k mod n", -kInf, kInf, "each|split"},
    {"mapping", core::Kind::Enum, "\"dense\"",
     "trace page -> region page: dense = numbered in order of first touch (wrapping at the region size), "
     "modulo = trace page mod the region size",
     -kInf, kInf, "dense|modulo"},
    {"timing", core::Kind::Enum, "\"trace\"",
     "trace = the trace's timestamps set the time between accesses when it has them (else the rate does); "
     "rate = the workload's rate always",
     -kInf, kInf, "trace|rate"},
    {"at_end", core::Kind::Enum, "\"loop\"",
     "loop = replay the trace again; stop = the vCPU issues no more accesses", -kInf, kInf, "loop|stop"},
};

struct TraceOptions {
  bool split = false, dense = true, timed = true, loop = true;
};

class TraceGenerator final : public Generator {
 public:
  TraceGenerator(std::unique_ptr<TraceReader> r, const std::string& path, const GenContext& ctx,
                 const TraceOptions& o)
      : reader_(std::move(r)),
        pages_(ctx.pages),
        share_(o.split ? ctx.vcpus : 1),
        mine_(o.split ? ctx.vcpu : 0),
        dense_(o.dense),
        timed_(o.timed && reader_->has_timestamps()),
        loop_(o.loop),
        recs_(kBlock) {
    advance();  // the first record, so each access can see the next one's time
    if (ended_)
      throw core::InputError(path, {{"", o.split ? "no records for vCPU " + std::to_string(ctx.vcpu) + " of " +
                                                        std::to_string(ctx.vcpus)
                                                  : std::string("the trace has no records")}});
  }

  void fill(core::TimeNs, std::span<Access> out) override {
    if (gaps_.size() < out.size()) gaps_.resize(out.size(), kGapThink);
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (ended_) {
        out[i] = 0;
        gaps_[i] = kGapEnd;
        continue;
      }
      out[i] = make_access(next_page_, next_write_);
      const std::uint64_t t = next_time_;
      const bool wrapped = advance();
      if (timed_) gaps_[i] = ended_ || wrapped || next_time_ < t ? 0 : static_cast<core::TimeNs>(next_time_ - t);
    }
  }
  const core::TimeNs* gaps() const override { return timed_ || !loop_ ? gaps_.data() : nullptr; }

 private:
  static constexpr std::size_t kBlock = 4096;

  // Moves to this vCPU's next record; returns true when it wrapped round to the start.
  bool advance() {
    bool wrapped = false;
    for (;;) {
      if (pos_ == n_) {
        n_ = reader_->read(recs_);
        pos_ = 0;
        if (n_ == 0) {
          if (!loop_ || (wrapped && !any_)) {  // stop, or a trace with nothing for this vCPU
            ended_ = true;
            return wrapped;
          }
          reader_->rewind();
          index_ = 0;
          wrapped = true;
          continue;
        }
      }
      const TraceRecord& r = recs_[pos_++];
      // Dense numbering sees every record, also those dealt to other vCPUs, so that all of them
      // agree on the mapping.
      const std::uint64_t p = dense_ ? map_.get(r.page) : r.page;
      if (index_++ % share_ != mine_) continue;
      any_ = true;
      next_page_ = p % pages_;
      next_write_ = r.write();
      next_time_ = r.time_ns;
      return wrapped;
    }
  }

  std::unique_ptr<TraceReader> reader_;
  std::uint64_t pages_;
  std::uint64_t share_, mine_;
  bool dense_, timed_, loop_;
  std::vector<TraceRecord> recs_;
  std::size_t pos_ = 0, n_ = 0;
  std::uint64_t index_ = 0;
  bool any_ = false, ended_ = false;
  DenseMap map_;
  std::uint64_t next_page_ = 0, next_time_ = 0;
  bool next_write_ = false;
  std::vector<core::TimeNs> gaps_;
};

std::unique_ptr<Generator> make_trace(core::Params& p, const GenContext& ctx, double) {
  std::string path = p.get_string(kParams[0]);
  const std::string fmt = p.get_string(kParams[1]);
  TraceOptions o;
  o.split = p.get_string(kParams[2]) == "split";
  o.dense = p.get_string(kParams[3]) == "dense";
  o.timed = p.get_string(kParams[4]) == "trace";
  o.loop = p.get_string(kParams[5]) == "loop";
  if (const auto at = path.find("{vcpu}"); at != std::string::npos) path.replace(at, 6, std::to_string(ctx.vcpu));
  TraceFormat f = TraceFormat::kAuto;
  parse_trace_format(fmt, f);  // the enum's value is already checked
  if (path.empty()) {
    p.error("path", "empty trace path");
    return nullptr;
  }
  try {
    return std::make_unique<TraceGenerator>(open_trace(path, f), path, ctx, o);
  } catch (const core::InputError& e) {
    p.error("path", e.what());
    return nullptr;
  }
}

}  // namespace

GeneratorInfo detail::trace_info() {
  return {"trace",
          "replays a memory-reference trace (valgrind lackey, libCacheSim oracleGeneral or vmemsim pagetrace, "
          "optionally zstd); writes come from the trace, write_ratio is not used",
          kParams, make_trace};
}

}  // namespace vmemsim::workload
