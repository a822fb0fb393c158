// exit_path_bench — what an exit that fills at once costs, next to its floor (issue 7).
//
// One binary, one run, side by side, on one thread and the real steady clock:
//   venue_alone/token      the immediate submit alone: a token-style venue whose answer
//                          (filled) goes through asio::post. The venue's own cost.
//   venue_alone/awaitable  the same venue as a coroutine, started the way exitguard
//                          starts one (co_spawn). Its own cost, coroutine frame included.
//   floor/...              a steady_timer armed for 30 s and cancelled around that submit:
//                          the least that any submit with a time-out can cost.
//   idiom/...              co_await (submit || timer.async_wait(use_awaitable)) with Asio's
//                          experimental awaitable_operators, started from callback code
//                          by co_spawn, as execute_exit is.
//   bounded_retry/submit   BoundedRetryExecutor around the submit (one attempt, no retry).
//   happy_path/<venue>     a whole execute_exit whose first attempt fills, with either
//                          venue: no breaker, halt or metrics sink, the logger at level
//                          off, completion by callback.
//   inflight/100000        100,000 exits started on one thread against a venue that holds
//                          their handlers: live heap bytes per in-flight exit. Then all
//                          are answered and run to completion, checked: every exit
//                          closed and the heap is back where it was (no leak).
// The summary line at the end gives the ratios to the floor of this run.
//
// How an iteration runs: the io_context runs for the whole measurement, as in a bot;
// each iteration is started from a handler on it and is finished when all of its
// handlers have run (both the submit's and the timer's for the floor; the exit's
// completion for an exit), then the next one is posted. Not restart()+run() per
// iteration: Asio keeps its recycled handler memory per run() call, so a run() per
// iteration would re-allocate what a running io_context reuses. The harness (one
// post per iteration) is in every row, venue_alone included.
//
// Heap counters (allocs/op, bytes/op, new/op): this binary replaces malloc, calloc,
// realloc, free, aligned_alloc, posix_memalign, memalign, valloc and pvalloc (on to
// glibc's __libc_* functions) and the global operator new/delete (on to them), and
// counts every call. The malloc level is needed: Asio allocates its operations,
// coroutine frames and cancellation handlers with std::aligned_alloc, never through
// operator new. allocs/op counts every allocation, bytes/op the bytes requested;
// new/op is the part that went through operator new. The counters are plain (relaxed
// load + store, no locked instruction): exact on the one thread the benchmarks use.
//
// Timings go here, never into pass/fail tests. Compare the ratios of one run: the
// machines are shared and noisy (use --benchmark_repetitions=N; the summary takes
// the median).

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#error "exit_path_bench replaces malloc and operator new to count allocations: build it without sanitizers"
#endif

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/bounded_retry_executor.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/logger.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <malloc.h>
#include <unistd.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;

// ---------------------------------------------------------------------------------
// Counting heap
// ---------------------------------------------------------------------------------

namespace heap {

struct Counters {
  std::atomic<std::uint64_t> allocs{0};    // successful allocations, every kind
  std::atomic<std::uint64_t> frees{0};     // blocks given back
  std::atomic<std::uint64_t> bytes{0};     // bytes requested, in all
  std::atomic<std::uint64_t> via_new{0};   // allocations that came through operator new
  std::atomic<std::int64_t> live{0};       // usable bytes allocated minus freed
};
constinit Counters counters;

// Single-threaded counting without a locked instruction.
template <class T, class D>
inline void add(std::atomic<T>& c, D d) noexcept {
  c.store(static_cast<T>(c.load(std::memory_order_relaxed) + static_cast<T>(d)), std::memory_order_relaxed);
}

inline void* allocated(void* p, std::size_t requested) noexcept {
  if (p) {
    add(counters.allocs, 1);
    add(counters.bytes, requested);
    add(counters.live, static_cast<std::int64_t>(malloc_usable_size(p)));
  }
  return p;
}
inline void freeing(void* p) noexcept {
  if (p) {
    add(counters.frees, 1);
    add(counters.live, -static_cast<std::int64_t>(malloc_usable_size(p)));
  }
}

struct Snapshot {
  std::uint64_t allocs, frees, bytes, via_new;
  std::int64_t live;
};
inline Snapshot snapshot() noexcept {
  return {counters.allocs.load(std::memory_order_relaxed), counters.frees.load(std::memory_order_relaxed),
          counters.bytes.load(std::memory_order_relaxed), counters.via_new.load(std::memory_order_relaxed),
          counters.live.load(std::memory_order_relaxed)};
}

}  // namespace heap

extern "C" {
void* __libc_malloc(std::size_t) noexcept;
void* __libc_calloc(std::size_t, std::size_t) noexcept;
void* __libc_realloc(void*, std::size_t) noexcept;
void __libc_free(void*) noexcept;
void* __libc_memalign(std::size_t, std::size_t) noexcept;
void* __libc_valloc(std::size_t) noexcept;
void* __libc_pvalloc(std::size_t) noexcept;

void* malloc(std::size_t n) noexcept { return heap::allocated(__libc_malloc(n), n); }
void* calloc(std::size_t k, std::size_t n) noexcept { return heap::allocated(__libc_calloc(k, n), k * n); }
void free(void* p) noexcept {
  heap::freeing(p);
  __libc_free(p);
}
void* realloc(void* p, std::size_t n) noexcept {
  if (!p) return malloc(n);
  const auto old = static_cast<std::int64_t>(malloc_usable_size(p));
  void* q = __libc_realloc(p, n);
  if (!q && n != 0) return nullptr;  // failed: p is untouched
  heap::add(heap::counters.frees, 1);
  heap::add(heap::counters.live, -old);
  return heap::allocated(q, n);  // realloc(p, 0) frees p and returns null
}
void* memalign(std::size_t align, std::size_t n) noexcept { return heap::allocated(__libc_memalign(align, n), n); }
void* aligned_alloc(std::size_t align, std::size_t n) noexcept { return memalign(align, n); }
int posix_memalign(void** out, std::size_t align, std::size_t n) noexcept {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(std::size_t n) noexcept { return heap::allocated(__libc_valloc(n), n); }
void* pvalloc(std::size_t n) noexcept { return heap::allocated(__libc_pvalloc(n), n); }
}

namespace heap {
inline void* new_block(std::size_t n, std::size_t align) {
  if (n == 0) n = 1;
  for (;;) {
    void* p = align > alignof(std::max_align_t) ? memalign(align, n) : malloc(n);
    if (p) {
      add(counters.via_new, 1);
      return p;
    }
    if (auto handler = std::get_new_handler()) handler();
    else throw std::bad_alloc();
  }
}
inline void* new_block_nothrow(std::size_t n, std::size_t align) noexcept {
  try {
    return new_block(n, align);
  } catch (...) {
    return nullptr;
  }
}
}  // namespace heap

// Every replaceable form, so that no allocation reaches libstdc++'s own.
void* operator new(std::size_t n) { return heap::new_block(n, 0); }
void* operator new[](std::size_t n) { return heap::new_block(n, 0); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return heap::new_block_nothrow(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return heap::new_block_nothrow(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return heap::new_block(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return heap::new_block(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return heap::new_block_nothrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return heap::new_block_nothrow(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, std::size_t) noexcept { free(p); }
void operator delete[](void* p, std::size_t) noexcept { free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }

namespace {

// ---------------------------------------------------------------------------------
// Venues
// ---------------------------------------------------------------------------------

exitguard::SubmitOutcome filled(const exitguard::ExitOrder& order) {
  exitguard::SubmitOutcome outcome;
  outcome.status = exitguard::SubmitStatus::filled;
  outcome.filled_quantity = order.quantity;
  outcome.average_price = 95.0;
  outcome.transaction_id = "tx-1";
  return outcome;
}

// Token-style, fills at once: the answer goes through asio::post, as a real
// operation's would (on the handler's associated executor, via the venue's).
struct TokenVenue {
  asio::io_context::executor_type ex;

  template <class Token>
  auto async_submit(exitguard::ExitOrder order, Token&& token) {
    return asio::async_initiate<Token, void(error_code, exitguard::SubmitOutcome)>(
        [ex = ex](auto handler, exitguard::ExitOrder o) {
          asio::post(ex, asio::append(std::move(handler), error_code{}, filled(o)));
        },
        token, std::move(order));
  }
};

// Awaitable, fills at once (the coroutine frame is the venue's own cost).
struct AwaitableVenue {
  asio::io_context::executor_type ex;

  asio::awaitable<exitguard::SubmitOutcome> submit(exitguard::ExitOrder order) { co_return filled(order); }
};

// Token-style, answers nothing until release(): it keeps every handler.
struct HoldingVenue {
  using handler_type = asio::any_completion_handler<void(error_code, exitguard::SubmitOutcome)>;
  struct Held {
    handler_type handler;
    exitguard::SubmitOutcome outcome;
  };

  asio::io_context::executor_type ex;
  std::vector<Held> held;
  std::int64_t own_live_bytes = 0;  // heap the venue took to keep the handlers

  template <class Token>
  auto async_submit(exitguard::ExitOrder order, Token&& token) {
    return asio::async_initiate<Token, void(error_code, exitguard::SubmitOutcome)>(
        [this](auto handler, exitguard::ExitOrder o) {
          const auto before = heap::snapshot().live;
          held.push_back(Held{handler_type(std::move(handler)), filled(o)});
          own_live_bytes += heap::snapshot().live - before;
        },
        token, std::move(order));
  }

  // Answers every held submit (filled), each through asio::post.
  void release() {
    for (auto& h : held) asio::post(ex, asio::append(std::move(h.handler), error_code{}, std::move(h.outcome)));
    held.clear();
  }
};

exitguard::ExitOrder bench_order() {
  exitguard::ExitOrder order;
  order.exit_id = 1;
  order.position_id = "SOL-1";
  order.side = exitguard::Side::sell;
  order.quantity = 1000;
  order.kind = exitguard::OrderKind::limit;
  order.limit_price = 94.05;
  order.max_slippage_bps = 100;
  order.attempt = 1;
  order.exclusivity_key = "exit-1-0";
  return order;
}

exitguard::ExitRequest bench_request() {
  exitguard::ExitRequest request;
  request.position_id = "SOL-1";
  request.side = exitguard::Side::sell;
  request.quantity = 1000;
  request.signal_price = 95;
  request.reason = "stop-loss";
  return request;
}

exitguard::ExitSettings bench_settings() {
  exitguard::ExitSettings settings;
  settings.logger = std::make_shared<spdlog::logger>("bench");  // no sinks
  settings.logger->set_level(spdlog::level::off);
  return settings;
}

// ---------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------

// Runs one operation per benchmark iteration inside a single io_context::run().
// `start` begins one operation; the operation calls finished() once all of its
// handlers have run, and the next iteration is posted. The first `warm_up`
// operations are neither timed nor counted: they fill Asio's recycled handler
// memory and what an io_context allocates once, on first use (e.g. its strand
// service's 193 mutexes, one per bucket a strand falls in).
class Loop {
 public:
  Loop(benchmark::State& state, asio::io_context& ioc) : state_(state), ioc_(ioc) {}

  template <class Start>
  void run(Start start) {
    start_ = std::move(start);
    asio::post(ioc_, [this] { start_(); });  // the first warm-up operation
    ioc_.run();
    const auto end = heap::snapshot();
    using benchmark::Counter;
    state_.counters["allocs/op"] = Counter(static_cast<double>(end.allocs - begin_.allocs), Counter::kAvgIterations);
    state_.counters["bytes/op"] = Counter(static_cast<double>(end.bytes - begin_.bytes), Counter::kAvgIterations);
    state_.counters["new/op"] = Counter(static_cast<double>(end.via_new - begin_.via_new), Counter::kAvgIterations);
    if (completed_ != state_.iterations() + warm_up)
      state_.SkipWithError("an operation failed or did not complete");
  }

  // One operation is done: start the next, or stop.
  void finished() {
    ++completed_;
    asio::post(ioc_, [this] {
      if (completed_ < warm_up) return start_();
      if (completed_ == warm_up) begin_ = heap::snapshot();
      if (state_.KeepRunning()) start_();
    });
  }

 private:
  benchmark::State& state_;
  asio::io_context& ioc_;
  std::function<void()> start_;
  static constexpr benchmark::IterationCount warm_up = 1000;

  heap::Snapshot begin_{};
  benchmark::IterationCount completed_ = 0;
};

// ---------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------

// The venue's own cost: its operation, on the same harness.
void venue_alone_token(benchmark::State& state) {
  asio::io_context ioc;
  TokenVenue venue{ioc.get_executor()};
  const exitguard::ExitOrder order = bench_order();
  Loop loop(state, ioc);
  loop.run([&] {
    venue.async_submit(order, [&loop](error_code ec, exitguard::SubmitOutcome o) {
      if (!ec && o.status == exitguard::SubmitStatus::filled) loop.finished();
    });
  });
}

void venue_alone_awaitable(benchmark::State& state) {
  asio::io_context ioc;
  AwaitableVenue venue{ioc.get_executor()};
  const exitguard::ExitOrder order = bench_order();
  Loop loop(state, ioc);
  loop.run([&] {
    asio::co_spawn(ioc, venue.submit(order), [&loop](std::exception_ptr e, exitguard::SubmitOutcome o) {
      if (!e && o.status == exitguard::SubmitStatus::filled) loop.finished();
    });
  });
}

// The floor: a timer armed for 30 s and cancelled around the same submit.
void floor_timer_around_submit(benchmark::State& state) {
  asio::io_context ioc;
  TokenVenue venue{ioc.get_executor()};
  asio::steady_timer timer(ioc);
  const exitguard::ExitOrder order = bench_order();
  Loop loop(state, ioc);
  int pending = 0;
  bool ok = true;
  loop.run([&] {
    pending = 2;
    timer.expires_after(30s);
    timer.async_wait([&](error_code ec) {
      ok = ok && ec == asio::error::operation_aborted;
      if (--pending == 0) loop.finished();
    });
    venue.async_submit(order, [&](error_code ec, exitguard::SubmitOutcome o) {
      timer.cancel();
      ok = ok && !ec && o.status == exitguard::SubmitStatus::filled;
      if (--pending == 0) loop.finished();
    });
  });
  if (!ok) state.SkipWithError("the submit did not win");
}

// The idiom: co_await (submit || timer), started from callback code by co_spawn.
asio::awaitable<bool> submit_or_timeout(TokenVenue& venue, const exitguard::ExitOrder& order,
                                        asio::steady_timer& timer) {
  using namespace asio::experimental::awaitable_operators;
  timer.expires_after(30s);
  // Named locals, not temporaries inside the co_await (docs/coroutine-pitfalls.md, case 2).
  auto submit = venue.async_submit(order, asio::use_awaitable);
  auto wait = timer.async_wait(asio::use_awaitable);
  auto race = std::move(submit) || std::move(wait);
  auto result = co_await std::move(race);
  co_return result.index() == 0 && std::get<0>(result).status == exitguard::SubmitStatus::filled;
}

void idiom_submit_or_timer(benchmark::State& state) {
  asio::io_context ioc;
  TokenVenue venue{ioc.get_executor()};
  asio::steady_timer timer(ioc);
  const exitguard::ExitOrder order = bench_order();
  Loop loop(state, ioc);
  loop.run([&] {
    asio::co_spawn(ioc, submit_or_timeout(venue, order, timer), [&loop](std::exception_ptr e, bool won) {
      if (!e && won) loop.finished();
    });
  });
}

// BoundedRetryExecutor around the same submit.
void bounded_retry_submit(benchmark::State& state) {
  asio::io_context ioc;
  TokenVenue venue{ioc.get_executor()};
  exitguard::BoundedRetryExecutor retry(ioc.get_executor());
  const exitguard::ExitOrder order = bench_order();
  auto submit = [&venue, &order](auto token) { return venue.async_submit(order, std::move(token)); };
  Loop loop(state, ioc);
  loop.run([&] {
    retry.async_execute<exitguard::SubmitOutcome>(
        submit, [&loop](error_code ec, exitguard::RetryResult<exitguard::SubmitOutcome> r) {
          if (!ec && r.value && r.value->status == exitguard::SubmitStatus::filled) loop.finished();
        });
  });
}

// The happy path: a whole exit whose first attempt fills, completion by callback.
template <class Venue>
void happy_path(benchmark::State& state) {
  asio::io_context ioc;
  Venue venue{ioc.get_executor()};
  exitguard::AdaptiveExitExecutor exits(ioc.get_executor(), bench_settings());
  Loop loop(state, ioc);
  loop.run([&] {
    exitguard::execute_exit(exits, venue, bench_request(), [&loop](error_code ec, exitguard::ExitReport report) {
      if (!ec && report.closed() && report.attempts == 1) loop.finished();
    });
  });
}

// Memory per in-flight exit: state.range(0) exits started at once on one thread.
void inflight_exits(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  struct Cycle {
    std::int64_t exit_bytes = 0;    // live heap per in-flight exit set, in all
    std::int64_t exit_blocks = 0;   // live blocks
    std::int64_t venue_bytes = 0;   // of exit_bytes: the venue's boxes for the held handlers
    std::int64_t leaked = 0;        // live heap after everything is gone, against before
    std::size_t closed = 0;
    bool all_held = false;
  };
  auto cycle = [](std::size_t count) {
    Cycle c;
    const auto before_all = heap::snapshot();
    {
      asio::io_context ioc;
      HoldingVenue venue{ioc.get_executor(), {}, 0};
      venue.held.reserve(count);  // the venue's list is its own business, not an exit's
      exitguard::AdaptiveExitExecutor exits(ioc.get_executor(), bench_settings());
      const auto before = heap::snapshot();
      for (std::size_t i = 0; i < count; ++i)
        exitguard::execute_exit(exits, venue, bench_request(), [&c](error_code ec, exitguard::ExitReport report) {
          if (!ec && report.closed()) ++c.closed;
        });
      // Each exit's coroutine runs up to its first submit, then waits on its timer.
      while (venue.held.size() < count && ioc.poll() > 0) {
      }
      c.all_held = venue.held.size() == count;
      const auto during = heap::snapshot();
      c.exit_bytes = during.live - before.live;
      c.exit_blocks = static_cast<std::int64_t>(during.allocs - during.frees) -
                      static_cast<std::int64_t>(before.allocs - before.frees);
      c.venue_bytes = venue.own_live_bytes;
      venue.release();
      ioc.run();
    }
    c.leaked = heap::snapshot().live - before_all.live;
    return c;
  };
  cycle(1000);  // once-only allocations (statics, first use) before the measured cycle
  Cycle c;
  for (auto _ : state) c = cycle(n);
  const double count = static_cast<double>(n);
  state.counters["bytes/inflight"] = static_cast<double>(c.exit_bytes) / count;
  state.counters["blocks/inflight"] = static_cast<double>(c.exit_blocks) / count;
  state.counters["venue_bytes/inflight"] = static_cast<double>(c.venue_bytes) / count;
  state.counters["leaked_bytes"] = static_cast<double>(c.leaked);
  if (!c.all_held)
    state.SkipWithError("not every exit reached its submit");
  else if (c.closed != n)
    state.SkipWithError("not every exit closed after release");
  else if (c.leaked != 0)
    state.SkipWithError("heap not back where it was after all exits completed (leak)");
}

// ---------------------------------------------------------------------------------
// Summary: the ratios of this run
// ---------------------------------------------------------------------------------

class Summary {
 public:
  using Run = benchmark::BenchmarkReporter::Run;

  void record(const std::vector<Run>& runs) {
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      auto& r = results_[run.run_name.function_name];
      if (run.run_type == Run::RT_Iteration) {
        r.cpu_ns.push_back(run.GetAdjustedCPUTime());
      } else if (run.aggregate_name == "median") {  // --benchmark_report_aggregates_only
        r.median_cpu_ns = run.GetAdjustedCPUTime();
      } else {
        continue;
      }
      for (const auto& [name, counter] : run.counters) r.counters[name] = counter.value;
    }
  }

  // One line: the ratios to the floor of this run (CPU time, median over repetitions),
  // allocations per op (and the venue's own, from venue_alone), bytes per in-flight exit.
  void print(std::FILE* out) const {
    std::string line = "summary:";
    if (const Result* floor = find(floor_name)) {
      const double f = median(*floor);
      auto ratio = [&](const char* name) {
        const Result* r = find(name);
        return r ? fixed(median(*r) / f, 2) + "x" : std::string("-");
      };
      line += " happy/floor " + ratio(happy_token_name) + " (token venue), " + ratio(happy_awaitable_name) +
              " (awaitable venue); idiom/floor " + ratio(idiom_name) + "; bounded_retry/floor " +
              ratio(retry_name) + "; floor " + fixed(f, 0) + " ns;";
    }
    auto allocs = [&](const char* name) { return counter(find(name), "allocs/op", 1); };
    line += " allocs/op floor " + allocs(floor_name) + ", idiom " + allocs(idiom_name) + ", happy " +
            allocs(happy_token_name) + " (token venue; the venue alone " + allocs(venue_token_name) + "), " +
            allocs(happy_awaitable_name) + " (awaitable venue; the venue alone " + allocs(venue_awaitable_name) +
            "); in flight " + counter(find(inflight_name), "bytes/inflight", 0) + " bytes per exit";
    std::fprintf(out, "\n%s\n", line.c_str());
    std::fflush(out);
  }

  static constexpr const char* venue_token_name = "venue_alone/token";
  static constexpr const char* venue_awaitable_name = "venue_alone/awaitable";
  static constexpr const char* floor_name = "floor/timer_around_submit";
  static constexpr const char* idiom_name = "idiom/submit_or_timer";
  static constexpr const char* retry_name = "bounded_retry/submit";
  static constexpr const char* happy_token_name = "happy_path/token_venue";
  static constexpr const char* happy_awaitable_name = "happy_path/awaitable_venue";
  static constexpr const char* inflight_name = "inflight";

 private:
  struct Result {
    std::vector<double> cpu_ns;  // one per repetition
    double median_cpu_ns = 0;    // when only aggregates were reported
    std::map<std::string, double> counters;
  };

  const Result* find(const std::string& name) const {
    // Arguments are part of the function name ("inflight/100000"): match the prefix.
    for (const auto& [key, r] : results_)
      if (key == name || key.rfind(name + "/", 0) == 0) return &r;
    return nullptr;
  }
  static double median(const Result& r) {
    if (r.cpu_ns.empty()) return r.median_cpu_ns;
    std::vector<double> v = r.cpu_ns;
    std::sort(v.begin(), v.end());
    const auto n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
  static std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
  }
  static std::string counter(const Result* r, const std::string& name, int decimals) {
    if (!r) return "-";
    auto it = r->counters.find(name);
    return it == r->counters.end() ? "-" : fixed(it->second, decimals);
  }

  std::map<std::string, Result> results_;
};

// A Google Benchmark reporter that also hands every run to the summary.
template <class Base>
class Recording : public Base {
 public:
  template <class... Args>
  explicit Recording(Summary& summary, Args... args) : Base(args...), summary_(summary) {}

  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    summary_.record(runs);
    Base::ReportRuns(runs);
  }

 private:
  Summary& summary_;
};

// A display reporter passed to RunSpecifiedBenchmarks is used as is: the flags that
// choose the default one (--benchmark_format=console|json, --benchmark_color) are read
// here. Counters are always shown as columns.
std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(Summary& summary, std::string_view format,
                                                            std::string_view color) {
  if (format == "json") return std::make_unique<Recording<benchmark::JSONReporter>>(summary);
  const char* term = std::getenv("TERM");
  bool colored = isatty(STDOUT_FILENO) && term && std::string_view(term) != "dumb";
  if (color == "true" || color == "yes" || color == "1" || color == "on" || color == "always") colored = true;
  if (color == "false" || color == "no" || color == "0" || color == "off" || color == "never") colored = false;
  using Console = benchmark::ConsoleReporter;
  return std::make_unique<Recording<Console>>(
      summary, static_cast<Console::OutputOptions>(Console::OO_Tabular | (colored ? Console::OO_Color : 0)));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark(Summary::venue_token_name, venue_alone_token);
  benchmark::RegisterBenchmark(Summary::venue_awaitable_name, venue_alone_awaitable);
  benchmark::RegisterBenchmark(Summary::floor_name, floor_timer_around_submit);
  benchmark::RegisterBenchmark(Summary::idiom_name, idiom_submit_or_timer);
  benchmark::RegisterBenchmark(Summary::retry_name, bounded_retry_submit);
  benchmark::RegisterBenchmark(Summary::happy_token_name, happy_path<TokenVenue>);
  benchmark::RegisterBenchmark(Summary::happy_awaitable_name, happy_path<AwaitableVenue>);
  benchmark::RegisterBenchmark(Summary::inflight_name, inflight_exits)
      ->Arg(100000)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);

  std::string_view format = "console";
  std::string_view color = "auto";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--benchmark_format=")) format = arg.substr(arg.find('=') + 1);
    if (arg.starts_with("--benchmark_color=")) color = arg.substr(arg.find('=') + 1);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Summary summary;
  auto reporter = make_reporter(summary, format, color);
  benchmark::RunSpecifiedBenchmarks(reporter.get());
  summary.print(format == "console" ? stdout : stderr);  // never inside JSON or CSV
  benchmark::Shutdown();
  return 0;
}
