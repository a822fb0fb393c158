// What the fragment of docs/state-machine.md takes as given: a transaction id
// (examples/CMakeLists.txt compiles it; it is not run).
#pragma once

#include <exitguard/exit_state_machine.hpp>

#include <string>

extern std::string tx_id;
