// The one Catch2 main shared by every tests/*_test.cpp executable
// (compiled once into the exitguard_test_main library).
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_ENABLE_BENCHMARKING
#include <catch2/catch.hpp>
