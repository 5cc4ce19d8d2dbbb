// Trace files in and out: plain or zstd-compressed byte streams, format names, sniffing, and
// the dispatch to each format's reader and writer.
//
// zstd goes through libzstd's streaming API (ZSTD_decompressStream / ZSTD_compressStream2),
// so a compressed trace is never held whole in memory. A file is zstd when it starts with the
// frame magic 0xFD2FB528 (little-endian; RFC 8878 section 3.1.1).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "models/workload/trace_io.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::workload {
namespace {

constexpr std::size_t kBlock = 1 << 16;
constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

class File {
 public:
  File(const std::string& path, const char* mode) : f_(std::fopen(path.c_str(), mode)) {
    if (!f_) detail::trace_error(path, std::string("cannot open: ") + std::strerror(errno));
  }
  ~File() {
    if (f_) std::fclose(f_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  std::FILE* get() const { return f_; }
  int close() {
    const int r = std::fclose(f_);
    f_ = nullptr;
    return r;
  }

 private:
  std::FILE* f_;
};

// A regular file is mapped (the readers parse it in place, no copy through the kernel); a pipe
// or device is read with fread.
class PlainSource final : public ByteSource {
 public:
  explicit PlainSource(const std::string& path) : f_(path, "rb") {
    path_ = path;
    struct stat st {};
    if (fstat(fileno(f_.get()), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* m = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fileno(f_.get()), 0);
      if (m != MAP_FAILED) {
        map_ = static_cast<const char*>(m);
        size_ = static_cast<std::size_t>(st.st_size);
        madvise(m, size_, MADV_SEQUENTIAL);
      }
    }
  }
  ~PlainSource() override {
    if (map_) munmap(const_cast<char*>(map_), size_);
  }
  std::size_t read(char* buf, std::size_t n) override {
    if (map_) {
      const std::size_t got = std::min(n, size_ - pos_);
      std::memcpy(buf, map_ + pos_, got);
      pos_ += got;
      return got;
    }
    const std::size_t got = std::fread(buf, 1, n, f_.get());
    if (got < n && std::ferror(f_.get())) detail::trace_error(path_, "read error");
    return got;
  }
  void rewind() override {
    pos_ = 0;
    std::rewind(f_.get());
  }
  bool compressed() const override { return false; }
  std::span<const char> mapped() const override { return map_ ? std::span<const char>(map_, size_) : std::span<const char>(); }

 private:
  File f_;
  const char* map_ = nullptr;
  std::size_t size_ = 0, pos_ = 0;
};

class ZstdSource final : public ByteSource {
 public:
  explicit ZstdSource(const std::string& path) : f_(path, "rb"), dctx_(ZSTD_createDCtx()), in_(kBlock) {
    path_ = path;
    if (!dctx_) detail::trace_error(path, "out of memory for the zstd decoder");
  }
  ~ZstdSource() override { ZSTD_freeDCtx(dctx_); }
  std::size_t read(char* buf, std::size_t n) override {
    ZSTD_outBuffer out{buf, n, 0};
    while (out.pos < out.size) {
      if (ib_.pos == ib_.size) {
        ib_.size = std::fread(in_.data(), 1, in_.size(), f_.get());
        ib_.pos = 0;
        ib_.src = in_.data();
        if (ib_.size == 0) {
          if (std::ferror(f_.get())) detail::trace_error(path_, "read error");
          if (!frame_done_) detail::trace_error(path_, "zstd stream truncated");
          break;
        }
      }
      const std::size_t r = ZSTD_decompressStream(dctx_, &out, &ib_);
      if (ZSTD_isError(r)) detail::trace_error(path_, std::string("zstd: ") + ZSTD_getErrorName(r));
      frame_done_ = r == 0;
    }
    return out.pos;
  }
  void rewind() override {
    std::rewind(f_.get());
    ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_only);
    ib_ = {nullptr, 0, 0};
    frame_done_ = true;
  }
  bool compressed() const override { return true; }

 private:
  File f_;
  ZSTD_DCtx* dctx_;
  std::vector<char> in_;
  ZSTD_inBuffer ib_{nullptr, 0, 0};
  bool frame_done_ = true;  // at a frame boundary: the end of input is a clean end
};

class PlainSink final : public detail::ByteSink {
 public:
  explicit PlainSink(const std::string& path) : path_(path), f_(path, "wb") {}
  void write(const char* p, std::size_t n) override {
    if (std::fwrite(p, 1, n, f_.get()) != n) detail::trace_error(path_, "write error");
  }
  void finish() override {
    if (f_.close() != 0) detail::trace_error(path_, "write error");
  }

 private:
  std::string path_;
  File f_;
};

class ZstdSink final : public detail::ByteSink {
 public:
  explicit ZstdSink(const std::string& path) : path_(path), f_(path, "wb"), cctx_(ZSTD_createCCtx()), out_(kBlock) {
    if (!cctx_) detail::trace_error(path, "out of memory for the zstd encoder");
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, 3);
  }
  ~ZstdSink() override { ZSTD_freeCCtx(cctx_); }
  void write(const char* p, std::size_t n) override { pump(p, n, ZSTD_e_continue); }
  void finish() override {
    pump(nullptr, 0, ZSTD_e_end);
    if (f_.close() != 0) detail::trace_error(path_, "write error");
  }

 private:
  void pump(const char* p, std::size_t n, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{p, n, 0};
    for (;;) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      const std::size_t left = ZSTD_compressStream2(cctx_, &out, &in, mode);
      if (ZSTD_isError(left)) detail::trace_error(path_, std::string("zstd: ") + ZSTD_getErrorName(left));
      if (std::fwrite(out_.data(), 1, out.pos, f_.get()) != out.pos) detail::trace_error(path_, "write error");
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
    }
  }

  std::string path_;
  File f_;
  ZSTD_CCtx* cctx_;
  std::vector<char> out_;
};

}  // namespace

void detail::trace_error(const std::string& path, const std::string& msg) {
  throw core::InputError(path, {{"", msg}});
}

const char* trace_format_name(TraceFormat f) {
  switch (f) {
    case TraceFormat::kAuto: return "auto";
    case TraceFormat::kLackey: return "lackey";
    case TraceFormat::kOracleGeneral: return "oracle-general";
    case TraceFormat::kPageTrace: return "pagetrace";
  }
  return "?";
}

bool parse_trace_format(std::string_view s, TraceFormat& out) {
  for (TraceFormat f : {TraceFormat::kAuto, TraceFormat::kLackey, TraceFormat::kOracleGeneral, TraceFormat::kPageTrace})
    if (s == trace_format_name(f)) {
      out = f;
      return true;
    }
  return false;
}

std::unique_ptr<ByteSource> open_bytes(const std::string& path) {
  unsigned char head[4] = {};
  std::size_t n;
  {
    File f(path, "rb");
    n = std::fread(head, 1, 4, f.get());
  }
  if (n == 4 && std::memcmp(head, kZstdMagic, 4) == 0) return std::make_unique<ZstdSource>(path);
  return std::make_unique<PlainSource>(path);
}

std::unique_ptr<detail::ByteSink> detail::open_sink(const std::string& path, bool zstd) {
  if (zstd) return std::make_unique<ZstdSink>(path);
  return std::make_unique<PlainSink>(path);
}

TraceFormat sniff_trace_format(ByteSource& in) {
  std::vector<char> head(4096);
  std::size_t n = 0;
  while (n < head.size()) {
    const std::size_t got = in.read(head.data() + n, head.size() - n);
    if (got == 0) break;
    n += got;
  }
  in.rewind();
  if (n >= sizeof detail::kPageTraceMagic && std::memcmp(head.data(), detail::kPageTraceMagic, sizeof detail::kPageTraceMagic) == 0)
    return TraceFormat::kPageTrace;
  if (detail::looks_like_lackey(head.data(), n)) return TraceFormat::kLackey;
  // oracleGeneral has no header: accept binary (text has no NUL byte; a record's high id and
  // size bytes almost always are) whose length so far is whole records. A short file read whole
  // must be a multiple of 24 bytes; a long one is checked as it is read.
  const bool binary = std::memchr(head.data(), '\0', n) != nullptr;
  if (binary && (n == head.size() || n % 24 == 0)) return TraceFormat::kOracleGeneral;
  detail::trace_error(in.path(), n == 0 ? "empty trace" : "unknown trace format (not pagetrace, lackey or oracle-general); "
                                                          "name it with --format");
}

std::unique_ptr<TraceReader> open_trace(const std::string& path, TraceFormat f) {
  auto in = open_bytes(path);
  if (f == TraceFormat::kAuto) f = sniff_trace_format(*in);
  switch (f) {
    case TraceFormat::kLackey: return make_lackey_reader(std::move(in));
    case TraceFormat::kOracleGeneral: return make_oracle_reader(std::move(in));
    case TraceFormat::kPageTrace: return make_pagetrace_reader(std::move(in));
    case TraceFormat::kAuto: break;
  }
  detail::trace_error(path, "no trace format given");
}

std::unique_ptr<TraceWriter> make_trace_writer(const std::string& path, TraceFormat f, bool zstd, bool with_timestamps) {
  switch (f) {
    case TraceFormat::kLackey: return detail::make_lackey_writer(detail::open_sink(path, zstd));
    case TraceFormat::kOracleGeneral: return detail::make_oracle_writer(detail::open_sink(path, zstd));
    case TraceFormat::kPageTrace: return detail::make_pagetrace_writer(detail::open_sink(path, zstd), with_timestamps);
    case TraceFormat::kAuto: break;
  }
  detail::trace_error(path, "no output format given");
}

}  // namespace vmemsim::workload
