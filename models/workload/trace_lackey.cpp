// valgrind lackey traces (`valgrind --tool=lackey --trace-mem=yes prog`), as lackey's
// lk_main.c prints them: "I  %08lx,%lu" for an instruction fetch, " L %08lx,%lu" for a load,
// " S ..." for a store and " M ..." for a modify (a load and a store to the same bytes), with a
// hexadecimal address and a decimal size. Lines valgrind itself prints ("==pid== ...",
// "--pid-- ...") are skipped.
//
// A line is one reference to each page its bytes [addr, addr + size) touch: an access that
// crosses a page boundary references both pages. M is one reference with both the read and
// the write bit (the store always hits the page the load just touched).
#include <cstring>

#include "models/workload/trace_io.hpp"

namespace vmemsim::workload {
namespace {

constexpr std::size_t kBlock = 1 << 16;
constexpr std::size_t kMaxLine = 4096;
// Lackey's sizes are those of one guest access (at most a 64-byte vector); anything near a
// megabyte is a corrupt line, not an access.
constexpr std::uint64_t kMaxSize = 1 << 20;

// Parses one line (without its newline). Returns false when it is not an access line; sets
// *why when it looked like one but is malformed.
bool parse_line(const char* p, const char* end, std::uint8_t& flags, std::uint64_t& addr, std::uint64_t& size,
                const char** why) {
  *why = nullptr;
  if (end - p < 4) return false;
  if (p[0] == 'I' && p[1] == ' ' && p[2] == ' ') flags = TraceRecord::kRead | TraceRecord::kInstruction;
  else if (p[0] == ' ' && p[2] == ' ' && p[1] == 'L') flags = TraceRecord::kRead;
  else if (p[0] == ' ' && p[2] == ' ' && p[1] == 'S') flags = TraceRecord::kWrite;
  else if (p[0] == ' ' && p[2] == ' ' && p[1] == 'M') flags = TraceRecord::kRead | TraceRecord::kWrite;
  else return false;
  p += 3;
  addr = 0;
  int digits = 0;
  for (; p < end && *p != ','; ++p, ++digits) {
    const char c = *p;
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else return *why = "bad hexadecimal address", false;
    if (digits >= 16) return *why = "address wider than 64 bits", false;
    addr = (addr << 4) | d;
  }
  if (digits == 0 || p == end) return *why = "expected 'address,size'", false;
  ++p;  // ','
  size = 0;
  if (p == end) return *why = "missing size", false;
  for (; p < end && *p != '\r'; ++p) {
    if (*p < '0' || *p > '9') return *why = "bad decimal size", false;
    size = size * 10 + static_cast<unsigned>(*p - '0');
    if (size > kMaxSize) return *why = "size larger than 1 MiB", false;
  }
  if (size == 0) size = 1;  // a zero-length access still names its page
  if (addr + (size - 1) < addr) return *why = "access wraps around the address space", false;
  return true;
}

class LackeyReader final : public TraceReader {
 public:
  explicit LackeyReader(std::unique_ptr<ByteSource> in) : in_(std::move(in)), buf_(kBlock + kMaxLine) {}

  std::size_t read(std::span<TraceRecord> out) override {
    std::size_t n = 0;
    while (n < out.size()) {
      if (next_page_ <= last_page_) {  // the rest of a line that spans pages
        out[n++] = TraceRecord{next_page_++, 0, flags_};
        continue;
      }
      const char* line;
      const char* end;
      if (!next_line(line, end)) break;
      std::uint64_t addr, size;
      const char* why;
      if (!parse_line(line, end, flags_, addr, size, &why)) {
        if (why) detail::trace_error(in_->path(), "line " + std::to_string(line_no_) + ": " + why);
        continue;  // valgrind's own messages
      }
      next_page_ = addr >> 12;
      last_page_ = (addr + size - 1) >> 12;
    }
    return n;
  }
  void rewind() override {
    in_->rewind();
    begin_ = end_ = 0;
    eof_ = false;
    line_no_ = 0;
    next_page_ = 1;
    last_page_ = 0;
  }
  bool has_timestamps() const override { return false; }
  TraceFormat format() const override { return TraceFormat::kLackey; }

 private:
  bool next_line(const char*& line, const char*& end) {
    for (;;) {
      const char* b = buf_.data() + begin_;
      const char* nl = static_cast<const char*>(std::memchr(b, '\n', end_ - begin_));
      if (nl || (eof_ && begin_ < end_)) {
        line = b;
        end = nl ? nl : buf_.data() + end_;
        begin_ = nl ? static_cast<std::size_t>(nl - buf_.data()) + 1 : end_;
        ++line_no_;
        return true;
      }
      if (eof_) return false;
      if (end_ - begin_ >= kMaxLine)
        detail::trace_error(in_->path(), "line " + std::to_string(line_no_ + 1) + ": longer than " +
                                             std::to_string(kMaxLine) + " bytes (not a lackey trace?)");
      std::memmove(buf_.data(), b, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      const std::size_t got = in_->read(buf_.data() + end_, buf_.size() - end_);
      end_ += got;
      eof_ = got == 0;
    }
  }

  std::unique_ptr<ByteSource> in_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint64_t line_no_ = 0;
  std::uint64_t next_page_ = 1, last_page_ = 0;  // pages of the current line still to emit
  std::uint8_t flags_ = 0;
};

class LackeyWriter final : public TraceWriter {
 public:
  explicit LackeyWriter(std::unique_ptr<detail::ByteSink> out) : out_(std::move(out)) {}
  void write(std::span<const TraceRecord> recs) override {
    std::string s;
    s.reserve(recs.size() * 24);
    char line[48];
    for (const TraceRecord& r : recs) {
      const char* kind = (r.flags & TraceRecord::kInstruction) ? "I  "
                         : (r.flags & TraceRecord::kWrite) ? ((r.flags & TraceRecord::kRead) ? " M " : " S ")
                                                           : " L ";
      // One byte at the start of the page: the page is what the trace carries.
      const int n = std::snprintf(line, sizeof line, "%s%08llx,1\n", kind,
                                  static_cast<unsigned long long>(r.page << 12));
      s.append(line, static_cast<std::size_t>(n));
    }
    out_->write(s.data(), s.size());
  }
  void finish() override { out_->finish(); }

 private:
  std::unique_ptr<detail::ByteSink> out_;
};

}  // namespace

bool detail::looks_like_lackey(const char* p, std::size_t n) {
  // Every complete line among the first ones is an access or one of valgrind's own messages,
  // and at least one is an access.
  const char* end = p + n;
  int accesses = 0;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (!nl) break;  // a partial last line proves nothing
    std::uint8_t flags;
    std::uint64_t addr, size;
    const char* why;
    if (parse_line(p, nl, flags, addr, size, &why)) ++accesses;
    else if (!(nl - p >= 2 && ((p[0] == '=' && p[1] == '=') || (p[0] == '-' && p[1] == '-')))) return false;
    p = nl + 1;
  }
  return accesses > 0;
}

std::unique_ptr<TraceReader> make_lackey_reader(std::unique_ptr<ByteSource> in) {
  return std::make_unique<LackeyReader>(std::move(in));
}

std::unique_ptr<TraceWriter> detail::make_lackey_writer(std::unique_ptr<ByteSink> out) {
  return std::make_unique<LackeyWriter>(std::move(out));
}

}  // namespace vmemsim::workload
