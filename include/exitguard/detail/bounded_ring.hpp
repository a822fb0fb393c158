// exitguard/detail/bounded_ring.hpp — the newest N values, oldest dropped, grown on demand.
//
// A vector that grows like any other until it holds `capacity` values, then
// overwrites the oldest: an exit that makes three transitions pays for three
// entries, and one that makes ten thousand keeps only the newest `capacity`.
// (std::deque would do, but libstdc++'s allocates a 512-byte block up front and on
// every move.) Indexing is oldest first.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace exitguard::detail {

template <class T>
class bounded_ring {
 public:
  // Room for the first few values at once: most exits record three or four entries.
  explicit bounded_ring(std::size_t capacity = 0) : capacity_(capacity) { items_.reserve(capacity < 4 ? capacity : 4); }

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  // How many values were ever pushed (dropped ones included).
  std::size_t pushed() const noexcept { return pushed_; }
  std::size_t dropped() const noexcept { return pushed_ - items_.size(); }

  // Strong guarantee: if growing throws, nothing changed.
  void push(T value) {
    if (capacity_ == 0) return;
    if (items_.size() < capacity_) {
      items_.push_back(std::move(value));
    } else {
      items_[head_] = std::move(value);
      head_ = (head_ + 1) % capacity_;
    }
    ++pushed_;
  }

  const T& operator[](std::size_t i) const noexcept { return items_[(head_ + i) % items_.size()]; }
  const T& back() const noexcept { return (*this)[items_.size() - 1]; }

  // Oldest first, as a plain vector (for reports).
  std::vector<T> linear() const {
    std::vector<T> out;
    out.reserve(items_.size());
    for (std::size_t i = 0; i < items_.size(); ++i) out.push_back((*this)[i]);
    return out;
  }

 private:
  std::size_t capacity_;
  std::vector<T> items_;
  std::size_t head_ = 0;  // index of the oldest value once full
  std::size_t pushed_ = 0;
};

}  // namespace exitguard::detail
