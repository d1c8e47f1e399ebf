// Per-key token buckets (per-user message rate). The clock is injected so tests need no sleeps.
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token for `key`; false when the bucket is empty. */
  take(key: string): boolean {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.prune(t);
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 60_000) * this.perMinute);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private prune(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 60_000) * this.perMinute >= this.burst) this.buckets.delete(k);
    }
  }
}

/**
 * Counts failures per key over a sliding window, plus attempts still in flight: an attempt
 * takes its slot when it starts (begin), so parallel attempts cannot all pass a check made
 * before any of them failed; end() turns the slot into a failure or frees it.
 * The key count is bounded: expired keys are pruned, and when every key is live the oldest
 * is dropped (memory wins; flushing one key needs maxKeys fresh keys inside one window).
 */
export class FailureWindow {
  private readonly entries = new Map<string, { failures: number[]; inFlight: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Failures inside the window plus attempts in flight. */
  used(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    this.expire(e, this.now());
    if (e.failures.length === 0 && e.inFlight === 0) {
      this.entries.delete(key);
      return 0;
    }
    return e.failures.length + e.inFlight;
  }

  blocked(key: string): boolean {
    return this.used(key) >= this.limit;
  }

  /** Failures inside the window only: at the limit, no attempt in flight can change the verdict. */
  failures(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    this.expire(e, this.now());
    return e.failures.length;
  }

  /** Full of failures: refuse without waiting. */
  exhausted(key: string): boolean {
    return this.failures(key) >= this.limit;
  }

  /** An attempt for `key` starts: it counts against the limit until end(). */
  begin(key: string): void {
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= this.maxKeys) this.makeRoom();
      e = { failures: [], inFlight: 0 };
    } else {
      this.entries.delete(key); // re-insert: Map order is then least recently used first
    }
    e.inFlight++;
    this.entries.set(key, e);
  }

  /** The attempt begun for `key` is over; a failure stays counted for the window. */
  end(key: string, failed: boolean): void {
    const e = this.entries.get(key) ?? { failures: [], inFlight: 1 };
    e.inFlight = Math.max(0, e.inFlight - 1);
    if (failed) {
      e.failures.push(this.now());
      if (!this.entries.has(key)) {
        if (this.entries.size >= this.maxKeys) this.makeRoom();
        this.entries.set(key, e);
      }
    }
    this.expire(e, this.now());
    if (e.failures.length === 0 && e.inFlight === 0) this.entries.delete(key);
  }

  /** A failure with no attempt in flight (begin + end). */
  record(key: string): void {
    this.begin(key);
    this.end(key, true);
  }

  private expire(e: { failures: number[] }, t: number): void {
    const cutoff = t - this.windowMs;
    let drop = 0;
    while (drop < e.failures.length && (e.failures[drop] as number) <= cutoff) drop++;
    if (drop) e.failures.splice(0, drop);
  }

  private makeRoom(): void {
    const t = this.now();
    for (const [k, e] of this.entries) {
      this.expire(e, t);
      if (e.failures.length === 0 && e.inFlight === 0) this.entries.delete(k);
    }
    // Still full: drop the least recently used keys without an attempt in flight.
    for (const [k, e] of this.entries) {
      if (this.entries.size < this.maxKeys) break;
      if (e.inFlight === 0) this.entries.delete(k);
    }
  }
}
