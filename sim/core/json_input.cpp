#include "sim/core/json_input.hpp"

#include <set>
#include <vector>

#include "sim/core/params.hpp"

namespace vmemsim::core {
namespace {

// The parser's position, kept from its callback events so that a problem can be reported
// with the JSON pointer of the value being read.
struct Frame {
  bool is_array = false;
  std::size_t index = 0;      // arrays: elements completed so far
  std::string key;            // objects: the key being read
  std::set<std::string> keys; // objects: keys seen
};

struct LimitHit {
  std::string pointer, message;
};

std::string path_of(const std::vector<Frame>& st) {
  std::string p;
  for (const auto& f : st) p += "/" + (f.is_array ? std::to_string(f.index) : escape_pointer_token(f.key));
  return p;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

bool read_bounded(std::istream& in, std::string* out, std::size_t max) {
  out->clear();
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    const std::size_t n = static_cast<std::size_t>(in.gcount());
    if (out->size() + n > max) return false;
    out->append(buf, n);
  }
  return true;
}

std::optional<Json> try_parse_json_text(std::string_view text, bool ignore_comments, JsonTextError* err) {
  std::vector<Frame> st;
  std::optional<LimitHit> hit;
  // The callback runs for every token; it throws to stop the parser at the first broken rule,
  // before a deeper level or a second value for a key is built.
  struct Stop {};
  Json::parser_callback_t cb = [&](int, Json::parse_event_t ev, Json& parsed) -> bool {
    switch (ev) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (st.size() >= kMaxJsonDepth) {
          hit = LimitHit{path_of(st), "nested more than " + std::to_string(kMaxJsonDepth) +
                                          " levels deep (objects and arrays inside one another)"};
          throw Stop{};
        }
        st.push_back(Frame{ev == Json::parse_event_t::array_start, 0, {}, {}});
        break;
      case Json::parse_event_t::key: {
        Frame& f = st.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second) {
          hit = LimitHit{path_of(st), "duplicate key '" + f.key + "' in this object"};
          throw Stop{};
        }
        break;
      }
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        st.pop_back();
        if (!st.empty() && st.back().is_array) ++st.back().index;
        break;
      case Json::parse_event_t::value:
        if (!st.empty() && st.back().is_array) ++st.back().index;
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, ignore_comments);
  } catch (const Stop&) {
    if (err) *err = {JsonTextError::Kind::Limit, hit->pointer, hit->message};
  } catch (const Json::out_of_range& e) {
    // 406: a number beyond double range ("1e309").
    if (err) *err = {JsonTextError::Kind::Limit, path_of(st), std::string("number out of range: ") + e.what()};
  } catch (const Json::exception& e) {
    if (err) *err = {JsonTextError::Kind::Syntax, path_of(st), std::string("not valid JSON: ") + e.what()};
  }
  return std::nullopt;
}

Json parse_json_text(std::string_view text, const std::string& file, bool ignore_comments) {
  JsonTextError err;
  auto v = try_parse_json_text(text, ignore_comments, &err);
  if (!v) throw InputError(file, {{err.pointer, err.message}});
  return std::move(*v);
}

std::optional<std::string> json_too_deep(const Json& doc, std::size_t limit) {
  struct Item {
    const Json* v;
    std::size_t depth;  // containers enclosing v, v included when it is one
    std::string pointer;
  };
  std::vector<Item> todo{{&doc, doc.is_structured() ? 1u : 0u, ""}};
  while (!todo.empty()) {
    Item it = std::move(todo.back());
    todo.pop_back();
    if (!it.v->is_structured()) continue;
    if (it.depth > limit) return it.pointer;
    if (it.v->is_object()) {
      for (auto c = it.v->begin(); c != it.v->end(); ++c)
        if (c->is_structured()) todo.push_back({&*c, it.depth + 1, it.pointer + "/" + escape_pointer_token(c.key())});
    } else {
      for (std::size_t i = 0; i < it.v->size(); ++i)
        if ((*it.v)[i].is_structured()) todo.push_back({&(*it.v)[i], it.depth + 1, it.pointer + "/" + std::to_string(i)});
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> parse_array_index(std::string_view t) {
  if (t.empty() || t.size() > 19) return std::nullopt;  // 19 digits always fit in 64 bits
  if (t.size() > 1 && t[0] == '0') return std::nullopt;
  std::size_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  return v;
}

std::string json_excerpt(const Json& v, std::size_t max) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

}  // namespace vmemsim::core
