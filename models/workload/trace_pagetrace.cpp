// vmemsim's own page-trace format ("pagetrace"), version 1. Little-endian throughout.
//
//   header, 16 bytes:
//     0  char[8]  magic "VMPGTRC\0"
//     8  u16      version (1)
//    10  u16      flags: bit 0 = records carry timestamps, bit 1 = records carry a write bit;
//                 other bits are reserved and must be 0 (a reader refuses what it does not know)
//    12  u8       page shift (12: 4 KiB pages)
//    13  u8[3]    reserved, 0
//   records, until the end of the file (there is no count, so a writer can stream):
//     LEB128 varint  v = zigzag(page - previous page) [<< 1 | write, when flag bit 1]
//                    (the difference is taken modulo 2^64, so any 64-bit page number works;
//                    with the write bit v has up to 65 bits, 10 bytes)
//     LEB128 varint  time_ns - previous time_ns, when flag bit 0 (times never decrease;
//                    a writer clamps a decreasing time to the previous one)
//   "previous" starts at page 0, time 0.
//
// A sequential or nearby access costs one byte (two with a small time step); the file may be
// zstd-compressed as a whole (`vmemsim trace convert ... OUT.zst`), which readers detect.
#include <cstring>

#include "models/workload/trace_io.hpp"

namespace vmemsim::workload {
namespace {

using u128 = unsigned __int128;
constexpr std::uint16_t kVersion = 1;
constexpr std::uint16_t kFlagTime = 1, kFlagWrite = 2, kKnownFlags = kFlagTime | kFlagWrite;
constexpr std::size_t kHeader = 16;
constexpr std::size_t kBlock = 1 << 16;
constexpr std::size_t kMaxRecord = 20;  // two 10-byte varints

constexpr std::uint64_t zigzag(std::uint64_t d) {
  const auto s = static_cast<std::int64_t>(d);
  return (static_cast<std::uint64_t>(s) << 1) ^ static_cast<std::uint64_t>(s >> 63);
}
constexpr std::uint64_t unzigzag(std::uint64_t z) { return (z >> 1) ^ (~(z & 1) + 1); }

class PageTraceReader final : public TraceReader {
 public:
  explicit PageTraceReader(std::unique_ptr<ByteSource> in) : in_(std::move(in)), buf_(kBlock + kMaxRecord) {
    read_header();
  }

  std::size_t read(std::span<TraceRecord> out) override {
    std::size_t n = 0;
    const bool writes = (flags_ & kFlagWrite) != 0, times = (flags_ & kFlagTime) != 0;
    while (n < out.size()) {
      if (end_ - pos_ < kMaxRecord && !eof_) refill();
      if (pos_ == end_) break;
      u128 v = varint();
      bool w = false;
      if (writes) {
        w = (v & 1) != 0;
        v >>= 1;
      }
      page_ += unzigzag(static_cast<std::uint64_t>(v));
      if (times) time_ += static_cast<std::uint64_t>(varint());
      out[n++] = TraceRecord{page_, time_, static_cast<std::uint8_t>(w ? TraceRecord::kWrite : TraceRecord::kRead)};
      ++index_;
    }
    return n;
  }
  void rewind() override {
    in_->rewind();
    pos_ = end_ = 0;
    eof_ = false;
    read_header();
  }
  bool has_timestamps() const override { return (flags_ & kFlagTime) != 0; }
  TraceFormat format() const override { return TraceFormat::kPageTrace; }

 private:
  void read_header() {
    refill();
    if (end_ < kHeader || std::memcmp(buf_.data(), detail::kPageTraceMagic, 8) != 0)
      detail::trace_error(in_->path(), "not a pagetrace file (bad magic)");
    const auto* h = reinterpret_cast<const unsigned char*>(buf_.data());
    const auto version = static_cast<std::uint16_t>(detail::load_le(h + 8, 2));
    flags_ = static_cast<std::uint16_t>(detail::load_le(h + 10, 2));
    if (version != kVersion)
      detail::trace_error(in_->path(), "pagetrace version " + std::to_string(version) + " (this build reads version 1)");
    if (flags_ & ~kKnownFlags) detail::trace_error(in_->path(), "pagetrace header has unknown flags " + std::to_string(flags_));
    if (h[12] != 12) detail::trace_error(in_->path(), "pagetrace page shift " + std::to_string(h[12]) + " (only 12 is supported)");
    pos_ = kHeader;
    page_ = time_ = 0;
    index_ = 0;
  }
  void refill() {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
    while (end_ < buf_.size()) {
      const std::size_t got = in_->read(buf_.data() + end_, buf_.size() - end_);
      if (got == 0) {
        eof_ = true;
        break;
      }
      end_ += got;
    }
  }
  u128 varint() {
    u128 v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ == end_) break;
      const auto b = static_cast<unsigned char>(buf_[pos_++]);
      v |= static_cast<u128>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    detail::trace_error(in_->path(), "record " + std::to_string(index_) + ": truncated or overlong varint");
  }

  std::unique_ptr<ByteSource> in_;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint16_t flags_ = 0;
  std::uint64_t page_ = 0, time_ = 0, index_ = 0;
};

class PageTraceWriter final : public TraceWriter {
 public:
  PageTraceWriter(std::unique_ptr<detail::ByteSink> out, bool with_timestamps)
      : out_(std::move(out)), times_(with_timestamps) {
    char h[kHeader] = {};
    std::memcpy(h, detail::kPageTraceMagic, 8);
    detail::store_le(h + 8, kVersion, 2);
    detail::store_le(h + 10, kFlagWrite | (times_ ? kFlagTime : 0), 2);
    h[12] = 12;
    out_->write(h, kHeader);
  }
  void write(std::span<const TraceRecord> recs) override {
    buf_.clear();
    for (const TraceRecord& r : recs) {
      put((static_cast<u128>(zigzag(r.page - page_)) << 1) | (r.write() ? 1 : 0));
      page_ = r.page;
      if (times_) {
        const std::uint64_t t = r.time_ns < time_ ? time_ : r.time_ns;
        put(t - time_);
        time_ = t;
      }
    }
    out_->write(buf_.data(), buf_.size());
  }
  void finish() override { out_->finish(); }

 private:
  void put(u128 v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>(static_cast<unsigned>(v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }

  std::unique_ptr<detail::ByteSink> out_;
  bool times_;
  std::vector<char> buf_;
  std::uint64_t page_ = 0, time_ = 0;
};

}  // namespace

std::unique_ptr<TraceReader> make_pagetrace_reader(std::unique_ptr<ByteSource> in) {
  return std::make_unique<PageTraceReader>(std::move(in));
}

std::unique_ptr<TraceWriter> detail::make_pagetrace_writer(std::unique_ptr<ByteSink> out, bool with_timestamps) {
  return std::make_unique<PageTraceWriter>(std::move(out), with_timestamps);
}

}  // namespace vmemsim::workload
