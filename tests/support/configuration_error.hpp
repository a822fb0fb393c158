// tests/support/configuration_error.hpp — what a refused configuration said.
#pragma once

#include <exitguard/error.hpp>

#include <catch2/catch.hpp>

#include <utility>

namespace exitguard::test {

// The code of the configuration_error thrown by `f`; fails the test if none is thrown.
template <class F>
boost::system::error_code configuration_error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const exitguard::configuration_error& e) {
    return e.code();
  }
  FAIL("no configuration_error was thrown");
  return {};
}

}  // namespace exitguard::test
