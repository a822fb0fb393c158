// Faults: the fault-injection settings that exitguard_faults edits.
//
// Counters (dropSends, loseSendAnswers, http429, http503, unhealthy,
// preflightCustomError) count down by one per request they affect; the other
// keys are settings that hold until changed or reset. slotMs and
// blockhashValidity start at the command-line values and return to them on reset.
// Used only from the server's event loop (single-threaded); nothing to cancel.

const COUNTERS = ['dropSends', 'loseSendAnswers', 'http429', 'http503', 'unhealthy', 'preflightCustomError'];
const SETTINGS = ['delayLandingMs', 'stallMs', 'customErrorCode', 'slotMs', 'blockhashValidity', 'retryAfterSeconds', 'numSlotsBehind'];

// An exitguard_faults update that is refused. A plain value; nothing to cancel.
export class FaultsError extends Error {}

export class Faults {
  constructor({ slotMs, blockhashValidity }) {
    this.baseline = { slotMs, blockhashValidity };
    this.reset();
  }

  reset() {
    this.values = {
      dropSends: 0,
      loseSendAnswers: 0,
      http429: 0,
      http503: 0,
      unhealthy: 0,
      preflightCustomError: 0,
      delayLandingMs: 0,
      stallMs: 0,
      customErrorCode: 6001,
      slotMs: this.baseline.slotMs,
      blockhashValidity: this.baseline.blockhashValidity,
      retryAfterSeconds: 1,
      numSlotsBehind: 10,
    };
  }

  // Validates the whole update before applying any of it; `reset: true` first
  // restores the defaults, then the other keys of the same update apply.
  merge(update) {
    if (update === null || typeof update !== 'object' || Array.isArray(update)) {
      throw new FaultsError('exitguard_faults expects one object of settings');
    }
    const next = {};
    for (const [key, value] of Object.entries(update)) {
      if (key === 'reset') {
        if (typeof value !== 'boolean') throw new FaultsError('reset must be a boolean');
        continue;
      }
      if (!COUNTERS.includes(key) && !SETTINGS.includes(key)) throw new FaultsError(`unknown fault setting ${JSON.stringify(key)}`);
      if (!Number.isSafeInteger(value) || value < 0) throw new FaultsError(`${key} must be a non-negative integer`);
      if (key === 'blockhashValidity' && value < 1) throw new FaultsError('blockhashValidity must be at least 1');
      if (key === 'customErrorCode' && value > 0xffffffff) throw new FaultsError('customErrorCode must fit in a u32');
      next[key] = value;
    }
    if (update.reset === true) this.reset();
    Object.assign(this.values, next);
    return this.snapshot();
  }

  // Consumes one unit of a counter; true if the fault applies to this request.
  take(counter) {
    if (this.values[counter] > 0) {
      this.values[counter] -= 1;
      return true;
    }
    return false;
  }

  get(name) { return this.values[name]; }

  snapshot() { return { ...this.values }; }
}
