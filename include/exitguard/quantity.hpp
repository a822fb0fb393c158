// exitguard/quantity.hpp — exact quantities: whole numbers of a venue's base unit.
//
// A Quantity is a signed 64-bit count of base units: lots, lamports, contracts,
// satoshis — whatever the venue keeps positions in. Nothing in exitguard compares
// quantities with a tolerance: a position is closed when the venue says so or when
// less than one lot remains, and both are integer comparisons. (v1 used `double`
// with a 1e-9 epsilon; against a venue with 1e-6 lots it sent a third order of
// 7e-9 units after the venue was already flat.)
//
// A Quantity converts implicitly from any integer (`Quantity q = 1000;` is 1000 base
// units) and never from a floating-point number: decimals reach it only through
// `from_decimal`, which rounds to the nearest base unit and refuses what is not a
// finite number in range. `to_decimal` is for display and metrics only.
//
// Thread safety: a value type.
#pragma once

#include <cmath>
#include <compare>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

namespace exitguard {

class Quantity {
 public:
  using rep = std::int64_t;

  constexpr Quantity() noexcept = default;
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  constexpr Quantity(I units) noexcept  // NOLINT: base units are exact
      : units_(std::is_unsigned_v<I> && static_cast<std::uintmax_t>(units) > static_cast<std::uintmax_t>(INT64_MAX)
                   ? INT64_MAX  // saturates: an unsigned count above 2^63 - 1 must not turn negative
                   : static_cast<rep>(units)) {}
  template <std::floating_point F>
  Quantity(F) = delete;  // a decimal goes through from_decimal(value, decimals)

  constexpr rep units() const noexcept { return units_; }
  constexpr bool is_positive() const noexcept { return units_ > 0; }

  friend constexpr auto operator<=>(Quantity, Quantity) noexcept = default;
  friend constexpr bool operator==(Quantity, Quantity) noexcept = default;

  // Saturating: a sum of reports from a misbehaving venue must not overflow (UB).
  friend constexpr Quantity operator+(Quantity a, Quantity b) noexcept {
    rep r{};
    if (__builtin_add_overflow(a.units_, b.units_, &r))
      r = b.units_ > 0 ? std::numeric_limits<rep>::max() : std::numeric_limits<rep>::min();
    return Quantity(r);
  }
  friend constexpr Quantity operator-(Quantity a, Quantity b) noexcept {
    rep r{};
    if (__builtin_sub_overflow(a.units_, b.units_, &r))
      r = b.units_ < 0 ? std::numeric_limits<rep>::max() : std::numeric_limits<rep>::min();
    return Quantity(r);
  }
  constexpr Quantity& operator+=(Quantity b) noexcept { return *this = *this + b; }
  constexpr Quantity& operator-=(Quantity b) noexcept { return *this = *this - b; }

  static constexpr Quantity zero() noexcept { return Quantity(); }
  static constexpr Quantity max() noexcept { return Quantity(std::numeric_limits<rep>::max()); }

  // `value` in display units with `decimals` decimal places per base unit (1.5 with
  // decimals 6 is 1,500,000 base units), rounded to the nearest base unit. Empty if
  // `value` is not finite, `decimals` > 18, or the result does not fit.
  static std::optional<Quantity> from_decimal(double value, unsigned decimals) noexcept {
    if (!std::isfinite(value) || decimals > 18) return std::nullopt;
    const long double scaled = std::nearbyint(static_cast<long double>(value) * pow10(decimals));
    // 2^63 exactly; the range check is written so that it is exact in long double.
    constexpr long double limit = 9223372036854775808.0L;
    if (!(scaled < limit) || !(scaled >= -limit)) return std::nullopt;
    return Quantity(static_cast<rep>(scaled));
  }

  // For display and metrics: the quantity in display units. Not exact beyond 2^53.
  constexpr double to_decimal(unsigned decimals) const noexcept {
    return static_cast<double>(static_cast<long double>(units_) / pow10(decimals));
  }

 private:
  static constexpr long double pow10(unsigned n) noexcept {
    long double p = 1;
    for (unsigned i = 0; i < n && i < 18; ++i) p *= 10;
    return p;
  }

  rep units_ = 0;
};

// The largest whole number of lots in `q` (rounded toward zero), in base units.
constexpr Quantity round_down_to_lot(Quantity q, Quantity lot) noexcept {
  if (!lot.is_positive()) return q;
  return Quantity(q.units() / lot.units() * lot.units());
}

// "1000" or, with decimals 6, "0.001000" — exact, for logs and reports.
inline std::string to_string(Quantity q, unsigned decimals = 0) {
  const bool negative = q.units() < 0;
  // Through unsigned: the magnitude of INT64_MIN does not fit in int64.
  std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(q.units()) : static_cast<std::uint64_t>(q.units());
  std::string digits = std::to_string(magnitude);
  if (decimals > 0) {
    if (digits.size() <= decimals) digits.insert(0, decimals + 1 - digits.size(), '0');
    digits.insert(digits.size() - decimals, 1, '.');
  }
  return negative ? "-" + digits : digits;
}

}  // namespace exitguard
