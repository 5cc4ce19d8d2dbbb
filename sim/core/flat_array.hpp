// A fixed-size array of trivially-copyable T, zero-initialised lazily by the OS (calloc of a
// large block maps zero pages on demand), so a 1 TiB guest's page table costs RSS only for the
// pages actually touched (DESIGN.md: flat arrays indexed by page number, no per-page heap
// objects).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

namespace vmemsim::core {

template <class T>
class FlatArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  FlatArray() = default;
  explicit FlatArray(std::size_t n) : n_(n) {
    if (n_) {
      p_ = static_cast<T*>(std::calloc(n_, sizeof(T)));
      if (!p_) throw std::bad_alloc();
    }
  }
  ~FlatArray() { std::free(p_); }
  FlatArray(FlatArray&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  FlatArray& operator=(FlatArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  FlatArray(const FlatArray&) = delete;
  FlatArray& operator=(const FlatArray&) = delete;

  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace vmemsim::core
