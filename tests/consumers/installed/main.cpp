#include <exitguard/exitguard.hpp>
#include <cstdio>
int main() {
  exitguard::RetryPolicy policy = exitguard::RetryPolicy::exit_policy();
  auto ec = policy.validate();
  std::printf("exit policy: %u attempts, valid: %s\n", policy.max_attempts, ec ? ec.message().c_str() : "yes");
  // The exit engine's settings (the default ladder and deadline) and exact quantities.
  const exitguard::ExitEngineSettings engine;
  const auto engine_ec = engine.validate();
  const exitguard::Quantity size = *exitguard::Quantity::from_decimal(1.5, 6);
  std::printf("exit engine: %zu ladder steps, valid: %s; 1.5 with 6 decimals is %s base units\n",
              engine.ladder.size(), engine_ec ? engine_ec.message().c_str() : "yes",
              exitguard::to_string(size).c_str());
  return ec || engine_ec || size != exitguard::Quantity(1500000) ? 1 : 0;
}
