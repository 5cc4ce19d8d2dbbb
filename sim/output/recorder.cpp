#include "sim/output/recorder.hpp"

#include "sim/core/units.hpp"

namespace vmemsim::output {

Recorder::Recorder(const scenario::World& w) : w_(w) {
  vms_.resize(w.vms.size());
  for (std::size_t i = 0; i < w.vms.size(); ++i) {
    auto& s = vms_[i];
    const auto& host = w.sc->hosts[w.vms[i].spec->host];
    s.resident.resize(host.nodes.size());
    s.faults.resize(mm::kFaultKinds);
    s.wss.resize(w.sc->output.wss_windows_ns.size());
  }
  host_free_.resize(w.hosts.size());
  for (std::size_t h = 0; h < w.hosts.size(); ++h) host_free_[h].resize(w.hosts[h]->node_count());
}

Recorder::VmTotals Recorder::totals(std::size_t i) const {
  VmTotals t;
  const auto& vm = w_.vms[i];
  for (const auto& v : vm.vcpus) {
    const auto& c = v->counters();
    for (unsigned n = 0; n < mm::kMaxNodes; ++n) {
      t.accesses += c.by_node[n];
      if (n != v->config().node) t.remote += c.by_node[n];
    }
    t.writes += c.writes;
    t.fault_ns += c.fault_ns;
    t.memory_ns += c.memory_ns;
  }
  for (std::size_t k = 0; k < mm::kFaultKinds; ++k) t.faults[k] = vm.as->faults(static_cast<mm::FaultKind>(k));
  return t;
}

void Recorder::sample(TimeNs now) {
  t_.push_back(now);
  for (std::size_t i = 0; i < w_.vms.size(); ++i) {
    auto& s = vms_[i];
    const auto& as = *w_.vms[i].as;
    for (unsigned n = 0; n < s.resident.size(); ++n) s.resident[n].push_back(as.resident(n));
    s.peak_resident = std::max(s.peak_resident, as.resident_total());
    VmTotals t = totals(i);
    const std::uint64_t acc = t.accesses - s.last.accesses;
    s.accesses.push_back(acc);
    s.writes.push_back(t.writes - s.last.writes);
    s.remote_ratio.push_back(acc ? static_cast<double>(t.remote - s.last.remote) / static_cast<double>(acc) : 0.0);
    for (std::size_t k = 0; k < mm::kFaultKinds; ++k) s.faults[k].push_back(t.faults[k] - s.last.faults[k]);
    s.fault_ns.push_back(t.fault_ns - s.last.fault_ns);
    for (std::size_t k = 0; k < s.wss.size(); ++k) s.wss[k].push_back(as.true_wss(now, w_.sc->output.wss_windows_ns[k]));
    s.last = t;
  }
  for (std::size_t h = 0; h < w_.hosts.size(); ++h)
    for (unsigned n = 0; n < w_.hosts[h]->node_count(); ++n) host_free_[h][n].push_back(w_.hosts[h]->free_frames(n));
}

std::uint64_t Recorder::total_accesses() const {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < w_.vms.size(); ++i) s += totals(i).accesses;
  return s;
}

static std::string node_key(unsigned n) { return "node" + std::to_string(n); }

Json Recorder::body() const {
  const auto& sc = *w_.sc;
  const double secs = static_cast<double>(sc.duration_ns) / 1e9;
  Json summary = Json::object(), series = Json::object();
  Json svms = Json::object(), tvms = Json::object();
  std::uint64_t tot_acc = 0, tot_res = 0, tot_remote = 0;
  std::array<std::uint64_t, mm::kFaultKinds> tot_faults{};
  std::vector<std::uint64_t> host_acc(w_.hosts.size(), 0);

  for (std::size_t i = 0; i < w_.vms.size(); ++i) {
    const auto& vm = w_.vms[i];
    const auto& s = vms_[i];
    const VmTotals t = totals(i);
    Json v = Json::object();
    v["host"] = sc.hosts[vm.spec->host].name;
    v["vcpus"] = vm.spec->vcpus;
    v["pages"] = vm.spec->pages;
    v["accesses"] = t.accesses;
    v["writes"] = t.writes;
    v["accesses_per_vcpu_second"] = secs > 0 ? static_cast<double>(t.accesses) / vm.spec->vcpus / secs : 0.0;
    v["remote_ratio"] = t.accesses ? static_cast<double>(t.remote) / static_cast<double>(t.accesses) : 0.0;
    Json res = Json::object();
    for (unsigned n = 0; n < s.resident.size(); ++n) res[node_key(n)] = vm.as->resident(n);
    v["resident_pages"] = res;
    v["resident_pages_total"] = vm.as->resident_total();
    v["resident_pages_peak"] = s.peak_resident;
    v["zero_page_maps"] = vm.as->zero_page_maps();
    Json wss = Json::object();
    for (std::size_t k = 0; k < s.wss.size(); ++k)
      wss[core::format_duration(sc.output.wss_windows_ns[k])] = s.wss[k].empty() ? 0 : s.wss[k].back();
    v["true_wss_pages"] = wss;
    v["time_ns"] = {{"memory", t.memory_ns}, {"fault", t.fault_ns}};
    Json faults = Json::object();
    for (std::size_t k = 0; k < mm::kFaultKinds; ++k) {
      faults[mm::fault_kind_name(static_cast<mm::FaultKind>(k))] = t.faults[k];
      tot_faults[k] += t.faults[k];
    }
    v["counters"] = {{"mm", {{"faults", faults}}}};
    svms[vm.spec->name] = v;
    tot_acc += t.accesses;
    tot_remote += t.remote;
    tot_res += vm.as->resident_total();
    host_acc[vm.spec->host] += t.accesses;

    Json ts = Json::object();
    Json tres = Json::object();
    for (unsigned n = 0; n < s.resident.size(); ++n) tres[node_key(n)] = s.resident[n];
    ts["resident_pages"] = tres;
    ts["accesses"] = s.accesses;
    ts["writes"] = s.writes;
    ts["remote_ratio"] = s.remote_ratio;
    Json tf = Json::object();
    for (std::size_t k = 0; k < mm::kFaultKinds; ++k) tf[mm::fault_kind_name(static_cast<mm::FaultKind>(k))] = s.faults[k];
    ts["faults"] = tf;
    ts["fault_time_ns"] = s.fault_ns;
    Json tw = Json::object();
    for (std::size_t k = 0; k < s.wss.size(); ++k) tw[core::format_duration(sc.output.wss_windows_ns[k])] = s.wss[k];
    ts["true_wss_pages"] = tw;
    tvms[vm.spec->name] = ts;
  }

  Json shosts = Json::object(), thosts = Json::object();
  for (std::size_t h = 0; h < w_.hosts.size(); ++h) {
    const auto& hm = *w_.hosts[h];
    Json nodes = Json::object(), tn = Json::object();
    for (unsigned n = 0; n < hm.node_count(); ++n) {
      nodes[node_key(n)] = {{"capacity_pages", hm.capacity(n)}, {"used_pages", hm.used(n)}};
      tn[node_key(n)] = host_free_[h][n];
    }
    shosts[sc.hosts[h].name] = {{"accesses", host_acc[h]}, {"nodes", nodes}};
    thosts[sc.hosts[h].name] = {{"free_pages", tn}};
  }
  Json tfaults = Json::object();
  for (std::size_t k = 0; k < mm::kFaultKinds; ++k) tfaults[mm::fault_kind_name(static_cast<mm::FaultKind>(k))] = tot_faults[k];
  summary["total"] = {{"accesses", tot_acc},
                      {"remote_ratio", tot_acc ? static_cast<double>(tot_remote) / static_cast<double>(tot_acc) : 0.0},
                      {"resident_pages", tot_res},
                      {"faults", tfaults}};
  summary["hosts"] = shosts;
  summary["vms"] = svms;
  series["t_ns"] = t_;
  series["hosts"] = thosts;
  series["vms"] = tvms;

  Json body = Json::object();
  body["schema_version"] = scenario::kSchemaVersion;
  body["scenario"] = sc.resolved;
  body["summary"] = summary;
  body["timeseries"] = series;
  return body;
}

}  // namespace vmemsim::output
