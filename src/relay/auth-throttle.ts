// AUTH throttling, Postfix-anvil style but keyed so that it cannot be walked around:
// failures count per client (an IPv4 address, or the IPv6 /64 a host can rotate inside)
// and per user name (a password spray from many addresses against one account).
// An attempt holds its slots from before the password is verified until the answer, so
// parallel attempts cannot overshoot the limit.
import { clientKey } from './networks.js';
import { FailureWindow } from './token-bucket.js';

export type ThrottleScope = 'address' | 'network6' | 'user';

/** The per-user key; case-folded, so App1/APP1 guesses count against one account. */
function userKey(username: string): string {
  return `user:${username.slice(0, 256).toLowerCase()}`;
}

export interface AuthAttempt {
  /** The credentials were wrong: the slots stay as failures for the window. */
  failed(): void;
  /** The credentials were right (or the attempt never ran): the slots are freed. */
  released(): void;
}

export interface AuthThrottleOptions {
  failuresPerWindow: number;
  windowMs: number;
  now?: () => number;
  maxKeys?: number;
  /** Attempts that may wait for a slot at once; more are refused (scope of the full key). */
  maxWaiting?: number;
  /** Longest wait for attempts in flight to settle (ms). */
  maxWaitMs?: number;
}

export type AuthAdmission = AuthAttempt | { blocked: ThrottleScope };

export class AuthThrottle {
  private readonly window: FailureWindow;
  private waiters: Array<() => void> = [];
  private readonly maxWaiting: number;
  private readonly maxWaitMs: number;

  constructor(o: AuthThrottleOptions) {
    this.window = new FailureWindow(o.failuresPerWindow, o.windowMs, o.now ?? Date.now, o.maxKeys ?? 100_000);
    this.maxWaiting = o.maxWaiting ?? 1000;
    this.maxWaitMs = o.maxWaitMs ?? 10_000;
  }

  /** Keys tracked (bounded by maxKeys). */
  get size(): number {
    return this.window.size;
  }

  /** Attempts waiting for others to settle. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Takes a slot for this client and this user name before the password is checked.
   * - A key whose failures alone reach the limit refuses at once ({ blocked: scope }).
   * - A key that is full only because of attempts still being verified makes this attempt
   *   wait until one of them settles: a success frees its slot (so a pool of good logins is
   *   delayed, never refused), a failure may complete the limit (then this one is refused).
   *   So no more than the limit of failures is ever verified, however many arrive at once.
   */
  async begin(clientAddress: string, username: string): Promise<AuthAdmission> {
    const keys = this.keysOf(clientAddress, username);
    const deadline = Date.now() + this.maxWaitMs;
    for (;;) {
      const exhausted = keys.find(([key]) => this.window.exhausted(key));
      if (exhausted) return { blocked: exhausted[1] };
      const full = keys.find(([key]) => this.window.blocked(key));
      if (!full) return this.take(keys);
      const left = deadline - Date.now();
      if (this.waiters.length >= this.maxWaiting || left <= 0) return { blocked: full[1] };
      await this.nextSettle(left);
    }
  }

  /** begin() without waiting: refuses (with the full key's scope) instead. For tests and callers that must not wait. */
  tryBegin(clientAddress: string, username: string): AuthAdmission {
    const keys = this.keysOf(clientAddress, username);
    const full = keys.find(([key]) => this.window.blocked(key));
    return full ? { blocked: full[1] } : this.take(keys);
  }

  private keysOf(clientAddress: string, username: string): Array<[string, ThrottleScope]> {
    // networks.ts clientKey: an IPv4 address (also IPv4-mapped), or an IPv6 address's /64.
    const client = clientKey(clientAddress);
    return [
      [`client:${client}`, client.endsWith('/64') ? 'network6' : 'address'],
      [userKey(username), 'user'],
    ];
  }

  private take(keys: Array<[string, ThrottleScope]>): AuthAttempt {
    for (const [key] of keys) this.window.begin(key);
    let settled = false;
    const settle = (failed: boolean) => {
      if (settled) return;
      settled = true;
      for (const [key] of keys) this.window.end(key, failed);
      for (const wake of this.waiters.splice(0)) wake(); // each re-checks its own keys
    };
    return { failed: () => settle(true), released: () => settle(false) };
  }

  private nextSettle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.waiters;
      function done() {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      this.waiters.push(done);
    });
  }
}

export function isBlocked(a: AuthAdmission): a is { blocked: ThrottleScope } {
  return (a as { blocked?: ThrottleScope }).blocked !== undefined;
}
