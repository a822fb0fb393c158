// exitguard-test-set: optimized
// Tests of exitguard/quantity.hpp: exact quantities in whole base units. Decimals
// enter only through from_decimal (rounded to the nearest unit, refused when not a
// finite number in range), leave exactly through to_string, and sums saturate
// instead of overflowing (undefined behaviour on int64).

// First include: proves the header compiles on its own.
#include <exitguard/quantity.hpp>

#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#include <catch2/catch.hpp>

#include "support/quantity_string.hpp"

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

namespace {

using exitguard::Quantity;
using rep = Quantity::rep;

constexpr rep kMax = std::numeric_limits<rep>::max();
constexpr rep kMin = std::numeric_limits<rep>::min();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Built with a requires-expression, so that the test states the rule in the
// language's own terms: `T` initialises a Quantity (direct) / converts to one
// implicitly (a call to a function taking a Quantity).
template <class T>
concept constructs_quantity = requires(T v) { Quantity(v); };
template <class T>
concept converts_to_quantity = requires(T v, void (*sink)(Quantity)) { sink(v); };
template <class T>
concept assigns_to_quantity = requires(T v, Quantity q) { q = v; };

}  // namespace

TEST_CASE("quantity.hpp is self-contained and a Quantity is a small exact value", "[quantity]") {
  STATIC_REQUIRE(std::is_same_v<Quantity::rep, std::int64_t>);
  STATIC_REQUIRE(sizeof(Quantity) == sizeof(std::int64_t));
  STATIC_REQUIRE(std::is_trivially_copyable_v<Quantity>);
  STATIC_REQUIRE(std::is_nothrow_default_constructible_v<Quantity>);
  STATIC_REQUIRE(Quantity{}.units() == 0);
  STATIC_REQUIRE(Quantity::zero() == Quantity{});
  STATIC_REQUIRE(Quantity::max().units() == kMax);
  STATIC_REQUIRE(Quantity(1000).units() == 1000);
  STATIC_REQUIRE(Quantity(1).is_positive());
  STATIC_REQUIRE_FALSE(Quantity(0).is_positive());
  STATIC_REQUIRE_FALSE(Quantity(-1).is_positive());
}

TEST_CASE("a Quantity converts implicitly from every integer type, never from bool or a floating type",
          "[quantity]") {
  // Integers are base units: exact, so implicit.
  STATIC_REQUIRE(converts_to_quantity<int>);
  STATIC_REQUIRE(converts_to_quantity<long long>);
  STATIC_REQUIRE(converts_to_quantity<unsigned>);
  STATIC_REQUIRE(converts_to_quantity<std::int8_t>);
  STATIC_REQUIRE(converts_to_quantity<std::uint32_t>);
  STATIC_REQUIRE(converts_to_quantity<std::int64_t>);
  STATIC_REQUIRE(constructs_quantity<int>);
  STATIC_REQUIRE(assigns_to_quantity<int>);
  STATIC_REQUIRE(std::is_convertible_v<int, Quantity>);
  // Decimals only through from_decimal: no implicit, explicit or assigned double.
  STATIC_REQUIRE_FALSE(converts_to_quantity<double>);
  STATIC_REQUIRE_FALSE(converts_to_quantity<float>);
  STATIC_REQUIRE_FALSE(converts_to_quantity<long double>);
  STATIC_REQUIRE_FALSE(constructs_quantity<double>);
  STATIC_REQUIRE_FALSE(constructs_quantity<float>);
  STATIC_REQUIRE_FALSE(assigns_to_quantity<double>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<Quantity, double>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<double, Quantity>);
  // A bool is not a count of anything.
  STATIC_REQUIRE_FALSE(converts_to_quantity<bool>);
  STATIC_REQUIRE_FALSE(constructs_quantity<bool>);
  // Neither is a Quantity a number again by accident.
  STATIC_REQUIRE_FALSE(std::is_convertible_v<Quantity, rep>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<Quantity, double>);

  const Quantity q = 1000;
  CHECK(q.units() == 1000);
  const Quantity from_unsigned = 42u;
  CHECK(from_unsigned.units() == 42);
  const Quantity from_int8 = std::int8_t{-7};
  CHECK(from_int8.units() == -7);
}

TEST_CASE("quantities compare as their units", "[quantity]") {
  STATIC_REQUIRE(Quantity(1) < Quantity(2));
  STATIC_REQUIRE(Quantity(-1) < Quantity(0));
  STATIC_REQUIRE((Quantity(3) <=> Quantity(3)) == std::strong_ordering::equal);
  STATIC_REQUIRE(Quantity(kMin) < Quantity::max());
  // An integer on either side converts.
  CHECK(Quantity(5) == 5);
  CHECK(5 == Quantity(5));
  CHECK(Quantity(5) != 6);
  CHECK(Quantity(5) >= 5);
  CHECK_FALSE(Quantity(5) > 5);
}

TEST_CASE("+ and - are exact within range", "[quantity][arithmetic]") {
  const auto [a, b, sum, difference] = GENERATE(table<rep, rep, rep, rep>({
      {0, 0, 0, 0},
      {1000, 1, 1001, 999},
      {-5, 3, -2, -8},
      {kMax - 1, 1, kMax, kMax - 2},
      {kMin + 1, -1, kMin, kMin + 2},
      {kMax, kMin, -1, kMax},  // kMax + kMin is exact; kMax - kMin saturates (see below)
  }));
  INFO(a << " and " << b);
  CHECK((Quantity(a) + Quantity(b)).units() == sum);
  CHECK((Quantity(a) - Quantity(b)).units() == difference);
  Quantity acc = a;
  acc += b;
  CHECK(acc.units() == sum);
}

TEST_CASE("+ and - saturate instead of overflowing", "[quantity][arithmetic]") {
  // Compile-time evaluation would reject an overflow (it is undefined behaviour),
  // so these also prove that none happens.
  STATIC_REQUIRE(Quantity::max() + 1 == Quantity::max());
  STATIC_REQUIRE(Quantity::max() + Quantity::max() == Quantity::max());
  STATIC_REQUIRE(Quantity(kMin) + -1 == Quantity(kMin));
  STATIC_REQUIRE(Quantity(kMin) + Quantity(kMin) == Quantity(kMin));
  STATIC_REQUIRE(Quantity::max() - -1 == Quantity::max());
  STATIC_REQUIRE(Quantity(kMin) - 1 == Quantity(kMin));
  STATIC_REQUIRE(Quantity(0) - Quantity(kMin) == Quantity::max());
  STATIC_REQUIRE(Quantity(kMin) - Quantity(kMin) == Quantity(0));

  const auto [a, b, sum, difference] = GENERATE(table<rep, rep, rep, rep>({
      {kMax, 1, kMax, kMax - 1},
      {kMax, kMax, kMax, 0},
      {kMin, -1, kMin, kMin + 1},
      {kMin, kMin, kMin, 0},
      {1, kMax, kMax, kMin + 2},
      {-2, kMin, kMin, kMax - 1},
      {kMax, -1, kMax - 1, kMax},  // kMax - (-1) saturates at kMax
      {kMin, 1, kMin + 1, kMin},   // kMin - 1 saturates at kMin
      {0, kMin, kMin, kMax},       // 0 - kMin: its magnitude does not fit
  }));
  INFO(a << " and " << b);
  CHECK((Quantity(a) + Quantity(b)).units() == sum);
  CHECK((Quantity(a) - Quantity(b)).units() == difference);
  Quantity plus = a;
  plus += b;
  CHECK(plus.units() == sum);
  Quantity minus = a;
  minus -= b;
  CHECK(minus.units() == difference);
}

TEST_CASE("a long sum of reports from a misbehaving venue stays at the maximum", "[quantity][arithmetic]") {
  Quantity total;
  for (int i = 0; i < 10; ++i) total += Quantity::max();
  CHECK(total == Quantity::max());
  // And what is taken off it again stays meaningful.
  total -= 1;
  CHECK(total.units() == kMax - 1);
}

TEST_CASE("from_decimal rounds to the nearest base unit", "[quantity][decimal]") {
  const auto [value, decimals, units] = GENERATE(table<double, unsigned, rep>({
      {0.0, 0, 0},
      {-0.0, 6, 0},
      {1.0, 0, 1},
      {1.5, 6, 1'500'000},
      {-1.5, 6, -1'500'000},
      {0.000001, 6, 1},      // 1e-6 is not exact in binary: rounded, not truncated to 0
      {0.0000004, 6, 0},     // below half a unit
      {0.0000006, 6, 1},     // above half a unit
      {-0.0000006, 6, -1},
      {1.23456789, 6, 1'234'568},
      {1.4, 0, 1},
      {1.6, 0, 2},
      {-1.6, 0, -2},
      {0.1, 1, 1},
      {0.3, 1, 3},
      {123.456, 3, 123'456},
      {1.0, 18, 1'000'000'000'000'000'000},
      {9.0, 18, 9'000'000'000'000'000'000},
      {-9.0, 18, -9'000'000'000'000'000'000},
      // Ties: std::nearbyint in the default rounding mode, to even.
      {0.5, 0, 0},
      {1.5, 0, 2},
      {2.5, 0, 2},
      {-2.5, 0, -2},
  }));
  INFO(value << " with " << decimals << " decimals");
  const auto q = Quantity::from_decimal(value, decimals);
  REQUIRE(q.has_value());
  CHECK(q->units() == units);
}

TEST_CASE("from_decimal takes the extremes of the range exactly", "[quantity][decimal]") {
  // -2^63 is a double, and exactly the smallest int64.
  CHECK(Quantity::from_decimal(-0x1p63, 0) == Quantity(kMin));
  // The largest double below 2^63 is 2^63 - 1024: it fits.
  const double below = std::nextafter(0x1p63, 0.0);
  CHECK(Quantity::from_decimal(below, 0) == Quantity(kMax - 1023));
  CHECK(Quantity::from_decimal(-below, 0) == Quantity(kMin + 1024));
}

TEST_CASE("from_decimal refuses what is not a finite number in range", "[quantity][decimal]") {
  const auto [value, decimals] = GENERATE(table<double, unsigned>({
      {kNaN, 0},
      {-kNaN, 6},
      {kInf, 0},
      {-kInf, 6},
      {0x1p63, 0},      // 2^63: one past the largest int64
      {-0x1p64, 0},
      {1e19, 0},
      {9.3, 18},        // 9.3e18 base units do not fit
      {-9.3, 18},
      {1e300, 0},
      {1.0, 19},        // more than 18 decimals
      {0.0, 19},        // even for zero: the setting itself is refused
      {1.0, 1000},
      {std::numeric_limits<double>::max(), 0},
      {std::numeric_limits<double>::lowest(), 18},
  }));
  INFO(value << " with " << decimals << " decimals");
  CHECK_FALSE(Quantity::from_decimal(value, decimals).has_value());
}

TEST_CASE("from_decimal is noexcept, to_decimal is for display", "[quantity][decimal]") {
  STATIC_REQUIRE(noexcept(Quantity::from_decimal(1.0, 6)));
  STATIC_REQUIRE(Quantity(1'500'000).to_decimal(6) == 1.5);
  CHECK(Quantity(1'500'000).to_decimal(6) == 1.5);
  CHECK(Quantity(-25).to_decimal(1) == -2.5);
  CHECK(Quantity(7).to_decimal(0) == 7.0);
  CHECK(Quantity(0).to_decimal(18) == 0.0);
  // Round trip for values a double holds exactly.
  for (rep units : {rep{0}, rep{1}, rep{-1}, rep{123'456'789}, rep{1} << 40}) {
    INFO(units << " units");
    const auto back = Quantity::from_decimal(Quantity(units).to_decimal(6), 6);
    REQUIRE(back.has_value());
    CHECK(back->units() == units);
  }
}

TEST_CASE("to_string is exact, with or without decimals", "[quantity][string]") {
  const auto [units, decimals, text] = GENERATE(table<rep, unsigned, std::string>({
      {0, 0, "0"},
      {1000, 0, "1000"},
      {-1000, 0, "-1000"},
      {1000, 6, "0.001000"},
      {1'500'000, 6, "1.500000"},
      {0, 2, "0.00"},
      {5, 1, "0.5"},
      {-5, 3, "-0.005"},
      {-1'234'567, 3, "-1234.567"},
      {123, 3, "0.123"},
      {1234, 3, "1.234"},
      {1, 19, "0.0000000000000000001"},
      {kMax, 0, "9223372036854775807"},
      {kMax, 18, "9.223372036854775807"},
      {kMin, 0, "-9223372036854775808"},
      {kMin, 18, "-9.223372036854775808"},
      {kMin, 19, "-0.9223372036854775808"},
      {kMin + 1, 0, "-9223372036854775807"},
  }));
  INFO(units << " units with " << decimals << " decimals");
  CHECK(exitguard::to_string(Quantity(units), decimals) == text);
}

TEST_CASE("to_string's default is whole base units", "[quantity][string]") {
  CHECK(exitguard::to_string(Quantity(42)) == "42");
  CHECK(exitguard::to_string(Quantity(kMin)) == "-9223372036854775808");
}

TEST_CASE("round_down_to_lot keeps whole lots, toward zero", "[quantity][lot]") {
  const auto [units, lot, rounded] = GENERATE(table<rep, rep, rep>({
      {1050, 100, 1000},
      {1000, 100, 1000},
      {999, 100, 900},
      {99, 100, 0},
      {0, 100, 0},
      {-150, 100, -100},  // toward zero
      {7, 1, 7},
      {kMax, 1, kMax},
      {kMax, 1000, kMax / 1000 * 1000},
      {kMin, 1, kMin},
      {kMin, kMax, -kMax},
      {kMax, kMax, kMax},
      // A lot that is not positive rounds nothing (and divides by nothing).
      {1050, 0, 1050},
      {1050, -100, 1050},
      {kMin, -1, kMin},  // kMin / -1 would overflow: never computed
  }));
  INFO(units << " by lots of " << lot);
  CHECK(exitguard::round_down_to_lot(Quantity(units), Quantity(lot)).units() == rounded);
}

TEST_CASE("round_down_to_lot is usable at compile time", "[quantity][lot]") {
  STATIC_REQUIRE(exitguard::round_down_to_lot(Quantity(1050), Quantity(100)) == Quantity(1000));
  STATIC_REQUIRE(exitguard::round_down_to_lot(Quantity(kMin), Quantity(-1)) == Quantity(kMin));
}

TEST_CASE("an unsigned count above the largest quantity saturates instead of turning negative", "[quantity]") {
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max();
  CHECK(exitguard::Quantity(huge) == exitguard::Quantity::max());
  CHECK(exitguard::Quantity(std::uint64_t{1} << 63) == exitguard::Quantity::max());
  CHECK(exitguard::Quantity(std::uint64_t{42}).units() == 42);
}
