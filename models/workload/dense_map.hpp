// Trace page -> dense page number, in order of first touch (the `trace` generator's "dense"
// mapping, `vmemsim replay` and `vmemsim trace stats`): linear probing over two flat arrays,
// grown at half load. Deterministic: the hash is splitmix64, not std::hash.
#pragma once
#include <cstdint>
#include <vector>

#include "sim/core/rng.hpp"

namespace vmemsim::workload {

class DenseMap {
 public:
  std::uint64_t get(std::uint64_t key) {
    if (2 * (n_ + 1) > cap_) grow();
    std::size_t i = slot(key);
    while (vals_[i] != 0) {
      if (keys_[i] == key) return vals_[i] - 1;
      i = (i + 1) & (cap_ - 1);
    }
    keys_[i] = key;
    vals_[i] = ++n_;
    return n_ - 1;
  }

  std::uint64_t size() const { return n_; }

 private:
  std::size_t slot(std::uint64_t key) const {
    std::uint64_t x = key;
    return static_cast<std::size_t>(core::splitmix64(x) & (cap_ - 1));
  }
  void grow() {
    std::vector<std::uint64_t> ok = std::move(keys_), ov = std::move(vals_);
    cap_ = cap_ ? 2 * cap_ : 1024;
    keys_.assign(cap_, 0);
    vals_.assign(cap_, 0);
    for (std::size_t j = 0; j < ok.size(); ++j) {
      if (ov[j] == 0) continue;
      std::size_t i = slot(ok[j]);
      while (vals_[i] != 0) i = (i + 1) & (cap_ - 1);
      keys_[i] = ok[j];
      vals_[i] = ov[j];
    }
  }
  std::vector<std::uint64_t> keys_, vals_;  // vals_: dense index + 1, 0 = empty slot
  std::size_t cap_ = 0;
  std::uint64_t n_ = 0;
};


}  // namespace vmemsim::workload
