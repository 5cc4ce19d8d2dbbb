#include "sim/scenario/host_profile.hpp"

#include "sim/core/json_input.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "models/mm/address_space.hpp"

namespace vmemsim::scenario {

namespace fs = std::filesystem;

double median(std::vector<double> xs) {
  if (xs.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(xs.begin(), xs.end());
  const std::size_t n = xs.size();
  return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

std::optional<double> Measurements::get(const std::string& id) const {
  auto it = ns.find(id);
  if (it == ns.end() || !std::isfinite(it->second)) return std::nullopt;
  return it->second;
}

std::string m::mprotect_flush(unsigned k) { return "mprotect_flush_k" + std::to_string(k) + "_ns"; }

const std::vector<std::string>& profile_cost_keys() {
  // The order of the ParamSpecs in scenario.cpp (kernel.costs, then kernel.costs.uffd).
  static const std::vector<std::string> keys = {
      "dram_latency_ns",   "minor_fault_ns",       "page_clear_ns",   "page_copy_ns",
      "tlb_ipi_ns",        "uffd/ioctl_ns",        "uffd/per_pte_ns", "uffd/tlb_flush_ns",
      "uffd/tlb_per_vcpu_ns", "uffd/scan_per_pte_ns", "uffd/copy_ns",    "uffd/set_mode_ns",
      "uffd/roundtrip_ns"};
  return keys;
}

namespace {

constexpr double kMaxCost = 1e9;  // the range of every cost ParamSpec

std::string num(double x) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(std::fabs(x) < 1 ? 2 : std::fabs(x) < 100 ? 1 : 0);
  os << x;
  return os.str();
}

// Collects derived keys; a key is only derived when every measurement it needs is there.
class Deriver {
 public:
  explicit Deriver(const Measurements& ms) : ms_(ms) {}

  std::optional<double> meas(const char* id, const std::string& key) {
    auto v = ms_.get(id);
    if (!v && !missing_.count(key)) missing_[key] = std::string("not measured: ") + id;
    return v;
  }
  std::optional<double> derived(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::nullopt : std::optional<double>(it->second.first);
  }
  void need(const std::string& key, const std::string& dep) { cannot(key, "needs " + dep + ", which was not derived"); }
  void cannot(const std::string& key, const std::string& why) {
    if (!missing_.count(key)) missing_[key] = why;
  }
  void set(const std::string& key, double ns, std::string how) {
    if (ns < 0) {
      how += " (negative: clamped to 0)";
      ns = 0;
    }
    ns = std::min(ns, kMaxCost);
    values_[key] = {ns, std::move(how)};
    missing_.erase(key);
  }

  Derivation result() const {
    Derivation d;
    for (const auto& key : profile_cost_keys()) {
      auto it = values_.find(key);
      if (it != values_.end()) {
        d.costs.push_back({key, static_cast<std::int64_t>(std::llround(it->second.first)), it->second.second});
      } else {
        auto mi = missing_.find(key);
        d.not_derived[key] = mi != missing_.end() ? mi->second : "not measured by vmemsim calibrate";
      }
    }
    return d;
  }

 private:
  const Measurements& ms_;
  std::map<std::string, std::pair<double, std::string>> values_;
  std::map<std::string, std::string> missing_;
};

}  // namespace

// How each key is derived. The model charges (models/mm/address_space.cpp, models/uffd/uffd.cpp):
//   anon first touch       minor_fault_ns + page_clear_ns
//   WP_ASYNC write fault   minor_fault_ns
//   a uffd ioctl           ioctl_ns + ptes x per_pte_ns [+ tlb_flush_ns + vcpus x tlb_per_vcpu_ns]
//   UFFDIO_COPY            ioctl_ns + per_pte_ns + copy_ns
//   MISSING fault          userfault_ns (vCPU) + roundtrip_ns (handler) + the UFFDIO_COPY
//   PAGEMAP_SCAN           ioctl_ns + walked x scan_per_pte_ns
//   each shootdown         tlb_ipi_ns on every other vCPU of the VM
// so each key is the measured operation minus the parts the other keys already charge:
//   page_clear_ns        = memset(0) of a cold 4 KiB page
//   page_copy_ns         = memcpy of a cold 4 KiB page
//   minor_fault_ns       = first-touch write fault - page_clear_ns
//   tlb_ipi_ns           = time a thread spinning on another CPU loses per shootdown IPI it takes
//   uffd/ioctl_ns        = UFFDIO_WRITEPROTECT that changes no PTE (syscall + mmap lock + walk)
//   uffd/tlb_flush_ns    = one-page mprotect with a PTE to change (and flush) - the same without
//                          a PTE, with no other thread of the process running
//   uffd/tlb_per_vcpu_ns = slope of that one-page mprotect over the number of other threads
//                          spinning on other CPUs (only points with a CPU to each thread, and only
//                          if the other CPU did take the shootdown IPIs)
//   uffd/per_pte_ns      = UFFDIO_WRITEPROTECT of the region / pages - (ioctl_ns + tlb_flush_ns) / pages
//   uffd/scan_per_pte_ns = PAGEMAP_SCAN of the region / pages - ioctl_ns / pages
//   uffd/copy_ns         = UFFDIO_COPY of one page - ioctl_ns - per_pte_ns
//   uffd/roundtrip_ns    = MISSING round trip - userfault_ns - UFFDIO_COPY of one page, with
//                          userfault_ns at its default (user space cannot split the faulting
//                          side from the wake-ups, so userfault_ns is not measured)
// dram_latency_ns and uffd/set_mode_ns are not measured (UFFDIO_SET_MODE is not upstream).
Derivation derive_costs(const Measurements& ms) {
  Deriver d(ms);
  const double pages = static_cast<double>(std::max<std::uint64_t>(ms.pages, 1));

  auto clear = d.meas(m::kPageClear, "page_clear_ns");
  if (clear) d.set("page_clear_ns", *clear, "memset(0) of a cold 4 KiB page " + num(*clear));
  if (auto cp = d.meas(m::kMemcpy, "page_copy_ns")) d.set("page_copy_ns", *cp, "memcpy of a cold 4 KiB page " + num(*cp));
  if (auto ft = d.meas(m::kFirstTouch, "minor_fault_ns")) {
    if (clear) d.set("minor_fault_ns", *ft - *clear, "first-touch write fault " + num(*ft) + " - page clear " + num(*clear));
    else d.need("minor_fault_ns", "page_clear_ns");
  }
  if (auto ipi = d.meas(m::kIpiLost, "tlb_ipi_ns"))
    d.set("tlb_ipi_ns", *ipi, "time a thread spinning on another CPU lost per shootdown IPI " + num(*ipi));

  auto ioctl = d.meas(m::kUffdNoopIoctl, "uffd/ioctl_ns");
  if (ioctl) d.set("uffd/ioctl_ns", *ioctl, "UFFDIO_WRITEPROTECT changing no PTE " + num(*ioctl));

  auto flush0 = d.meas(m::mprotect_flush(0).c_str(), "uffd/tlb_flush_ns");
  if (auto nf = d.meas(m::kMprotectUnpopulated, "uffd/tlb_flush_ns"); flush0 && nf)
    d.set("uffd/tlb_flush_ns", *flush0 - *nf,
          "one-page mprotect " + num(*flush0) + " - the same without a PTE " + num(*nf) + " (no other thread running)");

  {  // least-squares slope over the points where every spinning thread had a CPU of its own
    std::vector<std::pair<double, double>> pts;
    for (unsigned k : m::kSpinners)
      if (k + 1 <= std::max(ms.cpus, 1u))
        if (auto t = ms.get(m::mprotect_flush(k))) pts.emplace_back(k, *t);
    auto ipis = ms.get(m::kIpisPerFlush);
    if (ipis && *ipis < 0.5) {
      d.cannot("uffd/tlb_per_vcpu_ns", "the other CPU took " + num(*ipis) +
                                           " shootdown IPIs per flush (the hypervisor defers flushes for preempted "
                                           "vCPUs): no per-vCPU cost to fit");
    } else if (pts.size() >= 2 && pts.front().first == 0) {
      double sx = 0, sy = 0, sxx = 0, sxy = 0, n = static_cast<double>(pts.size());
      for (auto [x, y] : pts) sx += x, sy += y, sxx += x * x, sxy += x * y;
      const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
      std::string how = "slope of one-page mprotect over other threads spinning (";
      for (std::size_t i = 0; i < pts.size(); ++i)
        how += (i ? ", " : "") + std::to_string(static_cast<int>(pts[i].first)) + ": " + num(pts[i].second);
      how += "), one CPU per thread";
      d.set("uffd/tlb_per_vcpu_ns", slope, how);
    } else {
      d.cannot("uffd/tlb_per_vcpu_ns", "needs mprotect timed with 0 and >= 1 other threads, each on a CPU of its own (" +
                                           std::to_string(ms.cpus) + " CPU(s))");
    }
  }

  if (auto wp = d.meas(m::kWpPerPte, "uffd/per_pte_ns")) {
    auto flush = d.derived("uffd/tlb_flush_ns");
    if (ioctl && flush)
      d.set("uffd/per_pte_ns", *wp - (*ioctl + *flush) / pages,
            "UFFDIO_WRITEPROTECT per PTE " + num(*wp) + " - (ioctl " + num(*ioctl) + " + flush " + num(*flush) + ") / " +
                num(pages) + " pages");
    else d.need("uffd/per_pte_ns", "uffd/ioctl_ns and uffd/tlb_flush_ns");
  }
  if (auto sc = d.meas(m::kScanPerPte, "uffd/scan_per_pte_ns")) {
    if (ioctl)
      d.set("uffd/scan_per_pte_ns", *sc - *ioctl / pages,
            "PAGEMAP_SCAN per PTE " + num(*sc) + " - ioctl " + num(*ioctl) + " / " + num(pages) + " pages");
    else d.set("uffd/scan_per_pte_ns", *sc, "PAGEMAP_SCAN per PTE " + num(*sc) + " (no ioctl cost to subtract)");
  }
  auto ucopy = d.meas(m::kUffdCopy, "uffd/copy_ns");
  if (ucopy) {
    auto per_pte = d.derived("uffd/per_pte_ns");
    if (ioctl && per_pte)
      d.set("uffd/copy_ns", *ucopy - *ioctl - *per_pte,
            "UFFDIO_COPY " + num(*ucopy) + " - ioctl " + num(*ioctl) + " - per PTE " + num(*per_pte));
    else d.need("uffd/copy_ns", "uffd/ioctl_ns and uffd/per_pte_ns");
  }
  if (auto rt = d.meas(m::kMissingRoundtrip, "uffd/roundtrip_ns")) {
    const double entry = static_cast<double>(vmemsim::mm::FaultCosts{}.userfault_ns);
    if (ucopy)
      d.set("uffd/roundtrip_ns", *rt - entry - *ucopy,
            "MISSING round trip " + num(*rt) + " - userfault_ns " + num(entry) + " (default) - UFFDIO_COPY " + num(*ucopy));
    else d.need("uffd/roundtrip_ns", "a measured UFFDIO_COPY");
  }
  return d.result();
}

namespace {

// "uffd/copy_ns" -> {"uffd", "copy_ns"}; "minor_fault_ns" -> {"", "minor_fault_ns"}.
std::pair<std::string, std::string> split_key(const std::string& key) {
  auto s = key.find('/');
  return s == std::string::npos ? std::pair<std::string, std::string>{"", key}
                                : std::pair<std::string, std::string>{key.substr(0, s), key.substr(s + 1)};
}

double round1(double x) { return std::round(x * 10) / 10; }

}  // namespace

Json profile_json(const Json& metadata, const Measurements& ms, const Derivation& d) {
  Json costs = Json::object(), how = Json::object(), meas = Json::object();
  for (const auto& c : d.costs) {
    auto [group, name] = split_key(c.key);
    (group.empty() ? costs : costs[group])[name] = c.ns;
    how[c.key] = c.how;
  }
  for (const auto& [id, v] : ms.ns)
    if (std::isfinite(v)) meas[id] = round1(v);
  Json md = metadata.is_object() ? metadata : Json::object();
  md["pages"] = ms.pages;
  md["cpus"] = ms.cpus;
  return {{"vmemsim_host_profile", kHostProfileVersion},
          {"metadata", md},
          {"kernel", {{"costs", costs}}},
          {"derivation", how},
          {"not_derived", d.not_derived},
          {"measurements", meas}};
}

Measurements measurements_from_json(const Json& profile) {
  Measurements ms;
  if (!profile.is_object()) return ms;
  if (auto it = profile.find("metadata"); it != profile.end() && it->is_object()) {
    ms.pages = it->value("pages", std::uint64_t{0});
    ms.cpus = it->value("cpus", 0u);
  }
  if (auto it = profile.find("measurements"); it != profile.end() && it->is_object())
    for (auto e = it->begin(); e != it->end(); ++e)
      if (e->is_number()) ms.ns[e.key()] = e->get<double>();
  return ms;
}

std::optional<Json> read_host_profile_costs(const std::string& path, std::string* why) {
  auto fail = [&](const std::string& msg) {
    *why = msg;
    return std::nullopt;
  };
  // A path written inside a scenario must name a regular file: a device or a FIFO (/dev/stdin,
  // /dev/zero) would block or never end.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return fail("host profile '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot open host profile '" + path + "'");
  std::string text;
  if (!core::read_bounded(in, &text)) return fail("host profile '" + path + "' is larger than 64 MiB");
  Json doc;
  core::JsonTextError err;
  if (auto d = core::try_parse_json_text(text, false, &err)) doc = std::move(*d);
  else
    return fail(err.kind == core::JsonTextError::Kind::Syntax
                    ? "host profile '" + path + "' is " + err.message
                    : "host profile '" + path + "'" + (err.pointer.empty() ? "" : " at " + err.pointer) + ": " + err.message);
  const std::string pre = "host profile '" + path + "': ";
  if (!doc.is_object() || !doc.contains("vmemsim_host_profile"))
    return fail("'" + path + "' is not a host profile (no \"vmemsim_host_profile\" member; `vmemsim calibrate "
                "--out FILE` writes one)");
  if (doc["vmemsim_host_profile"] != kHostProfileVersion)
    return fail(pre + "/vmemsim_host_profile: version " + doc["vmemsim_host_profile"].dump() +
                " is not supported (this vmemsim reads version " + std::to_string(kHostProfileVersion) + ")");
  const Json* costs = nullptr;
  if (auto k = doc.find("kernel"); k != doc.end() && k->is_object())
    if (auto c = k->find("costs"); c != k->end()) costs = &*c;
  if (!costs || !costs->is_object()) return fail(pre + "/kernel/costs: expected an object of cost keys");

  std::vector<std::string> known;
  for (const auto& key : profile_cost_keys()) known.push_back(split_key(key).second);
  known.push_back("uffd");
  Json out = Json::object();
  auto check = [&](const Json& obj, const std::string& group) -> std::optional<std::string> {
    const std::string at = "/kernel/costs" + (group.empty() ? "" : "/" + group);
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      const std::string key = group.empty() ? it.key() : group + "/" + it.key();
      const std::string ptr = at + "/" + core::escape_pointer_token(it.key());
      if (group.empty() && it.key() == "uffd") {
        if (!it->is_object()) return ptr + ": expected an object";
        continue;
      }
      if (std::find(profile_cost_keys().begin(), profile_cost_keys().end(), key) == profile_cost_keys().end()) {
        std::string m = ptr + ": unknown cost key '" + it.key() + "'";
        auto dym = core::did_you_mean(it.key(), known);
        if (!dym.empty()) m += " (did you mean '" + dym + "'?)";
        return m;
      }
      const bool integral = it->is_number_integer() ||
                            (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>());
      if (!integral || it->get<double>() < 0 || it->get<double>() > kMaxCost)
        return ptr + ": expected an integer number of ns from 0 to 1e9, got " + it->dump();
      (group.empty() ? out : out["uffd"])[it.key()] = it->get<std::int64_t>();
    }
    return std::nullopt;
  };
  if (auto e = check(*costs, "")) return fail(pre + *e);
  if (auto u = costs->find("uffd"); u != costs->end())
    if (auto e = check(*u, "uffd")) return fail(pre + *e);
  return out;
}

std::string host_profile_path(const std::string& scenario_file, const std::string& value) {
  fs::path p(value);
  if (p.is_absolute()) return value;
  return (fs::path(scenario_file).parent_path() / p).string();
}

void merge_profile_costs(Json& doc, const Json& costs) {
  if (!doc.is_object() || !costs.is_object()) return;
  if (!doc.contains("kernel")) doc["kernel"] = Json::object();
  Json& k = doc["kernel"];
  if (!k.is_object()) return;
  if (!k.contains("costs")) k["costs"] = Json::object();
  Json& c = k["costs"];
  if (!c.is_object()) return;
  auto fill = [](Json& into, const Json& from) {
    for (auto it = from.begin(); it != from.end(); ++it) {
      if (it.key() == "uffd") continue;
      if (!into.contains(it.key()) || into[it.key()].is_null()) into[it.key()] = *it;
    }
  };
  fill(c, costs);
  if (auto u = costs.find("uffd"); u != costs.end()) {
    if (!c.contains("uffd")) c["uffd"] = Json::object();
    if (c["uffd"].is_object()) fill(c["uffd"], *u);
  }
}

void anchor_host_profile(Json& doc, const std::string& scenario_file) {
  if (!doc.is_object()) return;
  auto it = doc.find("host_profile");
  if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) return;
  fs::path p(it->get<std::string>());
  if (p.is_absolute()) return;
  *it = fs::absolute(fs::path(scenario_file).parent_path() / p).lexically_normal().string();
}

}  // namespace vmemsim::scenario
