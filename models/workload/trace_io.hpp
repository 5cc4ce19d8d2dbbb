// Internal to the trace readers and writers (trace_*.cpp): the output byte sink and the
// per-format writer factories. The public interface is trace_reader.hpp.
#pragma once
#include <bit>
#include <cstring>
#include <memory>
#include <string>

#include "models/workload/trace_reader.hpp"

namespace vmemsim::workload::detail {

// A file written in blocks, zstd-compressed when asked.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const char* p, std::size_t n) = 0;
  virtual void finish() = 0;
};
std::unique_ptr<ByteSink> open_sink(const std::string& path, bool zstd);

// Throws the InputError for a problem in a trace file.
[[noreturn]] void trace_error(const std::string& path, const std::string& msg);

// Little-endian loads and stores (the formats are little-endian). A load is one memcpy, which
// compilers turn into one unaligned load, plus a byte swap on a big-endian host.
inline std::uint64_t load_le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, static_cast<std::size_t>(n));
  } else {
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  }
  return v;
}
inline void store_le(char* p, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}

std::unique_ptr<TraceWriter> make_lackey_writer(std::unique_ptr<ByteSink> out);
std::unique_ptr<TraceWriter> make_oracle_writer(std::unique_ptr<ByteSink> out);
std::unique_ptr<TraceWriter> make_pagetrace_writer(std::unique_ptr<ByteSink> out, bool with_timestamps);

// Whether the first bytes look like lackey output (used by sniff_trace_format).
bool looks_like_lackey(const char* p, std::size_t n);
// The pagetrace magic.
constexpr char kPageTraceMagic[8] = {'V', 'M', 'P', 'G', 'T', 'R', 'C', '\0'};

}  // namespace vmemsim::workload::detail
