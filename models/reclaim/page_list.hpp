// An intrusive doubly-linked list of pages in two flat arrays indexed by gfn (libCacheSim and
// the kernel's lruvec keep per-object links the same way): O(1) push, unlink and move, no
// per-page heap objects, 8 bytes per page of the VM (or trace). Used by the list-ordered victim
// selectors (exact-lru, fifo, clock).
//
// The list is circular through a sentinel at index `pages`. Links are stored plus one, so the
// zero pages calloc hands out mean "not on the list" and a large, sparsely used VM costs RSS
// only for the pages that were ever on it. Page numbers must be < 2^32 - 2 (16 TiB of 4 KiB
// pages per VM).
#pragma once
#include <cstdint>

#include "sim/core/error.hpp"
#include "sim/core/flat_array.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::reclaim {

class PageList {
 public:
  static constexpr std::uint64_t kMaxPages = 0xFFFFFFFEull;

  explicit PageList(std::uint64_t pages)
      : head_(static_cast<std::uint32_t>(pages)), prev_(pages + 1), next_(pages + 1) {
    VMEMSIM_CHECK(pages <= kMaxPages, "PageList of " << pages << " pages");
    set_prev(head_, head_);
    set_next(head_, head_);
  }

  bool contains(std::uint64_t g) const { return prev_[g] != 0; }
  bool empty() const { return size_ == 0; }
  std::uint64_t size() const { return size_; }
  // The end marker returned by front()/back()/next()/prev() past the last element.
  std::uint32_t end() const { return head_; }
  std::uint32_t front() const { return next(head_); }
  std::uint32_t back() const { return prev(head_); }
  std::uint32_t next(std::uint32_t g) const { return next_[g] - 1; }
  std::uint32_t prev(std::uint32_t g) const { return prev_[g] - 1; }

  void push_front(std::uint64_t g) { link_after(head_, static_cast<std::uint32_t>(g)); }
  void push_back(std::uint64_t g) { link_after(back(), static_cast<std::uint32_t>(g)); }
  // Links g (not on the list) just before `at` (a member or end()).
  void insert_before(std::uint32_t at, std::uint64_t g) { link_after(prev(at), static_cast<std::uint32_t>(g)); }
  void unlink(std::uint64_t g) {
    const std::uint32_t p = prev(static_cast<std::uint32_t>(g)), n = next(static_cast<std::uint32_t>(g));
    set_next(p, n);
    set_prev(n, p);
    prev_[g] = 0;
    --size_;
  }
  void move_to_front(std::uint64_t g) {
    unlink(g);
    push_front(g);
  }

 private:
  void set_prev(std::uint32_t g, std::uint32_t p) { prev_[g] = p + 1; }
  void set_next(std::uint32_t g, std::uint32_t n) { next_[g] = n + 1; }
  void link_after(std::uint32_t at, std::uint32_t g) {
    const std::uint32_t n = next(at);
    set_prev(g, at);
    set_next(g, n);
    set_next(at, g);
    set_prev(n, g);
    ++size_;
  }

  std::uint32_t head_;
  core::FlatArray<std::uint32_t> prev_, next_;
  std::uint64_t size_ = 0;
};

}  // namespace vmemsim::reclaim
