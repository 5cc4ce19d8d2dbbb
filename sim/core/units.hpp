// Unit strings in scenario files: sizes ("4GiB", "512 MB"), durations ("250ms", "1.5s") and
// counts ("10M", "2.5k"). Numbers without a unit are base units (bytes, ns, items).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vmemsim::core {

// Each returns nullopt and sets `why` when the text does not parse.
std::optional<std::int64_t> parse_size(std::string_view s, std::string* why = nullptr);
std::optional<std::int64_t> parse_duration_ns(std::string_view s, std::string* why = nullptr);
std::optional<double> parse_count(std::string_view s, std::string* why = nullptr);

// Canonical human forms, used in messages (not in the result body, which keeps base units).
std::string format_size(std::int64_t bytes);
std::string format_duration(std::int64_t ns);

}  // namespace vmemsim::core
