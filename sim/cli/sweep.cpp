#include "sim/cli/sweep.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "sim/cli/slurm.hpp"
#include "sim/core/error.hpp"
#include "sim/core/json_input.hpp"
#include "sim/output/result_writer.hpp"
#include "sim/scenario/host_profile.hpp"
#include "sim/scenario/resources.hpp"
#include "sim/scenario/scenario.hpp"

extern char** environ;

namespace vmemsim::cli {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kCommandLine = "command line";
constexpr std::size_t kStderrTailLines = 20;
constexpr std::size_t kMaxRangeSize = 1000000;
constexpr std::size_t kMaxReportedProblems = 30;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using scenario::read_json_file;

bool valid_pointer(const std::string& p, std::string* why) {
  if (p.empty() || p[0] != '/') {
    *why = "expected a JSON pointer starting with '/', got '" + p + "'";
    return false;
  }
  try {
    Json::json_pointer jp(p);
  } catch (const std::exception& e) {
    *why = std::string("invalid JSON pointer: ") + e.what();
    return false;
  }
  return true;
}

// Does pointer `a` name `b` or something inside it?
bool pointer_covers(const std::string& a, const std::string& b) {
  return a == b || (b.size() > a.size() && b.compare(0, a.size(), a) == 0 && b[a.size()] == '/');
}

// "a..b": an inclusive integer range.
bool parse_range(const std::string& s, long long* a, long long* b) {
  auto dots = s.find("..");
  if (dots == std::string::npos || dots == 0) return false;
  auto is_int = [](const std::string& t) {
    std::size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
    return i < t.size() && t.find_first_not_of("0123456789", i) == std::string::npos;
  };
  std::string x = s.substr(0, dots), y = s.substr(dots + 2);
  if (!is_int(x) || !is_int(y)) return false;
  try {
    *a = std::stoll(x);
    *b = std::stoll(y);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// "1..x", "..5", "2..": meant as a range, but malformed (a path like "a/../b" is not).
bool looks_like_range(const std::string& s) {
  auto dots = s.find("..");
  if (dots == std::string::npos) return false;
  auto is_int = [](const std::string& t) {
    std::size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
    return i < t.size() && t.find_first_not_of("0123456789", i) == std::string::npos;
  };
  const std::string x = s.substr(0, dots), y = s.substr(dots + 2);
  return is_int(x) || is_int(y) || (x.empty() && y.empty());
}

// Expands a range into `out`; returns "" or why not.
std::string expand_range(long long a, long long b, std::vector<Json>& out) {
  if (b < a) return "empty range " + std::to_string(a) + ".." + std::to_string(b) + " (the end is below the start)";
  // In unsigned arithmetic: b - a overflows long long for a range such as -9e18..9e18.
  if (static_cast<unsigned long long>(b) - static_cast<unsigned long long>(a) >= kMaxRangeSize)
    return "range longer than a million values";
  for (long long v = a; v <= b; ++v) out.emplace_back(v);
  return "";
}

// Splits "v1,v2,[1,2],{"a":1,"b":2}" at the commas outside brackets and quotes.
std::vector<std::string> split_values(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  bool in_str = false, esc = false;
  for (char c : s) {
    if (in_str) {
      cur += c;
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '[' || c == '{') ++depth;
    else if ((c == ']' || c == '}') && depth > 0) --depth;
    else if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\n\r");
  return s.substr(b, e - b + 1);
}

// A value as the user wrote it: JSON when it parses, else a plain string (same rule as --set).
// JSON that breaks a rule of the reader (too deep, duplicate keys, a number beyond double
// range) is an error, set in `why`.
Json parse_cli_value(const std::string& text, std::string* why) {
  core::JsonTextError err;
  if (auto v = core::try_parse_json_text(text, false, &err)) return std::move(*v);
  if (err.kind == core::JsonTextError::Kind::Limit && why)
    *why = "'" + text.substr(0, 80) + "': " + (err.pointer.empty() ? "" : "at " + err.pointer + ": ") + err.message;
  return text;
}

// Text of a value in summary.csv and messages: strings bare, everything else as JSON.
std::string value_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string r = "\"";
  for (char c : s) {
    if (c == '"') r += '"';
    r += c;
  }
  return r + "\"";
}

void flatten(const std::string& col, const Json& v, std::vector<std::pair<std::string, Json>>& out) {
  if (v.is_object() && !v.empty()) {
    for (auto it = v.begin(); it != v.end(); ++it) flatten(col + "/" + core::escape_pointer_token(it.key()), it.value(), out);
  } else {
    out.emplace_back(col, v);
  }
}

std::string format_eta(double s) {
  if (!(s >= 0) || s > 359999) return "--:--";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

unsigned usable_cpus() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

bool in_path(const std::string& prog) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) dir = ".";
    if (::access((dir + "/" + prog).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Reading the sweep: a sweep file, or a scenario plus --axis options
// ---------------------------------------------------------------------------------------------

struct SweepSpec {
  std::string file;  // where axis problems are reported: the sweep file, or "command line"
  std::string name, base_file, mode = "cartesian";
  Json base;                 // the base scenario document
  Json sets = Json::object();  // pointer -> value, applied to every point before the axes
  std::vector<SweepAxis> axes;
  std::vector<std::string> metrics{"/summary/total"};
  std::vector<std::string> cfg;  // --cfg settings, appended to every point's /simgrid/cfg last
};

const std::vector<std::string> kSweepKeys{"name", "description", "base", "set", "axes", "mode", "summary_metrics"};
const std::vector<std::string> kAxisKeys{"pointer", "values"};

void read_metrics(const Json& m, const std::string& where, core::ErrorSink& sink, std::vector<std::string>& out) {
  if (!m.is_array() || m.empty()) {
    sink.add(where, "expected a non-empty array of JSON pointers into result.json");
    return;
  }
  out.clear();
  for (std::size_t i = 0; i < m.size(); ++i) {
    std::string why;
    if (!m[i].is_string()) sink.add(where + "/" + std::to_string(i), "expected a JSON pointer string");
    else if (!valid_pointer(m[i].get<std::string>(), &why)) sink.add(where + "/" + std::to_string(i), why);
    else out.push_back(m[i].get<std::string>());
  }
}

SweepSpec read_sweep_file(const std::string& path, const Json& doc) {
  SweepSpec sp;
  sp.file = path;
  core::ErrorSink sink(path);
  if (!doc.is_object()) throw core::InputError(path, {{"", "a sweep file must be a JSON object"}});
  if (!doc.contains("axes") && !doc.contains("base") && (doc.contains("vms") || doc.contains("hosts")))
    throw core::InputError(path, {{"", "this is a scenario, not a sweep file: give the axes with --axis "
                                       "/json/pointer=v1,v2,... (or write a sweep file with \"base\" and \"axes\")"}});
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (std::find(kSweepKeys.begin(), kSweepKeys.end(), it.key()) != kSweepKeys.end()) continue;
    std::string m = "unknown key '" + it.key() + "'";
    std::string d = core::did_you_mean(it.key(), kSweepKeys);
    if (!d.empty()) m += " (did you mean '" + d + "'?)";
    sink.add("/" + core::escape_pointer_token(it.key()), m);
  }
  if (doc.contains("name")) {
    if (!doc["name"].is_string() || doc["name"].get<std::string>().empty()) sink.add("/name", "expected a non-empty string");
    else sp.name = doc["name"].get<std::string>();
    if (sp.name.find('/') != std::string::npos || sp.name == "." || sp.name == "..")
      sink.add("/name", "must not contain '/' (it names the results directory)");
    else if (const std::string why = scenario::check_name_for_path(sp.name); !sp.name.empty() && !why.empty())
      sink.add("/name", why);
  }
  if (doc.contains("description") && !doc["description"].is_string()) sink.add("/description", "expected a string");
  if (!doc.contains("base")) sink.add("/base", "missing: the base scenario file (relative to this sweep file)");
  else if (!doc["base"].is_string() || doc["base"].get<std::string>().empty()) sink.add("/base", "expected a file name");
  else {
    fs::path b = doc["base"].get<std::string>();
    if (b.is_relative()) b = fs::path(path).parent_path() / b;
    sp.base_file = b.lexically_normal().string();
    // A path written inside a file must name a regular file: a device or a FIFO would block.
    std::error_code ec;
    if (fs::exists(sp.base_file, ec) && !fs::is_regular_file(sp.base_file, ec))
      sink.add("/base", "'" + sp.base_file + "' is not a regular file");
  }
  if (doc.contains("mode")) {
    if (!doc["mode"].is_string() || (doc["mode"] != "cartesian" && doc["mode"] != "zip"))
      sink.add("/mode", "expected \"cartesian\" or \"zip\", got " + core::json_excerpt(doc["mode"]));
    else sp.mode = doc["mode"].get<std::string>();
  }
  if (doc.contains("set")) {
    const Json& s = doc["set"];
    if (!s.is_object()) sink.add("/set", "expected an object {\"/json/pointer\": value, ...}");
    else
      for (auto it = s.begin(); it != s.end(); ++it) {
        std::string why;
        if (!valid_pointer(it.key(), &why)) sink.add("/set/" + core::escape_pointer_token(it.key()), why);
        else sp.sets[it.key()] = it.value();
      }
  }
  if (doc.contains("summary_metrics")) read_metrics(doc["summary_metrics"], "/summary_metrics", sink, sp.metrics);
  if (!doc.contains("axes")) sink.add("/axes", "missing: a list of {\"pointer\": ..., \"values\": [...]}");
  else if (!doc["axes"].is_array() || doc["axes"].empty()) sink.add("/axes", "expected a non-empty array of axes");
  else {
    const Json& axes = doc["axes"];
    for (std::size_t i = 0; i < axes.size(); ++i) {
      const std::string at = "/axes/" + std::to_string(i);
      const Json& a = axes[i];
      SweepAxis ax;
      if (!a.is_object()) {
        sink.add(at, "expected {\"pointer\": \"/json/pointer\", \"values\": [...]}");
        sp.axes.push_back(ax);
        continue;
      }
      for (auto it = a.begin(); it != a.end(); ++it) {
        if (std::find(kAxisKeys.begin(), kAxisKeys.end(), it.key()) != kAxisKeys.end()) continue;
        std::string m = "unknown key '" + it.key() + "'";
        std::string d = core::did_you_mean(it.key(), kAxisKeys);
        if (!d.empty()) m += " (did you mean '" + d + "'?)";
        sink.add(at + "/" + core::escape_pointer_token(it.key()), m);
      }
      if (!a.contains("pointer")) sink.add(at + "/pointer", "missing");
      else if (!a["pointer"].is_string()) sink.add(at + "/pointer", "expected a JSON pointer string");
      else {
        std::string why;
        ax.pointer = a["pointer"].get<std::string>();
        if (!valid_pointer(ax.pointer, &why)) sink.add(at + "/pointer", why);
      }
      if (!a.contains("values")) sink.add(at + "/values", "missing: an array of values or an integer range \"a..b\"");
      else if (a["values"].is_array()) {
        for (const auto& v : a["values"]) ax.values.push_back(v);
        if (ax.values.empty()) sink.add(at + "/values", "empty: an axis needs at least one value");
      } else if (a["values"].is_string()) {
        long long lo = 0, hi = 0;
        if (!parse_range(a["values"].get<std::string>(), &lo, &hi))
          sink.add(at + "/values", "expected an array of values or an integer range \"a..b\", got " + core::json_excerpt(a["values"]));
        else {
          std::string why = expand_range(lo, hi, ax.values);
          if (!why.empty()) sink.add(at + "/values", why);
        }
      } else {
        sink.add(at + "/values", "expected an array of values or an integer range \"a..b\", got " + core::json_excerpt(a["values"]));
      }
      sp.axes.push_back(std::move(ax));
    }
  }
  sink.throw_if_any();
  return sp;
}

SweepSpec read_sweep_cli(const SweepOptions& opt) {
  SweepSpec sp;
  sp.file = kCommandLine;
  sp.base_file = opt.file;
  sp.mode = opt.zip ? "zip" : "cartesian";
  sp.name = opt.name;
  core::ErrorSink sink(kCommandLine);
  if (!opt.name.empty() && (opt.name.find('/') != std::string::npos || opt.name == "." || opt.name == ".."))
    sink.add("/name", "--name must not contain '/' (it names the results directory)");
  else if (const std::string why = scenario::check_name_for_path(opt.name); !opt.name.empty() && !why.empty())
    sink.add("/name", "--name " + why);
  for (std::size_t i = 0; i < opt.sets.size(); ++i) {
    const std::string& s = opt.sets[i];
    auto eq = s.find('=');
    std::string why;
    if (eq == std::string::npos) sink.add("/set/" + std::to_string(i), "--set '" + s + "': expected /json/pointer=value");
    else if (!valid_pointer(s.substr(0, eq), &why)) sink.add("/set/" + std::to_string(i), "--set '" + s + "': " + why);
    else {
      std::string bad;
      Json v = parse_cli_value(s.substr(eq + 1), &bad);
      if (!bad.empty()) sink.add("/set/" + std::to_string(i), "--set " + bad);
      else sp.sets[s.substr(0, eq)] = std::move(v);
    }
  }
  if (!opt.metrics.empty()) read_metrics(Json(opt.metrics), "/summary_metrics", sink, sp.metrics);
  for (std::size_t i = 0; i < opt.axes.size(); ++i) {
    const std::string& text = opt.axes[i];
    const std::string at = "/axes/" + std::to_string(i);
    const std::string quoted = "--axis '" + text + "': ";
    SweepAxis ax;
    auto eq = text.find('=');
    std::string why;
    if (eq == std::string::npos) {
      sink.add(at, quoted + "expected /json/pointer=v1,v2,... or /json/pointer=a..b");
      sp.axes.push_back(ax);
      continue;
    }
    ax.pointer = text.substr(0, eq);
    if (!valid_pointer(ax.pointer, &why)) sink.add(at + "/pointer", quoted + why);
    const std::string list = text.substr(eq + 1);
    if (trim(list).empty()) sink.add(at + "/values", quoted + "no values");
    else {
      auto pieces = split_values(list);
      for (std::size_t k = 0; k < pieces.size(); ++k) {
        const std::string p = trim(pieces[k]);
        long long lo = 0, hi = 0;
        if (p.empty()) {
          sink.add(at + "/values", quoted + "empty value at position " + std::to_string(k + 1));
        } else if (parse_range(p, &lo, &hi)) {
          std::string w = expand_range(lo, hi, ax.values);
          if (!w.empty()) sink.add(at + "/values", quoted + w);
        } else if (looks_like_range(p)) {
          sink.add(at + "/values", quoted + "'" + p + "' is not an integer range a..b");
        } else {
          std::string bad;
          Json v = parse_cli_value(p, &bad);
          if (!bad.empty()) {
            sink.add(at + "/values", quoted + bad);
          } else if (v.is_string() && (p[0] == '[' || p[0] == '{' || p[0] == '"')) {
            std::string e;
            try {
              Json probe = Json::parse(p);
            } catch (const std::exception& ex) {
              e = ex.what();
            }
            sink.add(at + "/values", quoted + "'" + p + "' is not valid JSON: " + e);
          } else {
            ax.values.push_back(std::move(v));
          }
        }
      }
    }
    sp.axes.push_back(std::move(ax));
  }
  sink.throw_if_any();
  return sp;
}

// Checks between axes: duplicated, overlapping, zip lengths. Throws InputError.
void check_axes(const SweepSpec& sp) {
  core::ErrorSink sink(sp.file);
  for (std::size_t i = 0; i < sp.axes.size(); ++i) {
    const auto& a = sp.axes[i];
    const std::string at = "/axes/" + std::to_string(i);
    if (a.values.empty()) sink.add(at + "/values", "empty: an axis needs at least one value");
    for (std::size_t j = 0; j < i; ++j) {
      const auto& b = sp.axes[j];
      if (a.pointer == b.pointer)
        sink.add(at + "/pointer", "duplicated axis: '" + a.pointer + "' is already swept by /axes/" + std::to_string(j));
      else if (pointer_covers(a.pointer, b.pointer) || pointer_covers(b.pointer, a.pointer))
        sink.add(at + "/pointer", "contradictory axes: '" + a.pointer + "' overlaps '" + b.pointer + "' (/axes/" +
                                      std::to_string(j) + "); one would overwrite the other");
    }
    for (auto it = sp.sets.begin(); it != sp.sets.end(); ++it) {
      if (pointer_covers(a.pointer, it.key()) || pointer_covers(it.key(), a.pointer))
        sink.add(at + "/pointer", "contradictory: '" + a.pointer + "' is also fixed by set '" + it.key() + "'");
    }
    // A cartesian axis with a repeated value repeats points; a zipped axis may repeat values
    // (one configuration over several seeds) as long as the points stay distinct (below).
    std::set<std::string> seen;
    for (std::size_t k = 0; k < a.values.size() && sp.mode != "zip"; ++k) {
      if (!seen.insert(a.values[k].dump()).second)
        sink.add(at + "/values/" + std::to_string(k), "duplicated value " + core::json_excerpt(a.values[k]));
    }
    if (sp.mode == "zip" && i > 0 && a.values.size() != sp.axes[0].values.size() && !a.values.empty())
      sink.add(at + "/values", "zip mode needs axes of the same length: " + std::to_string(a.values.size()) +
                                   " values here, " + std::to_string(sp.axes[0].values.size()) + " in /axes/0");
  }
  if (sp.mode == "zip" && !sp.axes.empty()) {
    std::set<std::string> points;
    for (std::size_t k = 0; k < sp.axes[0].values.size(); ++k) {
      std::string key;
      for (const auto& a : sp.axes)
        if (k < a.values.size()) key += a.values[k].dump() + "\n";
      if (!points.insert(key).second)
        sink.add("/axes/0/values/" + std::to_string(k), "duplicated point: zipped value " + std::to_string(k) +
                                                             " repeats an earlier one on every axis");
    }
  }
  sink.throw_if_any();
}

// Strips apply_override's "--set: " prefix: in a sweep the pointer comes from an axis.
std::string strip_set_prefix(std::string m) {
  if (m.rfind("--set: ", 0) == 0) m = m.substr(7);
  return m;
}

std::string strip_cfg_prefix(std::string m) {
  if (m.rfind("--cfg: ", 0) == 0) m = m.substr(7);
  return m;
}

// The points of a sweep, counted without building them (saturating at SIZE_MAX).
std::size_t count_points(const SweepSpec& sp) {
  if (sp.axes.empty()) return 0;
  if (sp.mode == "zip") return sp.axes[0].values.size();
  std::size_t n = 1;
  for (const auto& a : sp.axes)
    if (__builtin_mul_overflow(n, a.values.size(), &n)) return SIZE_MAX;
  return n;
}

// Expands the axes into points and validates each as a full scenario. Throws InputError
// naming the axis (and value) responsible for every problem found.
std::vector<SweepPoint> expand_points(const SweepSpec& sp) {
  std::vector<std::vector<std::size_t>> combos;
  if (sp.mode == "zip") {
    for (std::size_t k = 0; k < sp.axes[0].values.size(); ++k) combos.emplace_back(sp.axes.size(), k);
  } else {
    // The first axis outermost, the last one varying fastest (like itertools.product).
    std::vector<std::size_t> idx(sp.axes.size(), 0);
    for (bool more = true; more;) {
      combos.push_back(idx);
      more = false;
      for (std::size_t d = sp.axes.size(); d-- > 0;) {
        if (++idx[d] < sp.axes[d].values.size()) {
          more = true;
          break;
        }
        idx[d] = 0;
      }
    }
  }

  std::vector<core::InputProblem> problems;
  std::set<std::pair<std::string, std::string>> seen;
  auto add = [&](std::string ptr, std::string msg) {
    if (seen.insert({ptr, msg}).second) problems.push_back({std::move(ptr), std::move(msg)});
  };
  auto point_text = [&](const std::vector<std::size_t>& c) {
    std::string s;
    for (std::size_t a = 0; a < sp.axes.size(); ++a)
      s += (s.empty() ? "" : " ") + sp.axes[a].pointer + "=" + sp.axes[a].values[c[a]].dump();
    return s;
  };

  std::vector<SweepPoint> points;
  std::map<std::string, std::size_t> by_id;
  for (const auto& c : combos) {
    Json doc = sp.base;
    bool ok = true;
    for (auto it = sp.sets.begin(); it != sp.sets.end(); ++it) {
      try {
        scenario::apply_override(doc, it.key() + "=" + it.value().dump(), sp.base_file);
      } catch (const core::InputError& e) {
        for (const auto& p : e.problems())
          add(sp.file == kCommandLine ? "/set" : "/set/" + core::escape_pointer_token(it.key()),
              "'" + it.key() + "': " + strip_set_prefix(p.message));
        ok = false;
      }
    }
    // An axis that cannot be applied is reported; the others are still checked.
    for (std::size_t a = 0; a < sp.axes.size(); ++a) {
      const auto& ax = sp.axes[a];
      try {
        scenario::apply_override(doc, ax.pointer + "=" + ax.values[c[a]].dump(), sp.base_file);
      } catch (const core::InputError& e) {
        for (const auto& p : e.problems())
          add("/axes/" + std::to_string(a) + "/pointer", "'" + ax.pointer + "': " + strip_set_prefix(p.message));
        ok = false;
      }
    }
    // --cfg settings, as `vmemsim run point.json --cfg=...` would append them: written into the
    // point's scenario.json, so its resolved scenario and id record them.
    try {
      scenario::append_simgrid_cfg(doc, sp.cfg, sp.base_file);
    } catch (const core::InputError& e) {
      for (const auto& p : e.problems()) add("/cfg", "--cfg: " + sp.base_file + ":" + p.pointer + ": " + strip_cfg_prefix(p.message));
      ok = false;
    }
    // The point's scenario.json is run from its own directory: a relative host_profile (relative
    // to the base scenario) becomes absolute.
    scenario::anchor_host_profile(doc, sp.base_file);
    SweepPoint pt;
    try {
      scenario::Scenario sc = scenario::parse_scenario(doc, sp.base_file);
      pt.resolved = std::move(sc.resolved);
      pt.default_timeout_s = scenario::default_point_timeout(sc);
      if (!ok) continue;
    } catch (const core::InputError& e) {
      for (const auto& p : e.problems()) {
        std::string where = "/axes", msg;
        for (std::size_t a = 0; a < sp.axes.size(); ++a) {
          const auto& ax = sp.axes[a];
          if (p.pointer.empty() || (!pointer_covers(ax.pointer, p.pointer) && !pointer_covers(p.pointer, ax.pointer)))
            continue;
          if (pointer_covers(p.pointer, ax.pointer) && p.message.rfind("unknown key", 0) == 0) {
            where = "/axes/" + std::to_string(a) + "/pointer";
            msg = "'" + ax.pointer + "' is not a scenario key: " + p.message;
          } else {
            where = "/axes/" + std::to_string(a) + "/values/" + std::to_string(c[a]);
            msg = "value " + ax.values[c[a]].dump() + " gives an invalid scenario: " + sp.base_file + ":" +
                  (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message;
          }
          break;
        }
        if (msg.empty()) {
          bool from_set = false;
          for (auto it = sp.sets.begin(); it != sp.sets.end(); ++it)
            if (!p.pointer.empty() && (pointer_covers(it.key(), p.pointer) || pointer_covers(p.pointer, it.key()))) {
              where = sp.file == kCommandLine ? "/set" : "/set/" + core::escape_pointer_token(it.key());
              msg = "'" + it.key() + "' gives an invalid scenario: " + sp.base_file + ":" +
                    (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message;
              from_set = true;
              break;
            }
          if (!from_set)
            msg = "point " + point_text(c) + " is not a valid scenario: " + sp.base_file + ":" +
                  (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message;
        }
        add(where, msg);
      }
      continue;
    }
    pt.value_index = c;
    pt.scenario = std::move(doc);
    pt.id = scenario::scenario_hash(pt.resolved).substr(0, 12);
    auto [it, fresh] = by_id.emplace(pt.id, points.size());
    if (!fresh) {
      add("/axes", "points " + point_text(points[it->second].value_index) + " and " + point_text(c) +
                       " resolve to the same scenario (a value written two ways?)");
      continue;
    }
    points.push_back(std::move(pt));
  }
  if (!problems.empty()) {
    if (problems.size() > kMaxReportedProblems) {
      std::size_t more = problems.size() - kMaxReportedProblems;
      problems.resize(kMaxReportedProblems);
      problems.push_back({"/axes", "... and " + std::to_string(more) + " more problems"});
    }
    throw core::InputError(sp.file, problems);
  }
  return points;
}

// ---------------------------------------------------------------------------------------------
// Local backend: up to --jobs `vmemsim run` children, each in its own process group
// ---------------------------------------------------------------------------------------------

struct Running {
  std::size_t idx;
  pid_t pid;
  Clock::time_point start;
  double limit_s;  // --point-timeout, or the point's default
  bool timed_out = false, interrupted = false;
};

bool run_local(SweepRun& run, const std::vector<std::size_t>& todo, unsigned jobs, double timeout) {
  std::vector<Running> running;
  std::size_t next = 0;
  bool stop = false;
  Clock::time_point kill_at{};
  run.progress_start(todo.size());
  for (;;) {
    while (!stop && next < todo.size() && running.size() < jobs) {
      const std::size_t i = todo[next++];
      SweepPoint& p = run.points[i];
      clean_point_dir(p.dir);
      std::vector<std::string> argv = {"/proc/self/exe", "run", p.dir + "/scenario.json", "--out", p.dir, "-q"};
      argv.insert(argv.end(), run.simgrid_log.begin(), run.simgrid_log.end());
      pid_t pid = spawn_process(argv, "/dev/null", p.dir + "/stderr.log", false, /*die_with_parent=*/true);
      running.push_back({i, pid, Clock::now(), timeout > 0 ? timeout : p.default_timeout_s});
      p.status = "running";
    }
    if (running.empty()) break;

    auto deadline = Clock::now() + std::chrono::milliseconds(250);
    for (const auto& r : running)
      if (!r.timed_out && r.limit_s > 0)
        deadline = std::min(deadline, r.start + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(r.limit_s)));
    int sig = wait_signal(deadline);
    if (sig == SIGINT || sig == SIGTERM) {
      if (!stop) {
        stop = true;
        run.note(std::string("[sweep] ") + (sig == SIGINT ? "interrupted" : "terminated") +
                 ": stopping the running points (finished points are kept)");
        for (auto& r : running) {
          r.interrupted = true;
          ::kill(-r.pid, SIGTERM);
        }
        kill_at = Clock::now() + std::chrono::seconds(3);
      } else {
        for (auto& r : running) ::kill(-r.pid, SIGKILL);
      }
    }

    int st = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &st, WNOHANG)) > 0) {
      auto it = std::find_if(running.begin(), running.end(), [&](const Running& r) { return r.pid == pid; });
      if (it == running.end()) continue;
      Running r = *it;
      running.erase(it);
      ::kill(-r.pid, SIGKILL);  // anything the point left behind in its group
      PointExit e;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        e.kind = PointExit::Kind::Exited;
      } else if (r.timed_out) {
        e.kind = PointExit::Kind::TimedOut;
        char buf[160];
        if (timeout > 0) std::snprintf(buf, sizeof buf, "exceeded --point-timeout of %g s (process group killed)", timeout);
        else
          std::snprintf(buf, sizeof buf,
                        "exceeded the default point timeout of %.0f s derived from its scenario (process group "
                        "killed; --point-timeout sets another)", r.limit_s);
        e.detail = buf;
      } else if (r.interrupted) {
        e.kind = PointExit::Kind::Interrupted;
      } else if (WIFEXITED(st)) {
        e.kind = PointExit::Kind::Exited;
        e.code = WEXITSTATUS(st);
      } else {
        e.kind = PointExit::Kind::Signaled;
        e.code = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
      }
      run.finish(r.idx, e);
    }

    const auto now = Clock::now();
    for (auto& r : running)
      if (!r.timed_out && !r.interrupted && r.limit_s > 0 && std::chrono::duration<double>(now - r.start).count() >= r.limit_s) {
          r.timed_out = true;
          ::kill(-r.pid, SIGKILL);
        }
    if (stop && now >= kill_at)
      for (auto& r : running) ::kill(-r.pid, SIGKILL);
    run.progress_draw(running.size());
  }
  for (std::size_t k = next; k < todo.size(); ++k) {
    PointExit e;
    e.kind = PointExit::Kind::Interrupted;
    e.detail = "not run: the sweep was interrupted";
    run.finish(todo[k], e);
  }
  run.progress_draw(0, true);
  return stop;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Signals and processes
// ---------------------------------------------------------------------------------------------

void clean_point_dir(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp.") != std::string::npos || n == "exit_status" || n == "stderr.log") stale.push_back(e.path());
  }
  for (const auto& p : stale) fs::remove(p, ec);
}

namespace {
sigset_t g_wait_set;
void on_sigchld(int) {}
}  // namespace

void block_sweep_signals() {
  sigemptyset(&g_wait_set);
  for (int s : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    ::sigaction(s, nullptr, &old);
    if (old.sa_handler != SIG_IGN) sigaddset(&g_wait_set, s);
  }
  // A blocked signal whose action is "ignore" may be discarded: give SIGCHLD a handler.
  struct sigaction sa {};
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  ::sigaction(SIGCHLD, &sa, nullptr);
  sigaddset(&g_wait_set, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &g_wait_set, nullptr);
}

int wait_signal(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()).count();
  if (left < 0) left = 0;
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(left / 1000000000);
  ts.tv_nsec = static_cast<long>(left % 1000000000);
  int s = ::sigtimedwait(&g_wait_set, nullptr, &ts);
  return s > 0 ? s : 0;
}

namespace {
struct SpawnSetup {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGCHLD);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  pid_t spawn(const std::vector<std::string>& argv, bool search_path, const std::vector<std::string>& extra_env = {}) {
    std::vector<char*> av;
    for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    std::vector<char*> ev;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, kParentPidEnv, std::strlen(kParentPidEnv)) != 0 || (*e)[std::strlen(kParentPidEnv)] != '=')
        ev.push_back(*e);
    for (const auto& e : extra_env) ev.push_back(const_cast<char*>(e.c_str()));
    ev.push_back(nullptr);
    pid_t pid = 0;
    int rc = search_path ? ::posix_spawnp(&pid, av[0], &fa, &attr, av.data(), ev.data())
                         : ::posix_spawn(&pid, av[0], &fa, &attr, av.data(), ev.data());
    if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
    return pid;
  }
};
}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path,
                    bool search_path, bool die_with_parent) {
  SpawnSetup s;
  posix_spawn_file_actions_addopen(&s.fa, 0, "/dev/null", O_RDONLY, 0);
  if (!out_path.empty()) posix_spawn_file_actions_addopen(&s.fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!err_path.empty()) posix_spawn_file_actions_addopen(&s.fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> env;
  if (die_with_parent) env.push_back(std::string(kParentPidEnv) + "=" + std::to_string(::getpid()));
  return s.spawn(argv, search_path, env);
}

void die_with_parent_if_asked() {
  const char* v = std::getenv(kParentPidEnv);
  if (!v) return;
  char* end = nullptr;
  const long long want = std::strtoll(v, &end, 10);
  ::unsetenv(kParentPidEnv);  // not for anything this process starts
  if (!end || *end != 0 || want <= 0) return;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died between spawn and prctl: then we were reparented already.
  if (static_cast<long long>(::getppid()) != want) ::_exit(137);
}

Captured run_capture(const std::vector<std::string>& argv, double timeout_s) {
  Captured c;
  int po[2], pe[2];
  if (::pipe2(po, O_CLOEXEC) != 0) {
    c.err = std::strerror(errno);
    return c;
  }
  if (::pipe2(pe, O_CLOEXEC) != 0) {
    c.err = std::strerror(errno);
    ::close(po[0]);
    ::close(po[1]);
    return c;
  }
  pid_t pid = -1;
  try {
    SpawnSetup s;
    posix_spawn_file_actions_addopen(&s.fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&s.fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&s.fa, pe[1], 2);
    pid = s.spawn(argv, true);
  } catch (const std::exception& e) {
    c.err = e.what();
  }
  ::close(po[1]);
  ::close(pe[1]);
  if (pid > 0) {
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    bool timed_out = false;
    char buf[4096];
    while (open_fds > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
      if (n < 0 && errno != EINTR) break;
      for (int k = 0; k < 2; ++k) {
        if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t r = ::read(fds[k].fd, buf, sizeof buf);
        if (r > 0) (k == 0 ? c.out : c.err).append(buf, static_cast<std::size_t>(r));
        else if (r == 0 || errno != EINTR) {
          fds[k].fd = -1;
          --open_fds;
        }
      }
    }
    if (timed_out) {
      ::kill(-pid, SIGKILL);
      c.err += "\n(timed out after " + std::to_string(static_cast<int>(timeout_s)) + " s)";
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    c.status = (!timed_out && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
  }
  ::close(po[0]);
  ::close(pe[0]);
  return c;
}

std::string tail_lines(const std::string& path, std::size_t lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 64 * 1024);
  in.seekg(from);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  std::size_t pos = s.size(), n = 0;
  while (pos > 0) {
    auto nl = s.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    if (++n == lines) {
      pos = nl + 1;
      break;
    }
    pos = nl;
  }
  return s.substr(pos);
}

// ---------------------------------------------------------------------------------------------
// SweepRun: statuses, index.json, summary.csv, progress
// ---------------------------------------------------------------------------------------------

std::string SweepRun::values_text(const SweepPoint& p) const {
  std::string s;
  for (std::size_t a = 0; a < axes.size(); ++a)
    s += (s.empty() ? "" : " ") + axes[a].pointer + "=" + value_text(axes[a].values[p.value_index[a]]);
  return s;
}

bool SweepRun::load_result(std::size_t i) {
  SweepPoint& p = points[i];
  const std::string path = p.dir + "/result.json";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  Json r;
  try {
    r = Json::parse(read_text(path));
  } catch (const std::exception&) {
    return false;
  }
  if (!r.is_object() || !r.contains("scenario") || r["scenario"] != p.resolved) return false;
  p.metrics.clear();
  for (const auto& m : metrics) {
    Json::json_pointer jp(m);
    if (r.contains(jp)) flatten(m, r[jp], p.metrics);
  }
  return true;
}

void SweepRun::finish(std::size_t i, const PointExit& e) {
  SweepPoint& p = points[i];
  p.error.clear();
  p.stderr_tail.clear();
  p.reused = false;
  const std::string err_path = p.dir + "/stderr.log";
  switch (e.kind) {
    case PointExit::Kind::Exited:
      if (e.code == 0) {
        if (load_result(i)) p.status = "ok";
        else {
          p.status = "failed";
          p.error = "exited with status 0 but left no result.json for its scenario";
        }
      } else {
        p.status = "failed";
        p.error = "exited with status " + std::to_string(e.code) + (e.detail.empty() ? "" : " (" + e.detail + ")");
      }
      break;
    case PointExit::Kind::Signaled:
      p.status = "failed";
      p.error = "killed by signal " + std::to_string(e.code) + " (" + ::strsignal(e.code) + ")";
      break;
    case PointExit::Kind::TimedOut:
      p.status = "timeout";
      p.error = e.detail.empty() ? "timed out" : e.detail;
      break;
    case PointExit::Kind::Interrupted:
      p.status = "skipped";
      p.error = e.detail.empty() ? "interrupted: the sweep was stopped while this point ran" : e.detail;
      break;
    case PointExit::Kind::Lost:
      p.status = "failed";
      p.error = e.detail;
      break;
  }
  std::error_code ec;
  if (p.status == "ok") {
    if (fs::exists(err_path, ec) && fs::file_size(err_path, ec) == 0) fs::remove(err_path, ec);
  } else {
    p.stderr_tail = tail_lines(err_path, kStderrTailLines);
    p.metrics.clear();
  }
  if (p.status != "skipped" || e.detail.empty()) ++done_;
  if (p.status == "failed" || p.status == "timeout") {
    ++bad_;
    std::string last = p.stderr_tail.substr(p.stderr_tail.rfind('\n') + 1);
    if (!quiet)
      note("[sweep] point " + p.id + " (" + values_text(p) + ") " + p.status + ": " + p.error +
           (last.empty() ? "" : ": " + last));
  }
  write_outputs(false);
}

void SweepRun::write_outputs(bool force) {
  const auto now = Clock::now();
  if (!force && now - last_write_ < std::chrono::seconds(1)) return;
  last_write_ = now;

  OJson idx = OJson::object();
  idx["schema_version"] = 1;
  idx["name"] = name;
  idx["sweep_file"] = file.empty() ? OJson(nullptr) : OJson(file);
  idx["scenario"] = base;
  idx["mode"] = mode;
  idx["set"] = OJson(sets);
  idx["simgrid_cfg"] = simgrid_cfg;
  OJson ax = OJson::array();
  for (const auto& a : axes) {
    OJson vals = OJson::array();
    for (const auto& v : a.values) vals.push_back(OJson(v));
    ax.push_back(OJson{{"pointer", a.pointer}, {"values", vals}});
  }
  idx["axes"] = ax;
  idx["summary_metrics"] = metrics;
  std::map<std::string, int> counts;
  OJson pts = OJson::array();
  for (const auto& p : points) {
    ++counts[p.status];
    OJson o = OJson::object();
    o["id"] = p.id;
    OJson vals = OJson::object();
    for (std::size_t a = 0; a < axes.size(); ++a) vals[axes[a].pointer] = OJson(axes[a].values[p.value_index[a]]);
    o["values"] = vals;
    o["status"] = p.status;
    o["reused"] = p.reused;
    o["scenario"] = "points/" + p.id + "/scenario.json";
    o["result"] = p.status == "ok" ? OJson("points/" + p.id + "/result.json") : OJson(nullptr);
    o["error"] = p.error.empty() ? OJson(nullptr) : OJson(p.error);
    o["stderr_tail"] = p.stderr_tail.empty() ? OJson(nullptr) : OJson(p.stderr_tail);
    pts.push_back(std::move(o));
  }
  OJson c = OJson::object();
  for (const char* s : {"ok", "failed", "timeout", "skipped", "pending", "running"})
    if (counts.count(s)) c[s] = counts[s];
  idx["counts"] = c;
  idx["points"] = std::move(pts);
  output::write_file_atomic(out_dir + "/index.json", idx.dump(1) + "\n");

  // summary.csv: id, status, the axis values, then the metric columns (objects flattened).
  std::vector<std::string> cols;
  std::set<std::string> have;
  for (const auto& m : metrics) {
    std::size_t before = cols.size();
    for (const auto& p : points)
      for (const auto& [col, v] : p.metrics)
        if (pointer_covers(m, col) && have.insert(col).second) cols.push_back(col);
    if (cols.size() == before && have.insert(m).second) cols.push_back(m);
  }
  std::string csv = "id,status";
  for (const auto& a : axes) csv += "," + csv_field(a.pointer);
  for (const auto& col : cols) csv += "," + csv_field(col);
  csv += "\n";
  for (const auto& p : points) {
    csv += p.id + "," + p.status;
    for (std::size_t a = 0; a < axes.size(); ++a) csv += "," + csv_field(value_text(axes[a].values[p.value_index[a]]));
    std::map<std::string, const Json*> row;
    for (const auto& [col, v] : p.metrics) row[col] = &v;
    for (const auto& col : cols) {
      auto it = row.find(col);
      csv += "," + (it == row.end() ? std::string() : csv_field(value_text(*it->second)));
    }
    csv += "\n";
  }
  output::write_file_atomic(out_dir + "/summary.csv", csv);
}

void SweepRun::progress_start(std::size_t to_run) {
  to_run_ = to_run;
  done_ = bad_ = 0;
  started_ = Clock::now();
}

void SweepRun::progress_draw(std::size_t running, bool final) {
  if (!progress || to_run_ == 0) return;
  const auto now = Clock::now();
  if (!final && drawn_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const std::size_t done = std::min(done_, to_run_);
  constexpr int kWidth = 24;
  const int fill = static_cast<int>(kWidth * done / to_run_);
  std::string bar(static_cast<std::size_t>(fill), '#');
  bar += std::string(static_cast<std::size_t>(kWidth - fill), '.');
  std::string eta = done > 0 ? format_eta(elapsed / static_cast<double>(done) * static_cast<double>(to_run_ - done)) : "--:--";
  std::fprintf(stderr, "\r\033[K[sweep] [%s] %zu/%zu", bar.c_str(), done, to_run_);
  if (bad_) std::fprintf(stderr, ", %zu failed", bad_);
  if (running) std::fprintf(stderr, ", %zu running", running);
  std::fprintf(stderr, "  elapsed %s  ETA %s", format_eta(elapsed).c_str(), final ? "0:00" : eta.c_str());
  if (final) std::fputc('\n', stderr);
  std::fflush(stderr);
  drawn_ = !final;
}

void SweepRun::note(const std::string& line) {
  if (progress && drawn_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  if (progress && drawn_) {
    drawn_ = false;
    progress_draw(0);
  }
}

// ---------------------------------------------------------------------------------------------
// vmemsim sweep
// ---------------------------------------------------------------------------------------------

std::size_t check_sweep_document(const std::string& path, const Json& doc, std::size_t max_points) {
  SweepSpec sp = read_sweep_file(path, doc);
  sp.base = read_json_file(sp.base_file);
  if (!sp.base.is_object()) throw core::InputError(sp.base_file, {{"", "the scenario must be a JSON object"}});
  check_axes(sp);
  if (const std::size_t n = count_points(sp); n > max_points)
    throw core::InputError(sp.file, {{"/axes", "the sweep has " + std::to_string(n) + " points, more than " +
                                                   std::to_string(max_points)}});
  return expand_points(sp).size();
}

int cmd_sweep(const SweepOptions& opt) {
  // 1. The sweep: a sweep file, or a scenario with --axis options.
  SweepSpec sp;
  if (opt.axes.empty()) {
    if (opt.zip || !opt.sets.empty() || !opt.metrics.empty() || !opt.name.empty())
      throw core::InputError(kCommandLine, {{"", "--zip, --set, --metric and --name go with --axis (a sweep file has "
                                                 "\"mode\", \"set\", \"summary_metrics\" and \"name\" instead)"}});
    Json doc = read_json_file(opt.file);
    sp = read_sweep_file(opt.file, doc);
  } else {
    sp = read_sweep_cli(opt);
  }
  sp.base = read_json_file(sp.base_file);
  if (!sp.base.is_object()) throw core::InputError(sp.base_file, {{"", "the scenario must be a JSON object"}});
  if (sp.name.empty()) {
    std::string n = sp.base.contains("name") && sp.base["name"].is_string() ? sp.base["name"].get<std::string>() : "";
    sp.name = (n.empty() ? fs::path(sp.base_file).stem().string() : n) + "-sweep";
  }

  // 2. Options.
  {
    core::ErrorSink sink(kCommandLine);
    if (!(opt.point_timeout >= 0) || std::isinf(opt.point_timeout))
      sink.add("", "--point-timeout must be a positive number of seconds");
    if (opt.backend != "local" && opt.backend != "slurm")
      sink.add("", "--backend must be local or slurm, got '" + opt.backend + "'");
    if (opt.backend != "slurm" && (!opt.partition.empty() || !opt.time.empty() || !opt.sbatch_args.empty()))
      sink.add("", "--partition, --time and --sbatch-arg need --backend slurm");
    if (!(opt.wait_timeout > 0)) sink.add("", "--wait-timeout must be a positive number of seconds");
    if (opt.backend == "slurm" && !opt.dry_run)
      for (const char* prog : {"sbatch", "squeue"})
        if (!in_path(prog))
          sink.add("", std::string("--backend slurm: '") + prog +
                           "' is not in PATH (install slurm-wlm's client tools, or use --backend local)");
    sink.throw_if_any();
  }

  if (opt.backend == "slurm" && !opt.out_dir.empty() && opt.out_dir.find_first_of(" \t\n'\"") != std::string::npos)
    throw core::InputError(kCommandLine, {{"", "--backend slurm: the output directory must not contain spaces or quotes "
                                               "(it goes into #SBATCH lines)"}});

  // 3. Every point, validated as a full scenario, before anything is written.
  sp.cfg = opt.simgrid_cfg;
  check_axes(sp);
  // Counted before anything is built: each point holds its scenario in memory and is validated
  // as a full scenario, so an unbounded product would exhaust memory before it ran anything.
  if (const std::size_t n = count_points(sp); n > opt.max_points)
    throw core::InputError(sp.file, {{"/axes", "the sweep has " + (n == SIZE_MAX ? std::string("more than 2^64") : std::to_string(n)) +
                                                   " points, more than --max-points " + std::to_string(opt.max_points) +
                                                   " (raise it to run them all)"}});
  std::vector<SweepPoint> points = expand_points(sp);

  SweepRun run;
  run.name = sp.name;
  run.file = sp.file == kCommandLine ? "" : sp.file;
  run.base = sp.base_file;
  run.mode = sp.mode;
  run.sets = sp.sets;
  run.axes = sp.axes;
  run.metrics = sp.metrics;
  run.simgrid_cfg = opt.simgrid_cfg;
  run.simgrid_log = opt.simgrid_log;
  run.points = std::move(points);
  run.quiet = opt.quiet;
  run.progress = !opt.quiet && ::isatty(STDERR_FILENO);
  const fs::path out = opt.out_dir.empty() ? fs::path("results") / sp.name : fs::path(opt.out_dir);
  run.out_dir = fs::absolute(out).lexically_normal().string();
  if (run.out_dir.size() > 1 && run.out_dir.back() == '/') run.out_dir.pop_back();
  for (auto& p : run.points) p.dir = run.out_dir + "/points/" + p.id;

  // 4. Resume: a point whose result.json was written for the same resolved scenario is done.
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < run.points.size(); ++i) {
    if (run.load_result(i)) {
      run.points[i].status = "ok";
      run.points[i].reused = true;
    } else {
      todo.push_back(i);
    }
  }

  if (opt.dry_run) {
    std::cout << "sweep " << run.name << ": " << run.points.size() << " point(s), " << run.mode << ", "
              << todo.size() << " to run, output " << run.out_dir << "\n";
    for (const auto& p : run.points)
      std::cout << "  " << p.id << "  " << (p.reused ? "done" : "run ") << "  " << run.values_text(p) << "\n";
    return 0;
  }

  // 5. Write every point's scenario (unchanged files are left alone: resume keeps mtimes).
  for (auto& p : run.points) {
    const std::string text = p.scenario.dump(1) + "\n";
    const std::string path = p.dir + "/scenario.json";
    if (read_text(path) != text) output::write_file_atomic(path, text);
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  run.binary = ec ? std::string("/proc/self/exe") : self.string();

  block_sweep_signals();
  run.write_outputs(true);

  const std::size_t reused = run.points.size() - todo.size();
  if (!opt.quiet && reused > 0)
    run.note("[sweep] " + std::to_string(reused) + " of " + std::to_string(run.points.size()) +
             " point(s) already done (resumed), " + std::to_string(todo.size()) + " to run");

  bool interrupted = false;
  if (!todo.empty()) {
    if (opt.backend == "slurm") {
      interrupted = run_slurm(run, todo, opt);
    } else {
      unsigned jobs = opt.jobs ? opt.jobs : usable_cpus();
      interrupted = run_local(run, todo, jobs, opt.point_timeout);
    }
  }
  run.write_outputs(true);

  std::map<std::string, std::size_t> counts;
  for (const auto& p : run.points) ++counts[p.status];
  if (!opt.quiet) {
    std::string s = "[sweep] " + run.name + ": " + std::to_string(run.points.size()) + " point(s): " +
                    std::to_string(counts["ok"]) + " ok";
    if (reused) s += " (" + std::to_string(reused) + " reused)";
    if (counts["failed"]) s += ", " + std::to_string(counts["failed"]) + " failed";
    if (counts["timeout"]) s += ", " + std::to_string(counts["timeout"]) + " timed out";
    if (counts["skipped"]) s += ", " + std::to_string(counts["skipped"]) + " not run";
    run.note(s + "; summary in " + run.out_dir + "/summary.csv");
  }
  std::cout << run.out_dir << "/index.json\n";
  if (interrupted) return 130;
  return (counts["failed"] || counts["timeout"]) ? 1 : 0;
}

}  // namespace vmemsim::cli
