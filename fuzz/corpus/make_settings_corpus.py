#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/settings_fuzzer.cpp: fuzz/corpus/settings/<seed>.

Each seed is a few bytes in the layout settings_fuzzer.cpp documents (header,
retry policy field mask and fields, breaker mask and settings, generator mode
and seed, decorrelated `previous` values); the tags are fuzz_input.hpp's. They
start the fuzzer at the policies that matter: the defaults, exit_policy(), the
jitters, the boundaries validate() tests (max_attempts and multiplier at 100,
total_timeout past a quarter of the clock's range), huge int64 and floating
durations (NaN, DBL_MAX/4, 1e300), a jitter outside the enum, breaker settings.

    python3 fuzz/corpus/make_settings_corpus.py     # rewrites fuzz/corpus/settings/
"""
import pathlib
import shutil
import struct

OUT = pathlib.Path(__file__).resolve().parent / "settings"

# header bits
FLOAT, EXIT_POLICY, DECODED_PREVIOUS = 1, 2, 4
# field mask bits
MAX_ATTEMPTS, TOTAL, ATTEMPT, INITIAL, MULTIPLIER, MAX_BACKOFF, JITTER, MIN_WINDOW = (1 << i for i in range(8))
# breaker mask bits
THRESHOLD, COOLDOWN, TRIP_ACTION = 1, 2, 4


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def i32(v): return struct.pack("<i", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def i64(v): return struct.pack("<q", v)
def f64(v): return struct.pack("<d", v)


# Tagged durations (fuzz_input.hpp): ticks_ns() / seconds_double().
def ms(v): return u8(0) + u16(v)            # milliseconds 0..65535 (both clocks)
def raw_ns(v): return u8(1) + i64(v)        # int clock: any int64 tick count
def raw_s(v): return u8(1) + f64(v)         # double clock: any double
def edge(i): return u8(2) + u8(i)           # index into the edge table
def secs(v): return u8(3) + i32(v)          # whole seconds, int32

# ticks_ns() edges: 0 1 -1 max min max/4 max/4+1 max/4-1 30s 20s 10s 5s 500ms 2^53
NS_MAX_4, NS_MAX_4_PLUS_1, NS_MAX_4_MINUS_1, NS_2_53 = 5, 6, 7, 13
# seconds_double() edges: 0 -0 NaN inf -inf max max/4 next(max/4) min denorm -1 30 0.5 1e300
S_NAN, S_MAX_4 = 2, 6
# ratio() edges: 1 prev(1) 100 next(100) 2.5 0 -1 NaN inf -inf max denorm
R_100, R_NEXT_100, R_NAN = 2, 3, 7


def small(v): return u8(0) + u8(v)          # count(): one byte
def raw32(v): return u8(1) + u32(v)         # count(): any 32 bits
def ratio_milli(v): return u8(0) + u16(v)   # ratio(): 1 + v/1000
def ratio_edge(i): return u8(2) + u8(i)


def gen(mode, seed): return u8(mode) + u64(seed)


NO_BREAKER = u8(0)

SEEDS = {
    # The standard policy and breaker (jitter none), and the exit policy.
    "default": u8(0) + u8(0) + NO_BREAKER + gen(0, 1),
    "exit_policy": u8(EXIT_POLICY) + u8(0) + NO_BREAKER + gen(0, 2),
    # Each jitter, with the generator at its edges too (mode 2: always max).
    "jitter_full": u8(0) + u8(JITTER) + small(1) + NO_BREAKER + gen(0, 3),
    "jitter_equal_gen_max": u8(0) + u8(JITTER) + small(2) + NO_BREAKER + gen(2, 0),
    # Decorrelated, each retry given a decoded `previous`: int64 max, -1, 0, 2^53.
    "decorrelated_previous": u8(DECODED_PREVIOUS) + u8(JITTER) + small(3) + NO_BREAKER + gen(3, 4)
        + raw_ns(2**63 - 1) + raw_ns(-1) + edge(0) + edge(NS_2_53),
    # max_attempts and multiplier at their limits (100, 100.0): valid, 100 retries.
    "attempts_100_multiplier_100": u8(0) + u8(MAX_ATTEMPTS | MULTIPLIER) + small(100) + ratio_edge(R_100)
        + NO_BREAKER + gen(0, 5),
    # total_timeout one tick past a quarter of int64 nanoseconds: refused.
    "total_past_max_over_4": u8(0) + u8(TOTAL) + edge(NS_MAX_4_PLUS_1) + NO_BREAKER,
    # Huge int64 backoffs: total max/4, initial 2^53 ns (where doubles stop being
    # exact), max_backoff max/4 - 1, multiplier 1.5, full jitter, 100 attempts.
    "int_huge_backoff": u8(0) + u8(MAX_ATTEMPTS | TOTAL | INITIAL | MULTIPLIER | MAX_BACKOFF | JITTER)
        + small(100) + edge(NS_MAX_4) + edge(NS_2_53) + ratio_milli(500) + edge(NS_MAX_4_MINUS_1) + small(1)
        + NO_BREAKER + gen(0, 7),
    # A jitter outside the enum (-1): refused.
    "jitter_minus_1": u8(0) + u8(JITTER) + raw32(0xFFFFFFFF) + NO_BREAKER,
    # Double seconds: a NaN total_timeout (refused); and a valid policy spanning
    # DBL_MAX/4: initial 1 s, multiplier 100, max_backoff 1e307, decorrelated
    # jitter (previous x multiplier overflows to infinity).
    "float_nan_total": u8(FLOAT) + u8(TOTAL) + edge(S_NAN) + NO_BREAKER,
    "float_huge": u8(FLOAT) + u8(MAX_ATTEMPTS | TOTAL | ATTEMPT | INITIAL | MULTIPLIER | MAX_BACKOFF | JITTER)
        + small(100) + edge(S_MAX_4) + edge(S_MAX_4) + ms(1000) + ratio_edge(R_100) + raw_s(1e307) + small(3)
        + NO_BREAKER + gen(0, 8),
    # Breaker settings: valid (threshold 1000, 30 s cooldown, halted), and
    # all wrong (threshold 0, cooldown -1 ns, trip action 7).
    "breaker_valid": u8(0) + u8(0) + u8(THRESHOLD | COOLDOWN | TRIP_ACTION) + raw32(1000) + ms(30000) + u8(2)
        + gen(0, 9),
    "breaker_invalid": u8(0) + u8(0) + u8(THRESHOLD | COOLDOWN | TRIP_ACTION) + small(0) + edge(2) + u8(7),
    # Built with -DEXITGUARD_FUZZ_FLOAT_BREAKER: a NaN cooldown on the double-seconds
    # clock (header bit 0; default policy and steady_clock breaker, then the float
    # breaker's mask: cooldown, edge NaN). validate() accepts it today, which the
    # harness reports; without the define it is an ordinary float-clock seed.
    "float_breaker_nan_cooldown": u8(FLOAT) + u8(0) + NO_BREAKER + u8(COOLDOWN) + edge(S_NAN),
}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    for name, data in SEEDS.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
