// metrics_exporter — exitguard's Prometheus metrics, live, from the replay's scenarios.
//
// Runs exits in real time, in a loop, against a MockVenue on std::chrono::steady_clock
// (exitguard's default settings: 30 s deadline, limit step then market step; a
// circuit breaker and a trading halt coordinator), reports them to
// exitguard::prometheus::Metrics, and serves the registry on /metrics with
// prometheus-cpp's Exposer.
//
// One cycle (about 90 s), on a fresh venue each time:
//   * normal phase, 40 s: a new exit every 0.5-2 s on a fresh position, its attempts
//     scripted after the BUG-003 replay's variants and a few more: first-attempt fill,
//     lost-confirmation (the first transaction never answers: closed at 11 s after a
//     retry), late-landing (the first transaction lands at 25 s, after the second
//     closed the exit at 11 s: refused, nothing sold twice), late-fill (the first
//     transaction lands at 10 s while the second is pending: closed by a late fill),
//     partial fill, slippage rejection (escalates to the market step), rejections
//     (a permanent error: failed, one attempt);
//   * outage, 46 s: the venue answers nothing for 45 s; two positions exit, both
//     escalate and hit the 30 s deadline, the breaker trips at the second failure and
//     trading halts; no new exits meanwhile;
//   * the operator re-arms: breaker reset (and reported to the metrics), trading
//     resumed. A breaker tripped during a normal phase is re-armed after 5 s.
//
//   metrics_exporter [--listen HOST:PORT] [--duration SECONDS] [--check]
//
//   --listen    where to serve (default 127.0.0.1:9464; port 0 = any free port)
//   --duration  stop after this many seconds (default 0 = run until SIGINT/SIGTERM)
//   --check     before exiting, scrape /metrics once and check it (exit 1 if wrong)
//
// Prints `serving http://HOST:PORT/metrics` (the actual port) once listening.

#include <exitguard/prometheus/metrics.hpp>

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/error.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <list>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Venue = exitguard::testing::BasicMockVenue<Clock>;
using Script = Venue::script_type;
using exitguard::testing::MockFate;

constexpr exitguard::Quantity position_size = 1000;  // base units (lot 1)
constexpr auto normal_phase = 40s;
constexpr auto outage_length = 45s;
constexpr auto rearm_after = 5s;  // an accidental trip in a normal phase

Script script(MockFate fate, Clock::duration latency, double slippage_bps = 0) {
  Script s;
  s.fate = fate;
  s.latency = latency;
  s.slippage_bps = slippage_bps;
  return s;
}

Clock::duration ms(double v) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(v));
}

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

// How one position's attempts go (attempt numbers are 1-based, per exit).
struct Scenario {
  const char* name;
  void (*script)(Venue&, const std::string& position, std::mt19937_64&);
};

void first_attempt(Venue& v, const std::string& p, std::mt19937_64& rng) {
  v.script_for(p, 1, script(MockFate::fill, ms(uniform(rng, 200, 1500)), uniform(rng, 0, 60)));
}

void lost_confirmation(Venue& v, const std::string& p, std::mt19937_64& rng) {
  v.script_for(p, 1, script(MockFate::lost, 0s));
  v.script_for(p, 2, script(MockFate::fill, 2s, uniform(rng, 0, 80)));
}

void late_landing(Venue& v, const std::string& p, std::mt19937_64& rng) {
  Script first = script(MockFate::land_late, 0s);
  first.lands_after = 25s;
  v.script_for(p, 1, first);
  v.script_for(p, 2, script(MockFate::fill, 2s, uniform(rng, 0, 80)));
}

void late_fill(Venue& v, const std::string& p, std::mt19937_64& rng) {
  Script first = script(MockFate::land_late, 0s, uniform(rng, 0, 80));
  first.lands_after = 10s;
  v.script_for(p, 1, first);
  v.script_for(p, 2, script(MockFate::lost, 0s));
}

void partial_fill(Venue& v, const std::string& p, std::mt19937_64& rng) {
  Script first = script(MockFate::fill, 1s, uniform(rng, 0, 40));
  first.fill_ratio = 0.4;
  v.script_for(p, 1, first);
  v.script_for(p, 2, script(MockFate::fill, 1s, uniform(rng, 0, 40)));
}

void slippage_escalation(Venue& v, const std::string& p, std::mt19937_64& rng) {
  Script reject = script(MockFate::reject, 1s);
  reject.error = exitguard::error::slippage_exceeded;
  v.script_for(p, 1, reject);
  v.script_for(p, 2, script(MockFate::fill, 1s, uniform(rng, 100, 450)));
}

void rejections(Venue& v, const std::string& p, std::mt19937_64&) {
  Script reject = script(MockFate::reject, 1s);
  reject.error = exitguard::error::insufficient_funds;  // permanent
  v.script_for(p, 1, reject);
}

void outage(Venue&, const std::string&, std::mt19937_64&) {}  // the venue-wide outage does it

// The normal phase's rotation: failures (rejections) far apart, so that only the
// outage trips the breaker.
const Scenario rotation[] = {
    {"first-attempt", first_attempt},   {"lost-confirmation", lost_confirmation},
    {"first-attempt", first_attempt},   {"slippage-escalation", slippage_escalation},
    {"partial-fill", partial_fill},     {"first-attempt", first_attempt},
    {"late-fill", late_fill},           {"first-attempt", first_attempt},
    {"late-landing", late_landing},     {"first-attempt", first_attempt},
    {"rejections", rejections},         {"first-attempt", first_attempt},
};

struct Listen {
  std::string host;  // as given ("127.0.0.1", "[::1]", "0.0.0.0")
  unsigned port = 0;
};

bool parse_listen(const std::string& s, Listen& out) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  const std::string port = s.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) return false;
  const unsigned long p = std::strtoul(port.c_str(), nullptr, 10);
  if (p > 65535) return false;
  out.host = s.substr(0, colon);
  out.port = static_cast<unsigned>(p);
  return true;
}

class Exporter {
 public:
  Exporter(asio::io_context& ioc, std::shared_ptr<prometheus::Registry> registry)
      : ioc_(ioc),
        metrics_(std::move(registry)),
        breaker_(halt_),
        exits_(ioc.get_executor(), {}, &breaker_, &halt_, &metrics_) {
    metrics_.watch(halt_);
  }

  // Destroys the venues (and with them any answer still pending) before the io_context.
  ~Exporter() { venues_.clear(); }

  void start() { asio::co_spawn(ioc_, cycles(), asio::detached); }

  std::uint64_t started() const noexcept { return started_; }
  std::uint64_t finished() const noexcept { return finished_; }

 private:
  struct VenueSlot {
    std::unique_ptr<Venue> venue;
    std::uint64_t in_flight = 0;
  };

  asio::awaitable<void> cycles() {
    asio::steady_timer timer(ioc_);
    for (std::uint64_t cycle = 1;; ++cycle) {
      new_venue();
      std::printf("cycle %llu: normal exits for %lld s\n", static_cast<unsigned long long>(cycle),
                  static_cast<long long>(normal_phase.count()));
      std::fflush(stdout);
      const auto normal_end = Clock::now() + normal_phase;
      for (std::size_t k = 0; Clock::now() < normal_end; ++k) {
        rearm_if_tripped_for(rearm_after, "tripped during a normal phase");
        start_exit(rotation[k % std::size(rotation)]);
        timer.expires_after(ms(uniform(rng_, 500, 2000)));
        co_await timer.async_wait(asio::use_awaitable);
      }

      std::printf("cycle %llu: venue outage for %lld s; two positions exit\n", static_cast<unsigned long long>(cycle),
                  static_cast<long long>(outage_length.count()));
      std::fflush(stdout);
      const auto now = Clock::now();
      venues_.back().venue->add_outage(now, now + outage_length);
      start_exit({"outage", outage});
      start_exit({"outage", outage});
      timer.expires_at(now + outage_length + 1s);
      co_await timer.async_wait(asio::use_awaitable);
      std::printf("cycle %llu: venue back (breaker %s, trading %s); operator re-arms\n",
                  static_cast<unsigned long long>(cycle), std::string(exitguard::to_string(breaker_.state())).c_str(),
                  std::string(exitguard::to_string(halt_.state())).c_str());
      std::fflush(stdout);
      rearm("venue back after the outage");
    }
  }

  // A fresh venue per cycle; venues with no exit left are dropped (an exit ends by
  // its 30 s deadline; what the venue still holds for it goes with the venue).
  void new_venue() {
    for (auto it = venues_.begin(); it != venues_.end();)
      it = it->in_flight == 0 ? venues_.erase(it) : std::next(it);
    auto& slot = venues_.emplace_back();
    slot.venue = std::make_unique<Venue>(ioc_.get_executor(),
                                         [](double s) { return 95.0 + 1.5 * std::sin(s / 20.0); }, rng_());
  }

  void start_exit(const Scenario& scenario) {
    VenueSlot& slot = venues_.back();
    Venue& venue = *slot.venue;
    const std::string id = std::string(scenario.name) + "-" + std::to_string(++positions_);
    scenario.script(venue, id, rng_);
    venue.open_position(id, position_size);
    exitguard::ExitRequest request{id, exitguard::Side::sell, position_size, venue.reference_price(id), scenario.name};
    ++slot.in_flight;
    ++started_;
    exitguard::execute_exit(exits_, venue, std::move(request),
                            [this, &slot](boost::system::error_code, exitguard::ExitReport) {
                              --slot.in_flight;
                              ++finished_;
                            });
  }

  void rearm_if_tripped_for(Clock::duration d, const char* why) {
    const auto opened = breaker_.opened_at();
    if (opened && Clock::now() - *opened >= d) rearm(why);
  }

  // The operator's two deliberate steps: re-arm the breaker (and say so to the
  // metrics: a reset is not an exit event), then resume trading (watched).
  void rearm(const char* why) {
    if (breaker_.is_open()) {
      breaker_.reset("metrics_exporter", why);
      metrics_.breaker_state(breaker_.state());
    }
    if (halt_.state() != exitguard::TradingState::running) halt_.resume("metrics_exporter", why);
  }

  asio::io_context& ioc_;
  std::mt19937_64 rng_{20240301};
  exitguard::prometheus::Metrics metrics_;
  exitguard::TradingHaltCoordinator halt_;
  exitguard::ExitCircuitBreaker breaker_;
  exitguard::AdaptiveExitExecutor exits_;
  std::list<VenueSlot> venues_;  // stable addresses: handlers hold references
  std::uint64_t positions_ = 0;
  std::uint64_t started_ = 0;
  std::uint64_t finished_ = 0;
};

// GET `path` from the exporter itself; returns the whole response ("" on failure).
std::string http_get(const Listen& listen, unsigned port, const std::string& path) {
  std::string host = listen.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  std::string connect_host = host;
  if (connect_host.size() > 2 && connect_host.front() == '[')
    connect_host = connect_host.substr(1, connect_host.size() - 2);
  asio::ip::tcp::iostream s;
  s.expires_after(5s);
  s.connect(connect_host, std::to_string(port));
  if (!s) return {};
  s << "GET " << path << " HTTP/1.1\r\nHost: " << host << ":" << port << "\r\nConnection: close\r\n\r\n" << std::flush;
  std::ostringstream out;
  out << s.rdbuf();
  return out.str();
}

// The value of a series (name and labels exactly as printed) in a scrape, or -1.
double value_of(const std::string& scrape, const std::string& name) {
  std::istringstream in(scrape);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(name + " ", 0) == 0) return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return -1;
}

bool check_scrape(const Listen& listen, unsigned port) {
  int failed = 0;
  auto expect = [&failed](bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failed;
  };
  const std::string metrics = http_get(listen, port, "/metrics");
  expect(metrics.rfind("HTTP/1.1 200", 0) == 0, "GET /metrics: 200");
  for (const char* family :
       {"exitguard_exits_attempted_total counter", "exitguard_exits_first_attempt_total counter",
        "exitguard_exits_required_retry_total counter", "exitguard_exits_deadline_exceeded_total counter",
        "exitguard_exits_finished_total counter", "exitguard_exits_in_flight gauge",
        "exitguard_exit_duration_seconds histogram", "exitguard_exit_slippage_ratio histogram",
        "exitguard_exit_attempts_started_total counter", "exitguard_exit_attempts_total counter",
        "exitguard_exit_retries_total counter", "exitguard_exit_escalations_total counter",
        "exitguard_exit_attempts_in_doubt_total counter", "exitguard_exit_late_fills_total counter",
        "exitguard_circuit_breaker_trips_total counter", "exitguard_circuit_breaker_state gauge",
        "exitguard_trading_state gauge"})
    expect(metrics.find(std::string("# TYPE ") + family + "\n") != std::string::npos,
           std::string("family ") + family);
  expect(value_of(metrics, "exitguard_exits_attempted_total") >= 1, "exits were attempted");
  // The first exit fills by its first attempt within 2 s.
  expect(value_of(metrics, "exitguard_exits_first_attempt_total") >= 1, "an exit closed by its first attempt");
  expect(value_of(metrics, "exitguard_exit_duration_seconds_count") >= 1, "an exit duration was observed");
  auto ones = [&metrics](const std::string& family, std::initializer_list<const char*> states) {
    int n = 0;
    for (const char* st : states) n += value_of(metrics, family + "{state=\"" + st + "\"}") == 1 ? 1 : 0;
    return n;
  };
  expect(ones("exitguard_trading_state", {"running", "reduce_only", "halted"}) == 1, "one trading state at 1");
  expect(ones("exitguard_circuit_breaker_state", {"closed", "open", "half_open"}) == 1, "one breaker state at 1");
  const std::string other = http_get(listen, port, "/other");
  expect(other.rfind("HTTP/1.1 404", 0) == 0, "GET /other: 404");
  std::printf("%d failed\n", failed);
  return failed == 0;
}

void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--listen HOST:PORT] [--duration SECONDS] [--check]\n", argv0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen_arg = "127.0.0.1:9464";
  double duration = 0;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) {
      listen_arg = argv[++i];
    } else if (a == "--duration" && i + 1 < argc) {
      char* end = nullptr;
      duration = std::strtod(argv[++i], &end);
      if (*end != '\0' || !std::isfinite(duration) || duration < 0) {
        std::fprintf(stderr, "--duration: want seconds >= 0, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (a == "--check") {
      check = true;
    } else {
      usage(argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  Listen listen;
  if (!parse_listen(listen_arg, listen)) {
    std::fprintf(stderr, "--listen: want HOST:PORT, got '%s'\n", listen_arg.c_str());
    return 2;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  unsigned port = listen.port;
  try {
    exposer = std::make_unique<prometheus::Exposer>(listen_arg, 2);
    exposer->RegisterCollectable(registry);
    const auto ports = exposer->GetListeningPorts();
    if (!ports.empty()) port = static_cast<unsigned>(ports.front());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot listen on %s: %s\n", listen_arg.c_str(), e.what());
    return 1;
  }
  std::printf("serving http://%s:%u/metrics\n", listen.host.c_str(), port);
  std::fflush(stdout);

  bool ok = true;
  {
    asio::io_context ioc;
    Exporter exporter(ioc, registry);
    exporter.start();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](boost::system::error_code ec, int) {
      if (!ec) ioc.stop();
    });
    asio::steady_timer stop(ioc);
    if (duration > 0) {
      stop.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration)));
      stop.async_wait([&ioc](boost::system::error_code ec) {
        if (!ec) ioc.stop();
      });
    }
    ioc.run();
    std::printf("stopped: %llu exits started, %llu finished\n", static_cast<unsigned long long>(exporter.started()),
                static_cast<unsigned long long>(exporter.finished()));
    std::fflush(stdout);
    if (check) ok = check_scrape(listen, port);
  }
  return ok ? 0 : 1;
}
