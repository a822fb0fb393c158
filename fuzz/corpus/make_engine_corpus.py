#!/usr/bin/env python3
"""Writes the seed corpora of the engine fuzzers:

    fuzz/corpus/exit_engine/<seed>    fuzz/exit_engine_fuzzer.cpp
    fuzz/corpus/venue_answer/<seed>   fuzz/venue_answer_fuzzer.cpp
    fuzz/corpus/retry_budget/<seed>   fuzz/retry_budget_fuzzer.cpp

Each seed is a record in the layout the harness documents (fuzz/engine_harness.hpp:
decode_settings, decode_request, decode_start_time and the event decoders; the
fuzzers' own headers for their event streams). The seeds start the fuzzers on the
paths that matter: the happy path, a partial fill and its remainder, an attempt
that times out and is in doubt (resolved by a position query, or not: the deadline),
a malformed answer, a late fill after completion, the release at the late-answer
horizon, many attempts given up on an exclusive venue, fill reports deduplicated
and capped, INT64 extremes, invalid requests and invalid settings.

    python3 fuzz/corpus/make_engine_corpus.py     # rewrites the three directories
"""
import pathlib
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parent


def u8(v): return struct.pack("<B", v & 0xFF)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def i64(v): return struct.pack("<q", v)
def u64(v): return struct.pack("<Q", v)
def f64(v): return struct.pack("<d", v)


INT64_MAX = 2**63 - 1
INT64_MIN = -2**63

# --- settings (decode_settings) -----------------------------------------------------


def policy(max_attempts=2, total=20000, attempt=8000, initial=1000, max_backoff=5000, mult=38, jitter=0,
           min_window=500):
    """constructed_policy(): times in ms; mult is the byte (1 + 99 * b / 255; 38 ~ 2.5)."""
    assert 1 <= max_attempts <= 6 and 1 <= attempt <= total <= 65536 and initial < total
    assert initial <= max_backoff < total and 1 <= min_window <= attempt
    return (u8(max_attempts - 1) + u16(total - 1) + u16(attempt - 1) + u16(initial) + u16(max_backoff - initial)
            + u8(mult) + u8(jitter) + u16(min_window - 1))


def step(slippage_bps=100, **kw):
    return u16(slippage_bps - 1) + policy(**kw)


CAPACITY = {8: 0, 16: 1, 128: 2, 65536: 3, 7: 7}


def settings(steps, deadline_k=3333, final_window=10000, horizon_k=1500, capacity=128, attempts_byte=63,
             seed=1, breaker_market=False):
    """deadline = 2 + 9 k ms (3333: 29999 ms); final window in ms (< deadline);
    horizon = deadline + 1 + 40 k ms (1500: + 60 s); attempts_byte: 1 + b % 32 below 224,
    240..251: 1000."""
    deadline = 2 + 9 * deadline_k
    assert 1 <= final_window < deadline
    return (u8((len(steps) - 1) << 1) + b"".join(steps) + u16(deadline_k) + u16(final_window - 1)
            + u16(horizon_k) + u8(CAPACITY[capacity]) + u8(attempts_byte) + u16(seed) + u8(1 if breaker_market else 0))


LIMIT_THEN_MARKET = [step(100), step(500, max_attempts=3, total=30000, attempt=5000, initial=500, max_backoff=2000,
                                  mult=25)]
MARKET_ONLY = [step(500, max_attempts=3, total=30000, attempt=5000, initial=500, max_backoff=2000, mult=25)]
# Short attempts and no backoff: many attempts before the deadline.
QUICK_MARKET = [step(500, max_attempts=6, total=60000, attempt=100, initial=0, max_backoff=0, mult=0, min_window=50)]
THREE_STEPS = [step(50, max_attempts=1, total=3000, attempt=1000, max_backoff=2000),
               step(100, max_attempts=2, total=5000, attempt=1000, max_backoff=2000),
               step(500, max_attempts=3, total=30000, attempt=2000, initial=100, max_backoff=400)]

# --- request (decode_request) and start time ------------------------------------------

EXCLUSIVE, QUERIES, BUY, NO_AUTO_START = 1, 2, 4, 8


def request(flags=0, lot=b"\x00", quantity=None, price=b"\x01", exit_id=7):
    """lot: tag 0 -> 1 (default); quantity default 1000 lots (tag 1: lot x (1 + u16));
    price: tag 1 -> 100 (default)."""
    if quantity is None:
        quantity = u8(1) + u16(999)
    return u8(flags) + lot + quantity + price + u8(exit_id)


def lot_u16(v): return u8(1) + u16(v - 1)               # 1 + u16
def lot_edge(i): return u8(2) + u8(i)                   # 0, -1, INT64_MIN, INT64_MAX, 10^6
def lot_raw(v): return u8(3) + i64(v)
def qty_lots_dust(lots, dust): return u8(0) + u8(lots - 1) + u8(dust)
def qty_lots(lots): return u8(1) + u16(lots - 1)
def qty_edge(i): return u8(2) + u8(i)                   # 0, lot-1, lot, INT64_MAX, -1, INT64_MIN
def qty_raw(v): return u8(3) + i64(v)
def price_raw(v): return u8(2) + f64(v)
def price_edge(i): return u8(3) + u8(i)                 # 0, NaN, inf, -1, DBL_MAX, denorm, 1e-300

START = u8(0) + u32(0)  # 10^12 ns
START_NEAR_MAX = u8(2) + u16(1000)

# --- events (exit_engine_fuzzer.cpp) ---------------------------------------------------

(START_EV, QUOTE, ANSWER, FILL, POSITION, POSITION_FAILED, DEAD, TIMEOUT, HALT, CANCEL_TERMINAL, CANCEL_PARTIAL,
 CALLBACK, AUTO) = range(13)
# time steps (op / 16)
NOW, MS, MS100, MS16, TO_DUE, DUE_MINUS_1, SECONDS = 0, 6, 10, 12, 13, 14, 15


def ev(kind, t=NOW, tpayload=b"", payload=b""):
    return u8(t * 16 + kind) + tpayload + payload


def auto(choice=0, t=NOW, tpayload=b""):
    """auto: a quote if asked; the position if queried; the pending attempt: choice % 4
    0 filled, 1 half, 2 rejected transient (bit 2: escalates), 3 timeout at poll_timeout."""
    return ev(AUTO, t, tpayload, u8(choice))


# decode_attempt: 0 the pending one (or the last), 3 the last, 4 1 + u8 % last, 5 zero,
# 6 one past the last, 7 any u32.
def att_pending(): return u8(0)
def att_last(): return u8(3)
def att_nth(n): return u8(4) + u8(n - 1)
def att_zero(): return u8(5)
def att_next(): return u8(6)
def att_raw(v): return u8(7) + u32(v)


# decode_quantity: 0 the order's, 2 1 + u16 % (q-1), 3 zero, 4 any i64, 5 edge
# (INT64_MIN, INT64_MAX, -1, 1), 6 q + 1 + u8, 7 2q.
def q_full(): return u8(0)
def q_part(v): return u8(2) + u16(v)
def q_zero(): return u8(3)
def q_raw(v): return u8(4) + i64(v)
def q_edge(i): return u8(5) + u8(i)
def q_over(v): return u8(6) + u8(v)
def q_double(): return u8(7)


# decode_price: 0 the order's limit, 1 1 + u16/100, 2 any double, 3 edge
# (0, -0, NaN, inf, -inf, -1, DBL_MAX, denorm).
def p_limit(): return u8(0)
def p_raw(v): return u8(2) + f64(v)
def p_edge(i): return u8(3) + u8(i)


# decode_id: 0 "", 1 tx-a, 2 tx-b, 3 tx-c
def tx(i): return u8(i)


# decode_error: 0 none, 1 in_doubt, 2 exit_rejected, 3 venue_unavailable, 4 generic
# timed_out, 5 system connection_refused, 6 the venue's (u8), 7 exitguard's (i16).
def err(i, v=None):
    if i == 6: return u8(6) + u8(v or 0)
    if i == 7: return u8(7) + struct.pack("<h", v or 0)
    return u8(i)


FILLED, PARTIAL, REJECTED, IN_DOUBT = 0, 1, 2, 3
NOT_ANSWERED, ESCALATES = 1, 2
TRANSIENT, PERMANENT, KIND_IN_DOUBT = 0, 4, 8


def answer_payload(status, qty=None, price=None, txid=1, error=None, bits=PERMANENT):
    return (u8(status) + (qty or q_full()) + (price or p_limit()) + tx(txid) + (error or err(0)) + u8(bits))


def answer(attempt, status, qty=None, price=None, txid=1, error=None, bits=PERMANENT, t=NOW, tpayload=b""):
    return ev(ANSWER, t, tpayload, attempt + answer_payload(status, qty, price, txid, error, bits))


def fill(attempt, fill_id, qty, price=None, t=NOW, tpayload=b""):
    return ev(FILL, t, tpayload, attempt + tx(fill_id) + qty + (price or p_limit()))


def position(tag, payload=b"", t=NOW):
    """decode_position: 0 what remains, 2 less 1 + u8 % 4 lots, 3 zero, 4 the request,
    5 the request + 1, 6 any i64, 7 -1."""
    return ev(POSITION, t, b"", u8(tag) + payload)


QUOTE_ASKED = auto(0)   # answers the first quote (the engine asks one right after start)
TIMEOUT_DUE = ev(TIMEOUT, TO_DUE)


def engine_seeds():
    s2 = settings(LIMIT_THEN_MARKET)
    s1 = settings(MARKET_ONLY)
    seeds = {
        # Happy path: quote, the limit order fills in full.
        "happy_path": s2 + request() + START + QUOTE_ASKED + auto(0),
        # A partial fill: the remainder goes at once (after a quote), then fills.
        "partial_then_rest": s2 + request() + START + QUOTE_ASKED + auto(1) + auto(0) + auto(0),
        # Timed out: in doubt; the venue can be queried: the position sizes the next attempt.
        "timeout_query_resend": s2 + request(QUERIES) + START + QUOTE_ASKED + auto(3) + position(2, u8(0))
            + auto(0) + auto(0) + auto(0) + auto(0),
        # Timed out on a venue that can neither be queried nor has exclusive attempts:
        # nothing more is sent; in_doubt_unresolvable at the deadline, then the horizon.
        "timeout_in_doubt_unresolvable": s2 + request() + START + QUOTE_ASKED + auto(3),
        # Timed out on an exclusive venue: the next attempt goes; the first lands late.
        "timeout_exclusive_late_answer": s2 + request(EXCLUSIVE) + START + QUOTE_ASKED + auto(3) + auto(0)
            + answer(att_nth(1), PARTIAL, q_part(300)) + auto(0) + auto(0),
        # Malformed answers: filled without a quantity, then an unnamed status.
        "malformed_fill_without_quantity": s2 + request(EXCLUSIVE | QUERIES) + START + QUOTE_ASKED
            + answer(att_pending(), FILLED, q_zero()) + auto(0) + auto(0) + auto(0),
        "malformed_unknown_status": s2 + request(QUERIES) + START + QUOTE_ASKED
            + answer(att_pending(), 200, q_full()) + position(3) + auto(0),
        # Over-fill, a NaN price, INT64_MAX in an answer and in fill reports.
        "overfill_nan_price": s1 + request() + START + QUOTE_ASKED
            + answer(att_pending(), FILLED, q_edge(1), p_edge(2)),
        # Late fill after completion: attempt 1 times out (exclusive), attempt 2 fills
        # everything, then attempt 1's answer says it filled too.
        "late_fill_after_completion": s1 + request(EXCLUSIVE) + START + QUOTE_ASKED + auto(3) + auto(0)
            + auto(0) + auto(0) + answer(att_nth(1), FILLED, q_full(), t=MS, tpayload=u8(10)),
        # Found by this fuzzer (fixed): a malformed answer to an attempt given up on,
        # arriving after a position report but before the next submit, made that report
        # stale; the engine still sent the whole remainder without asking again.
        "malformed_after_position_report": s1 + request(EXCLUSIVE | QUERIES) + START + QUOTE_ASKED + auto(3)
            + auto(0) + auto(0) + answer(att_pending(), FILLED, q_zero()) + auto(0) + position(0)
            + answer(att_nth(1), FILLED, q_zero()) + auto(0) + auto(0) + auto(0) + auto(0) + auto(0),
        # Found by this fuzzer (fixed): one lot and 39 units of dust; the attempt (one
        # lot) is in doubt and the position report says nothing is open: the dust no
        # order carried was counted as filled (more than all orders together).
        "dust_position_report_zero": s1 + request(QUERIES, lot=lot_u16(1000), quantity=qty_lots_dust(1, 39)) + START
            + QUOTE_ASKED + auto(3) + auto(0) + position(3),
        # Complete with an attempt still able to answer: released at the horizon.
        "horizon_release": s1 + request(EXCLUSIVE) + START + QUOTE_ASKED + auto(3) + auto(0) + auto(0)
            + ev(TIMEOUT, SECONDS, u16(200)),
        # Many attempts given up on an exclusive venue (100 ms each), then the end:
        # every one of them is still told to stop at the release.
        "many_attempts_given_up": settings(QUICK_MARKET, attempts_byte=31) + request(EXCLUSIVE) + START
            + (auto(0) + auto(3)) * 32,
        # Fill reports: two with one id (counted once), one over the order's size.
        "fill_reports_dedup_cap": s1 + request() + START + QUOTE_ASKED
            + fill(att_pending(), 1, q_part(100)) + fill(att_pending(), 1, q_part(100))
            + fill(att_pending(), 2, q_double()) + fill(att_pending(), 0, q_edge(1))
            + answer(att_pending(), PARTIAL, q_part(50)),
        # The whole int64 range: INT64_MAX to sell, lot 1.
        "int64_max_quantity": s1 + request(EXCLUSIVE, quantity=qty_edge(3)) + START + QUOTE_ASKED
            + fill(att_pending(), 1, q_edge(1)) + answer(att_pending(), FILLED, q_edge(1)),
        # Dust: 3 lots of 1000 and 999 units; lot sizes of 0 and INT64_MIN; a NaN price.
        "dust": s2 + request(lot=lot_u16(1000), quantity=qty_lots_dust(3, 999)) + START + QUOTE_ASKED + auto(1)
            + auto(0) + auto(0),
        "invalid_lot_zero": s2 + request(lot=lot_edge(0)) + START,
        "invalid_quantity_dust_only": s2 + request(lot=lot_u16(1000), quantity=qty_edge(1)) + START,
        "invalid_signal_nan": s2 + request(price=price_edge(1)) + START,
        # Refused at start by the breaker; a second start.
        "refused_circuit_open": s2 + request(NO_AUTO_START) + START + ev(START_EV, payload=u8(7)) + ev(START_EV, payload=u8(0)),
        # Cancels: partial while an attempt is in flight (it settles), terminal.
        "cancel_partial_in_flight": s2 + request() + START + QUOTE_ASKED + ev(CANCEL_PARTIAL)
            + answer(att_pending(), PARTIAL, q_part(10)) + ev(QUOTE),
        "cancel_terminal": s2 + request() + START + QUOTE_ASKED + ev(CANCEL_TERMINAL) + auto(0),
        # Halted with an attempt in flight, then a rejection that escalates.
        "halt_in_flight": s2 + request() + START + QUOTE_ASKED + ev(HALT)
            + answer(att_pending(), REJECTED, error=err(2), bits=TRANSIENT | ESCALATES),
        # Rejections: escalate at once, transient retries, a dead attempt, a position failure.
        "reject_escalate_dead": s2 + request(QUERIES) + START + QUOTE_ASKED + auto(2 | 4) + auto(0) + auto(3)
            + ev(DEAD, payload=att_nth(2)) + auto(0) + ev(POSITION_FAILED, payload=err(6, 9)) + auto(0),
        "three_steps_transient": settings(THREE_STEPS) + request(EXCLUSIVE) + START + QUOTE_ASKED + auto(2)
            + auto(0, TO_DUE) + auto(2) + auto(0, TO_DUE) + auto(2) + auto(0) + auto(0),
        # Bad quotes (NaN, -1, inf), an answer to attempt 0 and to one never sent, a
        # callback failure naming an attempt never sent.
        "bad_quotes_unknown_attempts": s2 + request(NO_AUTO_START) + START + ev(START_EV, payload=u8(0))
            + ev(QUOTE, payload=p_edge(2)) + answer(att_zero(), FILLED) + answer(att_raw(77), FILLED)
            + ev(CALLBACK, payload=u8(0) + att_raw(5)) + ev(QUOTE, payload=p_edge(5)),
        # Near the end of the clock: deadline and horizon saturate.
        "start_near_clock_max": s2 + request() + START_NEAR_MAX + QUOTE_ASKED + auto(3) + auto(0),
        # An unanswered operation that failed (transport error), in doubt, on time.
        "unanswered_in_doubt": s2 + request(EXCLUSIVE) + START + QUOTE_ASKED
            + answer(att_pending(), REJECTED, error=err(4), bits=NOT_ANSWERED | KIND_IN_DOUBT) + auto(0) + auto(0),
        # Raw settings (mode bit 0): refused by validate() (no ladder; NaN slippage).
        "raw_settings_empty_ladder": u8(1) + b"\x00" * 16,
        "raw_settings_nan_slippage": u8(1 | (2 << 1)) + u8(0) + u8(2) + u8(7) + u8(0) + u8(0) + u8(0) + u8(0)
            + b"\x00" * 20,
        # Constructed settings with a slippage of 10001 bps (the u16 edge 60002): refused.
        "settings_slippage_10001": settings([step(1), u16(60002) + policy()]) + request() + START,
    }
    return seeds


# --- venue_answer_fuzzer.cpp --------------------------------------------------------------
# settings, request, start time, then rounds: the answer (decode_attempt,
# decode_answer), u8 n fill reports (% 4) each (decode_attempt, decode_fill), u8 then
# (% 4: 0 a timeout at poll_timeout, 1 nothing, 2 nothing and no carrying on, 3 + u8 ms
# then a timeout); after 0, 1 and 3 the fuzzer carries on to the next pending attempt
# (answering quotes, position queries with what remains, timers).
THEN_TIMEOUT, THEN_CARRY_ON, THEN_NOTHING, THEN_LATER = 0, 1, 2, 3


def va_round(attempt, status, qty=None, price=None, txid=1, error=None, bits=PERMANENT, fills=(), then=THEN_CARRY_ON,
             later=0):
    out = attempt + answer_payload(status, qty, price, txid, error, bits) + u8(len(fills))
    for (a, fid, q) in fills:
        out += a + tx(fid) + q + p_limit()
    out += u8(then) + (u8(later) if then == THEN_LATER else b"")
    return out


def venue_seeds():
    s2 = settings(LIMIT_THEN_MARKET)
    s1 = settings(MARKET_ONLY)
    return {
        "filled": s2 + request() + START + va_round(att_pending(), FILLED),
        "partial_and_reports": s2 + request() + START
            + va_round(att_pending(), PARTIAL, q_part(400), fills=[(att_last(), 1, q_part(500)), (att_last(), 1, q_part(500))])
            + va_round(att_pending(), FILLED),
        "malformed_non_exclusive_query": s2 + request(QUERIES) + START
            + va_round(att_pending(), FILLED, q_zero()) + va_round(att_pending(), FILLED),
        "malformed_exclusive_no_query": s1 + request(EXCLUSIVE) + START
            + va_round(att_pending(), 9, q_full(), then=THEN_TIMEOUT) + va_round(att_pending(), FILLED),
        "malformed_negative_quantity": s2 + request(EXCLUSIVE | QUERIES) + START
            + va_round(att_pending(), PARTIAL, q_edge(0)) + va_round(att_pending(), FILLED),
        "overfill_answer_and_reports": s1 + request() + START
            + va_round(att_pending(), FILLED, q_edge(1), p_edge(6),
                       fills=[(att_last(), 2, q_edge(1)), (att_last(), 3, q_over(5)), (att_last(), 0, q_raw(-5))]),
        "in_doubt_with_fill_then_reports": s2 + request(EXCLUSIVE) + START
            + va_round(att_pending(), IN_DOUBT, q_part(100), error=err(6, 3), fills=[(att_last(), 1, q_part(200))])
            + va_round(att_pending(), FILLED) + va_round(att_nth(1), FILLED, then=THEN_NOTHING),
        "timeout_then_late_answer": s1 + request(EXCLUSIVE) + START
            + va_round(att_raw(99), FILLED, then=THEN_TIMEOUT) + va_round(att_nth(1), FILLED, then=THEN_CARRY_ON)
            + va_round(att_pending(), FILLED),
        "rejected_errors": s2 + request() + START
            + va_round(att_pending(), REJECTED, error=err(5), bits=TRANSIENT, then=THEN_LATER, later=200)
            + va_round(att_pending(), REJECTED, error=err(7, 999), bits=TRANSIENT | ESCALATES)
            + va_round(att_pending(), FILLED),
        "unanswered_permanent": s2 + request() + START
            + va_round(att_pending(), FILLED, error=err(3), bits=NOT_ANSWERED | PERMANENT),
    }


# --- retry_budget_fuzzer.cpp ----------------------------------------------------------------
# header u8 (bit 0 unlimited attempts, bit 1 the double-seconds clock), the policy
# (constructed_policy), u8 hard-limit tag (% 4: 0 start + 10 x total, 1 start + u16 ms,
# 2 start - u16 ms, 3 the clock's max), u8 start tag (% 4: 0 10^12 ns, 1 the clock's
# max - u8 s, 2 u32 ms, 3 zero), u64 generator seed + u8 mode, then ops: u8 each
# (% 4: 0 can_start/attempt_end, 1 spend + next_start (bit 2: then go to it),
# 2 + u8 ms, 3 + u16 ms).
def budget_seeds():
    p = policy(max_attempts=3, total=30000, attempt=10000, initial=1000, max_backoff=5000, mult=38, jitter=0)
    pj = policy(max_attempts=6, total=2000, attempt=500, initial=10, max_backoff=1500, mult=255, jitter=3, min_window=100)
    ops_retry = (u8(0) + u8(1)) * 6
    return {
        "standard": u8(0) + p + u8(0) + u8(0) + u64(1) + u8(0) + ops_retry,
        "unlimited_decorrelated": u8(1) + pj + u8(1) + u16(1500) + u8(0) + u64(2) + u8(0) + (u8(1 | 4) + u8(2) + u8(50)) * 20,
        "hard_limit_before_start": u8(0) + p + u8(2) + u16(100) + u8(0) + u64(3) + u8(2) + ops_retry,
        "near_clock_max": u8(0) + p + u8(3) + u8(1) + u8(5) + u64(4) + u8(3) + ops_retry,
        "float_clock": u8(2) + pj + u8(0) + u8(0) + u64(5) + u8(0) + ops_retry,
    }


def write(name, seeds):
    out = ROOT / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for seed, data in seeds.items():
        (out / seed).write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {out}")


def main():
    write("exit_engine", engine_seeds())
    write("venue_answer", venue_seeds())
    write("retry_budget", budget_seeds())


if __name__ == "__main__":
    main()
