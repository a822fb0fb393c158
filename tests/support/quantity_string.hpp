// tests/support/quantity_string.hpp — Catch2 prints a Quantity as its exact units.
#pragma once

#include <exitguard/quantity.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace Catch {
template <>
struct StringMaker<exitguard::Quantity> {
  static std::string convert(exitguard::Quantity q) { return exitguard::to_string(q) + " units"; }
};
}  // namespace Catch
