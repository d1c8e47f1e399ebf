// One overall budget for a probe; each step gets what is left, capped.
export class Deadline {
  private readonly end: number;
  constructor(totalMs: number, private readonly clock: () => number = Date.now) {
    this.end = clock() + totalMs;
  }
  remaining(): number {
    return Math.max(0, this.end - this.clock());
  }
  /** Timeout for one step: the step's own cap or what is left overall, whichever is smaller (at least 1 ms). */
  step(capMs: number): number {
    return Math.max(1, Math.min(capMs, this.remaining()));
  }
}
