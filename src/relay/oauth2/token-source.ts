// Access tokens for one upstream identity: cached, refreshed before expiry, one request
// in flight however many connections ask (single-flight), backoff after failures.
// The token value lives in a private field: a logged or serialised TokenSource shows none.
import { retryDelayMs } from '../queue/backoff.js';
import { OAuth2TokenError } from './errors.js';
import { DEFAULT_REFRESH_FRACTION, tokenTimes } from './refresh-policy.js';
import type { TokenResponse } from './token-endpoint.js';

export interface AccessToken {
  readonly value: string;
  readonly scope: string | undefined;
  readonly obtainedAt: number;
  readonly refreshAt: number;
  readonly usableUntil: number;
}

export interface TokenSourceOptions {
  /** One token request; builds a fresh assertion and reads the current credentials each time. */
  fetchToken: () => Promise<TokenResponse>;
  now?: () => number;
  refreshFraction?: number;
  /** Backoff between failed requests while no usable token is cached. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

export interface TokenSourceStats {
  /** Token endpoint calls so far (success or not). */
  requests: number;
  failures: number;
  /** The last failure's OAuth error code, cleared by a success. */
  lastErrorCode: string | undefined;
}

export class TokenSource {
  #current: AccessToken | undefined;
  #inFlight: Promise<AccessToken> | undefined;
  #lastError: OAuth2TokenError | undefined;
  #failuresInRow = 0;
  #retryAt = 0;
  #requests = 0;
  #failures = 0;
  readonly #opts: Required<Omit<TokenSourceOptions, 'fetchToken'>> & Pick<TokenSourceOptions, 'fetchToken'>;

  constructor(opts: TokenSourceOptions) {
    this.#opts = {
      fetchToken: opts.fetchToken,
      now: opts.now ?? Date.now,
      refreshFraction: opts.refreshFraction ?? DEFAULT_REFRESH_FRACTION,
      minBackoffMs: opts.minBackoffMs ?? 1_000,
      maxBackoffMs: opts.maxBackoffMs ?? 60_000,
      random: opts.random ?? Math.random,
    };
  }

  /**
   * A usable token. Past its refresh point a cached token is still handed out while one
   * refresh runs in the background; a failed refresh keeps it until it stops being usable.
   * Without a usable token, callers share one request; during a backoff they get the last
   * error at once, without calling the endpoint.
   */
  async get(): Promise<AccessToken> {
    const now = this.#opts.now();
    const cur = this.#current;
    if (cur && now < cur.usableUntil) {
      if (now >= cur.refreshAt && now >= this.#retryAt) this.#refresh().catch(() => undefined); // error kept in #lastError
      return cur;
    }
    if (this.#inFlight) return this.#inFlight;
    if (this.#lastError && now < this.#retryAt) throw this.#lastError;
    return this.#refresh();
  }

  /** The upstream refused this token (revoked, or expired early): the next get() fetches a new one. */
  invalidate(value: string): void {
    if (this.#current?.value === value) this.#current = undefined;
  }

  stats(): TokenSourceStats {
    return { requests: this.#requests, failures: this.#failures, lastErrorCode: this.#lastError?.code };
  }

  toJSON(): TokenSourceStats {
    return this.stats();
  }

  #refresh(): Promise<AccessToken> {
    if (this.#inFlight) return this.#inFlight;
    const started = this.#opts.now();
    this.#requests++;
    this.#inFlight = this.#opts
      .fetchToken()
      .then(
        (res) => {
          const token: AccessToken = { value: res.accessToken, scope: res.scope, obtainedAt: started, ...tokenTimes(started, res.expiresInSec, this.#opts.refreshFraction) };
          this.#current = token;
          this.#lastError = undefined;
          this.#failuresInRow = 0;
          this.#retryAt = 0;
          return token;
        },
        (err: unknown) => {
          const error = asTokenError(err);
          this.#failures++;
          this.#failuresInRow++;
          this.#lastError = error;
          this.#retryAt = this.#opts.now() + retryDelayMs(this.#failuresInRow, this.#opts.minBackoffMs, this.#opts.maxBackoffMs, this.#opts.random);
          throw error;
        },
      )
      .finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }
}

/** Anything else (an unreadable key, a bug) becomes a token error without its message: it may quote what it parsed. */
function asTokenError(err: unknown): OAuth2TokenError {
  if (err instanceof OAuth2TokenError) return err;
  const name = err instanceof Error ? err.name : 'Error';
  const code = (err as { code?: unknown })?.code;
  return new OAuth2TokenError({ code: 'invalid_credentials', description: `${name}${typeof code === 'string' ? ` ${code}` : ''}`, kind: 'config', endpoint: '' });
}
