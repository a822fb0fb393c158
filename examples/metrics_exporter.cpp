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
//   metrics_exporter [--listen HOST:PORT] [--duration SECONDS] [--check [--scrape-out FILE]]
//
//   --listen    where to serve: exactly one HOST:PORT (default 127.0.0.1:9464).
//               HOST is a dotted-quad IPv4 address (each part 0-255), [IPv6] or
//               localhost (served on 127.0.0.1); PORT is 0-65535, digits only
//               (0 = any free port). Anything else (a comma list, civetweb's
//               's'/'r' suffixes, an empty value) is refused: exit 2.
//   --duration  stop after this many seconds: 0 (the default: run until
//               SIGINT/SIGTERM) or a plain decimal number of seconds up to one year
//               (31536000); anything else (1e10, -1, nan, abc) is refused: exit 2.
//   --check     before exiting, scrape /metrics once and check it (exit 1 if wrong),
//               first with idle connections held open against the server: the
//               scrape must not wait for them (see make_exposer).
//   --scrape-out with --check: also write the checked scrape (the /metrics body) to
//               FILE, for promtool (scripts/check-observability.sh reads the one
//               the ctest run writes, so CI runs the exporter once).
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
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
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
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>  // inet_pton: the only parser trusted with --listen's HOST

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
  std::string host;  // as given ("127.0.0.1", "[::1]", "0.0.0.0", "localhost")
  std::string bind;  // what civetweb is given: host:port, localhost as 127.0.0.1
  unsigned port = 0;
};

// --listen HOST:PORT, strictly: prometheus-cpp hands the string to civetweb as its
// `listening_ports`, which takes a comma list, 's'/'r' suffixes and wraps numbers
// around (999.1.1.1 bound 231.1.1.1), so nothing but one exact address gets through.
// Returns the reason for a refusal, or nullopt (and fills `out`).
std::optional<std::string> parse_listen(const std::string& s, Listen& out) {
  if (s.empty()) return "empty value";
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return "no ':PORT'";
  const std::string host = s.substr(0, colon);
  const std::string port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return "PORT '" + port + "' is not a number 0-65535 (digits only)";
  const unsigned long p = std::strtoul(port.c_str(), nullptr, 10);
  if (p > 65535) return "PORT '" + port + "' is not a number 0-65535";
  std::string bind_host = host;
  unsigned char addr[16];
  if (host == "localhost") {
    bind_host = "127.0.0.1";  // civetweb would resolve it, maybe to ::1 only
  } else if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), addr) != 1)
      return "HOST '" + host + "' is not an IPv6 address in brackets";
  } else if (host.empty() || inet_pton(AF_INET, host.c_str(), addr) != 1) {
    return "HOST '" + host + "' is not an IPv4 address (a.b.c.d, each 0-255), [IPv6] or localhost";
  }
  out.host = host;
  out.bind = bind_host + ":" + port;
  out.port = static_cast<unsigned>(p);
  return std::nullopt;
}

constexpr double max_duration_s = 86400.0 * 365;  // one year: a typo, not a plan, beyond

// --duration: plain decimal seconds ("30", "2.5"), 0 or up to a year. Digits only, so
// strtod's extras (exponents, hex, inf, nan, leading blanks or signs) never get in.
std::optional<std::string> parse_duration(const std::string& s, double& out) {
  const auto dot = s.find('.');
  const std::string whole = s.substr(0, dot);
  const std::string frac = dot == std::string::npos ? "0" : s.substr(dot + 1);
  const bool digits = !whole.empty() && !frac.empty() && whole.find_first_not_of("0123456789") == std::string::npos &&
                      frac.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) return "want 0 (run until a signal) or seconds up to 31536000 (one year), as a plain decimal number";
  const double v = std::strtod(s.c_str(), nullptr);
  if (!(v >= 0 && v <= max_duration_s)) return "more than one year (31536000 s)";
  out = v;
  return std::nullopt;
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

// Where the exporter itself is reached (the Host header's form): a wildcard address
// as loopback.
std::string reach_host(const Listen& listen) {
  if (listen.host == "0.0.0.0") return "127.0.0.1";
  if (listen.host == "[::]") return "[::1]";
  return listen.host;
}

// The same, for a resolver: IPv6 without its brackets.
std::string connect_host(const Listen& listen) {
  std::string host = reach_host(listen);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host;
}

// GET `path` from the exporter itself; returns the whole response ("" on failure).
std::string http_get(const Listen& listen, unsigned port, const std::string& path,
                     Clock::duration timeout = 5s) {
  const std::string host = reach_host(listen);
  asio::ip::tcp::iostream s;
  s.expires_after(timeout);
  s.connect(connect_host(listen), std::to_string(port));
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

// The exposer's civetweb settings (see make_exposer).
constexpr int exposer_threads = 4;
constexpr int exposer_request_timeout_ms = 1000;
constexpr auto idle_scrape_bound = 5s;  // wide: the design gives 0 s here, ~1 s at worst

// Opens `n` connections to the exporter that never complete a request: half send
// nothing, half the start of a request line (a slow client). Held open by the caller.
std::vector<asio::ip::tcp::socket> open_idle_connections(asio::io_context& ioc, const Listen& listen, unsigned port,
                                                         int n) {
  std::vector<asio::ip::tcp::socket> idle;
  asio::ip::tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(connect_host(listen), std::to_string(port));
  for (int k = 0; k < n; ++k) {
    asio::ip::tcp::socket& sock = idle.emplace_back(ioc);
    asio::connect(sock, endpoints);
    if (k % 2 == 1) asio::write(sock, asio::buffer(std::string("GET /metr")));
  }
  return idle;
}

bool check_scrape(const Listen& listen, unsigned port, const std::string& scrape_out) {
  int failed = 0;
  if (!scrape_out.empty()) std::remove(scrape_out.c_str());  // no stale scrape outlives a failed check
  auto expect = [&failed](bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failed;
  };
  // Idle clients must not hold the scrape up: two (the case that blocked scraping for
  // 30 s), plus enough to take every worker thread, so that the request timeout, not
  // only the spare threads, is what this checks.
  std::string metrics;
  {
    asio::io_context ioc;
    const int idle_count = 2 + exposer_threads;
    std::vector<asio::ip::tcp::socket> idle;
    try {
      idle = open_idle_connections(ioc, listen, port, idle_count);
    } catch (const std::exception& e) {
      std::printf("FAIL opening idle connections: %s\n", e.what());
      ++failed;
    }
    std::this_thread::sleep_for(200ms);  // let the server hand them to its workers
    const auto t0 = Clock::now();
    metrics = http_get(listen, port, "/metrics", 2 * idle_scrape_bound);
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("scrape with %zu idle connections open took %.3f s\n", idle.size(), took);
    expect(took <= std::chrono::duration<double>(idle_scrape_bound).count(),
           "scrape not held up by idle connections (bound " +
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(idle_scrape_bound).count()) + " s)");
  }  // the idle connections close here
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
  // Kept only once every check passed: a kept scrape is a checked one. Written to a
  // temporary name, then renamed, so that no reader sees half of it.
  if (!scrape_out.empty() && failed == 0) {
    const std::size_t body = metrics.find("\r\n\r\n");
    const std::string partial = scrape_out + ".partial";
    std::FILE* out = std::fopen(partial.c_str(), "wb");
    bool written = out != nullptr && body != std::string::npos;
    if (written) {
      const std::size_t size = metrics.size() - body - 4;
      written = std::fwrite(metrics.data() + body + 4, 1, size, out) == size;
    }
    if (out != nullptr) written = std::fclose(out) == 0 && written;
    written = written && std::rename(partial.c_str(), scrape_out.c_str()) == 0;
    expect(written, "scrape kept in " + scrape_out);
  }
  std::printf("%d failed\n", failed);
  return failed == 0;
}

// The HTTP server. civetweb hands each accepted connection to one worker thread,
// which holds it until a request has been read and answered; by default it waits up
// to 30 s for the request, so two idle connections held prometheus-cpp's 2 default
// workers and blocked every scrape for 30 s. Both limits are set here:
//   * request_timeout_ms = 1000: a client gets at most 1 s in total to send its
//     request headers (civetweb measures from the accept, so trickling bytes does
//     not extend it) and per write of the answer; so an idle or slow connection
//     frees its worker within 1 s, however many there are;
//   * num_threads = 4: spare workers, so that a few idle connections (two, or a
//     scraper's connection left behind) do not delay a scrape at all;
//   * enable_keep_alive = no (civetweb's default, made explicit): a connection is
//     closed after one answer, so an idle keep-alive connection holds no worker.
// 1 s is ample for a scraper on a LAN to send ~100 bytes of request and take a
// ~40 KB answer into its socket buffer; raise it for scrapes over slow links.
// Beyond the spare workers, a scrape waits at most ~1 s per exposer_threads idle
// clients queued ahead of it (civetweb's connection_queue, 20 by default).
std::unique_ptr<prometheus::Exposer> make_exposer(const Listen& listen) {
  return std::make_unique<prometheus::Exposer>(std::vector<std::string>{
      "listening_ports", listen.bind,  // exactly one address, validated by parse_listen
      "num_threads", std::to_string(exposer_threads),
      "request_timeout_ms", std::to_string(exposer_request_timeout_ms),
      "enable_keep_alive", "no"});
}

void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--listen HOST:PORT] [--duration SECONDS] [--check [--scrape-out FILE]]\n", argv0);
}

// A refused command line: the flag, the value as given and why. Exit code 2.
int refuse(const char* flag, const std::string& value, const std::string& why) {
  std::fprintf(stderr, "%s: refused '%s': %s\n", flag, value.c_str(), why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Listen listen;
  bool listen_given = false;
  double duration = 0;
  bool duration_given = false;
  bool check = false;
  std::string scrape_out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--scrape-out") {
      if (i + 1 >= argc) return refuse("--scrape-out", "", "missing file");
      scrape_out = argv[++i];
      if (scrape_out.empty()) return refuse("--scrape-out", "", "empty file name");
      continue;
    }
    if (a == "--listen" || a == "--duration") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: missing value\n", a.c_str());
        return 2;
      }
      const std::string value = argv[++i];
      bool& given = a == "--listen" ? listen_given : duration_given;
      if (given) return refuse(a.c_str(), value, "given twice");
      given = true;
      const std::optional<std::string> why =
          a == "--listen" ? parse_listen(value, listen) : parse_duration(value, duration);
      if (why) return refuse(a.c_str(), value, *why);
    } else if (a == "--check") {
      check = true;
    } else {
      usage(argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (!scrape_out.empty() && !check) return refuse("--scrape-out", scrape_out, "only with --check");
  if (!listen_given) parse_listen("127.0.0.1:9464", listen);

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  unsigned port = listen.port;
  try {
    exposer = make_exposer(listen);
    exposer->RegisterCollectable(registry);
    const auto ports = exposer->GetListeningPorts();
    if (ports.size() != 1) throw std::runtime_error("listening on " + std::to_string(ports.size()) + " ports, not 1");
    port = static_cast<unsigned>(ports.front());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot listen on %s: %s\n", listen.bind.c_str(), e.what());
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
      // In range (parse_duration): at most a year, far from steady_clock's limits.
      stop.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration)));
      stop.async_wait([&ioc](boost::system::error_code ec) {
        if (!ec) ioc.stop();
      });
    }
    ioc.run();
    std::printf("stopped: %llu exits started, %llu finished\n", static_cast<unsigned long long>(exporter.started()),
                static_cast<unsigned long long>(exporter.finished()));
    std::fflush(stdout);
    if (check) ok = check_scrape(listen, port, scrape_out);
  }
  return ok ? 0 : 1;
}
