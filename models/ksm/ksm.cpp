// ksmd, function by function after mm/ksm.c (Linux 6.18). See ksm.hpp.
#include "models/ksm/ksm.hpp"

#include <algorithm>
#include <bit>

#include "sim/core/error.hpp"

namespace vmemsim::ksm {

using core::Gfn;
using mm::Mapper;
using mm::Pfn;
namespace pte = mm::pte;

namespace {
// calc_checksum(): xxhash of the page's 4 KiB, truncated to 32 bits. The model hashes the
// content word (splitmix64 finaliser): equal content, equal checksum.
std::uint32_t calc_checksum(std::uint64_t content) {
  std::uint64_t z = content + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return static_cast<std::uint32_t>(z ^ (z >> 31));
}
// The depth of a tree walk of n nodes (memcmp_pages per level), at least one comparison.
TimeNs walk_cmps(std::size_t n) { return static_cast<TimeNs>(std::bit_width(n) + 1); }
constexpr std::uint64_t kRmapItemBytes = 64;  // sizeof(struct ksm_rmap_item) on x86-64
}  // namespace

// ---------------------------------------------------------------------------------------------
// KsmVm

KsmVm::KsmVm(mm::AddressSpace& as)
    : as_(as), mergeable_(as.config().mergeable && as.anon()), items_(mergeable_ ? as.pages() : 0) {
  if (mergeable_) as.enable_content({});  // ksmd compares content: every mergeable VM has it
}

core::Json KsmVm::summary() const {
  const auto profit = static_cast<std::int64_t>((merging_ + as_.ksm_zero_pages()) * core::kPageSize) -
                      static_cast<std::int64_t>(rmap_items_ * kRmapItemBytes);
  return {{"mergeable", mergeable_},
          {"ksm_rmap_items", rmap_items_},
          {"ksm_merging_pages", merging_},
          {"ksm_zero_pages", as_.ksm_zero_pages()},
          {"ksm_process_profit", profit},
          {"cow_breaks", as_.ksm_cow_breaks()},
          {"uffd_wp_lost_truth", uffd_wp_lost_},
          {"protnone_lost_truth", protnone_lost_}};
}

void KsmVm::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("cow_breaks", as_.ksm_cow_breaks());
  out.emplace_back("uffd_wp_lost_truth", uffd_wp_lost_);
  out.emplace_back("protnone_lost_truth", protnone_lost_);
}

void KsmVm::gauges(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("ksm_merging_pages", static_cast<double>(merging_));
  out.emplace_back("ksm_zero_pages", static_cast<double>(as_.ksm_zero_pages()));
  out.emplace_back("ksm_rmap_items", static_cast<double>(rmap_items_));
}

// ---------------------------------------------------------------------------------------------
// Ksmd

Ksmd::Ksmd(std::string name, unsigned host, unsigned node, mm::HostMemory& mem, std::vector<KsmVm*> vms,
           KsmConfig cfg)
    : name_(std::move(name)), host_(host), node_(node), mem_(mem), cfg_(cfg) {
  for (KsmVm* v : vms) {
    const unsigned id = v->as().vm().v;
    if (by_vm_.size() <= id) by_vm_.resize(id + 1, nullptr);
    by_vm_[id] = v;
    if (v->mergeable()) slots_.push_back(v);  // ksm_enter(): the mm joins the scan list
  }
  VMEMSIM_CHECK(cfg_.max_page_sharing >= 2, "max_page_sharing must be at least 2");
}

TimeNs Ksmd::next_wakeup(TimeNs now) { return std::max(now, next_); }

// ksm_scan_thread(): ksm_do_scan(ksm_thread_pages_to_scan), then sleep sleep_millisecs.
void Ksmd::run_batch(kernel::DaemonEnv& env, TimeNs now) {
  const TimeNs t0 = env.now();
  struct Ctx {
    kernel::DaemonEnv* env;
  } ctx{&env};
  const std::uint64_t scans_before = c_.full_scans;
  const TimeNs used = scan(cfg_.pages_to_scan, [](void* p, core::VmId vm) { static_cast<Ctx*>(p)->env->tlb_flush(vm); }, &ctx);
  env.cpu(used);
  cpu_done_ += used;
  if (c_.full_scans != scans_before) scan_ends_.push_back({env.now(), c_.pages_sharing + ksm_zero_pages()});
  env.slice("ksmd", t0, env.now());
  next_ = env.now() + cfg_.sleep_ns;
  (void)now;
}

void Ksmd::flush(core::VmId vm) {
  ++c_.tlb_flushes;
  cost_ += cfg_.tlb_flush_ns;
  if (flush_) flush_(flush_ctx_, vm);
  else by_vm_[vm.v]->as().tlb_flush();
}

// ksm_do_scan().
TimeNs Ksmd::scan(unsigned pages, void (*flush)(void*, core::VmId), void* ctx) {
  cost_ = 0;
  flush_ = flush;
  flush_ctx_ = ctx;
  while (pages--) {
    KsmVm* v = nullptr;
    Gfn g(0);
    if (!next_item(v, g)) break;
    cmp_and_merge_page(*v, g);
    ++c_.pages_scanned;
  }
  c_.cpu_ns += cost_;
  return cost_;
}

Ksmd::Key Ksmd::key_of(KsmVm& v, Gfn g, Pfn pfn) const {
  // merge_across_nodes=0: one stable and one unstable tree per node (get_kpfn_nid()).
  return {v.as().content(g), cfg_.merge_across_nodes ? 0u : mem_.node_of(pfn).v};
}

// scan_get_next_rmap_item(): the next present anon page of a mergeable VMA, walking mm_slots
// in order and addresses upwards; the rmap item of an address found unmapped is freed on the
// way (remove_trailing_rmap_items / get_next_rmap_item). Pages smart scan skips do not count
// against pages_to_scan. At the end of the list a full scan is done: seqnr++, full_scans++,
// the unstable tree is forgotten (root_unstable_tree = RB_ROOT), and the batch ends.
bool Ksmd::next_item(KsmVm*& out, Gfn& g) {
  std::uint64_t total = 0;
  for (KsmVm* v : slots_) total += v->as().pages();
  std::uint64_t looked = 0;
  while (!slots_.empty() && looked <= total + 1) {
    if (cur_vm_ >= slots_.size()) {
      // The end of the mm_slot list ends the batch (scan_get_next_rmap_item returns NULL).
      cur_vm_ = 0;
      cur_gfn_ = 0;
      ++c_.full_scans;
      ++seqnr_;
      unstable_.clear();
      return false;
    }
    KsmVm& v = *slots_[cur_vm_];
    if (cur_gfn_ >= v.as().pages()) {
      ++cur_vm_;
      cur_gfn_ = 0;
      continue;
    }
    const Gfn at(cur_gfn_++);
    ++looked;
    ++c_.ptes_walked;
    cost_ += cfg_.walk_ns;
    RmapItem& it = v.items_[at.v];
    const mm::Pte p = v.as().pte_at(at);
    // folio_walk_start() + folio_test_anon(): a present anon page, a PROT_NONE one included
    // (pte_present() is true for it: a NUMA hint or an rfc-v1 DEACTIVATE is walked and merged
    // like any page). The zero page (and KSM's zero pages) are not anon.
    if (pte::present(p) && !pte::zero_page(p)) {
      if (!(it.flags & kExists)) {  // alloc_rmap_item()
        it = RmapItem{};
        it.flags = kExists;
        ++v.rmap_items_;
        ++c_.rmap_items;
      }
      if (should_skip_rmap_item(it, Pfn(pte::pfn(p)), Mapper{v.as().vm(), at})) continue;
      out = &v;
      g = at;
      return true;
    }
    if (it.flags & kExists) {
      remove_rmap_item_from_tree(Mapper{v.as().vm(), at});
      it = RmapItem{};
      --v.rmap_items_;
      --c_.rmap_items;
    }
  }
  return false;
}

// skip_age() / should_skip_rmap_item() (smart scan, Linux 6.7+): a page that stayed unmerged
// for three scans is skipped 1, 2, 4, then 8 times between visits as it ages.
bool Ksmd::should_skip_rmap_item(RmapItem& it, Pfn pfn, Mapper m) {
  if (!cfg_.smart_scan) return false;
  if (mem_.is_ksm(pfn)) return false;  // KSM pages are never skipped
  const std::uint8_t age = it.age;
  if (age != 0xff) ++it.age;
  if (age < 3) return false;  // not in the first 3 scans
  if (it.remaining_skips == 0) {
    it.remaining_skips = age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8;
    return false;
  }
  ++c_.pages_skipped;
  --it.remaining_skips;
  remove_rmap_item_from_tree(m);
  return true;
}

// remove_rmap_item_from_tree(): a stable item leaves its stable node (pages_sharing drops
// while others remain, else pages_shared); an unstable one stops counting in pages_unshared
// (its tree entry, if this scan's, is ignored from now on; the model validates entries on
// lookup instead of rb_erase).
void Ksmd::remove_rmap_item_from_tree(Mapper m) {
  RmapItem& it = item(m);
  if (it.flags & kStable) {
    auto d = dups_.find(it.ref);
    VMEMSIM_CHECK(d != dups_.end(), "stable rmap item of gfn " << m.gfn.v << " has no stable node");
    auto& items = d->second.items;
    const auto pos = std::find(items.begin(), items.end(), m);
    VMEMSIM_CHECK(pos != items.end(), "stable node of pfn " << it.ref << " misses gfn " << m.gfn.v);
    items.erase(pos);
    if (!items.empty()) --c_.pages_sharing;
    else --c_.pages_shared;
    --vm(m.vm).merging_;
    it.flags &= ~kStable;
    it.ref = 0;
  } else if (it.flags & kUnstable) {
    --c_.pages_unshared;
    it.flags &= ~kUnstable;
  }
}

// remove_node_from_stable_tree(): the KSM page is gone (get_ksm_page() found its frame freed):
// every rmap item still on it leaves.
void Ksmd::remove_node_from_stable_tree(std::uint32_t kpfn) {
  auto d = dups_.find(kpfn);
  if (d == dups_.end()) return;
  std::vector<Mapper> items = d->second.items;
  for (const Mapper& m : items) remove_rmap_item_from_tree(m);
  dups_.erase(d);
}

// chain_prune() / stable_node_dup(): drop stale dups; a chain left with one dup collapses back
// into a plain stable node.
void Ksmd::prune_chain(std::vector<std::uint32_t>& chain) {
  const bool was_chain = chain.size() > 1;
  for (std::size_t i = 0; i < chain.size();) {
    if (mem_.is_ksm(Pfn(chain[i]))) {
      ++i;
      continue;
    }
    remove_node_from_stable_tree(chain[i]);
    chain.erase(chain.begin() + static_cast<std::ptrdiff_t>(i));
    if (was_chain) --c_.stable_node_dups;
  }
  if (was_chain && chain.size() <= 1) {
    --c_.stable_node_chains;
    if (chain.size() == 1) --c_.stable_node_dups;
  }
}

// stable_tree_search(): the KSM page with this content that has room for one more mapper
// (stable_node_dup() prefers the fullest dup below max_page_sharing, to compact chains), or the
// page itself if it already is one of them; Pfn(kZeroPfn) = none.
Pfn Ksmd::stable_tree_search(const Key& k, Pfn page) {
  cost_ += walk_cmps(stable_.size()) * cfg_.cmp_ns;
  auto it = stable_.find(k);
  if (it == stable_.end()) return Pfn(pte::kZeroPfn);
  prune_chain(it->second);
  if (it->second.empty()) {
    stable_.erase(it);
    return Pfn(pte::kZeroPfn);
  }
  std::uint32_t best = pte::kZeroPfn;
  std::size_t best_len = 0;
  for (std::uint32_t kpfn : it->second) {
    if (kpfn == page.v) return page;
    const std::size_t len = dups_.at(kpfn).items.size();
    if (len < cfg_.max_page_sharing && (best == pte::kZeroPfn || len > best_len)) {
      best = kpfn;
      best_len = len;
    }
  }
  return Pfn(best);
}

// stable_tree_insert(): a new KSM page; if the content already has a stable node (every dup of
// it full), the node becomes a chain (alloc_stable_node_chain) and the page a new dup
// (stable_node_chain_add_dup).
void Ksmd::stable_tree_insert(const Key& k, Pfn kpfn) {
  // A frame freed and reused since its old stable node was last looked at: that node is stale.
  if (dups_.count(kpfn.v)) {
    const Key old = dups_.at(kpfn.v).key;
    remove_node_from_stable_tree(kpfn.v);
    auto& chain = stable_[old];
    const bool was_chain = chain.size() > 1;
    chain.erase(std::find(chain.begin(), chain.end(), kpfn.v));
    if (was_chain) {
      --c_.stable_node_dups;
      if (chain.size() == 1) {
        --c_.stable_node_chains;
        --c_.stable_node_dups;
      }
    }
    if (chain.empty()) stable_.erase(old);
  }
  cost_ += walk_cmps(stable_.size()) * cfg_.cmp_ns;
  auto& chain = stable_[k];
  prune_chain(chain);
  if (chain.size() == 1) {
    ++c_.stable_node_chains;
    ++c_.stable_node_dups;
  }
  if (!chain.empty()) ++c_.stable_node_dups;
  chain.push_back(kpfn.v);
  dups_[kpfn.v] = Dup{k, {}};
}

// stable_tree_append(): the first item of a stable node counts in pages_shared, every further
// one in pages_sharing.
void Ksmd::stable_tree_append(Mapper m, Pfn kpfn) {
  Dup& d = dups_.at(kpfn.v);
  d.items.push_back(m);
  if (d.items.size() > 1) ++c_.pages_sharing;
  else ++c_.pages_shared;
  RmapItem& it = item(m);
  it.flags |= kStable;
  it.ref = kpfn.v;
  ++vm(m.vm).merging_;
}

// unstable_tree_search_insert(): a page of this scan with the same content (memcmp_pages), or
// insert this one. An entry whose page has changed, gone, been merged or left the scan's
// round no longer matches (the kernel's tree can be corrupt in the same way, which is why it
// is rebuilt every scan); the model replaces such an entry by the new page.
bool Ksmd::unstable_tree_search_insert(const Key& k, Mapper self, Mapper& tree) {
  cost_ += walk_cmps(unstable_.size()) * cfg_.cmp_ns;
  auto it = unstable_.find(k);
  if (it != unstable_.end() && !(it->second == self)) {
    const Mapper m = it->second;
    KsmVm& tv = vm(m.vm);
    const RmapItem& ti = tv.items_[m.gfn.v];
    const mm::Pte p = tv.as().pte_at(m.gfn);
    const bool valid = (ti.flags & kUnstable) && ti.ref == seqnr_ && pte::present(p) &&
                       !pte::zero_page(p) && exclusive(tv.as(), Pfn(pte::pfn(p))) &&
                       key_of(tv, m.gfn, Pfn(pte::pfn(p))) == k;
    if (valid) {
      tree = m;
      return true;
    }
  }
  unstable_[k] = self;
  RmapItem& si = item(self);
  if (!(si.flags & kUnstable)) ++c_.pages_unshared;
  si.flags |= kUnstable;
  si.ref = seqnr_;
  return false;
}

// write_protect_page()'s check: an anon page mapped once with no other reference
// (page_mapcount + 1 + swapped == page_count, less ksmd's own reference), not yet KSM.
bool Ksmd::exclusive(mm::AddressSpace& as, Pfn pfn) const {
  (void)as;
  const mm::Frame& f = mem_.frame(pfn);
  return !mem_.is_ksm(pfn) && f.mapcount == 1 && f.refcount == 1;
}

// try_to_merge_one_page() -> replace_page(): g now maps the KSM page.
void Ksmd::replace(KsmVm& v, Gfn g, Pfn kpfn) {
  const mm::Pte old = v.as().pte_at(g);
  if (pte::uffd(old) && !cfg_.keep_uffd_wp) ++v.uffd_wp_lost_;  // ground truth, never read by ksmd
  // replace_page() builds the new PTE from vm_page_prot: a PROT_NONE (a NUMA hint, an rfc-v1
  // DEACTIVATE) is gone too, so the page reads as accessed without any access (ground truth).
  if (pte::protnone(old)) ++v.protnone_lost_;
  if (v.as().ksm_replace(g, kpfn, cfg_.keep_uffd_wp)) ++c_.frames_freed;
  cost_ += cfg_.merge_ns;
  flush(v.as().vm());
}

// cmp_and_merge_page().
void Ksmd::cmp_and_merge_page(KsmVm& v, Gfn g) {
  mm::AddressSpace& as = v.as();
  const Mapper self{as.vm(), g};
  RmapItem& it = v.items_[g.v];
  const Pfn pfn(pte::pfn(as.pte_at(g)));
  const bool is_ksm = mem_.is_ksm(pfn);
  // Already in the stable tree on this very KSM page: nothing to do.
  if (is_ksm && (it.flags & kStable) && it.ref == pfn.v) return;
  remove_rmap_item_from_tree(self);

  // We first start with searching the page inside the stable tree.
  const Key k = key_of(v, g, pfn);
  const Pfn kpfn = stable_tree_search(k, pfn);
  if (kpfn.v == pfn.v) {  // the page is itself a KSM page of this content (ksm page forked)
    if (dups_.at(pfn.v).items.size() < cfg_.max_page_sharing) stable_tree_append(self, pfn);
    return;
  }
  if (is_ksm) return;  // a KSM page is not merged into another (write_protect_page: -EBUSY)
  if (kpfn.v != pte::kZeroPfn) {
    // try_to_merge_with_ksm_page(rmap_item, page, kpage)
    if (!exclusive(as, pfn)) return;
    replace(v, g, kpfn);
    ++c_.merges;
    stable_tree_append(self, kpfn);
    return;
  }

  // If the hash value of the page has changed from the last time we calculated it, this page
  // is changing frequently: therefore we don't want to insert it in the unstable tree, and we
  // don't want to waste our time searching for something identical to it there.
  cost_ += cfg_.checksum_ns;
  const std::uint32_t checksum = calc_checksum(as.content(g));
  if (it.oldchecksum != checksum) {
    it.oldchecksum = checksum;
    return;
  }

  // Same checksum as an empty page: merge with the zero page (use_zero_pages).
  if (cfg_.use_zero_pages && as.content(g) == mm::content::kZero) {
    if (!exclusive(as, pfn)) return;
    if (pte::uffd(as.pte_at(g)) && !cfg_.keep_uffd_wp) ++v.uffd_wp_lost_;
    if (pte::protnone(as.pte_at(g))) ++v.protnone_lost_;
    if (as.ksm_map_zero(g, cfg_.keep_uffd_wp)) ++c_.frames_freed;
    ++c_.zero_merges;
    cost_ += cfg_.merge_ns;
    flush(as.vm());
    return;
  }

  Mapper tree{};
  if (!unstable_tree_search_insert(k, self, tree)) return;
  // try_to_merge_two_pages(): the scanned page becomes the KSM page in place
  // (try_to_merge_with_ksm_page(rmap_item, page, NULL) -> write_protect_page), then the tree
  // page is replaced by it. Both rmap items leave the unstable tree first.
  KsmVm& tv = vm(tree.vm);
  if (!exclusive(as, pfn)) return;
  remove_rmap_item_from_tree(self);
  as.ksm_write_protect(g);
  cost_ += cfg_.merge_ns;
  flush(as.vm());
  remove_rmap_item_from_tree(tree);
  replace(tv, tree.gfn, pfn);
  ++c_.merges;
  stable_tree_insert(k, pfn);
  stable_tree_append(tree, pfn);
  stable_tree_append(self, pfn);
}

template <class F>
std::uint64_t Ksmd::sum_vms(F f) const {
  std::uint64_t n = 0;
  for (const KsmVm* v : by_vm_)
    if (v) n += f(*v);
  return n;
}

std::uint64_t Ksmd::ksm_zero_pages() const { return sum_vms([](const KsmVm& v) { return v.as_.ksm_zero_pages(); }); }
std::uint64_t Ksmd::cow_breaks() const { return sum_vms([](const KsmVm& v) { return v.as_.ksm_cow_breaks(); }); }
std::uint64_t Ksmd::uffd_wp_lost() const { return sum_vms([](const KsmVm& v) { return v.uffd_wp_lost_; }); }

// pages_volatile_show(): ksm_rmap_items - pages_shared - pages_sharing - pages_unshared,
// clamped at 0 (the counters are updated at different times).
std::uint64_t Ksmd::pages_volatile() const {
  const std::int64_t v = static_cast<std::int64_t>(c_.rmap_items) - static_cast<std::int64_t>(c_.pages_shared) -
                         static_cast<std::int64_t>(c_.pages_sharing) - static_cast<std::int64_t>(c_.pages_unshared);
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

// general_profit_show(): (pages_sharing + ksm_zero_pages) * PAGE_SIZE
//                         - ksm_rmap_items * sizeof(struct ksm_rmap_item).
std::int64_t Ksmd::general_profit() const {
  return static_cast<std::int64_t>((c_.pages_sharing + ksm_zero_pages()) * core::kPageSize) -
         static_cast<std::int64_t>(c_.rmap_items * kRmapItemBytes);
}

std::uint64_t Ksmd::frames_saved() const {
  std::uint64_t n = ksm_zero_pages();
  for (const auto& [kpfn, dup] : dups_) {
    (void)dup;
    if (!mem_.is_ksm(Pfn(kpfn))) continue;  // stale: the KSM page is gone, ksmd has not noticed yet
    const unsigned mc = mem_.frame(Pfn(kpfn)).mapcount;
    if (mc > 1) n += mc - 1;
  }
  return n;
}

void Ksmd::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("pages_scanned", c_.pages_scanned);
  out.emplace_back("full_scans", c_.full_scans);
  out.emplace_back("merges", c_.merges + c_.zero_merges);
  out.emplace_back("cow_breaks", cow_breaks());
  out.emplace_back("frames_freed", c_.frames_freed);
}

void Ksmd::gauges(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("pages_shared", static_cast<double>(c_.pages_shared));
  out.emplace_back("pages_sharing", static_cast<double>(c_.pages_sharing));
  out.emplace_back("ksm_zero_pages", static_cast<double>(ksm_zero_pages()));
  out.emplace_back("general_profit", static_cast<double>(general_profit()));
  out.emplace_back("frames_saved", static_cast<double>(frames_saved()));
}

// Time to steady-state sharing, from the profit (pages_sharing + ksm_zero_pages, what
// general_profit counts) at the end of each full scan: the first full scan from which every
// later one stays within 1% of the last (rounded down, so exact below 100 pages). It is
// "reached" only when at least two full scans agree, so a run cut short before sharing
// settles says so.
core::Json Ksmd::steady_sharing() const {
  const auto& ends = scan_ends_;
  core::Json out = {{"reached", false}, {"at_ns", nullptr}, {"at_full_scan", nullptr}, {"full_scans", 0}, {"profit_pages", 0}};
  if (ends.empty()) return out;
  const std::uint64_t last = ends.back().profit_pages;
  const std::uint64_t tol = last / 100;
  std::size_t first = ends.size() - 1;
  while (first > 0) {
    const std::uint64_t v = ends[first - 1].profit_pages;
    if ((v > last ? v - last : last - v) > tol) break;
    --first;
  }
  out["profit_pages"] = last;
  out["full_scans"] = ends.size() - first;
  if (ends.size() - first >= 2 && last > 0) {
    out["reached"] = true;
    out["at_ns"] = ends[first].t;
    out["at_full_scan"] = first + 1;
  }
  return out;
}

core::Json Ksmd::stats() const {
  return {{"pages_shared", c_.pages_shared},
          {"pages_sharing", c_.pages_sharing},
          {"pages_unshared", c_.pages_unshared},
          {"pages_volatile", pages_volatile()},
          {"pages_scanned", c_.pages_scanned},
          {"pages_skipped", c_.pages_skipped},
          {"full_scans", c_.full_scans},
          {"ksm_zero_pages", ksm_zero_pages()},
          {"stable_node_chains", c_.stable_node_chains},
          {"stable_node_dups", c_.stable_node_dups},
          {"general_profit", general_profit()},
          {"ksm_rmap_items", c_.rmap_items},
          {"merges", c_.merges},
          {"zero_merges", c_.zero_merges},
          {"cow_breaks", cow_breaks()},
          {"frames_freed", c_.frames_freed},
          {"ptes_walked", c_.ptes_walked},
          {"tlb_flushes", c_.tlb_flushes},
          {"cpu_ns", c_.cpu_ns},
          {"uffd_wp_lost_truth", uffd_wp_lost()},
          {"protnone_lost_truth", sum_vms([](const KsmVm& v) { return v.protnone_lost_; })},
          {"frames_saved", frames_saved()},
          {"steady_sharing", steady_sharing()}};
}

}  // namespace vmemsim::ksm
