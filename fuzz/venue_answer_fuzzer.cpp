// fuzz/venue_answer_fuzzer.cpp — the exit engine's validation of venue answers.
//
// One engine per input, with a decoded ladder, capabilities and request, is run to
// its first pending attempt (start, the quote it asks for). Then, round after round,
// it gets a decoded AttemptAnswer (any status, named or not, any filled quantity and
// average price, a transaction id, an error of exitguard's, the generic, the system
// or the venue's own category, answered or not, any failure kind, escalating or not)
// for the pending attempt or another one, up to three fill reports, and then a timer
// or nothing; between rounds it is carried on, as a well-behaved venue would, to its
// next pending attempt (quotes answered, position queries answered with what
// remains). At the end only timers follow, until it is released.
//
// EngineHarness (fuzz/engine_harness.hpp) checks every call; the checks this fuzzer
// is about:
//   * the count: each attempt's counted fill is exactly max(its answer's quantity
//     capped at the order, its distinct fill reports' sum capped at the order), so
//     report().filled_quantity (= filled()) is never more than the orders' sum, and
//     never more than the request unless attempts that were each capped all landed:
//     filled() <= max(request, sum of the orders); remaining() + filled() == request
//     otherwise exactly;
//   * a malformed answer (filled / partially_filled with a quantity <= 0, a status
//     that is not one of the four) is an anomaly (anomalies() grows by exactly one for
//     it, plus one for an over-fill or an invalid price) and is never followed by a
//     submit, on any venue, before a position report; on a non-exclusive venue an
//     attempt in doubt needs a position report before the next submit, which is at
//     most the open quantity reported;
//   * every audit entry with an error has it in the exitguard category or in one of
//     the categories the venue's errors were given in.
//
// Input layout (little-endian; bytes past the end read as 0), mirrored by
// fuzz/corpus/make_engine_corpus.py:
//   settings, request, start time   as in exit_engine_fuzzer.cpp (engine_harness.hpp)
//   rounds, each:
//     attempt       decode_attempt()
//     answer        decode_answer()
//     u8 n          n % 4 fill reports, each: decode_attempt(), decode_fill()
//     u8 then       % 4: 0 a timeout at poll_timeout(), 1 nothing, 2 nothing (and the
//                   next round answers in the same state), 3 + u8 ms then a timeout;
//                   after 0, 1 and 3 the engine is carried on to its next pending
//                   attempt (at most 4 steps)

#include "engine_harness.hpp"

#include <cstddef>
#include <cstdint>

namespace {

using namespace exitguard_fuzz;

constexpr int max_rounds = 48;

// What a well-behaved venue and driver do until an attempt is pending again.
void carry_on(EngineHarness& h) {
  Engine& e = h.engine();
  for (int i = 0; i < 4 && !e.is_complete() && !e.pending_attempt(); ++i) {
    if (h.quote_asked()) {
      const double p = e.request().signal_price;
      h.quote(EngineHarness::valid_price(p) ? p : 100.0);
    } else if (e.query_outstanding()) {
      h.position(e.remaining());
    } else if (const auto due = e.poll_timeout()) {
      h.advance_to(*due);
      h.timeout();
    }
  }
}

void timeout_at_due(EngineHarness& h) {
  if (const auto due = h.engine().poll_timeout()) h.advance_to(*due);
  h.timeout();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  const EngineSettings settings = decode_settings(in);
  const DecodedRequest request = decode_request(in);
  if (!check_settings(settings)) return 0;
  EngineHarness h(settings, request, decode_start_time(in));
  Engine& e = h.engine();
  h.start();
  carry_on(h);
  for (int round = 0; round < max_rounds && in.remaining() > 0; ++round) {
    const std::uint32_t n = decode_attempt(in, e);
    const AttemptAnswer a = decode_answer(in, e, n);
    h.answer(n, a);
    const unsigned fills = in.byte() % 4;
    for (unsigned i = 0; i < fills; ++i) {
      const std::uint32_t m = decode_attempt(in, e);
      h.fill(m, decode_fill(in, e, m));
    }
    switch (in.byte() % 4) {
      case 0: timeout_at_due(h); break;
      case 1: break;
      case 2: continue;
      default:
        h.advance_by(milliseconds(in.byte()));
        h.timeout();
        break;
    }
    carry_on(h);
  }
  h.finish();
  return 0;
}
