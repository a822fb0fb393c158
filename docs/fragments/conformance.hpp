// What the fragments of docs/conformance.md take as given (examples/CMakeLists.txt
// compiles them; they are not run): a subject and a venue, declared here.
#pragma once

#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/testing/venue_conformance.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

extern exitguard::testing::MockVenueSubject subject;
extern exitguard::testing::MockVenue mock_venue;
