// A counting semaphore: at most `size` callers run at once, the rest wait in order.
// The operator's background work (TLS probes, queue reads, DNS checks) shares this one.
export class Semaphore {
  private readonly waiters: (() => void)[] = [];
  constructor(private free: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    }
  }
}
