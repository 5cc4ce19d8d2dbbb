#include "sim/core/units.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdio>

namespace vmemsim::core {
namespace {

struct Suffix {
  const char* name;
  double mult;
};

bool split_number(std::string_view s, double& value, std::string& unit, std::string* why) {
  std::string t(s);
  std::size_t i = 0;
  while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
  const char* begin = t.c_str() + i;
  char* end = nullptr;
  value = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(value)) {
    if (why) *why = "'" + t + "' does not start with a number";
    return false;
  }
  std::string rest(end);
  std::size_t a = 0, b = rest.size();
  while (a < b && std::isspace(static_cast<unsigned char>(rest[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(rest[b - 1]))) --b;
  unit = rest.substr(a, b - a);
  return true;
}

template <std::size_t N>
std::optional<double> scale(std::string_view s, const Suffix (&table)[N], const char* kind,
                            std::string* why) {
  double v;
  std::string unit;
  if (!split_number(s, v, unit, why)) return std::nullopt;
  for (const auto& sfx : table) {
    if (unit == sfx.name) return v * sfx.mult;
  }
  if (why) {
    std::string list;
    for (const auto& sfx : table) {
      if (*sfx.name == 0) continue;
      if (!list.empty()) list += ", ";
      list += sfx.name;
    }
    *why = "unknown " + std::string(kind) + " unit '" + unit + "' in '" + std::string(s) +
           "' (expected one of: " + list + ")";
  }
  return std::nullopt;
}

constexpr Suffix kSize[] = {{"", 1},
                            {"B", 1},
                            {"KiB", 1024.0},
                            {"MiB", 1024.0 * 1024},
                            {"GiB", 1024.0 * 1024 * 1024},
                            {"TiB", 1024.0 * 1024 * 1024 * 1024},
                            {"kB", 1e3},
                            {"KB", 1e3},
                            {"MB", 1e6},
                            {"GB", 1e9},
                            {"TB", 1e12}};
constexpr Suffix kTime[] = {{"", 1},      {"ns", 1},      {"us", 1e3},   {"\xC2\xB5s", 1e3},
                            {"ms", 1e6},  {"s", 1e9},     {"min", 60e9}, {"h", 3600e9}};
constexpr Suffix kCount[] = {{"", 1}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}};

std::optional<std::int64_t> to_int(std::optional<double> v, std::string_view s, const char* what,
                                   std::string* why) {
  if (!v) return std::nullopt;
  double r = std::round(*v);
  if (std::fabs(r - *v) > 1e-6 * std::max(1.0, std::fabs(*v))) {
    if (why) *why = "'" + std::string(s) + "' is not a whole number of " + what;
    return std::nullopt;
  }
  if (r < -9.2e18 || r > 9.2e18) {
    if (why) *why = "'" + std::string(s) + "' is out of range";
    return std::nullopt;
  }
  return static_cast<std::int64_t>(r);
}

}  // namespace

std::optional<std::int64_t> parse_size(std::string_view s, std::string* why) {
  return to_int(scale(s, kSize, "size", why), s, "bytes", why);
}
std::optional<std::int64_t> parse_duration_ns(std::string_view s, std::string* why) {
  return to_int(scale(s, kTime, "time", why), s, "nanoseconds", why);
}
std::optional<double> parse_count(std::string_view s, std::string* why) {
  return scale(s, kCount, "count", why);
}

std::string format_size(std::int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  std::int64_t v = b;
  while (u < 4 && v != 0 && v % 1024 == 0) {
    v /= 1024;
    ++u;
  }
  return std::to_string(v) + units[u];
}

std::string format_duration(std::int64_t ns) {
  struct U {
    const char* n;
    std::int64_t m;
  };
  const U table[] = {{"s", 1000000000}, {"ms", 1000000}, {"us", 1000}};
  for (const auto& u : table) {
    if (ns != 0 && ns % u.m == 0) return std::to_string(ns / u.m) + u.n;
  }
  return std::to_string(ns) + "ns";
}

}  // namespace vmemsim::core
