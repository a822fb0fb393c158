// orchestrator_integration — how a bot's orchestrator calls execute_exit.
//
// A TradingOrchestrator, as the design document sketches it, owns the exit
// machinery once (halt coordinator, circuit breaker, exit executor) and calls
// `exitguard::execute_exit` from its exit path, here a stop-loss check on each
// price tick. It refuses new entries when trading is not running. The venue is
// exitguard's MockVenue on the real steady clock with short latencies, so the
// program runs in well under a second; in a bot it would be the bot's RPC client.

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/testing/mock_venue.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Venue = exitguard::testing::BasicMockVenue<Clock>;

struct Position {
  std::string id;
  exitguard::Quantity quantity;  // base units (lot 1)
  double entry_price = 0;
  double stop_loss_pct = 5.0;
};

class TradingOrchestrator {
 public:
  TradingOrchestrator(asio::any_io_executor ex, Venue& venue)
      : venue_(venue), breaker_(halt_), exits_(ex, {}, &breaker_, &halt_) {
    halt_.subscribe([](const exitguard::TradingHaltCoordinator::change_type& c) {
      std::printf("trading: %s -> %s by %s (%s)\n", std::string(exitguard::to_string(c.from)).c_str(),
                  std::string(exitguard::to_string(c.to)).c_str(), c.who.c_str(), c.why.c_str());
    });
  }

  // Entries go through the halt coordinator: nothing new while trading is not running.
  bool enter(const Position& p) {
    if (!halt_.allows_entry()) {
      std::printf("entry %s refused: trading is %s\n", p.id.c_str(), std::string(exitguard::to_string(halt_.state())).c_str());
      return false;
    }
    positions_[p.id] = p;
    venue_.open_position(p.id, p.quantity);
    std::printf("entered %s: %s units at %.2f, stop-loss at -%.1f %%\n", p.id.c_str(),
                exitguard::to_string(p.quantity).c_str(), p.entry_price, p.stop_loss_pct);
    return true;
  }

  // The exit path: a bounded exit instead of "wait 60 s, then retry forever".
  asio::awaitable<bool> execute_exit_trade(Position p, double signal_price) {
    exitguard::ExitRequest request{p.id, exitguard::Side::sell, p.quantity, signal_price, "stop-loss"};
    auto [ec, report] = co_await exitguard::execute_exit(exits_, venue_, request, asio::as_tuple(asio::use_awaitable));
    std::printf("exit %s: %s after %.3f s, %u attempt(s), sold %s at %.2f (%.0f bps slippage)%s%s\n", p.id.c_str(),
                std::string(exitguard::to_string(report.final_state)).c_str(),
                std::chrono::duration<double>(report.exit_time).count(), report.attempts,
                exitguard::to_string(report.filled_quantity).c_str(),
                report.average_price, report.realized_slippage_bps, ec ? " — " : "", ec ? ec.message().c_str() : "");
    if (report.closed()) positions_.erase(p.id);
    co_return report.closed();
  }

  // Called on every price tick: fires the exit when the stop-loss is hit.
  asio::awaitable<void> on_price(std::string id, double price) {
    auto it = positions_.find(id);
    if (it == positions_.end() || exiting_.count(id)) co_return;
    const Position p = it->second;
    if (price > p.entry_price * (1 - p.stop_loss_pct / 100)) co_return;
    std::printf("stop-loss hit on %s at %.2f\n", id.c_str(), price);
    exiting_.insert({id, true});
    co_await execute_exit_trade(p, price);
    exiting_.erase(id);
  }

  bool flat() const { return positions_.empty(); }
  exitguard::TradingState trading_state() const { return halt_.state(); }

 private:
  Venue& venue_;
  exitguard::TradingHaltCoordinator halt_;
  exitguard::ExitCircuitBreaker breaker_;
  exitguard::AdaptiveExitExecutor exits_;
  std::map<std::string, Position> positions_;
  std::map<std::string, bool> exiting_;
};

// A price feed: a tick every 10 ms.
asio::awaitable<void> price_feed(TradingOrchestrator& bot, Venue& venue) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  for (int i = 0; i < 100 && !bot.flat(); ++i) {
    tick.expires_after(10ms);
    co_await tick.async_wait(asio::use_awaitable);
    co_await bot.on_price("SOL-1", venue.reference_price("SOL-1"));
  }
}

int main() {
  asio::io_context ioc;
  // The venue's price falls 20 per second from 100: the -5 % stop fires after ~250 ms.
  Venue venue(ioc.get_executor(), exitguard::testing::linear_price(100.0, -20.0));
  Venue::script_type fill;
  fill.latency = 20ms;  // every transaction confirms 20 ms after it is sent
  venue.set_default(fill);

  TradingOrchestrator bot(ioc.get_executor(), venue);
  bot.enter({"SOL-1", 1000, 100.0, 5.0});
  asio::co_spawn(ioc, price_feed(bot, venue), asio::detached);
  ioc.run();

  const bool ok = bot.flat() && venue.sold("SOL-1") == 1000 && bot.trading_state() == exitguard::TradingState::running;
  std::printf("%s: position %s, %s units sold, trading %s\n", ok ? "ok" : "FAILED", bot.flat() ? "closed" : "open",
              exitguard::to_string(venue.sold("SOL-1")).c_str(), std::string(exitguard::to_string(bot.trading_state())).c_str());
  return ok ? 0 : 1;
}
