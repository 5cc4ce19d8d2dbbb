#include "sim/core/params.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "sim/core/json_input.hpp"
#include "sim/core/units.hpp"

namespace vmemsim::core {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Int: return "integer";
    case Kind::Number: return "number";
    case Kind::Count: return "count";
    case Kind::Bool: return "boolean";
    case Kind::String: return "string";
    case Kind::Enum: return "enum";
    case Kind::Size: return "size";
    case Kind::Duration: return "duration";
    case Kind::Bandwidth: return "bandwidth";
    case Kind::Object: return "object";
    case Kind::Array: return "array";
  }
  return "?";
}

std::string escape_pointer_token(const std::string& t) {
  std::string r;
  for (char c : t) {
    if (c == '~') r += "~0";
    else if (c == '/') r += "~1";
    else r += c;
  }
  return r;
}

static std::size_t levenshtein(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (const auto& c : candidates) {
    std::size_t d = levenshtein(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // Accept up to a third of the word's length (at least 2 edits) as a plausible typo.
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_d <= limit ? best : "";
}

std::string describe_params(std::span<const ParamSpec> specs, const std::string& indent) {
  std::ostringstream os;
  for (const auto& s : specs) {
    os << indent << s.name << " (" << kind_name(s.kind);
    if (s.kind == Kind::Enum && s.choices) os << ": " << s.choices;
    os << ", " << (s.def ? std::string("default ") + s.def : std::string("required"));
    if (std::isfinite(s.min) || std::isfinite(s.max)) {
      os << ", range [" << (std::isfinite(s.min) ? std::to_string(s.min) : "-inf") << ", "
         << (std::isfinite(s.max) ? std::to_string(s.max) : "inf") << "]";
    }
    os << ")\n" << indent << "    " << s.desc << "\n";
  }
  return os.str();
}

Params::Params(const Json* obj, std::string pointer, ErrorSink* sink, Json* resolved)
    : obj_(obj), pointer_(std::move(pointer)), sink_(sink), resolved_(resolved) {
  if (obj_ && !obj_->is_object()) {
    sink_->add(pointer_, std::string("expected an object, got ") + obj_->type_name());
    obj_ = nullptr;
  }
  if (resolved_ && !resolved_->is_object()) *resolved_ = Json::object();
}

bool Params::has(const std::string& key) const { return obj_ && obj_->contains(key); }

std::string Params::pointer_of(const std::string& key) const {
  return pointer_ + "/" + escape_pointer_token(key);
}

void Params::error(const std::string& key, const std::string& msg) {
  sink_->add(pointer_of(key), msg);
}
void Params::error_here(const std::string& msg) { sink_->add(pointer_, msg); }

const Json* Params::lookup(const ParamSpec& s, Json* def_storage) {
  declared_.insert(s.name);
  if (obj_) {
    auto it = obj_->find(s.name);
    if (it != obj_->end() && !it->is_null()) return &*it;
  }
  if (!s.def) {
    sink_->add(pointer_of(s.name), std::string("missing required ") + kind_name(s.kind) +
                                       " '" + s.name + "': " + s.desc);
    return nullptr;
  }
  *def_storage = Json::parse(s.def);
  return def_storage;
}

bool Params::check_range(const ParamSpec& s, double v) {
  if (v < s.min || v > s.max) {
    std::ostringstream os;
    os << "value " << v << " is out of range [" << s.min << ", " << s.max << "]";
    error(s.name, os.str());
    return false;
  }
  return true;
}

static std::string type_msg(const ParamSpec& s, const Json& v) {
  return std::string("expected ") + kind_name(s.kind) + ", got " + v.type_name() + " " + json_excerpt(v);
}

// An integral JSON number as int64 without a narrowing surprise: unsigned values above
// INT64_MAX and floats beyond int64 are reported with their own value, never wrapped (a seed
// of 2^64-1 must not read as -1). Returns false (and reports) when `v` is no integer at all.
bool Params::read_integer(const ParamSpec& s, const Json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      error(s.name, "value " + std::to_string(u) + " is out of range" + range_text(s));
      return false;
    }
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::floor(d) == d) {
      // 2^63 is exactly representable; anything at or beyond it does not fit.
      if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        out = static_cast<std::int64_t>(d);
        return true;
      }
      std::ostringstream os;
      os << "value " << d << " is out of range" << range_text(s);
      error(s.name, os.str());
      return false;
    }
  }
  return false;
}

std::string Params::range_text(const ParamSpec& s) {
  std::ostringstream os;
  os << " [" << s.min << ", " << s.max << "]";
  return os.str();
}

std::int64_t Params::get_int(const ParamSpec& s) {
  Json d;
  const Json* v = lookup(s, &d);
  std::int64_t r = 0;
  if (v) {
    const std::size_t before = sink_->problems().size();
    if (read_integer(s, *v, r)) {
      if (!check_range(s, static_cast<double>(r))) r = 0;
    } else {
      r = 0;
      if (sink_->problems().size() == before) error(s.name, type_msg(s, *v));
    }
  }
  if (resolved_) (*resolved_)[s.name] = r;
  return r;
}

double Params::get_number(const ParamSpec& s) {
  Json d;
  const Json* v = lookup(s, &d);
  double r = 0;
  bool ok = true;
  if (v) {
    if (v->is_number()) {
      r = v->get<double>();
    } else if (s.kind == Kind::Count && v->is_string()) {
      std::string why;
      auto c = parse_count(v->get<std::string>(), &why);
      if (c) r = *c;
      else error(s.name, why);
      ok = c.has_value();
    } else {
      error(s.name, type_msg(s, *v));
      ok = false;
    }
    if (ok && !check_range(s, r)) r = 0;
  }
  if (resolved_) (*resolved_)[s.name] = r;
  return r;
}

bool Params::get_bool(const ParamSpec& s) {
  Json d;
  const Json* v = lookup(s, &d);
  bool r = false;
  if (v) {
    if (v->is_boolean()) r = v->get<bool>();
    else error(s.name, type_msg(s, *v));
  }
  if (resolved_) (*resolved_)[s.name] = r;
  return r;
}

std::string Params::get_string(const ParamSpec& s) {
  Json d;
  const Json* v = lookup(s, &d);
  std::string r;
  if (v) {
    if (!v->is_string()) {
      error(s.name, type_msg(s, *v));
      // An enum falls back to its default so that code dispatching on it stays valid.
      if (s.kind == Kind::Enum && s.def) r = Json::parse(s.def).get<std::string>();
    } else {
      r = v->get<std::string>();
      if (s.kind == Kind::Enum && s.choices) {
        std::vector<std::string> opts;
        std::string cur;
        for (const char* p = s.choices;; ++p) {
          if (*p == '|' || *p == 0) {
            opts.push_back(cur);
            cur.clear();
            if (*p == 0) break;
          } else {
            cur += *p;
          }
        }
        if (std::find(opts.begin(), opts.end(), r) == opts.end()) {
          std::string m = "'" + r + "' is not one of " + s.choices;
          std::string dym = did_you_mean(r, opts);
          if (!dym.empty()) m += " (did you mean '" + dym + "'?)";
          error(s.name, m);
          r = s.def ? Json::parse(s.def).get<std::string>() : opts.front();
        }
      }
    }
  }
  if (resolved_) (*resolved_)[s.name] = r;
  return r;
}

std::int64_t Params::get_size(const ParamSpec& s) {
  Json d;
  const Json* v = lookup(s, &d);
  std::int64_t r = 0;
  bool ok = true;
  if (v) {
    if (v->is_number_integer()) {
      ok = read_integer(s, *v, r);
    } else if (v->is_string()) {
      std::string why;
      auto p = parse_size(v->get<std::string>(), &why);
      if (p) r = *p;
      else error(s.name, why);
      ok = p.has_value();
    } else {
      error(s.name, type_msg(s, *v) + " (a size: bytes or a string such as \"4GiB\")");
      ok = false;
    }
    if (ok && !check_range(s, static_cast<double>(r))) r = 0;
  }
  if (resolved_) (*resolved_)[s.name] = r;
  return r;
}

TimeNs Params::get_duration(const ParamSpec& s) {
  Json d;
  const Json* v = lookup(s, &d);
  TimeNs r = 0;
  bool ok = true;
  if (v) {
    if (v->is_number_integer()) {
      ok = read_integer(s, *v, r);
    } else if (v->is_string()) {
      std::string why;
      auto p = parse_duration_ns(v->get<std::string>(), &why);
      if (p) r = *p;
      else error(s.name, why);
      ok = p.has_value();
    } else {
      error(s.name, type_msg(s, *v) + " (a duration: ns or a string such as \"250ms\")");
      ok = false;
    }
    if (ok && r > kMaxDurationNs) {
      error(s.name, "duration " + format_duration(r) + " is longer than the simulator's limit of " +
                        format_duration(kMaxDurationNs) + " (SimGrid's clock counts seconds in a double: past "
                        "that its resolution nears 1 ns and a step of simulated time could be lost)");
      ok = false;
    }
    if (ok && !check_range(s, static_cast<double>(r))) ok = false;
    if (!ok) r = 0;
  }
  if (resolved_) (*resolved_)[s.name] = r;
  return r;
}

double Params::get_bandwidth(const ParamSpec& s) {
  Json d;
  const Json* v = lookup(s, &d);
  double r = 0;
  bool ok = true;
  if (v) {
    if (v->is_number()) {
      r = v->get<double>();
    } else if (v->is_string()) {
      std::string t = v->get<std::string>();
      std::string why;
      if (t.size() > 2 && t.compare(t.size() - 2, 2, "/s") == 0) {
        auto p = parse_size(t.substr(0, t.size() - 2), &why);
        if (p) r = static_cast<double>(*p);
        else error(s.name, why);
        ok = p.has_value();
      } else {
        error(s.name, "'" + t + "' is not a bandwidth (expected bytes/s or a string such as \"2GiB/s\")");
        ok = false;
      }
    } else {
      error(s.name, type_msg(s, *v) + " (a bandwidth: bytes/s or a string such as \"2GiB/s\")");
      ok = false;
    }
    if (ok && !check_range(s, r)) r = 0;
  }
  if (resolved_) (*resolved_)[s.name] = r;
  return r;
}

Params Params::child(const std::string& key, bool required) {
  declared_.insert(key);
  const Json* v = nullptr;
  if (obj_) {
    auto it = obj_->find(key);
    if (it != obj_->end()) v = &*it;
  }
  if (!v && required) sink_->add(pointer_of(key), "missing required object '" + key + "'");
  Json* res = resolved_ ? &(*resolved_)[key] : nullptr;
  if (res) *res = Json::object();
  return Params(v, pointer_of(key), sink_, res);
}

std::vector<Params> Params::items(const std::string& key, bool required) {
  declared_.insert(key);
  std::vector<Params> out;
  const Json* v = nullptr;
  if (obj_) {
    auto it = obj_->find(key);
    if (it != obj_->end()) v = &*it;
  }
  if (!v) {
    if (required) sink_->add(pointer_of(key), "missing required array '" + key + "'");
    if (resolved_) (*resolved_)[key] = Json::array();
    return out;
  }
  if (!v->is_array()) {
    sink_->add(pointer_of(key), std::string("expected an array, got ") + v->type_name());
    return out;
  }
  Json* res = nullptr;
  if (resolved_) {
    res = &(*resolved_)[key];
    // Sized once: element addresses must stay valid while the children are read.
    *res = Json::array();
    for (std::size_t i = 0; i < v->size(); ++i) res->push_back(Json::object());
  }
  for (std::size_t i = 0; i < v->size(); ++i) {
    out.emplace_back(&(*v)[i], pointer_of(key) + "/" + std::to_string(i), sink_,
                     res ? &(*res)[i] : nullptr);
  }
  return out;
}

const Json* Params::raw(const std::string& key) {
  declared_.insert(key);
  if (!obj_) return nullptr;
  auto it = obj_->find(key);
  return it == obj_->end() ? nullptr : &*it;
}

const Json* Params::raw_resolved(const std::string& key) {
  const Json* v = raw(key);
  if (v && resolved_) (*resolved_)[key] = *v;
  return v;
}

void Params::finish() {
  if (!obj_) return;
  std::vector<std::string> known(declared_.begin(), declared_.end());
  for (auto it = obj_->begin(); it != obj_->end(); ++it) {
    if (declared_.count(it.key())) continue;
    std::string m = "unknown key '" + it.key() + "'";
    std::string dym = did_you_mean(it.key(), known);
    if (!dym.empty()) m += " (did you mean '" + dym + "'?)";
    sink_->add(pointer_of(it.key()), m);
  }
}

}  // namespace vmemsim::core
