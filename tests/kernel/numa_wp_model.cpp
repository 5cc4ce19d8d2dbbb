// The model half of the WP_ASYNC check of tests/kernel/numa_runner.cpp --wp-async: the same
// program on the modelled kernel (mm::AddressSpace + the registered fault mechanisms, uffd::Uffd
// and the NUMA balancer's scanner, numa::MmNuma::task_numa_work), with the same PAGEMAP_SCAN
// checks, printed as the same JSON dumps.
//
//   numa_wp_model --pages N --threads T [--seed X] [--ro-share F] [--write-share F] [--rounds R]
//
// The program, as the runner runs it: every page prefaulted by a store; MODE_WP with WP_ASYNC
// and WP_UNPOPULATED; UFFDIO_WRITEPROTECT of the whole range; numa_balancing=1. Then R rounds:
// the scanner passes over the mapping (task_numa_work of task r % T, at a time its window is
// open), a check (every present page is PROT_NONE now), then 4 x N random touches by the T
// vCPUs in turn (splitmix64 streams; stores, drawn with --write-share, only from the first
// scan on and never to the --ro-share pages, the same set as the runner's), then a check.
// A check is a PAGEMAP_SCAN of every page, category_mask 0: a page stored to since the
// WRITEPROTECT must read 0x00b (PRESENT|WRITTEN|WPALLOWED), any other page 0x009.
// What the kernel run cannot control -- when the scanner runs -- is chosen here; the states a
// page goes through (protected, PROT_NONE on top, hinting fault, WP fault) are the same.
//
// stdout: one JSON document; exit 0 (the checks' counts are in the JSON), 1 when the model
// failed (an access that does not resolve, an invariant, an ioctl error), 2 usage.
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/pte.hpp"
#include "models/numa/balancer.hpp"
#include "models/uffd/uffd.hpp"
#include "pattern.hpp"

namespace vmemsim::kdiff {
namespace {

namespace pte = mm::pte;
using core::Gfn;
using core::NodeId;
using core::TimeNs;

struct Options {
  std::uint64_t pages = 61440;
  unsigned threads = 2;
  std::uint64_t seed = 1;
  double ro_share = 0.5;
  double write_share = 0.3;
  unsigned rounds = 3;
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "FAIL: " << why << "\n";
  std::exit(1);
}

class Model {
 public:
  explicit Model(const Options& o) : o_(o), host_({2 * o.pages + 64}), as_(config(o), host_) {
    for (unsigned t = 0; t < o_.threads; ++t) as_.add_task(NodeId(0), 1000 + t);
    vk_.as = &as_;
    vk_.vcpus = o_.threads;
    kernel::install_fault_mechanisms(vk_);
    if (!vk_.numa) die("no NUMA balancer was installed (numa_hint fault mechanism)");
    ro_.assign(o_.pages, 0);
    written_.assign(o_.pages, 0);
    // The runner's never-stored pages: SplitMix64(seed ^ "ROPAGES"), one draw per page.
    SplitMix64 r(o_.seed ^ 0x524f5041474553ull);
    for (std::uint64_t g = 0; g < o_.pages; ++g)
      ro_[g] = r.next() < static_cast<std::uint64_t>(o_.ro_share * 18446744073709551615.0);
  }

  std::string run() {
    TimeNs now = 0;
    for (std::uint64_t g = 0; g < o_.pages; ++g) access(g, true, 0, now);  // MADV_POPULATE_WRITE
    std::fill(written_.begin(), written_.end(), 0);                        // stores before the WRITEPROTECT
    uffd::Modes m;
    m.wp = true;
    uffd::Features f;
    f.wp_async = true;
    f.wp_unpopulated = true;
    ok(vk_.uffd->register_range(m, f), "UFFDIO_REGISTER MODE_WP");
    ok(vk_.uffd->writeprotect(Gfn(0), o_.pages, true), "UFFDIO_WRITEPROTECT");
    // kernel.numa_balancing=1 on a one-node host with a core per thread.
    auto hn = std::make_shared<numa::HostNuma>(host_, std::vector<unsigned>{o_.threads},
                                               std::vector<std::vector<TimeNs>>{{80}});
    hn->cfg.mode = numa::kNormal;
    vk_.numa->configure(hn);
    std::string dumps = check("before_t0", now);

    std::vector<SplitMix64> rng;
    for (unsigned t = 0; t < o_.threads; ++t) rng.emplace_back(o_.seed * 0x9e3779b97f4a7c15ull + t + 1);
    const auto wthresh = static_cast<std::uint64_t>(o_.write_share * 18446744073709551615.0);
    bool stores = false;
    for (unsigned round = 0; round < o_.rounds; ++round) {
      const unsigned t = round % o_.threads;
      now = std::max(now, vk_.numa->next_scan());
      const std::uint64_t before = vk_.numa->stats().numa_pte_updates;
      vk_.numa->task_numa_work(t, now);
      const std::uint64_t updated = vk_.numa->stats().numa_pte_updates - before;
      if (updated == 0) die("task_numa_work updated no PTE in round " + std::to_string(round));
      stores = true;  // --writes-after-scan
      dumps += ",\n    " + check("after_scan", now);
      for (std::uint64_t k = 0; k < 4 * o_.pages; ++k) {
        const unsigned v = static_cast<unsigned>(k % o_.threads);
        const std::uint64_t x = rng[v].next();
        const std::uint64_t g = static_cast<std::uint64_t>((static_cast<unsigned __int128>(x) * o_.pages) >> 64);
        const bool w = stores && rng[v].next() < wthresh && !ro_[g];
        access(g, w, v, now);
        now += 100;
      }
      dumps += ",\n    " + check("after_touches", now);
    }
    const auto& c = vk_.numa->stats();
    std::string j = "{\n  \"model\": \"numa_wp_model\", \"pages\": " + std::to_string(o_.pages) +
                    ", \"threads\": " + std::to_string(o_.threads) + ", \"rounds\": " + std::to_string(o_.rounds) +
                    ", \"numa_pte_updates\": " + std::to_string(c.numa_pte_updates) +
                    ", \"numa_hint_faults\": " + std::to_string(c.numa_hint_faults) +
                    ", \"numa_hint_faults_local\": " + std::to_string(c.numa_hint_faults_local) +
                    ", \"numa_pages_migrated\": " + std::to_string(c.numa_pages_migrated) +
                    ", \"stores_on_protnone_protected\": " + std::to_string(stores_on_pn_wp_) +
                    ", \"faults_of_those_stores\": " + std::to_string(faults_on_pn_wp_) +
                    ", \"pfn_changed\": " + std::to_string(pfn_changed()) + ",\n";
    return j + "  \"wp\": {\"ro_share\": " + std::to_string(o_.ro_share) + ", \"dumps\": [\n    " + dumps + "\n  ]}\n}\n";
  }

 private:
  static mm::AddressSpaceConfig config(const Options& o) {
    mm::AddressSpaceConfig c;
    c.vm = 0;
    c.pages = o.pages;
    c.backing = mm::Backing::Anon;
    c.fallback = {{0}};
    c.use_zero_page = true;
    c.variant = mm::Variant::Upstream;
    c.epoch_ns = core::kNsPerSec;
    c.duration_ns = 3600 * core::kNsPerSec;
    return c;
  }

  static void ok(const uffd::IoctlResult& r, const char* what) {
    if (!r.error.empty()) die(std::string(what) + ": " + r.error);
  }

  // The vCPU's access: fault until the PTE allows it, then the MMU's accessed/dirty update.
  void access(std::uint64_t g, bool write, unsigned vcpu, TimeNs now) {
    mm::PageSlot& s = as_.slots()[g];
    const bool pn_wp = write && pte::protnone(s.pte) && pte::uffd(s.pte);
    stores_on_pn_wp_ += pn_wp;
    for (int tries = 0; !pte::accessible(s.pte, write); ++tries) {
      if (tries >= 8) die("access to page " + std::to_string(g) + " does not resolve, pte " + hex(s.pte));
      const mm::FaultOutcome f = as_.fault(Gfn(g), write, vcpu, NodeId(0), now);
      if (f.result != mm::FaultResult::Done) die("a fault on page " + std::to_string(g) + " did not complete");
      faults_on_pn_wp_ += pn_wp;
    }
    s.pte |= pte::kAccessed | (write ? pte::kDirty : 0);
    as_.truth().note_access(s, now, write, 0, 0);
    if (write) written_[g] = 1;
    if (pfn0_.empty()) pfn0_.assign(o_.pages, 0);
    if (!pfn0_[g]) pfn0_[g] = pte::pfn(s.pte) | (1ull << 40);
  }

  std::uint64_t pfn_changed() const {
    std::uint64_t n = 0;
    for (std::uint64_t g = 0; g < o_.pages; ++g)
      n += pfn0_[g] && (pfn0_[g] & 0xffffffffull) != pte::pfn(as_.pte_at(Gfn(g)));
    return n;
  }

  // The runner's dump_check(): PAGEMAP_SCAN of every page against the stores, and how many
  // PTEs are PROT_NONE now (the kernel run infers that from the hinting faults that follow).
  std::string check(const char* why, TimeNs now) {
    as_.check_invariants();
    host_.check_invariants();
    uffd::ScanArgs a;
    a.start = 0;
    a.len = o_.pages;
    a.return_mask = cat::kAll;
    const uffd::ScanResult r = vk_.uffd->pagemap_scan(a);
    if (!r.error.empty()) die("PAGEMAP_SCAN: " + r.error);
    std::vector<std::uint32_t> c(o_.pages, cat::kNotReturned);
    for (const auto& reg : r.regions)
      for (std::uint64_t g = reg.start; g < reg.start + reg.len; ++g) c[g] = reg.categories & cat::kAll;
    std::map<std::uint32_t, std::uint64_t> hw, ho;
    std::uint64_t bad_w = 0, bad_o = 0, written = 0, ro_written = 0, protnone = 0, protnone_wp = 0;
    for (std::uint64_t g = 0; g < o_.pages; ++g) {
      const bool w = written_[g];
      written += w;
      ro_written += w && ro_[g];
      (w ? hw : ho)[c[g]]++;
      const std::uint32_t want = cat::kPresent | cat::kWpAllowed | (w ? cat::kWritten : 0);
      (w ? bad_w : bad_o) += c[g] != want;
      const mm::Pte p = as_.pte_at(Gfn(g));
      protnone += pte::protnone(p);
      protnone_wp += pte::protnone(p) && pte::uffd(p);
    }
    const auto hist = [](const std::map<std::uint32_t, std::uint64_t>& h) {
      std::string s = "{";
      for (const auto& [k, v] : h) s += (s.size() > 1 ? ", \"" : "\"") + hex(k) + "\": " + std::to_string(v);
      return s + "}";
    };
    return "{\"t_ms\": " + std::to_string(now / 1'000'000) + ", \"why\": \"" + why +
           "\", \"scan_seq\": " + std::to_string(vk_.numa->scan_seq()) + ", \"written_pages\": " + std::to_string(written) +
           ", \"ro_pages_written\": " + std::to_string(ro_written) + ", \"written_not_0x00b\": " + std::to_string(bad_w) +
           ", \"unwritten_not_0x009\": " + std::to_string(bad_o) + ", \"pagemap_disagree\": 0" +
           ", \"protnone_pages\": " + std::to_string(protnone) + ", \"protnone_protected_pages\": " +
           std::to_string(protnone_wp) + ", \"cats_written\": " + hist(hw) + ", \"cats_unwritten\": " + hist(ho) + "}";
  }

  const Options& o_;
  mm::HostMemory host_;
  mm::AddressSpace as_;
  kernel::VmKernel vk_;
  std::vector<std::uint8_t> ro_, written_;
  std::vector<std::uint64_t> pfn0_;
  std::uint64_t stores_on_pn_wp_ = 0, faults_on_pn_wp_ = 0;
};

int usage() {
  std::cerr << "usage: numa_wp_model --pages N --threads T [--seed X] [--ro-share F] [--write-share F] [--rounds R]\n";
  return 2;
}

}  // namespace
}  // namespace vmemsim::kdiff

int main(int argc, char** argv) {
  using namespace vmemsim::kdiff;
  Options o;
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto need = [&]() -> const std::string& {
        if (i + 1 >= a.size()) std::exit(usage());
        return a[++i];
      };
      if (a[i] == "--pages") o.pages = std::stoull(need());
      else if (a[i] == "--threads") o.threads = static_cast<unsigned>(std::stoul(need()));
      else if (a[i] == "--seed") o.seed = std::stoull(need());
      else if (a[i] == "--ro-share") o.ro_share = std::stod(need());
      else if (a[i] == "--write-share") o.write_share = std::stod(need());
      else if (a[i] == "--rounds") o.rounds = static_cast<unsigned>(std::stoul(need()));
      else return usage();
    }
  } catch (const std::exception&) {
    return usage();
  }
  if (o.pages == 0 || o.threads < 2 || o.rounds == 0) return usage();  // one thread: nothing is scanned
  try {
    Model m(o);
    std::cout << m.run();
  } catch (const std::exception& e) {
    die(std::string("exception: ") + e.what());
  }
  return 0;
}
