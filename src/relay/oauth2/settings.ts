// The relay.json shape of an OAuth2 upstream login, its defaults per provider, and its
// validation (messages name the field). Pure.
import { checkTokenEndpoint } from './token-endpoint.js';

// The shape lives in the relay.json contract (src/common/relay-config.ts).
import type { OAuth2UpstreamAuth } from '../../common/relay-config.js';
export type { OAuth2ClientAuth, OAuth2Provider, OAuth2UpstreamAuth } from '../../common/relay-config.js';

export const OAUTH2_SECRET_FILES = {
  clientSecret: 'client-secret',
  privateKey: 'tls.key',
  certificate: 'tls.crt',
  serviceAccount: 'service-account.json',
} as const;

export const PROVIDER_DEFAULTS = {
  microsoft: { scope: 'https://outlook.office365.com/.default', endpoint: (tenant: string) => `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/oauth2/v2.0/token` },
  google: { scope: 'https://mail.google.com/', endpoint: 'https://oauth2.googleapis.com/token' },
} as const;

/** Endpoint and scope after defaults; Google's endpoint may come from the key file's token_uri. */
export function resolveEndpointAndScope(cfg: OAuth2UpstreamAuth, serviceAccountTokenUri?: string): { tokenEndpoint: string; scope: string } {
  switch (cfg.provider) {
    case 'microsoft':
      return { tokenEndpoint: cfg.tokenEndpoint ?? PROVIDER_DEFAULTS.microsoft.endpoint(cfg.tenant ?? ''), scope: cfg.scope ?? PROVIDER_DEFAULTS.microsoft.scope };
    case 'google':
      return { tokenEndpoint: cfg.tokenEndpoint ?? serviceAccountTokenUri ?? PROVIDER_DEFAULTS.google.endpoint, scope: cfg.scope ?? PROVIDER_DEFAULTS.google.scope };
    case 'generic':
      return { tokenEndpoint: cfg.tokenEndpoint ?? '', scope: cfg.scope ?? '' };
  }
}

/** Problems with an upstream.auth of type oauth2, each naming its field under `at`. */
export function validateOAuth2Auth(value: unknown, at = 'upstream.auth'): string[] {
  if (!value || typeof value !== 'object') return [`${at} must be an object`];
  const v = value as Record<string, unknown>;
  const out: string[] = [];
  const str = (k: string, required: boolean) => {
    if (v[k] === undefined) {
      if (required) out.push(`${at}.${k} is required`);
    } else if (typeof v[k] !== 'string' || v[k] === '') out.push(`${at}.${k} must be a non-empty string`);
  };
  if (v.type !== 'oauth2') out.push(`${at}.type must be "oauth2"`);
  if (!['microsoft', 'google', 'generic'].includes(v.provider as string)) out.push(`${at}.provider must be one of microsoft, google, generic`);
  str('user', true);
  str('secretDir', true);
  str('scope', v.provider === 'generic');
  str('tokenEndpoint', v.provider === 'generic' || (v.provider === 'microsoft' && v.tenant === undefined));
  str('tenant', false);
  str('clientId', v.provider === 'microsoft' || v.provider === 'generic');
  if (typeof v.tokenEndpoint === 'string') {
    const problem = checkTokenEndpoint(v.tokenEndpoint);
    if (problem) out.push(`${at}.tokenEndpoint ${problem}`);
  }
  if (v.clientAuth !== undefined && !['client_secret_post', 'client_secret_basic', 'private_key_jwt'].includes(v.clientAuth as string)) {
    out.push(`${at}.clientAuth must be one of client_secret_post, client_secret_basic, private_key_jwt`);
  }
  if (v.provider === 'google' && v.clientAuth !== undefined) out.push(`${at}.clientAuth does not apply to google (the service account key signs)`);
  for (const k of ['requestTimeoutMs', 'minBackoffMs', 'maxBackoffMs']) {
    if (v[k] !== undefined && !(Number.isInteger(v[k]) && (v[k] as number) > 0)) out.push(`${at}.${k} must be a positive integer`);
  }
  if (v.refreshFraction !== undefined && !(typeof v.refreshFraction === 'number' && v.refreshFraction > 0 && v.refreshFraction < 1)) {
    out.push(`${at}.refreshFraction must be a number between 0 and 1`);
  }
  return out;
}
