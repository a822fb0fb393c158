// The one Catch2 main shared by every tests/*_test.cpp executable
// (compiled once into the exitguard_test_main library).
// CATCH_CONFIG_ENABLE_BENCHMARKING comes from tests/CMakeLists.txt, for every TU.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
