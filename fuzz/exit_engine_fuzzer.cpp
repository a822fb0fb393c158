// fuzz/exit_engine_fuzzer.cpp — the sans-IO exit engine under any sequence of events.
//
// Decodes engine settings (checked against the documentation by validate(); the run
// stops there if they are invalid), venue capabilities and an exit request (dust,
// lot sizes of 0, INT64_MIN/MAX, NaN and infinite signal prices), then a sequence of
// events at times that never go back: any of start, handle_quote (any double),
// handle_answer (any attempt number, any status including unnamed ones, any
// quantity, price, error, answered or not, failure kind, escalation), handle_fill
// (fill ids from a small set, so that deduplication is exercised), handle_position
// (any quantity), handle_position_failed, handle_attempt_dead, handle_timeout,
// handle_halt, cancel (terminal or partial), note_callback_failure, and an "auto"
// event that answers what the engine asked for (a quote, a position query, the
// pending attempt) so that random bytes reach deep states. After the last event only
// timers follow, at each poll_timeout(), until the engine is released.
//
// Every call is checked by EngineHarness (fuzz/engine_harness.hpp lists the
// invariants); a violation is __builtin_trap() after a message.
//
// Found by it (fixed in exit_engine.hpp; each reproducer is a seed):
//   * note_callback_failure naming an attempt never started dereferenced a null
//     record (anomaly() took its step): corpus/exit_engine/bad_quotes_unknown_attempts;
//   * a malformed answer to an attempt given up on, after a position report but
//     before the next submit, was ignored (the report short-circuited the check):
//     the whole remainder went without a new query: malformed_after_position_report;
//   * a position report finding less open than remains counted all of the
//     difference as filled, dust no order carried included (filled > all orders):
//     dust_position_report_zero.
// -DEXITGUARD_FUZZ_STRICT_PRICES (opt-in) also checks that report().average_price is
// finite when something filled. It fails today: a finite positive quote of 1e300
// gives a finite limit, and units x price overflows the tracker's notional to inf
// (then inf - inf = NaN); exit_attempt_tracker.hpp would need to bound it.
//
// Input layout (little-endian; bytes past the end read as 0), mirrored by
// fuzz/corpus/make_engine_corpus.py:
//   settings       decode_settings() (engine_harness.hpp)
//   request        decode_request(); its flags byte's bit 3 set: no automatic start
//   start time     decode_start_time()
//   events         u8 op each: op % 16 the event, op / 16 the time step before it:
//                    0-5 none, 6-9 + u8 ms, 10-11 + 100 x u8 ms, 12 + u16 ms,
//                    13 to poll_timeout() (if later), 14 to poll_timeout() - 1 ns,
//                    15 + u16 s
//                  events: 0 start (u8 refusal: % 8 == 7 circuit_open, 6
//                  trading_halted, 5 decode_error(), else none), 1 quote
//                  (decode_price), 2 answer (decode_attempt, decode_answer), 3 fill
//                  (decode_attempt, decode_fill), 4 position (decode_position),
//                  5 position failed (decode_error), 6 attempt dead (decode_attempt),
//                  7 timeout, 8 halt, 9 cancel terminal, 10 cancel partial,
//                  11 callback failure (u8: % 4 == 0 then decode_attempt, else 0),
//                  12-15 auto (u8 choice)

#include "engine_harness.hpp"

#include <cstddef>
#include <cstdint>

namespace {

using namespace exitguard_fuzz;

constexpr int max_events = 384;

void step_time(FuzzInput& in, EngineHarness& h, unsigned mode) {
  const auto due = h.engine().poll_timeout();
  switch (mode) {
    case 0: case 1: case 2: case 3: case 4: case 5: return;
    case 6: case 7: case 8: case 9: return h.advance_by(milliseconds(in.byte()));
    case 10: case 11: return h.advance_by(milliseconds(100 * std::int64_t{in.byte()}));
    case 12: return h.advance_by(milliseconds(in.take<std::uint16_t>()));
    case 13: if (due) h.advance_to(*due); return;
    case 14: if (due) h.advance_to(*due - nanoseconds(1)); return;
    default: return h.advance_by(std::chrono::seconds(in.take<std::uint16_t>()));
  }
}

boost::system::error_code decode_refusal(FuzzInput& in) {
  switch (in.byte() % 8) {
    case 7: return exitguard::error::circuit_open;
    case 6: return exitguard::error::trading_halted;
    case 5: return decode_error(in);
    default: return {};
  }
}

// Answers what the engine asked for, the way a well-behaved venue would.
void auto_event(FuzzInput& in, EngineHarness& h) {
  const std::uint8_t choice = in.byte();
  Engine& e = h.engine();
  if (h.quote_asked()) {
    const double p = e.request().signal_price;
    return h.quote(EngineHarness::valid_price(p) ? p * (1.0 + (static_cast<int>(choice) - 128) / 1000.0) : 100.0);
  }
  if (e.query_outstanding()) {
    if (choice % 8 == 7) return h.position_failed({});
    return h.position(e.remaining());
  }
  if (const auto pending = e.pending_attempt()) {
    const auto& rec = *e.tracker().find(*pending);
    AttemptAnswer a;
    a.outcome.average_price = rec.limit_price;
    a.outcome.transaction_id = "tx-auto";
    switch (choice % 4) {
      case 0:
        a.outcome.status = SubmitStatus::filled;
        a.outcome.filled_quantity = rec.quantity;
        return h.answer(*pending, a);
      case 1:
        a.outcome.status = SubmitStatus::partially_filled;
        a.outcome.filled_quantity = rec.quantity.units() > 1 ? Quantity(rec.quantity.units() / 2) : rec.quantity;
        return h.answer(*pending, a);
      case 2:
        a.outcome.status = SubmitStatus::rejected;
        a.outcome.error = exitguard::error::exit_rejected;
        a.kind = exitguard::FailureKind::transient;
        a.escalates = (choice & 4) != 0;
        return h.answer(*pending, a);
      default: break;
    }
  }
  if (const auto due = e.poll_timeout()) h.advance_to(*due);
  h.timeout();
}

void one_event(FuzzInput& in, EngineHarness& h) {
  const std::uint8_t op = in.byte();
  step_time(in, h, op / 16);
  Engine& e = h.engine();
  switch (op % 16) {
    case 0: return h.start(decode_refusal(in));
    case 1: {
      const double p = e.request().signal_price;
      return h.quote(decode_price(in, EngineHarness::valid_price(p) ? p : 100.0));
    }
    case 2: {
      const std::uint32_t n = decode_attempt(in, e);
      return h.answer(n, decode_answer(in, e, n));
    }
    case 3: {
      const std::uint32_t n = decode_attempt(in, e);
      return h.fill(n, decode_fill(in, e, n));
    }
    case 4: return h.position(decode_position(in, e));
    case 5: return h.position_failed(decode_error(in));
    case 6: return h.attempt_dead(decode_attempt(in, e));
    case 7: return h.timeout();
    case 8: return h.halt();
    case 9: return h.cancel(exitguard::CancelKind::terminal);
    case 10: return h.cancel(exitguard::CancelKind::partial);
    case 11: return h.callback_failure(in.byte() % 4 == 0 ? decode_attempt(in, e) : 0);
    default: return auto_event(in, h);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  const EngineSettings settings = decode_settings(in);
  const std::size_t request_at = size - in.remaining();
  const DecodedRequest request = decode_request(in);
  const bool auto_start = request_at >= size || (data[request_at] & 8) == 0;
  if (!check_settings(settings)) return 0;
  EngineHarness h(settings, request, decode_start_time(in));
  if (auto_start) h.start();
  for (int i = 0; i < max_events && in.remaining() > 0; ++i) one_event(in, h);
  h.finish();
  return 0;
}
