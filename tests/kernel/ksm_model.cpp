// The model half of the KSM comparison: ksm_runner's layout (tests/kernel/ksm_runner.cpp) on
// mm::AddressSpace + the registered fault mechanisms + ksm::Ksmd, one VM per mapping, every page
// written first (the runner writes each page; here a write fault, then its content word), then
// ksmd in batches of pages_to_scan until the merge counters have not changed over
// --steady-scans full scans. With --wp async|sync the one VM is registered MODE_WP and every
// page write-protected before ksmd runs, and the same summary as the runner's is produced:
// merged and unmerged pages by kind with PAGEMAP_SCAN's WRITTEN (uffd-wp bit clear) and the
// uffd-wp bit, and what a write to a merged and to an unmerged page does.
//   ksm_model --mappings 4 --pages 512 --zero 128 --dup 128 --contents 8 --same 128
//             --pages-to-scan 1000 --steady-scans 4 [--dup-local] [--max-page-sharing X]
//             [--use-zero-pages 0|1] [--merge-across-nodes 0|1] [--smart-scan 0|1] [--wp async|sync]
// stdout: one JSON document (counters with the sysfs names, passes, first merge). Time is not
// modelled here (ksmd's pacing is the engine's); passes are counted in full scans.
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "models/kernel/registry.hpp"
#include "models/ksm/ksm.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/content.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/pte.hpp"
#include "models/uffd/uffd.hpp"

using namespace vmemsim;
using core::Gfn;
using core::NodeId;
namespace pte = mm::pte;

namespace {

struct Options {
  std::uint64_t mappings = 4, pages = 512, zero = 0, dup = 0, contents = 1, same = 0;
  bool dup_local = false;
  unsigned pages_to_scan = 100, max_page_sharing = 256, steady_scans = 4, max_scans = 200;
  bool use_zero_pages = false, smart_scan = true, merge_across_nodes = true;
  std::string wp;
  std::uint64_t unique() const { return pages - zero - dup - same; }
};

[[noreturn]] void die(const std::string& s) {
  std::cerr << "ksm_model: " << s << "\n";
  std::exit(1);
}

enum Kind { kZero, kDup, kSame, kUnique };
const char* const kKindName[] = {"zero", "dup", "same", "unique"};
Kind kind_of(const Options& o, std::uint64_t i) {
  if (i < o.zero) return kZero;
  if (i < o.zero + o.dup) return kDup;
  if (i < o.zero + o.dup + o.same) return kSame;
  return kUnique;
}
// The runner's contents as content words (content.hpp): duplicated pages shared across the
// mappings are image 2's, the pages identical across mappings image 1's.
std::uint64_t content_of(const Options& o, std::uint64_t m, std::uint64_t i) {
  switch (kind_of(o, i)) {
    case kZero: return mm::content::kZero;
    case kDup: {
      const std::uint64_t k = (i - o.zero) % o.contents;
      return o.dup_local ? mm::content::dup(static_cast<std::uint16_t>(m), k) : mm::content::image(2, k);
    }
    case kSame: return mm::content::image(1, i - o.zero - o.dup);
    case kUnique: return mm::content::unique(static_cast<std::uint16_t>(m), i);
  }
  return 0;
}

struct Vm {
  std::unique_ptr<mm::AddressSpace> as;
  kernel::VmKernel k;
  std::unique_ptr<ksm::KsmVm> kvm;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--mappings") o.mappings = std::stoull(val());
    else if (a == "--pages") o.pages = std::stoull(val());
    else if (a == "--zero") o.zero = std::stoull(val());
    else if (a == "--dup") o.dup = std::stoull(val());
    else if (a == "--contents") o.contents = std::stoull(val());
    else if (a == "--dup-local") o.dup_local = true;
    else if (a == "--same") o.same = std::stoull(val());
    else if (a == "--pages-to-scan") o.pages_to_scan = static_cast<unsigned>(std::stoul(val()));
    else if (a == "--max-page-sharing") o.max_page_sharing = static_cast<unsigned>(std::stoul(val()));
    else if (a == "--use-zero-pages") o.use_zero_pages = std::stoi(val()) != 0;
    else if (a == "--merge-across-nodes") o.merge_across_nodes = std::stoi(val()) != 0;
    else if (a == "--smart-scan") o.smart_scan = std::stoi(val()) != 0;
    else if (a == "--steady-scans") o.steady_scans = static_cast<unsigned>(std::stoul(val()));
    else if (a == "--max-scans") o.max_scans = static_cast<unsigned>(std::stoul(val()));
    else if (a == "--wp") o.wp = val();
    else die("unknown option " + a);
  }
  if (o.zero + o.dup + o.same > o.pages || o.contents == 0 || o.mappings == 0 ||
      (!o.wp.empty() && (o.mappings != 1 || (o.wp != "async" && o.wp != "sync"))))
    die("bad layout or --wp");

  mm::HostMemory host({2 * o.mappings * o.pages + 1024});
  host.setup_watermarks(128, 10);
  std::vector<std::unique_ptr<Vm>> vms;
  std::vector<ksm::KsmVm*> slots;
  for (std::uint64_t m = 0; m < o.mappings; ++m) {
    mm::AddressSpaceConfig c;
    c.vm = static_cast<std::uint16_t>(m);
    c.pages = o.pages;
    c.backing = mm::Backing::Anon;
    c.fallback = {{0}};
    c.use_zero_page = true;
    c.mergeable = true;
    c.variant = mm::Variant::Upstream;
    c.epoch_ns = core::kNsPerSec;
    c.duration_ns = 3600 * core::kNsPerSec;
    auto v = std::make_unique<Vm>();
    v->as = std::make_unique<mm::AddressSpace>(c, host);
    v->k.as = v->as.get();
    v->k.vcpus = 1;
    kernel::install_fault_mechanisms(v->k);
    v->as->enable_content(mm::ContentSpec{});
    // The runner writes every page (zero pages with zeroes): a write fault, then the content.
    for (std::uint64_t g = 0; g < o.pages; ++g) {
      if (!v->as->fault(Gfn(g), true, 0, NodeId(0), 0).ok()) die("populate fault");
      v->as->set_content(Gfn(g), content_of(o, m, g));
    }
    v->kvm = std::make_unique<ksm::KsmVm>(*v->as);
    slots.push_back(v->kvm.get());
    vms.push_back(std::move(v));
  }
  auto& as0 = *vms[0]->as;
  if (!o.wp.empty()) {
    uffd::Modes md;
    md.wp = true;
    uffd::Features f;
    f.wp_async = o.wp == "async";
    f.wp_unpopulated = o.wp == "async";
    if (!vms[0]->k.uffd->register_range(md, f).error.empty()) die("UFFDIO_REGISTER MODE_WP");
    if (!vms[0]->k.uffd->writeprotect(Gfn(0), o.pages, true).error.empty()) die("UFFDIO_WRITEPROTECT");
  }
  // PAGEMAP_SCAN's view of page g: WRITTEN is "uffd-wp bit clear" in a WP-registered VMA.
  auto summary = [&]() {
    struct C {
      std::uint64_t n = 0, written = 0, uffd_wp = 0;
    };
    std::map<std::string, C> by;
    for (std::uint64_t g = 0; g < o.pages; ++g) {
      const auto p = as0.pte_at(Gfn(g));
      const bool ksm_page = pte::present(p) && !pte::zero_page(p) && host.is_ksm(mm::Pfn(pte::pfn(p)));
      const std::string key = std::string(kKindName[kind_of(o, g)]) +
                              (ksm_page ? "/ksm" : pte::present(p) && pte::zero_page(p) ? "/zeropfn" : "/plain");
      C& c = by[key];
      ++c.n;
      c.written += !pte::uffd(p);
      c.uffd_wp += pte::uffd(p);
    }
    std::string j = "{";
    for (const auto& [k, c] : by)
      j += std::string(j.size() > 1 ? ", " : "") + "\"" + k + "\": {\"pages\": " + std::to_string(c.n) +
           ", \"written\": " + std::to_string(c.written) + ", \"pagemap_uffd_wp\": " + std::to_string(c.uffd_wp) + "}";
    return j + "}";
  };
  std::string wp_json;
  if (!o.wp.empty()) wp_json = "\"before\": " + summary();

  ksm::KsmConfig cfg;
  cfg.pages_to_scan = o.pages_to_scan;
  cfg.max_page_sharing = o.max_page_sharing;
  cfg.use_zero_pages = o.use_zero_pages;
  cfg.merge_across_nodes = o.merge_across_nodes;
  cfg.smart_scan = o.smart_scan;
  ksm::Ksmd ksmd("ksmd.h0", 0, 0, host, slots, cfg);
  const auto& c = ksmd.counters();
  std::int64_t first_merge_full_scans = -1;
  std::uint64_t batches = 0, last_scans = 0;
  std::vector<std::uint64_t> at_scan;
  std::string stop = "max_scans";
  auto key = [&]() {
    return c.pages_shared * 1000003 + c.pages_sharing * 1009 + ksmd.ksm_zero_pages() * 7 + c.stable_node_dups;
  };
  while (c.full_scans < o.max_scans) {
    const std::uint64_t scans_before = c.full_scans;
    ksmd.scan(o.pages_to_scan);
    ++batches;
    if (first_merge_full_scans < 0 && (c.pages_sharing > 0 || ksmd.ksm_zero_pages() > 0))
      first_merge_full_scans = static_cast<std::int64_t>(scans_before);
    if (c.full_scans != last_scans) {
      last_scans = c.full_scans;
      at_scan.push_back(key());
      const std::size_t n = at_scan.size();
      bool steady = first_merge_full_scans >= 0 && n > o.steady_scans;
      for (std::size_t i = n - o.steady_scans; steady && i < n; ++i) steady = at_scan[i] == at_scan[n - 1 - o.steady_scans];
      if (steady) {
        stop = "steady";
        break;
      }
    }
  }
  // The counters as the runner's last sample has them: before the writes below.
  std::ostringstream head;
  head << "{\"model\": \"ksm_model\", \"stop\": \"" << stop << "\", \"batches\": " << batches
            << ", \"first_merge_full_scans\": " << first_merge_full_scans << ",\n\"counters\": {"
            << "\"pages_shared\": " << c.pages_shared << ", \"pages_sharing\": " << c.pages_sharing
            << ", \"pages_unshared\": " << c.pages_unshared << ", \"pages_volatile\": " << ksmd.pages_volatile()
            << ", \"pages_scanned\": " << c.pages_scanned << ", \"pages_skipped\": " << c.pages_skipped
            << ", \"full_scans\": " << c.full_scans << ", \"ksm_zero_pages\": " << ksmd.ksm_zero_pages()
            << ", \"stable_node_chains\": " << c.stable_node_chains << ", \"stable_node_dups\": " << c.stable_node_dups
            << ", \"general_profit\": " << ksmd.general_profit() << ", \"rmap_items\": " << c.rmap_items
            << ", \"uffd_wp_lost\": " << ksmd.uffd_wp_lost() << "}";
  if (!o.wp.empty()) {
    wp_json += ",\n\"after_merge\": " + summary();
    std::uint64_t merged = o.pages, plain = o.pages;
    for (std::uint64_t g = 0; g < o.pages; ++g) {
      const auto p = as0.pte_at(Gfn(g));
      const bool m = pte::present(p) && (pte::zero_page(p) || host.is_ksm(mm::Pfn(pte::pfn(p))));
      if (merged == o.pages && m) merged = g;
      if (plain == o.pages && kind_of(o, g) == kUnique && !m) plain = g;
    }
    auto write_one = [&](std::uint64_t g, const char* what) {
      if (g >= o.pages) {
        wp_json += std::string(",\n\"write_") + what + "\": null";
        return;
      }
      const auto p0 = as0.pte_at(Gfn(g));
      const bool ksm0 = pte::present(p0) && (pte::zero_page(p0) || host.is_ksm(mm::Pfn(pte::pfn(p0))));
      int msgs = 0;
      const auto out = pte::accessible(p0, true) ? mm::FaultOutcome{} : as0.fault(Gfn(g), true, 0, NodeId(0), 0);
      if (out.result == mm::FaultResult::Blocked) {
        // The runner's handler: read() the message, UFFDIO_WRITEPROTECT clear of that page.
        ++msgs;
        if (!vms[0]->k.uffd->writeprotect(Gfn(g), 1, false).error.empty()) die("UFFDIO_WRITEPROTECT clear");
        if (!pte::accessible(as0.pte_at(Gfn(g)), true) && !as0.fault(Gfn(g), true, 0, NodeId(0), 0).ok())
          die("retried write fault");
      } else if (!out.ok()) {
        die("write fault failed");
      }
      const auto p1 = as0.pte_at(Gfn(g));
      wp_json += std::string(",\n\"write_") + what + "\": {\"page\": " + std::to_string(g) + ", \"kind\": \"" +
                 kKindName[kind_of(o, g)] + "\", \"ksm_before\": " + std::to_string(ksm0) +
                 ", \"uffd_wp_before\": " + std::to_string(pte::uffd(p0)) +
                 ", \"handler_msgs\": " + std::to_string(msgs) + ", \"written_after\": " + std::to_string(!pte::uffd(p1)) +
                 ", \"pfn_changed\": " + std::to_string(pte::pfn(p0) != pte::pfn(p1)) + "}";
    };
    write_one(merged, "merged");
    write_one(plain, "unmerged");
  }
  std::cout << head.str();
  if (!o.wp.empty()) std::cout << ",\n\"wp\": {" << wp_json << "}";
  std::cout << "}\n";
  return 0;
}
