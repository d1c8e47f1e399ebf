// When a token is refreshed and until when it may still be used (pure).

/** Share of the lifetime after which a token is refreshed (Microsoft's 60-90 min tokens: after 48-72 min). */
export const DEFAULT_REFRESH_FRACTION = 0.8;

export interface TokenTimes {
  /** From here on, fetch a new token (the old one still serves while that runs). */
  refreshAt: number;
  /** After this the token is not handed out any more: it must outlive an AUTH exchange. */
  usableUntil: number;
}

/**
 * `obtainedAt` is when the request was sent, not when the answer came: the endpoint's clock
 * started no later, so the token never lives shorter than we think.
 */
export function tokenTimes(obtainedAt: number, expiresInSec: number, fraction = DEFAULT_REFRESH_FRACTION): TokenTimes {
  const lifetimeMs = expiresInSec * 1000;
  const margin = Math.min(30_000, lifetimeMs * 0.1);
  return { refreshAt: obtainedAt + lifetimeMs * fraction, usableUntil: obtainedAt + lifetimeMs - margin };
}
