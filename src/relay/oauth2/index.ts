// OAuth2 for the upstream login (SASL XOAUTH2): one token source per upstream identity.
import { randomUUID } from 'node:crypto';
import { loadGrant } from './credentials.js';
import { buildTokenRequest } from './grants.js';
import type { OAuth2UpstreamAuth } from './settings.js';
import { requestToken } from './token-endpoint.js';
import { TokenSource } from './token-source.js';

export { OAuth2TokenError } from './errors.js';
export { validateOAuth2Auth, type OAuth2UpstreamAuth } from './settings.js';
export { TokenSource, type AccessToken } from './token-source.js';
export { nodemailerOAuth2, xoauth2InitialResponse } from './xoauth2.js';

export function createOAuth2TokenSource(cfg: OAuth2UpstreamAuth, now: () => number = Date.now): TokenSource {
  return new TokenSource({
    fetchToken: async () => {
      const grant = await loadGrant(cfg);
      const request = buildTokenRequest(grant.credentials, { tokenEndpoint: grant.tokenEndpoint, scope: grant.scope, now: now(), jti: randomUUID() });
      return requestToken(grant.tokenEndpoint, request, { timeoutMs: cfg.requestTimeoutMs });
    },
    now,
    refreshFraction: cfg.refreshFraction,
    minBackoffMs: cfg.minBackoffMs,
    maxBackoffMs: cfg.maxBackoffMs,
  });
}
