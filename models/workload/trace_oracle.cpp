// libCacheSim's oracleGeneral binary traces: headerless, little-endian, 24-byte records
//     struct { uint32_t clock_time; uint64_t obj_id; uint32_t obj_size; int64_t next_access_vtime; }
// (1a1a11a/libCacheSim, libCacheSim/traceReader/customizedReader/oracle/oracleGeneralBin.h:
// fields at offsets 0, 4, 12, 16; item_size 24; next_access_vtime -1 = never again).
//
// Read as a page trace: the object id is the page, obj_size is ignored, clock_time is in
// seconds. Records with obj_size 0 are skipped, as libCacheSim's reader skips them by default
// (ignore_size_zero_req), so both count the same references. The format has no write bit.
#include <algorithm>
#include <unordered_map>

#include "models/workload/trace_io.hpp"

namespace vmemsim::workload {
namespace {

constexpr std::size_t kRecord = 24;
constexpr std::size_t kBlockRecords = 4096;
constexpr std::uint64_t kNsPerSec = 1'000'000'000;

class OracleReader final : public TraceReader {
 public:
  explicit OracleReader(std::unique_ptr<ByteSource> in) : in_(std::move(in)), map_(in_->mapped()) {
    if (map_.empty()) buf_.resize(kRecord * kBlockRecords);
    else if (map_.size() % kRecord != 0)  // a mapped file is checked whole, up front
      detail::trace_error(in_->path(), "record " + std::to_string(map_.size() / kRecord) +
                                           ": truncated (oracleGeneral records are 24 bytes; the file ends " +
                                           std::to_string(map_.size() % kRecord) + " bytes into one)");
  }
  std::uint64_t size_hint() const override { return map_.size() / kRecord; }

  std::size_t read(std::span<TraceRecord> out) override {
    std::size_t n = 0;
    while (n < out.size()) {
      if (pos_ == len_ && !refill()) break;
      const auto* r = reinterpret_cast<const unsigned char*>(data_ + pos_);
      pos_ += kRecord;
      ++index_;
      if (detail::load_le(r + 12, 4) == 0) continue;
      out[n++] = TraceRecord{detail::load_le(r + 4, 8), detail::load_le(r, 4) * kNsPerSec, TraceRecord::kRead};
    }
    return n;
  }
  void rewind() override {
    in_->rewind();
    pos_ = len_ = 0;
    index_ = 0;
  }
  bool has_timestamps() const override { return true; }
  TraceFormat format() const override { return TraceFormat::kOracleGeneral; }

 private:
  bool refill() {
    if (!map_.empty()) {  // the whole file at once, in place
      if (len_ == map_.size()) return false;
      data_ = map_.data();
      len_ = map_.size();
      return true;
    }
    std::size_t got = 0;
    while (got < buf_.size()) {
      const std::size_t r = in_->read(buf_.data() + got, buf_.size() - got);
      if (r == 0) break;
      got += r;
    }
    if (got % kRecord != 0)
      detail::trace_error(in_->path(), "record " + std::to_string(index_ + got / kRecord) +
                                           ": truncated (oracleGeneral records are 24 bytes; the file ends " +
                                           std::to_string(got % kRecord) + " bytes into one)");
    pos_ = 0;
    len_ = got;
    data_ = buf_.data();
    return got != 0;
  }

  std::unique_ptr<ByteSource> in_;
  std::span<const char> map_;  // the whole file when mapped
  std::vector<char> buf_;      // else blocks read into this
  const char* data_ = nullptr;
  std::size_t pos_ = 0, len_ = 0;
  std::uint64_t index_ = 0;
};

// Holds the records until finish(): next_access_vtime needs the future, filled by one
// backward pass (the index of the next request to the same object, -1 when there is none).
class OracleWriter final : public TraceWriter {
 public:
  explicit OracleWriter(std::unique_ptr<detail::ByteSink> out) : out_(std::move(out)) {}
  void write(std::span<const TraceRecord> recs) override { recs_.insert(recs_.end(), recs.begin(), recs.end()); }
  void finish() override {
    std::vector<std::int64_t> next(recs_.size());
    std::unordered_map<std::uint64_t, std::int64_t> seen;
    for (std::size_t i = recs_.size(); i-- > 0;) {
      auto [it, fresh] = seen.try_emplace(recs_[i].page, -1);
      next[i] = it->second;
      it->second = static_cast<std::int64_t>(i);
    }
    std::vector<char> block;
    block.reserve(kRecord * kBlockRecords);
    char rec[kRecord];
    for (std::size_t i = 0; i < recs_.size(); ++i) {
      const std::uint64_t secs = std::min<std::uint64_t>(recs_[i].time_ns / kNsPerSec, 0xFFFFFFFFull);
      detail::store_le(rec, secs, 4);
      detail::store_le(rec + 4, recs_[i].page, 8);
      detail::store_le(rec + 12, 4096, 4);
      detail::store_le(rec + 16, static_cast<std::uint64_t>(next[i]), 8);
      block.insert(block.end(), rec, rec + kRecord);
      if (block.size() == block.capacity()) {
        out_->write(block.data(), block.size());
        block.clear();
      }
    }
    out_->write(block.data(), block.size());
    out_->finish();
  }

 private:
  std::unique_ptr<detail::ByteSink> out_;
  std::vector<TraceRecord> recs_;
};

}  // namespace

std::unique_ptr<TraceReader> make_oracle_reader(std::unique_ptr<ByteSource> in) {
  return std::make_unique<OracleReader>(std::move(in));
}

std::unique_ptr<TraceWriter> detail::make_oracle_writer(std::unique_ptr<ByteSink> out) {
  return std::make_unique<OracleWriter>(std::move(out));
}

}  // namespace vmemsim::workload
