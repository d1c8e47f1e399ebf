// OAuth2 upstream login (SASL XOAUTH2) on real parts: Ory Hydra v2.3.0 issues the tokens
// (client credentials with a secret or a certificate, and the RFC 7523 jwt-bearer grant of
// a Google-style service account); a private Postfix with Dovecot's oauth2 passdb is the
// upstream and asks Hydra's introspection endpoint about every token. The client is
// nodemailer's SMTPConnection with tokens from our TokenSource, as the upstream pool uses it.
// Access tokens live 8 s here, so refreshes happen within the run.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOAuth2TokenSource, OAuth2TokenError, type OAuth2UpstreamAuth } from '../../../src/relay/oauth2/index.js';
import { certificateThumbprints } from '../../../src/relay/oauth2/jwt.js';
import { TokenSource } from '../../../src/relay/oauth2/token-source.js';
import { startHydra, type Hydra } from '../../helpers/oauth2/hydra.js';
import { publicJwk, rsaSelfSignedCertificate, serviceAccountKey } from '../../helpers/oauth2/keys.js';
import { startOAuth2Submission, type OAuth2Submission } from '../../helpers/oauth2/oauth2-submission.js';
import { sendWithXOAuth2, type XOAuth2SendResult } from '../../helpers/oauth2/xoauth2-client.js';
import { createTestCa, type TestCa } from '../../helpers/smtp/certs.js';
import { message } from '../../helpers/smtp/clients.js';

const OUTLOOK = 'https://outlook.office365.com/.default';
const GRAPH = 'https://graph.microsoft.com/.default';
const GMAIL = 'https://mail.google.com/';
const UPSTREAM_NAME = 'oauth2-upstream.test.example';
const MS_SECRET = 'ms-client-secret-do-not-log-4711';
const GOOGLE_CLIENT_SECRET = 'google-client-secret-do-not-log-0815';
const SA_EMAIL = 'relay@relay-tests.iam.gserviceaccount.com';
const MAILBOX = 'printer@corp.example';
const TOKEN_TTL_S = 8;

let root: string;
let hydra: Hydra;
let ca: TestCa;
let microsoft: OAuth2Submission;
let google: OAuth2Submission;

function secretDir(name: string, files: Record<string, string>): string {
  const dir = path.join(root, 'secrets', name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), v, { mode: 0o600 });
  return dir;
}

function send(up: OAuth2Submission, source: TokenSource, user = MAILBOX, subject = 'oauth2'): Promise<XOAuth2SendResult> {
  return sendWithXOAuth2({ port: up.port, ca: ca.caCert, servername: UPSTREAM_NAME, source, user, from: user, to: 'rcpt@dest.example', body: message(512, subject) });
}

function expectOk(r: XOAuth2SendResult): void {
  if (!r.ok) throw new Error(`send failed: ${r.error.message} (${r.error.code}/${r.error.originalCode})`);
  expect(r.response).toMatch(/^250 /);
}

function failure(r: XOAuth2SendResult): Error & { code?: string; originalCode?: string; responseCode?: number } {
  if (r.ok) throw new Error(`expected a failure, got ${r.response}`);
  return r.error;
}

// Microsoft-style: client credentials, scope outlook (GRAPH allowed too, for the wrong-scope case).
const msSecret = (): OAuth2UpstreamAuth => ({
  type: 'oauth2',
  provider: 'microsoft',
  user: MAILBOX,
  tokenEndpoint: hydra.tokenEndpoint,
  clientId: 'relay-ms-secret',
  secretDir: secretDir('ms-secret', { 'client-secret': `${MS_SECRET}\n` }),
  minBackoffMs: 500,
  maxBackoffMs: 2_000,
});

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2-e2e-'));
  fs.chmodSync(root, 0o755); // Postfix's daemons run as postfix; secrets below stay 0600
  hydra = await startHydra(path.join(root, 'hydra'), { accessTokenTtl: `${TOKEN_TTL_S}s` });
  ca = createTestCa(path.join(root, 'ca'));
  const leaf = ca.issue(UPSTREAM_NAME, [UPSTREAM_NAME]);
  microsoft = await startOAuth2Submission(path.join(root, 'ms'), { introspectionUrl: hydra.introspectionUrl, requiredScope: OUTLOOK, userCheck: 'any-user', tls: leaf });
  google = await startOAuth2Submission(path.join(root, 'google'), { introspectionUrl: hydra.introspectionUrl, requiredScope: GMAIL, userCheck: 'sub', tls: leaf });
  await hydra.createClient({ client_id: 'relay-ms-secret', client_secret: MS_SECRET, grant_types: ['client_credentials'], scope: `${OUTLOOK} ${GRAPH}`, token_endpoint_auth_method: 'client_secret_post' });
  await hydra.createClient({ client_id: 'relay-ms-basic', client_secret: MS_SECRET, grant_types: ['client_credentials'], scope: OUTLOOK, token_endpoint_auth_method: 'client_secret_basic' });
}, 90_000);

afterAll(async () => {
  await microsoft?.stop();
  await google?.stop();
  await hydra?.stop();
  if (root && !process.env.OAUTH2_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
});

describe('OAuth2 XOAUTH2 to a Dovecot-validated upstream, tokens from Hydra', () => {
  test('Microsoft client secret (post and basic): token obtained, XOAUTH2 accepted, mail delivered', async () => {
    const before = microsoft.delivered().length;
    expectOk(await send(microsoft, createOAuth2TokenSource(msSecret())));
    const basic = { ...msSecret(), clientId: 'relay-ms-basic', clientAuth: 'client_secret_basic' as const };
    expectOk(await send(microsoft, createOAuth2TokenSource(basic)));
    expect((await microsoft.waitForDelivered(before + 2)).length).toBe(before + 2);
    expect(microsoft.dovecotLog()).not.toContain(MS_SECRET);
  });

  test('Microsoft certificate (private_key_jwt, x5t#S256): accepted', async () => {
    const cert = rsaSelfSignedCertificate(path.join(root, 'ms-cert'), 'relay-ms-cert');
    const kid = certificateThumbprints(cert.cert).x5tS256;
    await hydra.createClient({
      client_id: 'relay-ms-cert',
      grant_types: ['client_credentials'],
      scope: OUTLOOK,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [publicJwk(cert.cert, kid)] },
    });
    const source = createOAuth2TokenSource({ ...msSecret(), clientId: 'relay-ms-cert', clientAuth: 'private_key_jwt', secretDir: secretDir('ms-cert', { 'tls.key': cert.key, 'tls.crt': cert.cert }) });
    expectOk(await send(microsoft, source));
    // A second client assertion (new jti) is accepted too: no replay refusal on refresh.
    source.invalidate((await source.get()).value);
    expectOk(await send(microsoft, source));
    expect(source.stats()).toMatchObject({ requests: 2, failures: 0 });
  });

  test('Google service account (RFC 7523 jwt-bearer, sub = mailbox): accepted; another mailbox is refused', async () => {
    const sa = serviceAccountKey(path.join(root, 'sa'), SA_EMAIL, hydra.tokenEndpoint);
    // Hydra wants client authentication next to the grant (Google does not): relay-google.
    await hydra.createClient({ client_id: 'relay-google', client_secret: GOOGLE_CLIENT_SECRET, grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'], scope: GMAIL, token_endpoint_auth_method: 'client_secret_post' });
    await hydra.trustJwtBearerIssuer({ issuer: SA_EMAIL, subject: MAILBOX, scope: [GMAIL], jwk: publicJwk(sa.privateKey, sa.privateKeyId) });
    const cfg: OAuth2UpstreamAuth = {
      type: 'oauth2',
      provider: 'google',
      user: MAILBOX,
      clientId: 'relay-google',
      secretDir: secretDir('google', { 'service-account.json': sa.json, 'client-secret': GOOGLE_CLIENT_SECRET }),
    };
    const source = createOAuth2TokenSource(cfg); // endpoint: the key file's token_uri
    const before = google.delivered().length;
    expectOk(await send(google, source));
    await google.waitForDelivered(before + 1);
    // The same token presented for another mailbox: Dovecot compares the token's sub.
    const other = failure(await send(google, source, 'someone-else@corp.example'));
    expect(other.code).toBe('EAUTH');
    expect(other.responseCode).toBe(535);
    expect(google.delivered().length).toBe(before + 1);
    // A subject the trust relationship does not name gets no token.
    const stranger = createOAuth2TokenSource({ ...cfg, user: 'ceo@corp.example' });
    const err = await stranger.get().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OAuth2TokenError);
    expect((err as OAuth2TokenError).code).toBe('invalid_grant');
  });

  test('the upstream really validates: a token Hydra never issued is refused, nothing relayed', async () => {
    const fake = new TokenSource({ fetchToken: async () => ({ accessToken: 'ory_at_not-issued-by-hydra.x', expiresInSec: 3600, scope: OUTLOOK }) });
    const before = microsoft.delivered().length;
    const err = failure(await send(microsoft, fake));
    expect(err.code).toBe('EAUTH');
    expect(err.responseCode).toBe(535);
    expect(microsoft.delivered().length).toBe(before);
  });

  test('a token revoked at the server: refused, renewed and retried on the same connection', async () => {
    const source = createOAuth2TokenSource(msSecret());
    expectOk(await send(microsoft, source));
    await hydra.deleteTokensOf('relay-ms-secret'); // the cached token is dead now
    expectOk(await send(microsoft, source));
    expect(source.stats().requests).toBe(2);
  });

  test('wrong scope: one the client may not have -> invalid_scope; one the upstream does not accept -> refused by Dovecot', async () => {
    const notAllowed = createOAuth2TokenSource({ ...msSecret(), scope: GMAIL });
    const err = failure(await send(microsoft, notAllowed));
    expect(err).toBeInstanceOf(OAuth2TokenError);
    expect(err.code).toBe('EAUTH'); // nodemailer's code; ours moves to originalCode
    expect(err.originalCode).toBe('invalid_scope');
    expect(notAllowed.stats().lastErrorCode).toBe('invalid_scope');

    const graph = createOAuth2TokenSource({ ...msSecret(), scope: GRAPH });
    const refused = failure(await send(microsoft, graph));
    expect(refused.responseCode).toBe(535);
    expect(microsoft.dovecotLog()).toContain(`Token is not valid for scope '${OUTLOOK}'`);
  });

  test('expiry mid-run: tokens refresh before expiry, mail keeps flowing; token endpoint calls counted', async () => {
    const source = createOAuth2TokenSource(msSecret());
    const hydraBefore = hydra.tokenEndpointCalls();
    const before = microsoft.delivered().length;
    const runMs = 4 * TOKEN_TTL_S * 1000;
    const started = Date.now();
    const tokens = new Set<string>();
    let sent = 0;
    while (Date.now() - started < runMs) {
      expectOk(await send(microsoft, source, MAILBOX, `steady-${sent}`));
      tokens.add((await source.get()).value);
      sent++;
      await new Promise((r) => setTimeout(r, 250));
    }
    const elapsedS = (Date.now() - started) / 1000;
    const calls = source.stats().requests;
    const hydraCalls = hydra.tokenEndpointCalls() - hydraBefore;
    // Figure for the report: calls per hour = calls / elapsed, and the same rule at a 1 h token.
    process.stdout.write(
      `oauth2 steady run: ${sent} messages in ${elapsedS.toFixed(1)} s, token lifetime ${TOKEN_TTL_S} s: ` +
        `${calls} token requests (Hydra logged ${hydraCalls}), ${tokens.size} distinct tokens, ` +
        `${((calls / elapsedS) * 3600).toFixed(0)} calls/hour at this lifetime\n`,
    );
    expect((await microsoft.waitForDelivered(before + sent)).length).toBe(before + sent);
    // Never expired in use (all sends succeeded) and refreshed about every 80% of the lifetime:
    expect(tokens.size).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(Math.ceil(elapsedS / (TOKEN_TTL_S * 0.8 - 1)) + 1);
    expect(hydraCalls).toBe(calls);
  }, 90_000);

  test('concurrent connections share one token request (single-flight)', async () => {
    const source = createOAuth2TokenSource(msSecret());
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => send(microsoft, source, MAILBOX, `burst-${i}`)));
    for (const r of results) expectOk(r);
    expect(source.stats().requests).toBe(1);
  });

  test('a deleted client: invalid_client surfaces with its code, never the secret', async () => {
    await hydra.createClient({ client_id: 'relay-ms-doomed', client_secret: MS_SECRET, grant_types: ['client_credentials'], scope: OUTLOOK, token_endpoint_auth_method: 'client_secret_post' });
    const source = createOAuth2TokenSource({ ...msSecret(), clientId: 'relay-ms-doomed' });
    expectOk(await send(microsoft, source));
    await hydra.deleteClient('relay-ms-doomed');
    await hydra.deleteTokensOf('relay-ms-doomed').catch(() => undefined);
    const err = failure(await send(microsoft, source));
    expect(err.originalCode).toBe('invalid_client');
    expect(err).toBeInstanceOf(OAuth2TokenError);
    expect((err as unknown as OAuth2TokenError).reason).toBe('UpstreamAuthFailed');
    expect(`${err.message} ${JSON.stringify(err)} ${JSON.stringify(source)}`).not.toContain(MS_SECRET);
    expect(source.stats().lastErrorCode).toBe('invalid_client');
  });

  test('authorization server down: clear error, backoff without hammering, recovers when it is back', async () => {
    const source = createOAuth2TokenSource(msSecret());
    await hydra.stop();
    const err = failure(await send(microsoft, source));
    expect(err.originalCode).toBe('endpoint_unreachable');
    expect(err.message).toContain('ECONNREFUSED');
    // Within the backoff the next connection fails at once, without another request.
    const again = failure(await send(microsoft, source));
    expect(again.originalCode).toBe('endpoint_unreachable');
    expect(source.stats().requests).toBe(1);
    await hydra.restart();
    await new Promise((r) => setTimeout(r, 2_100)); // past maxBackoffMs
    expectOk(await send(microsoft, source));
    expect(source.stats()).toMatchObject({ requests: 2, lastErrorCode: undefined });
  }, 60_000);
});
