// The token request of each flow, as a form (pure: the clock and the jti come in).
//  - client secret: client_credentials, client_secret_post or client_secret_basic (RFC 6749 4.4, 2.3.1)
//  - certificate: client_credentials with a private_key_jwt client assertion (RFC 7523 2.2,
//    OpenID Connect Core 9), as Microsoft Entra ID wants it: x5t / x5t#S256 of the certificate
//  - service account: the JWT-bearer grant (RFC 7523 2.1) as Google wants it: iss = client_email,
//    sub = the mailbox (domain-wide delegation), scope in the assertion
import { createPrivateKey } from 'node:crypto';
import { certificateThumbprints, signRs256Jwt } from './jwt.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export type OAuth2Credentials =
  | { type: 'client-secret'; clientId: string; clientSecret: string; clientAuth?: 'client_secret_post' | 'client_secret_basic' }
  | { type: 'client-certificate'; clientId: string; privateKey: string; certificate: string; keyId?: string }
  | {
      type: 'service-account';
      clientEmail: string;
      privateKey: string;
      privateKeyId?: string;
      subject: string;
      /** Client authentication next to the grant (RFC 7521 4.2), for servers that require it (Hydra, Keycloak); Google does not. */
      client?: { clientId: string; clientSecret: string };
    };

export interface GrantContext {
  tokenEndpoint: string;
  scope: string;
  /** ms since the epoch */
  now: number;
  /** Unique per assertion (replay protection at the endpoint). */
  jti: string;
  /** Lifetime of a signed assertion; default 5 minutes (Google accepts up to 1 h). */
  assertionLifetimeSec?: number;
}

export interface TokenRequest {
  form: URLSearchParams;
  headers: Record<string, string>;
  /** Values that must never appear in an error or a log line. */
  secrets: string[];
}

export function buildTokenRequest(creds: OAuth2Credentials, ctx: GrantContext): TokenRequest {
  const iat = Math.floor(ctx.now / 1000);
  const exp = iat + (ctx.assertionLifetimeSec ?? 300);
  switch (creds.type) {
    case 'client-secret': {
      const form = new URLSearchParams({ grant_type: 'client_credentials', scope: ctx.scope });
      const headers: Record<string, string> = {};
      if (creds.clientAuth === 'client_secret_basic') {
        // RFC 6749 2.3.1: both parts form-urlencoded before the Basic encoding.
        const pair = `${formEncode(creds.clientId)}:${formEncode(creds.clientSecret)}`;
        headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
      } else {
        form.set('client_id', creds.clientId);
        form.set('client_secret', creds.clientSecret);
      }
      return { form, headers, secrets: [creds.clientSecret, ...Object.values(headers)] };
    }
    case 'client-certificate': {
      const { x5t, x5tS256 } = certificateThumbprints(creds.certificate);
      const assertion = signRs256Jwt(
        { x5t, 'x5t#S256': x5tS256, kid: creds.keyId ?? x5tS256 },
        { aud: ctx.tokenEndpoint, iss: creds.clientId, sub: creds.clientId, jti: ctx.jti, iat, nbf: iat, exp },
        createPrivateKey(creds.privateKey),
      );
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: creds.clientId,
        scope: ctx.scope,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
      });
      return { form, headers: {}, secrets: [assertion, creds.privateKey] };
    }
    case 'service-account': {
      const header: Record<string, string> = creds.privateKeyId ? { kid: creds.privateKeyId } : {};
      const assertion = signRs256Jwt(
        header,
        { iss: creds.clientEmail, sub: creds.subject, scope: ctx.scope, aud: ctx.tokenEndpoint, jti: ctx.jti, iat, exp },
        createPrivateKey(creds.privateKey),
      );
      // Google's endpoint gets exactly what Google documents. Other servers (client set) read
      // the scope from the form (RFC 7523 2.1, RFC 6749 3.3) and want the client authenticated.
      const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion });
      if (creds.client) {
        form.set('scope', ctx.scope);
        form.set('client_id', creds.client.clientId);
        form.set('client_secret', creds.client.clientSecret);
      }
      return { form, headers: {}, secrets: [assertion, creds.privateKey, ...(creds.client ? [creds.client.clientSecret] : [])] };
    }
  }
}

function formEncode(s: string): string {
  return new URLSearchParams({ s }).toString().slice(2);
}
