#include "sim/output/recorder.hpp"

#include <map>

#include "sim/core/units.hpp"

namespace vmemsim::output {

Recorder::Recorder(const scenario::World& w) : w_(w) {
  vms_.resize(w.vms.size());
  for (std::size_t i = 0; i < w.vms.size(); ++i) {
    auto& s = vms_[i];
    const auto& host = w.sc->hosts[w.vms[i].spec->host];
    s.resident.resize(host.nodes.size());
    s.faults.resize(w.vms[i].as->router().kinds().size());
    s.wss.resize(w.sc->output.wss_windows_ns.size());
    s.mech.resize(w.vms[i].kernel.mechanisms.size());
  }
  daemons_.resize(w.daemons.size());
  host_free_.resize(w.hosts.size());
  for (std::size_t h = 0; h < w.hosts.size(); ++h) host_free_[h].resize(w.hosts[h]->node_count());
}

Recorder::VmTotals Recorder::totals(std::size_t i) const {
  VmTotals t;
  const auto& vm = w_.vms[i];
  for (const auto& v : vm.vcpus) {
    const auto& c = v->counters();
    for (unsigned n = 0; n < mm::kMaxNodes; ++n) t.accesses += c.by_node[n];
    t.remote += c.accesses() - c.local;
    t.writes += c.writes;
    t.fault_ns += c.fault_ns;
    t.task_work_ns += c.task_work_ns;
    if (c.fault_ns_by_kind.size() > t.fault_ns_by_kind.size()) t.fault_ns_by_kind.resize(c.fault_ns_by_kind.size(), 0);
    for (std::size_t k = 0; k < c.fault_ns_by_kind.size(); ++k) t.fault_ns_by_kind[k] += c.fault_ns_by_kind[k];
    t.memory_ns += c.memory_ns;
    t.tlb_ns += c.tlb_ns;
    t.device += c.device_accesses;
  }
  t.stalls = vm.stall_ns.count();
  t.stall_ns = vm.stall_ns.sum();
  if (vm.vmm)
    for (const auto& st : vm.vmm->stats().all()) t.vmm.push_back(st.value());
  t.lost_writes = vm.as->truth().stats().lost_writes;
  const std::size_t kinds = vm.as->router().kinds().size();
  t.faults.resize(kinds);
  for (std::size_t k = 0; k < kinds; ++k) t.faults[k] = vm.as->faults(static_cast<mm::FaultKind>(k));
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
    for (std::size_t k = 0; k < s.faults.size(); ++k)
      s.faults[k].push_back(t.faults[k] - (k < s.last.faults.size() ? s.last.faults[k] : 0));
    s.fault_ns.push_back(t.fault_ns - s.last.fault_ns);
    for (std::size_t k = 0; k < s.wss.size(); ++k) s.wss[k].push_back(as.truth().true_wss(now, w_.sc->output.wss_windows_ns[k]));
    for (std::size_t m = 0; m < s.mech.size(); ++m) {
      const auto& mech = *w_.vms[i].kernel.mechanisms[m];
      std::vector<std::pair<std::string, std::uint64_t>> cs;
      std::vector<std::pair<std::string, double>> gs;
      mech.counters(cs);
      mech.gauges(gs);
      s.mech[m].sample(cs, gs);
    }
    const std::uint64_t sp = as.truth().stats().spurious_uffd;
    s.spurious.push_back(sp - s.last_spurious);
    s.last_spurious = sp;
    s.stalls.push_back(t.stalls - s.last.stalls);
    s.stall_ns.push_back(t.stall_ns - s.last.stall_ns);
    if (w_.vms[i].vmm) {
      // Counters as their increase over the interval, gauges as their value now.
      const auto stats = w_.vms[i].vmm->stats().all();
      s.vmm.resize(stats.size());
      for (std::size_t k = 0; k < stats.size(); ++k) {
        if (!stats[k].series) continue;
        const std::uint64_t before = k < s.last.vmm.size() ? s.last.vmm[k] : 0;
        s.vmm[k].push_back(stats[k].kind == reclaim::StatKind::Counter ? t.vmm[k] - before : t.vmm[k]);
      }
      // Lost when they happen: the oracle's count so far plus the stale copies still in the
      // tier, which it counts on refetch or in the end-of-run audit (the summary's total).
      s.lost_writes.push_back(t.lost_writes + w_.vms[i].vmm->lost_writes_pending());
    }
    s.last = t;
  }
  for (std::size_t h = 0; h < w_.hosts.size(); ++h)
    for (unsigned n = 0; n < w_.hosts[h]->node_count(); ++n) host_free_[h][n].push_back(w_.hosts[h]->free_frames(n));
  const TimeNs interval = now - (t_.size() > 1 ? t_[t_.size() - 2] : 0);
  for (std::size_t d = 0; d < daemons_.size(); ++d) {
    const auto& daemon = *w_.daemons[d];
    auto& ds = daemons_[d];
    std::vector<std::pair<std::string, std::uint64_t>> cs;
    std::vector<std::pair<std::string, double>> gs;
    daemon.counters(cs);
    daemon.gauges(gs);
    ds.mech.sample(cs, gs);
    const TimeNs cpu = daemon.cpu_ns();
    ds.cpu_share.push_back(interval > 0 ? static_cast<double>(cpu - ds.last_cpu) / static_cast<double>(interval) : 0.0);
    ds.last_cpu = cpu;
  }
}

void Recorder::Mech::sample(const std::vector<std::pair<std::string, std::uint64_t>>& cs,
                            const std::vector<std::pair<std::string, double>>& gs) {
  if (names.empty() && gauge_names.empty()) {
    for (const auto& c : cs) names.push_back(c.first);
    for (const auto& g : gs) gauge_names.push_back(g.first);
    last.assign(cs.size(), 0);
    deltas.resize(cs.size());
    gauges.resize(gs.size());
  }
  for (std::size_t k = 0; k < cs.size() && k < last.size(); ++k) {
    deltas[k].push_back(cs[k].second - last[k]);
    last[k] = cs[k].second;
  }
  for (std::size_t k = 0; k < gs.size() && k < gauges.size(); ++k) gauges[k].push_back(gs[k].second);
}

Json Recorder::Mech::to_json() const {
  if (names.empty() && gauge_names.empty()) return nullptr;
  Json mj = Json::object();
  for (std::size_t k = 0; k < names.size(); ++k) mj[names[k]] = deltas[k];
  for (std::size_t k = 0; k < gauge_names.size(); ++k) mj[gauge_names[k]] = gauges[k];
  return mj;
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
  std::map<std::string, std::uint64_t> tot_faults;
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
    v["time_ns"] = {{"memory", t.memory_ns}, {"fault", t.fault_ns}, {"tlb_ipi", t.tlb_ns},
                    {"uffd_stall", t.stall_ns}, {"mmap_lock_stall", vm.lock_stall_ns},
                    {"swap_in_stall", vm.swap_stall_ns}, {"direct_reclaim", vm.reclaim_stall_ns},
                    {"vmm_direct_reclaim", vm.vmm_reclaim_ns}};
    // Where the vCPUs' fault time went, so that a policy's slowdown can be broken down: the
    // CPU time in the kernel's fault handling by fault kind (the router's kinds, plus task work
    // run on the way back to guest mode; sums to time_ns.fault), and the time the faulting
    // thread then waited, by cause (sync userfaults by reason, the swap-in read, the mmap lock,
    // direct reclaim; the uffd entries sum to time_ns.uffd_stall).
    {
      Json in_kernel = Json::object();
      const auto& kinds = vm.as->router().kinds();
      for (std::size_t k = 0; k < kinds.size(); ++k)
        in_kernel[kinds[k]] = k < t.fault_ns_by_kind.size() ? t.fault_ns_by_kind[k] : 0;
      in_kernel["task_work"] = t.task_work_ns;
      Json stall = Json::object();
      TimeNs stall_total = 0;
      for (std::size_t r = 0; r < vm.stall_ns_by_reason.size(); ++r) {
        stall[std::string("uffd_") + mm::uffd_reason_name(static_cast<mm::UffdReason>(r))] = vm.stall_ns_by_reason[r];
        stall_total += vm.stall_ns_by_reason[r];
      }
      stall["swap_in"] = vm.swap_stall_ns;
      stall["mmap_lock"] = vm.lock_stall_ns;
      stall["direct_reclaim"] = vm.reclaim_stall_ns;
      stall_total += vm.swap_stall_ns + vm.lock_stall_ns + vm.reclaim_stall_ns;
      v["fault_time_ns"] = {{"in_kernel", in_kernel}, {"in_kernel_total", t.fault_ns},
                            {"stall", stall},         {"stall_total", stall_total},
                            {"total", t.fault_ns + stall_total}};
    }
    v["device_accesses"] = t.device;
    v["histograms"] = {{"stall_latency_ns", vm.stall_ns.to_json()}};
    Json faults = Json::object();
    const auto& kinds = vm.as->router().kinds();
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      faults[kinds[k]] = t.faults[k];
      tot_faults[kinds[k]] += t.faults[k];
    }
    const auto& truth = vm.as->truth().stats();
    v["read_fault_maps"] = vm.as->config().use_zero_page ? "zero_page" : "private_page";
    v["counters"] = {{"mm",
                      {{"faults", faults},
                       {"spurious_uffd", truth.spurious_uffd},
                       {"spurious_uffd_stall_ns", vm.spurious_stall_ns},
                       {"numa_faults_recorded", vm.as->numa_faults_recorded()},
                       {"gup_invisible", truth.gup_invisible},
                       {"tlb_flushes", vm.as->tlb_flushes()},
                       {"mmap_lock_waits", vm.as->lock_waits()}}}};
    Json kmech = Json::object();
    for (const auto& mech : vm.kernel.mechanisms) {
      Json js = mech->summary();
      if (!js.is_null()) kmech[mech->name()] = std::move(js);
    }
    if (!kmech.empty()) v["kernel"] = kmech;
    if (vm.vmm) {
      Json lost = Json::array();
      for (const auto& l : truth.lost_log)
        lost.push_back({{"t_ns", l.t}, {"gfn", l.gfn}, {"fetched_version", l.fetched_version}, {"latest_version", l.latest_version}});
      v["vmm"] = {
          {"policy", vm.spec->vmm.policy},
          {"tier", vm.vmm->tier().kind()},
          {"lost_writes", truth.lost_writes},
          {"lost_writes_first", lost}};
      // Whatever the policy's components registered, at the JSON pointer each one named.
      const auto stats = vm.vmm->stats().all();
      for (std::size_t k = 0; k < stats.size(); ++k) v["vmm"][Json::json_pointer(stats[k].key)] = t.vmm[k];
      // Sums the components declared (Stat::sum): e.g. /cpu_ns/tracking, /cpu_ns/eviction,
      // /cpu_ns/demand_paging; the CPU sums also make /cpu_ns/total.
      std::map<std::string, std::uint64_t> sums;
      for (std::size_t k = 0; k < stats.size(); ++k)
        if (stats[k].sum) sums[stats[k].sum] += t.vmm[k];
      std::uint64_t cpu_total = 0;
      bool any_cpu = false;
      for (const auto& [key, val] : sums) {
        v["vmm"][Json::json_pointer(key)] = val;
        if (key.rfind("/cpu_ns/", 0) == 0) cpu_total += val, any_cpu = true;
      }
      if (any_cpu) v["vmm"]["cpu_ns"]["total"] = cpu_total;
    }
    // The far-memory SLO of production practice (Lagar-Cavilla et al., "Software-Defined Far
    // Memory in Warehouse-Scale Computers", ASPLOS 2019): the promotion rate, pages
    // brought back from far memory per minute as a percentage of the working set, kept under
    // 0.2 %/min there. Here the promotions are the refaults: pages the VMM fetched back from
    // its tier (its components' /refaulted_pages sum) plus kernel swap-ins; the working set is
    // the true WSS of the longest configured window, averaged over the samples.
    {
      std::uint64_t refaulted = 0;
      if (v.contains("vmm") && v["vmm"].contains("refaulted_pages")) refaulted += v["vmm"]["refaulted_pages"].get<std::uint64_t>();
      for (std::size_t k = 0; k < kinds.size(); ++k)
        if (kinds[k] == "swap_in") refaulted += t.faults[k];
      double wss_mean = 0;
      std::string window;
      if (!s.wss.empty() && !s.wss.back().empty()) {
        for (auto w : s.wss.back()) wss_mean += static_cast<double>(w);
        wss_mean /= static_cast<double>(s.wss.back().size());
        window = core::format_duration(sc.output.wss_windows_ns.back());
      }
      const double minutes = secs / 60.0;
      const double rate = wss_mean > 0 && minutes > 0 ? 100.0 * static_cast<double>(refaulted) / wss_mean / minutes : 0.0;
      v["far_memory_slo"] = {{"refaulted_pages", refaulted},
                             {"wss_window", window},
                             {"true_wss_mean_pages", wss_mean},
                             {"refault_pct_of_wss_per_min", rate},
                             {"target_pct_per_min", 0.2},
                             {"meets_target", rate <= 0.2}};
    }
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
    for (std::size_t k = 0; k < s.faults.size(); ++k) tf[vm.as->router().kinds()[k]] = s.faults[k];
    ts["faults"] = tf;
    ts["fault_time_ns"] = s.fault_ns;
    ts["uffd_stalls"] = s.stalls;
    ts["uffd_stall_ns"] = s.stall_ns;
    ts["spurious_uffd"] = s.spurious;
    Json tk = Json::object();
    for (std::size_t m = 0; m < s.mech.size(); ++m) {
      Json mj = s.mech[m].to_json();
      if (!mj.is_null()) tk[vm.kernel.mechanisms[m]->name()] = std::move(mj);
    }
    if (!tk.empty()) ts["kernel"] = tk;
    if (vm.vmm) {
      const auto stats = vm.vmm->stats().all();
      for (std::size_t k = 0; k < stats.size(); ++k)
        if (stats[k].series) ts[stats[k].series] = k < s.vmm.size() ? s.vmm[k] : std::vector<std::uint64_t>{};
      ts["lost_writes"] = s.lost_writes;
    }
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
  for (const auto& [k, n] : tot_faults) tfaults[k] = n;
  Json daemons = Json::object(), tdaemons = Json::object();
  for (std::size_t d = 0; d < w_.daemons.size(); ++d) {
    const auto& daemon = *w_.daemons[d];
    Json st = daemon.stats();
    st["cpu_share"] = secs > 0 ? static_cast<double>(daemon.cpu_ns()) / 1e9 / secs : 0.0;
    daemons[daemon.name()] = std::move(st);
    Json tj = daemons_[d].mech.to_json();
    if (tj.is_null()) tj = Json::object();
    tj["cpu_share"] = daemons_[d].cpu_share;
    tdaemons[daemon.name()] = std::move(tj);
  }
  summary["total"] = {{"accesses", tot_acc},
                      {"remote_ratio", tot_acc ? static_cast<double>(tot_remote) / static_cast<double>(tot_acc) : 0.0},
                      {"resident_pages", tot_res},
                      {"faults", tfaults}};
  summary["hosts"] = shosts;
  summary["kernel"] = {{"daemons", daemons}};
  summary["vms"] = svms;
  series["t_ns"] = t_;
  series["hosts"] = thosts;
  series["vms"] = tvms;
  series["kernel"] = {{"daemons", tdaemons}};

  Json body = Json::object();
  body["schema_version"] = scenario::kSchemaVersion;
  body["scenario"] = sc.resolved;
  body["summary"] = summary;
  body["timeseries"] = series;
  return body;
}

}  // namespace vmemsim::output
