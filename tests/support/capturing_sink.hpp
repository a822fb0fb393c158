// tests/support/capturing_sink.hpp — an spdlog sink that keeps what it is given.
//
// CapturingSink records each message's level and payload (the formatted text, without
// spdlog's time/name/level prefix), so that tests can assert on exactly what was
// logged. capturing_logger() makes a logger over one. Thread-safe (base_sink<mutex>).
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace exitguard::test {

struct LoggedLine {
  spdlog::level::level_enum level;
  std::string text;
};

class CapturingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<LoggedLine> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  // The payloads that start with `event` (e.g. "exit_transition ").
  std::vector<std::string> events(const std::string& event) {
    std::vector<std::string> out;
    for (const auto& l : lines())
      if (l.text.rfind(event, 0) == 0) out.push_back(l.text);
    return out;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.push_back({msg.level, std::string(msg.payload.data(), msg.payload.size())});
  }
  void flush_() override {}

 private:
  std::vector<LoggedLine> lines_;
};

inline std::shared_ptr<spdlog::logger> capturing_logger(std::shared_ptr<CapturingSink> sink,
                                                        const std::string& name = "test") {
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  logger->set_level(spdlog::level::trace);
  return logger;
}

}  // namespace exitguard::test
