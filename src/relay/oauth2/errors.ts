// Token errors as the operator may show them: the endpoint's OAuth error code and
// description (RFC 6749 section 5.2), never a secret, an assertion or a token.

/** Where a token request failed: the endpoint said no, could not be reached, answered nonsense, or our credentials could not be read. */
export type TokenErrorKind = 'oauth' | 'unreachable' | 'protocol' | 'config';

export class OAuth2TokenError extends Error {
  override readonly name = 'OAuth2TokenError';
  /** The endpoint's `error` (`invalid_client`, `unauthorized_client`, `invalid_scope`, ...), or ours: `endpoint_unreachable`, `invalid_response`, `invalid_credentials`. */
  readonly code: string;
  readonly description: string | undefined;
  readonly kind: TokenErrorKind;
  /** HTTP status of the token response, when there was one. */
  readonly httpStatus: number | undefined;
  /** Host of the token endpoint (no path, no query: a tenant id in the path is not secret, but keep it short). */
  readonly endpointHost: string;

  constructor(fields: { code: string; description?: string; kind: TokenErrorKind; httpStatus?: number; endpoint: string }) {
    const host = hostOf(fields.endpoint);
    super(`token request to ${host} failed: ${fields.code}${fields.description ? ` (${fields.description})` : ''}`);
    this.code = fields.code;
    this.description = fields.description;
    this.kind = fields.kind;
    this.httpStatus = fields.httpStatus;
    this.endpointHost = host;
  }

  /** A fresh instance: callers that annotate errors in place (nodemailer sets code = 'EAUTH') must not change the cached one. */
  copy(): OAuth2TokenError {
    return new OAuth2TokenError({ code: this.code, description: this.description, kind: this.kind, httpStatus: this.httpStatus, endpoint: `https://${this.endpointHost}` });
  }

  /** Retrying later may help (endpoint down, 5xx, rate limited); otherwise a human must fix the credentials. */
  get temporary(): boolean {
    return this.kind === 'unreachable' || this.kind === 'protocol' || (this.httpStatus ?? 0) >= 500 || this.code === 'temporarily_unavailable' || this.code === 'slow_down';
  }

  /** The status reason the operator reports for this error. */
  get reason(): 'UpstreamAuthFailed' {
    return 'UpstreamAuthFailed';
  }
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return 'token endpoint';
  }
}

/** Replaces every occurrence of each secret in text: an endpoint may echo what it was sent. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}
