// One POST to a token endpoint (RFC 6749 3.2, 5.1, 5.2): the access token, or an
// OAuth2TokenError with the endpoint's error code. Nothing sent is ever put in the error.
import { OAuth2TokenError, redactSecrets } from './errors.js';
import type { TokenRequest } from './grants.js';

export interface TokenResponse {
  accessToken: string;
  /** Lifetime the endpoint granted (expires_in); a default when it did not say. */
  expiresInSec: number;
  /** Scopes granted, when the endpoint says (it may narrow the request). */
  scope: string | undefined;
}

export interface TokenEndpointOptions {
  timeoutMs?: number;
  /** expires_in is only RECOMMENDED: assume this when absent (short: refresh rather than fail). */
  defaultLifetimeSec?: number;
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i;

/** Tokens and secrets go over TLS only; plain http is accepted for a loopback endpoint (tests, a local sidecar). */
export function checkTokenEndpoint(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK_HOST.test(url.hostname)) return undefined;
  return 'must be https:// (http:// only for a loopback address)';
}

export async function requestToken(endpoint: string, request: TokenRequest, opts: TokenEndpointOptions = {}): Promise<TokenResponse> {
  const problem = checkTokenEndpoint(endpoint);
  if (problem) throw new OAuth2TokenError({ code: 'invalid_endpoint', description: `token endpoint ${problem}`, kind: 'config', endpoint });
  let res: Response;
  let text: string;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...request.headers },
      body: request.form.toString(),
      redirect: 'error', // a redirect would re-send the credentials somewhere else
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    text = await res.text();
  } catch (err) {
    throw new OAuth2TokenError({ code: 'endpoint_unreachable', description: networkCause(err), kind: 'unreachable', endpoint });
  }
  const body = parseJsonObject(text);
  const clean = (v: unknown) => (typeof v === 'string' ? redactSecrets(v, request.secrets).slice(0, 300) : undefined);
  if (body && typeof body.error === 'string') {
    throw new OAuth2TokenError({ code: clean(body.error) ?? 'error', description: clean(body.error_description), kind: 'oauth', httpStatus: res.status, endpoint });
  }
  if (!res.ok || !body) {
    throw new OAuth2TokenError({ code: 'invalid_response', description: `HTTP ${res.status}${body ? '' : ', not a JSON object'}`, kind: 'protocol', httpStatus: res.status, endpoint });
  }
  const token = body.access_token;
  const type = body.token_type;
  if (typeof token !== 'string' || token === '' || typeof type !== 'string' || type.toLowerCase() !== 'bearer') {
    throw new OAuth2TokenError({ code: 'invalid_response', description: 'no bearer access_token in the response', kind: 'protocol', httpStatus: res.status, endpoint });
  }
  const expiresIn = Number(body.expires_in);
  return {
    accessToken: token,
    expiresInSec: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : (opts.defaultLifetimeSec ?? 300),
    scope: typeof body.scope === 'string' ? body.scope : undefined,
  };
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function networkCause(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  return e?.cause?.code ?? e?.name ?? 'network error';
}
