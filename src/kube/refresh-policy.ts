// When the operator fetches new Kubernetes credentials. Pure: the clock is an argument.

/** A token file is re-read this often, as client-go does (the kubelet rotates projected tokens well before they expire). */
export const TOKEN_FILE_REREAD_MS = 60_000;
/** Renew at least this long before the credentials expire. */
export const RENEW_BEFORE_EXPIRY_MS = 30_000;
/** The first retry after a failed or fruitless attempt; it doubles up to MAX_RETRY_MS. */
export const MIN_RETRY_MS = 5_000;
export const MAX_RETRY_MS = 5 * 60_000;

/** When to renew credentials fetched at fetchedAt that expire at expiresAt: after 80 % of their lifetime, and at least 30 s before they expire. */
export function renewAt(fetchedAt: number, expiresAt: number): number {
  const byLifetime = fetchedAt + (expiresAt - fetchedAt) * 0.8;
  return Math.max(fetchedAt, Math.min(byLifetime, expiresAt - RENEW_BEFORE_EXPIRY_MS));
}

/** Rate limit for running the kubeconfig loader again: after a 401 once, then backing off while it gives nothing new. */
export interface RetryGate {
  notBefore: number;
  delayMs: number;
}

export const OPEN_GATE: RetryGate = { notBefore: 0, delayMs: MIN_RETRY_MS };

export function gateOpen(gate: RetryGate, now: number): boolean {
  return now >= gate.notBefore;
}

/** The gate after an attempt at now: new credentials reset the backoff; a failure or the same credentials double it. */
export function afterAttempt(gate: RetryGate, now: number, gotNewCredentials: boolean): RetryGate {
  if (gotNewCredentials) return { notBefore: now + MIN_RETRY_MS, delayMs: MIN_RETRY_MS };
  return { notBefore: now + gate.delayMs, delayMs: Math.min(gate.delayMs * 2, MAX_RETRY_MS) };
}

/** What a request at now must do first. */
export type BeforeRequest = 'nothing' | 'renew-in-background' | 'renew-and-wait';

/** Expired credentials are renewed before the request is sent; credentials near expiry in the background, while they still work. */
export function beforeRequest(now: number, renewAtMs: number | undefined, expiresAtMs: number | undefined, gate: RetryGate): BeforeRequest {
  if (renewAtMs === undefined || now < renewAtMs || !gateOpen(gate, now)) return 'nothing';
  return expiresAtMs !== undefined && now >= expiresAtMs ? 'renew-and-wait' : 'renew-in-background';
}
