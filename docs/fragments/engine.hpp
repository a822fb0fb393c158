// What the fragment of docs/engine.md takes as given: the exit to run
// (examples/CMakeLists.txt compiles it; it is not run).
#pragma once

#include <exitguard/exit_engine.hpp>

#include <cstdint>
#include <string>

extern exitguard::ExitRequest request;
extern std::uint64_t exit_id;
extern exitguard::VenueCapabilities capabilities;
extern std::string key_prefix;
