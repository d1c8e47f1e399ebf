// Counting semaphores with a bounded wait: the relay's admission control (DATA slots per
// pod, upstream pool slots, upstream slots per user). A wait ends with a slot, or with null
// when the deadline passes, the caller's signal aborts, or the slots are closed: a
// transaction never waits without a bound. Waiters are served first come, first served.

/** Gives a slot back; calling it again does nothing. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release | null) => void;
}

export class Slots {
  private used = 0;
  private closed = false;
  private readonly waiters: Waiter[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`slot capacity must be a positive integer, got ${capacity}`);
  }

  get inUse(): number {
    return this.used;
  }
  /** Nobody holds or waits for a slot (KeyedSlots drops such entries). */
  get idle(): boolean {
    return this.used === 0 && this.waiters.length === 0;
  }

  /** A slot now, or null. */
  tryAcquire(): Release | null {
    if (this.closed || this.used >= this.capacity || this.waiters.length > 0) return null;
    this.used++;
    return this.releaser();
  }

  /** A slot within waitMs from now, or null (timed out, aborted or closed). */
  acquire(waitMs: number, signal?: AbortSignal): Promise<Release | null> {
    const now = this.tryAcquire();
    if (now || this.closed || waitMs <= 0 || signal?.aborted) return Promise.resolve(now);
    return new Promise<Release | null>((resolve) => {
      const waiter: Waiter = {
        grant: (release) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', giveUp);
          resolve(release);
        },
      };
      const giveUp = () => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return; // already granted
        this.waiters.splice(i, 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(null);
      };
      const timer = setTimeout(giveUp, waitMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Refuses every waiter and every later acquire (shutdown). Held slots stay valid until released. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.grant(null);
  }
  get isClosed(): boolean {
    return this.closed;
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // Hand the slot straight to the next waiter: nobody can jump the queue in between.
      if (next && !this.closed) next.grant(this.releaser());
      else this.used--;
    };
  }
}

/** One Slots per key (a user, a client address), created on demand and dropped when idle. */
export class KeyedSlots {
  private readonly byKey = new Map<string, Slots>();

  constructor(readonly capacityPerKey: number) {}

  async acquire(key: string, waitMs: number, signal?: AbortSignal): Promise<Release | null> {
    let slots = this.byKey.get(key);
    if (!slots) {
      slots = new Slots(this.capacityPerKey);
      this.byKey.set(key, slots);
    }
    const s = slots;
    const release = await s.acquire(waitMs, signal);
    if (!release) {
      this.dropIfIdle(key, s);
      return null;
    }
    return () => {
      release();
      this.dropIfIdle(key, s);
    };
  }

  /** Keys with a slot held or awaited (bounded by the number of open transactions). */
  get size(): number {
    return this.byKey.size;
  }

  private dropIfIdle(key: string, s: Slots): void {
    if (s.idle && this.byKey.get(key) === s) this.byKey.delete(key);
  }
}
