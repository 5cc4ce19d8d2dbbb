// Memory-reference traces: readers for the formats vmemsim replays, and the writer of its own
// page-trace format. Used by the `trace` workload generator (trace.cpp), `vmemsim trace` and
// `vmemsim replay`. Pure C++: files are read in blocks, never per record.
//
// A trace is a sequence of page references. Each reader turns its format's records into
// TraceRecords:
//  - lackey (valgrind --tool=lackey --trace-mem=yes, trace_lackey.cpp): text lines
//    "I  addr,size", " L addr,size", " S addr,size", " M addr,size" with hexadecimal addresses.
//    A line is one reference to each page its bytes touch: one that crosses a page boundary
//    gives a record per page, with the same flags. M (modify) reads and writes: one record
//    with both bits. No timestamps.
//  - oracle-general (libCacheSim's oracleGeneral binary, trace_oracle.cpp): 24-byte records,
//    the object id is the page; timestamps in seconds.
//  - pagetrace (ours, trace_pagetrace.cpp, layout documented there): page numbers, optional
//    write bits and nanosecond timestamps.
// Any of them may be zstd-compressed: the input layer (trace_input.cpp) sees the zstd frame
// magic and decompresses through libzstd as it reads.
//
// Errors in a trace file are core::InputError naming the file (and the line or record).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vmemsim::workload {

struct TraceRecord {
  static constexpr std::uint8_t kRead = 1, kWrite = 2, kInstruction = 4;
  std::uint64_t page = 0;     // the trace's page number (address >> 12, or the object id)
  std::uint64_t time_ns = 0;  // 0 unless the format has timestamps
  std::uint8_t flags = kRead;
  bool write() const { return (flags & kWrite) != 0; }
};

enum class TraceFormat { kAuto, kLackey, kOracleGeneral, kPageTrace };
// Names as the CLI and scenario files spell them: "auto", "lackey", "oracle-general", "pagetrace".
const char* trace_format_name(TraceFormat f);
bool parse_trace_format(std::string_view s, TraceFormat& out);
constexpr const char* kTraceFormatChoices = "auto|lackey|oracle-general|pagetrace";

// A byte stream over a file, decompressing zstd transparently.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Up to n bytes into buf; 0 at the end.
  virtual std::size_t read(char* buf, std::size_t n) = 0;
  virtual void rewind() = 0;
  virtual bool compressed() const = 0;
  // The whole (uncompressed) file in memory, when it is a regular file mapped with mmap: a
  // reader may parse it in place instead of copying it through read(). Empty otherwise.
  virtual std::span<const char> mapped() const { return {}; }
  const std::string& path() const { return path_; }

 protected:
  std::string path_;
};
// Opens `path` (throws InputError if it cannot be read or a zstd frame is corrupt).
std::unique_ptr<ByteSource> open_bytes(const std::string& path);

class TraceReader {
 public:
  virtual ~TraceReader() = default;
  // Fills up to out.size() records; returns how many, 0 at the end of the trace.
  virtual std::size_t read(std::span<TraceRecord> out) = 0;
  virtual void rewind() = 0;
  virtual bool has_timestamps() const = 0;
  virtual TraceFormat format() const = 0;
  // Records the trace holds, when the reader can tell without reading it (else 0).
  virtual std::uint64_t size_hint() const { return 0; }
};

// Decides the format from the first bytes (after decompression): our magic, lackey's text, or
// else a whole number of 24-byte oracleGeneral records. Throws InputError when nothing fits.
TraceFormat sniff_trace_format(ByteSource& in);
// Opens a trace; kAuto sniffs.
std::unique_ptr<TraceReader> open_trace(const std::string& path, TraceFormat f = TraceFormat::kAuto);

std::unique_ptr<TraceReader> make_lackey_reader(std::unique_ptr<ByteSource> in);
std::unique_ptr<TraceReader> make_oracle_reader(std::unique_ptr<ByteSource> in);
std::unique_ptr<TraceReader> make_pagetrace_reader(std::unique_ptr<ByteSource> in);

// Writes a trace in `f` (lackey, oracle-general or pagetrace), zstd-compressed when `zstd`.
// Formats that cannot hold a field drop it: lackey and oracle-general have no write bit in
// common (oracle-general none at all), lackey no timestamps; oracle-general stores whole
// seconds and next-access positions (computed here by a backward pass, so the file is
// complete for libCacheSim's oracle policies).
class TraceWriter {
 public:
  virtual ~TraceWriter() = default;
  virtual void write(std::span<const TraceRecord> recs) = 0;
  // Flushes and closes; throws InputError on an I/O error.
  virtual void finish() = 0;
};
std::unique_ptr<TraceWriter> make_trace_writer(const std::string& path, TraceFormat f, bool zstd,
                                               bool with_timestamps);

}  // namespace vmemsim::workload
