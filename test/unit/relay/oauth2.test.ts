// The OAuth2 token client's pure parts and its cache logic (injected clock and token
// request): grants, JWTs, XOAUTH2, refresh times, single-flight, backoff, redaction.
import { describe, expect, test } from '@jest/globals';
import { createHash, generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import XOAuth2 from 'nodemailer/lib/xoauth2';
import { OAuth2TokenError, redactSecrets } from '../../../src/relay/oauth2/errors.js';
import { buildTokenRequest, CLIENT_ASSERTION_TYPE, JWT_BEARER_GRANT } from '../../../src/relay/oauth2/grants.js';
import { decodeJwtUnverified } from '../../../src/relay/oauth2/jwt.js';
import { tokenTimes } from '../../../src/relay/oauth2/refresh-policy.js';
import { resolveEndpointAndScope, validateOAuth2Auth } from '../../../src/relay/oauth2/settings.js';
import { checkTokenEndpoint, type TokenResponse } from '../../../src/relay/oauth2/token-endpoint.js';
import { TokenSource } from '../../../src/relay/oauth2/token-source.js';
import { xoauth2InitialResponse } from '../../../src/relay/oauth2/xoauth2.js';

const ENDPOINT = 'https://login.example.test/tenant/oauth2/v2.0/token';
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

function rsaCert(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2-unit-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=relay', '-days', '1', '-keyout', 'k.pem', '-out', 'c.pem'], { cwd: dir, stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'k.pem'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'c.pem'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function verifies(jwt: string, publicKey: string | import('node:crypto').KeyObject): boolean {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  return verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'));
}

describe('grants', () => {
  test('client secret, client_secret_post: the form carries id and secret', () => {
    const r = buildTokenRequest({ type: 'client-secret', clientId: 'app', clientSecret: 's3cret' }, { tokenEndpoint: ENDPOINT, scope: 'https://outlook.office365.com/.default', now: NOW, jti: 'j' });
    expect(Object.fromEntries(r.form)).toEqual({ grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default', client_id: 'app', client_secret: 's3cret' });
    expect(r.headers).toEqual({});
    expect(r.secrets).toContain('s3cret');
  });

  test('client secret, client_secret_basic: form-urlencoded parts in the Authorization header, none in the form', () => {
    const r = buildTokenRequest({ type: 'client-secret', clientId: 'a:b', clientSecret: 's 3+/', clientAuth: 'client_secret_basic' }, { tokenEndpoint: ENDPOINT, scope: 'x', now: NOW, jti: 'j' });
    expect(r.form.has('client_secret')).toBe(false);
    expect(Buffer.from((r.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString()).toBe('a%3Ab:s+3%2B%2F');
    expect(r.secrets).toContain(r.headers.authorization);
  });

  test('certificate: an RS256 client assertion with x5t / x5t#S256 of the certificate, aud = endpoint, iss = sub = client id', () => {
    const { key, cert } = rsaCert();
    const r = buildTokenRequest({ type: 'client-certificate', clientId: 'app-id', privateKey: key, certificate: cert }, { tokenEndpoint: ENDPOINT, scope: 'scope-x', now: NOW, jti: 'jti-1' });
    const form = Object.fromEntries(r.form);
    expect(form).toMatchObject({ grant_type: 'client_credentials', client_id: 'app-id', scope: 'scope-x', client_assertion_type: CLIENT_ASSERTION_TYPE });
    expect(form.client_secret).toBeUndefined();
    const assertion = form.client_assertion as string;
    const { header, claims } = decodeJwtUnverified(assertion);
    const der = new X509Certificate(cert).raw;
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT', x5t: createHash('sha1').update(der).digest('base64url'), 'x5t#S256': createHash('sha256').update(der).digest('base64url') });
    expect(claims).toEqual({ aud: ENDPOINT, iss: 'app-id', sub: 'app-id', jti: 'jti-1', iat: NOW / 1000, nbf: NOW / 1000, exp: NOW / 1000 + 300 });
    expect(verifies(assertion, new X509Certificate(cert).publicKey)).toBe(true);
    expect(r.secrets).toEqual(expect.arrayContaining([assertion, key]));
  });

  test('service account: the jwt-bearer grant, iss = client_email, sub = mailbox, scope and aud in the assertion', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const r = buildTokenRequest(
      { type: 'service-account', clientEmail: 'sa@p.iam.gserviceaccount.com', privateKey: pem, privateKeyId: 'kid-1', subject: 'printer@corp.example' },
      { tokenEndpoint: 'https://oauth2.googleapis.com/token', scope: 'https://mail.google.com/', now: NOW, jti: 'j2', assertionLifetimeSec: 3600 },
    );
    expect([...r.form.keys()]).toEqual(['grant_type', 'assertion']); // what Google documents: no client authentication
    expect(r.form.get('grant_type')).toBe(JWT_BEARER_GRANT);
    const { header, claims } = decodeJwtUnverified(r.form.get('assertion') ?? '');
    expect(header).toMatchObject({ alg: 'RS256', kid: 'kid-1' });
    expect(claims).toEqual({ iss: 'sa@p.iam.gserviceaccount.com', sub: 'printer@corp.example', scope: 'https://mail.google.com/', aud: 'https://oauth2.googleapis.com/token', jti: 'j2', iat: NOW / 1000, exp: NOW / 1000 + 3600 });
    expect(verifies(r.form.get('assertion') ?? '', publicKey)).toBe(true);
    // A server that wants client authentication (Hydra) also gets the scope in the form.
    const other = buildTokenRequest(
      { type: 'service-account', clientEmail: 'sa@x', privateKey: pem, subject: 'p@x', client: { clientId: 'c', clientSecret: 'cs-value' } },
      { tokenEndpoint: ENDPOINT, scope: 'https://mail.google.com/', now: NOW, jti: 'j3' },
    );
    expect(Object.fromEntries(other.form)).toMatchObject({ grant_type: JWT_BEARER_GRANT, scope: 'https://mail.google.com/', client_id: 'c', client_secret: 'cs-value' });
    expect(other.secrets).toContain('cs-value');
  });

  test('an EC key is refused for RS256, naming the key type only', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => buildTokenRequest({ type: 'service-account', clientEmail: 'x', privateKey: pem, subject: 'y' }, { tokenEndpoint: ENDPOINT, scope: 's', now: NOW, jti: 'j' })).toThrow('RS256 needs an RSA private key, got ec');
  });
});

describe('SASL XOAUTH2', () => {
  test('initial response: base64 of user=...^Aauth=Bearer ...^A^A, the same bytes nodemailer sends', () => {
    const r = xoauth2InitialResponse('printer@corp.example', 'tok.en');
    expect(Buffer.from(r, 'base64').toString()).toBe('user=printer@corp.example\x01auth=Bearer tok.en\x01\x01');
    expect(r).toBe(new XOAuth2({ user: 'printer@corp.example' }).buildXOAuth2Token('tok.en'));
  });
});

describe('refresh policy', () => {
  test('a 1 h token is refreshed after 48 min and handed out until 30 s before expiry', () => {
    expect(tokenTimes(0, 3600)).toEqual({ refreshAt: 2_880_000, usableUntil: 3_570_000 });
  });
  test('a short token keeps a margin of 10% of its life', () => {
    expect(tokenTimes(1000, 10)).toEqual({ refreshAt: 9_000, usableUntil: 10_000 });
  });
});

/** A token request the test answers by hand. */
function manualEndpoint() {
  const pending: Array<{ resolve: (r: TokenResponse) => void; reject: (e: unknown) => void }> = [];
  let calls = 0;
  return {
    fetchToken: () =>
      new Promise<TokenResponse>((resolve, reject) => {
        calls++;
        pending.push({ resolve, reject });
      }),
    calls: () => calls,
    answer: (token: string, expiresInSec = 100) => pending.shift()?.resolve({ accessToken: token, expiresInSec, scope: undefined }),
    fail: (e: unknown) => pending.shift()?.reject(e),
  };
}

const flush = () => new Promise((r) => setImmediate(r));
const invalidClient = () => new OAuth2TokenError({ code: 'invalid_client', description: 'unknown client', kind: 'oauth', httpStatus: 401, endpoint: ENDPOINT });

describe('TokenSource', () => {
  test('concurrent callers share one request (single-flight), then the cache serves', async () => {
    let now = 0;
    const ep = manualEndpoint();
    const source = new TokenSource({ fetchToken: ep.fetchToken, now: () => now });
    const waiting = Array.from({ length: 10 }, () => source.get());
    await flush();
    expect(ep.calls()).toBe(1);
    ep.answer('t1');
    expect(new Set((await Promise.all(waiting)).map((t) => t.value))).toEqual(new Set(['t1']));
    now = 79_000;
    expect((await source.get()).value).toBe('t1');
    expect(ep.calls()).toBe(1);
  });

  test('past 80% of the lifetime the old token still serves while one refresh runs', async () => {
    let now = 0;
    const ep = manualEndpoint();
    const source = new TokenSource({ fetchToken: ep.fetchToken, now: () => now });
    const first = source.get();
    ep.answer('t1');
    await first;
    now = 80_000;
    expect((await source.get()).value).toBe('t1');
    expect((await source.get()).value).toBe('t1');
    expect(ep.calls()).toBe(2); // one background refresh for both
    ep.answer('t2');
    await flush();
    expect((await source.get()).value).toBe('t2');
  });

  test('a failed request: the error carries the OAuth code; callers get it without new requests until the backoff ends', async () => {
    let now = 0;
    const ep = manualEndpoint();
    const source = new TokenSource({ fetchToken: ep.fetchToken, now: () => now, minBackoffMs: 1000, maxBackoffMs: 8000, random: () => 0.5 });
    const p = source.get();
    ep.fail(invalidClient());
    await expect(p).rejects.toMatchObject({ code: 'invalid_client', reason: 'UpstreamAuthFailed', temporary: false });
    now = 999;
    await expect(source.get()).rejects.toMatchObject({ code: 'invalid_client' });
    expect(ep.calls()).toBe(1);
    now = 1000;
    const retry = source.get();
    expect(ep.calls()).toBe(2);
    ep.fail(invalidClient());
    await expect(retry).rejects.toBeInstanceOf(OAuth2TokenError);
    now = 2999; // second failure: 2 s
    await expect(source.get()).rejects.toMatchObject({ code: 'invalid_client' });
    expect(ep.calls()).toBe(2);
    now = 3000;
    const ok = source.get();
    ep.answer('t1');
    expect((await ok).value).toBe('t1');
    expect(source.stats()).toEqual({ requests: 3, failures: 2, lastErrorCode: undefined });
  });

  test('a failed refresh keeps the old token while it is usable', async () => {
    let now = 0;
    const ep = manualEndpoint();
    const source = new TokenSource({ fetchToken: ep.fetchToken, now: () => now });
    const first = source.get();
    ep.answer('t1');
    await first;
    now = 85_000;
    expect((await source.get()).value).toBe('t1');
    ep.fail(new OAuth2TokenError({ code: 'endpoint_unreachable', kind: 'unreachable', endpoint: ENDPOINT }));
    await flush();
    expect((await source.get()).value).toBe('t1');
    expect(source.stats().lastErrorCode).toBe('endpoint_unreachable');
  });

  test('invalidate drops only the refused token', async () => {
    const ep = manualEndpoint();
    const source = new TokenSource({ fetchToken: ep.fetchToken, now: () => 0 });
    const first = source.get();
    ep.answer('t1');
    await first;
    source.invalidate('some-other');
    expect((await source.get()).value).toBe('t1');
    source.invalidate('t1');
    const next = source.get();
    ep.answer('t2');
    expect((await next).value).toBe('t2');
  });

  test('a non-OAuth failure (unreadable key) becomes invalid_credentials without its message', async () => {
    const source = new TokenSource({ fetchToken: async () => Promise.reject(Object.assign(new Error('bad key -----BEGIN PRIVATE KEY----- MIIE'), { code: 'ERR_OSSL_UNSUPPORTED' })) });
    const err = await source.get().then(() => undefined, (e: unknown) => e as OAuth2TokenError);
    expect(err).toMatchObject({ code: 'invalid_credentials', kind: 'config', description: 'Error ERR_OSSL_UNSUPPORTED' });
    expect(err?.message).not.toContain('PRIVATE KEY');
  });

  test('serialising the source shows stats, never the token', async () => {
    const source = new TokenSource({ fetchToken: async () => ({ accessToken: 'secret-token-value', expiresInSec: 100, scope: undefined }) });
    await source.get();
    expect(JSON.stringify({ source })).not.toContain('secret-token-value');
  });
});

describe('errors and settings', () => {
  test('an endpoint that echoes a secret gets it redacted', () => {
    expect(redactSecrets('bad secret s3cret-value for app', ['s3cret-value', 'ab'])).toBe('bad secret [redacted] for app');
  });

  test('copy() keeps the fields, so nodemailer rewriting code on it leaves the cached error alone', () => {
    const e = invalidClient();
    const c = e.copy();
    (c as unknown as { code: string }).code = 'EAUTH';
    expect(e.code).toBe('invalid_client');
    expect(c).toMatchObject({ description: 'unknown client', kind: 'oauth', httpStatus: 401, endpointHost: 'login.example.test' });
  });

  test('token endpoints: https, or http on loopback only', () => {
    expect(checkTokenEndpoint('https://login.microsoftonline.us/t/oauth2/v2.0/token')).toBeUndefined();
    expect(checkTokenEndpoint('http://127.0.0.1:4444/oauth2/token')).toBeUndefined();
    expect(checkTokenEndpoint('http://[::1]:4444/oauth2/token')).toBeUndefined();
    expect(checkTokenEndpoint('http://login.example.test/token')).toBe('must be https:// (http:// only for a loopback address)');
    expect(checkTokenEndpoint('nope')).toBe('is not a URL');
  });

  test('provider defaults: Microsoft by tenant, Google from the key file, overrides win', () => {
    const base = { type: 'oauth2' as const, user: 'u@x', secretDir: '/s' };
    expect(resolveEndpointAndScope({ ...base, provider: 'microsoft', tenant: 'contoso.onmicrosoft.com' })).toEqual({
      tokenEndpoint: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
      scope: 'https://outlook.office365.com/.default',
    });
    expect(resolveEndpointAndScope({ ...base, provider: 'google' }, 'https://oauth2.example/token')).toEqual({ tokenEndpoint: 'https://oauth2.example/token', scope: 'https://mail.google.com/' });
    expect(resolveEndpointAndScope({ ...base, provider: 'microsoft', tokenEndpoint: 'https://login.microsoftonline.us/t/oauth2/v2.0/token', scope: 'https://outlook.office365.us/.default' }).scope).toBe('https://outlook.office365.us/.default');
  });

  test('validation names the field', () => {
    expect(validateOAuth2Auth({ type: 'oauth2', provider: 'microsoft', user: 'u@x', secretDir: '/s', tenant: 't', clientId: 'c' })).toEqual([]);
    expect(validateOAuth2Auth({ type: 'oauth2', provider: 'microsoft', user: 'u@x', secretDir: '/s', clientId: 'c' })).toEqual(['upstream.auth.tokenEndpoint is required']);
    expect(validateOAuth2Auth({ type: 'oauth2', provider: 'generic', user: 'u', secretDir: '/s', clientId: 'c', tokenEndpoint: 'http://idp.example/token' })).toEqual([
      'upstream.auth.scope is required',
      'upstream.auth.tokenEndpoint must be https:// (http:// only for a loopback address)',
    ]);
    expect(validateOAuth2Auth({ type: 'oauth2', provider: 'google', user: 'u', secretDir: '/s', clientAuth: 'private_key_jwt', refreshFraction: 1 })).toEqual([
      'upstream.auth.clientAuth does not apply to google (the service account key signs)',
      'upstream.auth.refreshFraction must be a number between 0 and 1',
    ]);
  });
});
