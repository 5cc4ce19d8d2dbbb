// Typed, self-describing parameter reading (the Ramulator idea: parameters declared where they
// are used, read by a reader that records which keys were consumed).
//
// Lifecycle: a Params wraps one JSON object of an input file at a JSON pointer. Callers read
// each key through a ParamSpec (name, kind, default, description, range); the reader
//  - reports wrong types, bad units and out-of-range values to the ErrorSink with the JSON
//    pointer and returns the default, so reading continues and all problems surface at once;
//  - writes the value actually used (given or default, in base units) into `resolved`, which
//    becomes the fully-resolved scenario in the result;
//  - on finish(), reports every key that no spec asked for, with a did-you-mean.
// The same ParamSpec tables drive `vmemsim describe`.
#pragma once
#include <cstdint>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::core {

using Json = nlohmann::json;

// Rules of the reader, for every value it reads:
//  - integers are range-checked before any narrowing (an unsigned 2^64-1 is out of range, not -1);
//  - durations are at most kMaxDurationNs, so sums of a few times never overflow int64 and
//    SimGrid's double clock still resolves 1 ns;
//  - a wrong-typed value is quoted at most 80 bytes long.
constexpr TimeNs kMaxDurationNs = 1'000'000 * kNsPerSec;  // 1e6 s, 11.6 days

enum class Kind { Int, Number, Count, Bool, String, Enum, Size, Duration, Bandwidth, Object, Array };
const char* kind_name(Kind k);

struct ParamSpec {
  const char* name;
  Kind kind;
  const char* def;   // default as JSON text; nullptr = required
  const char* desc;  // one line, with the unit
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  const char* choices = nullptr;  // Kind::Enum: "a|b|c"
};

// Text of the spec table for `vmemsim describe`.
std::string describe_params(std::span<const ParamSpec> specs, const std::string& indent = "  ");

// Levenshtein-closest candidate within a small distance, or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

class Params {
 public:
  // `obj` may be null (section absent): every key then takes its default.
  Params(const Json* obj, std::string pointer, ErrorSink* sink, Json* resolved);

  bool has(const std::string& key) const;
  std::int64_t get_int(const ParamSpec& s);
  double get_number(const ParamSpec& s);  // Kind::Number or Kind::Count
  bool get_bool(const ParamSpec& s);
  std::string get_string(const ParamSpec& s);  // Kind::String or Kind::Enum
  std::int64_t get_size(const ParamSpec& s);
  TimeNs get_duration(const ParamSpec& s);
  double get_bandwidth(const ParamSpec& s);  // bytes per second

  // A nested object; absent + !required gives an empty reader (defaults only).
  Params child(const std::string& key, bool required = false);
  // An array of objects.
  std::vector<Params> items(const std::string& key, bool required = false);
  // Declares `key` and returns its raw value (or null) without checks; the caller validates.
  const Json* raw(const std::string& key);
  // Like raw(), but also copies the value verbatim into the resolved document.
  const Json* raw_resolved(const std::string& key);

  // Reports keys that were never declared. Call once after reading.
  void finish();

  void error(const std::string& key, const std::string& msg);
  void error_here(const std::string& msg);
  std::string pointer_of(const std::string& key) const;
  const std::string& pointer() const { return pointer_; }
  ErrorSink& sink() { return *sink_; }
  Json& resolved() { return *resolved_; }
  bool has_resolved() const { return resolved_ != nullptr; }
  bool present() const { return obj_ != nullptr; }

 private:
  const Json* lookup(const ParamSpec& s, Json* def_storage);
  bool check_range(const ParamSpec& s, double v);
  bool read_integer(const ParamSpec& s, const Json& v, std::int64_t& out);
  static std::string range_text(const ParamSpec& s);

  const Json* obj_;
  std::string pointer_;
  ErrorSink* sink_;
  Json* resolved_;
  std::set<std::string> declared_;
};

// JSON pointer escaping of one reference token (RFC 6901).
std::string escape_pointer_token(const std::string& t);

}  // namespace vmemsim::core
