// Reading untrusted JSON text: every input file (scenario, sweep, host profile) and every
// `--set`/`--axis` value goes through parse_json_text(), which enforces the reader's rules
// before a document exists in memory:
//  - bounded nesting depth (kMaxJsonDepth containers): nlohmann's copy, dump and comparison
//    recurse per level, so an input nested 100 k deep would otherwise overflow the stack far
//    from where it was read;
//  - no duplicate keys in an object (nlohmann keeps the last one silently);
//  - numbers within double range (1e309 is an error, not an internal exception);
//  - valid UTF-8 (dump() throws on invalid UTF-8, long after reading).
// Every failure is a core::InputError with the JSON pointer of the offending value.
#pragma once
#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"

namespace vmemsim::core {

using Json = nlohmann::json;

// Containers (objects and arrays) nested inside one another. The deepest shipped scenario uses
// 7; a `phases` workload inside a `phases` workload adds 4 per level.
constexpr std::size_t kMaxJsonDepth = 64;

struct JsonTextError {
  enum class Kind { Syntax, Limit };  // Syntax: not JSON at all; Limit: JSON beyond a rule above
  Kind kind = Kind::Syntax;
  std::string pointer;  // where the problem is ("" = the document)
  std::string message;
};

// Parses `text`; on failure returns nullopt and fills `err`.
std::optional<Json> try_parse_json_text(std::string_view text, bool ignore_comments, JsonTextError* err);
// The same; a failure is an InputError naming `file` ("not valid JSON: ..." for syntax errors).
Json parse_json_text(std::string_view text, const std::string& file, bool ignore_comments = true);

// The pointer of the first container nested deeper than `limit` in an in-memory document, or
// nullopt. Iterative, so it is safe on any document.
std::optional<std::string> json_too_deep(const Json& doc, std::size_t limit = kMaxJsonDepth);

bool valid_utf8(std::string_view s);

// Input files are read whole, up to kMaxInputBytes: a path such as /dev/zero must end in an
// error, not in memory exhaustion. False when the stream holds more.
constexpr std::size_t kMaxInputBytes = 64u << 20;
bool read_bounded(std::istream& in, std::string* out, std::size_t max = kMaxInputBytes);

// An RFC 6901 array index token: "0" or digits without a leading zero, below `size`.
// Returns nullopt for anything else (including values that do not fit in 64 bits).
std::optional<std::size_t> parse_array_index(std::string_view token);

// A value's JSON text for a message, cut to `max` bytes (at a UTF-8 boundary) with "..." after.
std::string json_excerpt(const Json& v, std::size_t max = 80);

}  // namespace vmemsim::core
