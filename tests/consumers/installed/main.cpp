#include <exitguard/exitguard.hpp>
#include <cstdio>
int main() {
  exitguard::RetryPolicy policy = exitguard::RetryPolicy::exit_policy();
  auto ec = policy.validate();
  std::printf("exit policy: %u attempts, valid: %s\n", policy.max_attempts, ec ? ec.message().c_str() : "yes");
  return ec ? 1 : 0;
}
