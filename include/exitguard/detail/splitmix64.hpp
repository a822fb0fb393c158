// exitguard/detail/splitmix64.hpp — derives independent seeds from one seed.
#pragma once

#include <cstdint>

namespace exitguard::detail {

// SplitMix64's finaliser: consecutive inputs give unrelated outputs, so "seed + n"
// seeds the n-th run's generator without correlating runs.
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace exitguard::detail
