// fuzz/fuzz_input.hpp — turns a fuzzer's bytes into values, front to back.
//
// A FuzzInput reads fixed-size little-endian values from the start of the input
// (so a seed file is a plain record that fuzz/corpus/make_settings_corpus.py can write),
// and yields zeros once the bytes run out: every input decodes to something.
//
// The tagged readers (duration_ns, duration_seconds, ratio, count) spend one tag
// byte to choose how the value is encoded, so that the fuzzer reaches both the
// ordinary values a configuration holds and the edges: raw bit patterns (NaN,
// infinities, negative, huge), and a table of the boundaries the validators test.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <type_traits>

namespace exitguard_fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

  std::size_t remaining() const noexcept { return size_ - pos_; }

  // The next sizeof(T) bytes, little-endian; missing bytes read as 0.
  template <class T>
    requires std::is_integral_v<T>
  T take() noexcept {
    using U = std::make_unsigned_t<T>;
    U v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      const U byte = pos_ < size_ ? data_[pos_++] : 0;
      v = static_cast<U>(v | static_cast<U>(byte << (8 * i)));
    }
    return static_cast<T>(v);
  }

  std::uint8_t byte() noexcept { return take<std::uint8_t>(); }
  bool flag() noexcept { return (byte() & 1) != 0; }

  // Any 8 bytes as a double: NaNs (of any payload), infinities, denormals, -0.
  double raw_double() noexcept { return std::bit_cast<double>(take<std::uint64_t>()); }

  // One of `table`, chosen by the next byte.
  template <class T, std::size_t N>
  T pick(const std::array<T, N>& table) noexcept {
    return table[byte() % N];
  }

  // A signed 64-bit tick count (nanoseconds for std::chrono::steady_clock):
  //   tag 0: milliseconds, 0..65535 (ordinary settings)
  //   tag 1: any 64 bits
  //   tag 2: a boundary (0, ±1, min, max, max/4 and its neighbours, 30 s, ...)
  //   tag 3: whole seconds, any int32 (negative ones too)
  std::int64_t ticks_ns() noexcept {
    using L = std::numeric_limits<std::int64_t>;
    static constexpr std::array<std::int64_t, 14> edges{
        0, 1, -1, L::max(), L::min(), L::max() / 4, L::max() / 4 + 1, L::max() / 4 - 1,
        30'000'000'000, 20'000'000'000, 10'000'000'000, 5'000'000'000, 500'000'000,
        std::int64_t{1} << 53};
    switch (byte() % 4) {
      case 0: return std::int64_t{take<std::uint16_t>()} * 1'000'000;
      case 1: return take<std::int64_t>();
      case 2: return pick(edges);
      default: return std::int64_t{take<std::int32_t>()} * 1'000'000'000;
    }
  }

  // A count of seconds as a double (a floating-rep clock), same tags as ticks_ns()
  // but with raw doubles and floating edges (NaN, ±inf, max, max/4, denormals).
  double seconds_double() noexcept {
    using L = std::numeric_limits<double>;
    static const std::array<double, 14> edges{
        0.0, -0.0, L::quiet_NaN(), L::infinity(), -L::infinity(), L::max(), L::max() / 4,
        std::nextafter(L::max() / 4, L::infinity()), L::min(), L::denorm_min(), -1.0, 30.0, 0.5, 1e300};
    switch (byte() % 4) {
      case 0: return static_cast<double>(take<std::uint16_t>()) / 1000.0;
      case 1: return raw_double();
      case 2: return pick(edges);
      default: return static_cast<double>(take<std::int32_t>());
    }
  }

  // A multiplier-like double: tag 0: 1 + n/1000, tag 1: raw, tag 2: a boundary,
  // tag 3: a small integer.
  double ratio() noexcept {
    using L = std::numeric_limits<double>;
    static const std::array<double, 12> edges{
        1.0, std::nextafter(1.0, 0.0), 100.0, std::nextafter(100.0, L::infinity()), 2.5, 0.0, -1.0,
        L::quiet_NaN(), L::infinity(), -L::infinity(), L::max(), L::denorm_min()};
    switch (byte() % 4) {
      case 0: return 1.0 + static_cast<double>(take<std::uint16_t>()) / 1000.0;
      case 1: return raw_double();
      case 2: return pick(edges);
      default: return static_cast<double>(byte());
    }
  }

  // An unsigned count: tag even: one byte (0..255), tag odd: any 32 bits.
  std::uint32_t count() noexcept { return byte() % 2 == 0 ? byte() : take<std::uint32_t>(); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// A uniform random bit generator for code under test that takes one. Mode 0 is a
// std::mt19937_64-quality stream (SplitMix64 from the seed); modes 1 and 2 always
// return min() or max(), the edges of every distribution built on it; mode 3
// alternates them.
class FuzzGenerator {
 public:
  using result_type = std::uint64_t;
  FuzzGenerator(std::uint8_t mode, std::uint64_t seed) noexcept : mode_(mode % 4), state_(seed) {}
  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }
  result_type operator()() noexcept {
    switch (mode_) {
      case 1: return min();
      case 2: return max();
      case 3: return (flip_ = !flip_) ? max() : min();
      default: {
        std::uint64_t x = (state_ += 0x9e3779b97f4a7c15ULL);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
      }
    }
  }

 private:
  std::uint8_t mode_;
  std::uint64_t state_;
  bool flip_ = false;
};

// Stops the fuzzer with a crash it reports (and saves the input of), after saying
// which check failed.
[[noreturn]] inline void fail(const char* what, const char* file, int line) noexcept {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
  __builtin_trap();
}

}  // namespace exitguard_fuzz

#define EXITGUARD_FUZZ_CHECK(...) \
  ((__VA_ARGS__) ? static_cast<void>(0) : ::exitguard_fuzz::fail(#__VA_ARGS__, __FILE__, __LINE__))
