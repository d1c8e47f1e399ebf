// A counting semaphore: at most `size` callers run at once, the rest wait in order.
// The operator's background work (TLS probes, queue reads, DNS checks) shares this one.
// Urgent callers wait in their own line, served before the routine one (a rotated
// certificate's probe must not wait behind thousands of routine probes).
export class Semaphore {
  private readonly urgent: (() => void)[] = [];
  private readonly routine: (() => void)[] = [];
  constructor(private free: number) {}

  async run<T>(fn: () => Promise<T>, opts: { urgent?: boolean } = {}): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => (opts.urgent ? this.urgent : this.routine).push(r));
    try {
      return await fn();
    } finally {
      const next = this.urgent.shift() ?? this.routine.shift();
      if (next) next();
      else this.free++;
    }
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.urgent.length + this.routine.length;
  }
}
