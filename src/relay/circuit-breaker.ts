// A circuit breaker per upstream: after `failureThreshold` connection-level failures in a
// row (no connection, timeout, login refused) it opens and routes skip that upstream; after a
// cool-down (openMs, doubling with every re-open up to maxOpenMs) it half-opens and lets ONE
// trial through; the trial's success closes it (cool-down back to openMs), its failure opens
// it again. An answer from the upstream (250, 4xx, 5xx) is a success here: the upstream is
// up, whatever it thinks of the message. Pure: the clock is injected.

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
  maxOpenMs: number;
  now?: () => number;
}

export class CircuitBreaker {
  private failuresInRow = 0;
  /** Times opened since the last close: the cool-down exponent. */
  private opens = 0;
  private openUntil = 0;
  private isOpen = false;
  private trialInFlight = false;
  /** When the last failure was recorded (ms); 0: never. */
  lastFailureAt = 0;
  private readonly now: () => number;

  constructor(private readonly o: BreakerOptions) {
    this.now = o.now ?? Date.now;
  }

  get state(): BreakerState {
    if (!this.isOpen) return 'closed';
    return this.now() >= this.openUntil ? 'half-open' : 'open';
  }

  /** When an open breaker half-opens (ms); 0 when closed. */
  get retryAt(): number {
    return this.isOpen ? this.openUntil : 0;
  }

  /**
   * May a transaction go to this upstream now? Closed: yes. Open: no. Half-open: yes for
   * exactly one caller (the trial) until it reports back.
   */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  /** Would tryAcquire() say yes (without taking the trial)? */
  get available(): boolean {
    const s = this.state;
    return s === 'closed' || (s === 'half-open' && !this.trialInFlight);
  }

  onSuccess(): void {
    this.failuresInRow = 0;
    this.opens = 0;
    this.isOpen = false;
    this.trialInFlight = false;
  }

  onFailure(): void {
    this.lastFailureAt = this.now();
    this.failuresInRow++;
    const trialFailed = this.isOpen && this.trialInFlight;
    this.trialInFlight = false;
    if (trialFailed || (!this.isOpen && this.failuresInRow >= this.o.failureThreshold)) this.open();
  }

  /** The caller gave up its trial without an answer (aborted): another caller may try. */
  onAbandon(): void {
    this.trialInFlight = false;
  }

  private open(): void {
    this.isOpen = true;
    this.opens++;
    const coolDown = Math.min(this.o.maxOpenMs, this.o.openMs * 2 ** (this.opens - 1));
    this.openUntil = this.now() + coolDown;
  }
}
