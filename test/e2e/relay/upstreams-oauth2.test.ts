// OAuth2 end to end through the RELAY: a client logs in to the relay with a password, the
// relay logs in to the upstream with SASL XOAUTH2 as the mailbox, with tokens it gets itself
// from Ory Hydra (client credentials, Microsoft-style); the upstream is a private Postfix whose
// Dovecot asks Hydra's introspection endpoint about every token. Tokens live 8 s here, so the
// steady run crosses several refreshes. A client Hydra refuses (invalid_client) shows up in the
// upstream's health with the OAuth error code, and its route fails over to the next upstream.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { OAuth2UpstreamAuth, RelayConfig, RelayNamedUpstream } from '../../../src/common/relay-config.js';
import { createLogger } from '../../../src/common/logger.js';
import { RelayRuntime } from '../../../src/relay/relay.js';
import { startHydra, type Hydra } from '../../helpers/oauth2/hydra.js';
import { startOAuth2Submission, type OAuth2Submission } from '../../helpers/oauth2/oauth2-submission.js';
import { message, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';
import { createRelayFixture, PASSWORD, USER, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

const OUTLOOK = 'https://outlook.office365.com/.default';
const UPSTREAM_NAME = 'oauth2-upstream.test.example';
const CLIENT_SECRET = 'relay-e2e-client-secret-do-not-log-9931';
const MAILBOX = 'printer@corp.example';
const TOKEN_TTL_S = 8;

let fx: RelayFixture;
let hydra: Hydra;
let submission: OAuth2Submission;
let secretDir: string;
let wrongSecretDir: string;
const relays: RelayRuntime[] = [];

function auth(dir: string): OAuth2UpstreamAuth {
  return { type: 'oauth2', provider: 'microsoft', user: MAILBOX, tokenEndpoint: hydra.tokenEndpoint, clientId: 'relay-e2e', secretDir: dir, minBackoffMs: 500, maxBackoffMs: 2000 };
}

function upstream(name: string, dir: string): RelayNamedUpstream {
  return { name, host: '127.0.0.1', port: submission.port, tls: 'starttls', caDir: fx.dirs.upstreamCa, servername: UPSTREAM_NAME, poolSize: 2, connectTimeoutMs: 3000, timeoutMs: 10_000, auth: auth(dir) };
}

async function relayWith(patch: (c: RelayConfig) => void): Promise<{ relay: RelayRuntime; logs: () => string }> {
  const config: RelayConfig = structuredClone(fx.config);
  delete config.upstream;
  patch(config);
  // Every log line of the relay, at debug level, to check that no token or secret is in it.
  let logs = '';
  const logger = createLogger('relay-oauth2', 'debug');
  logger.clear().add(new winston.transports.Stream({ stream: new Writable({ write: (c: Buffer, _e, cb) => ((logs += c.toString()), cb()) }) }));
  const relay = new RelayRuntime({ config, logger, listenHost: '127.0.0.1', metricsHost: '127.0.0.1' });
  await relay.start();
  relays.push(relay);
  return { relay, logs: () => logs };
}

function send(relay: RelayRuntime, subject: string, from = 'app@example.com') {
  return sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, from, raw: message(400, subject) });
}

beforeAll(async () => {
  fx = await createRelayFixture((c) => (c.policy.allowedSenderDomains = ['example.com', 'corp.example']));
  fs.chmodSync(fx.root, 0o755); // Postfix's daemons walk through it; secrets below stay 0600
  hydra = await startHydra(path.join(fx.root, 'hydra'), { accessTokenTtl: `${TOKEN_TTL_S}s` });
  submission = await startOAuth2Submission(path.join(fx.root, 'submission'), {
    introspectionUrl: hydra.introspectionUrl,
    requiredScope: OUTLOOK,
    userCheck: 'any-user',
    tls: fx.ca.issue(UPSTREAM_NAME, [UPSTREAM_NAME]),
  });
  await hydra.createClient({ client_id: 'relay-e2e', client_secret: CLIENT_SECRET, grant_types: ['client_credentials'], scope: OUTLOOK, token_endpoint_auth_method: 'client_secret_post' });
  secretDir = path.join(fx.root, 'oauth-secret');
  wrongSecretDir = path.join(fx.root, 'oauth-secret-wrong');
  writeAtomicDir(secretDir, { 'client-secret': `${CLIENT_SECRET}\n` });
  writeAtomicDir(wrongSecretDir, { 'client-secret': 'not-the-secret-1234\n' });
}, 90_000);

afterAll(async () => {
  for (const r of relays) await r.stop(200);
  await submission?.stop();
  await hydra?.stop();
  await fx?.cleanup();
});

describe('OAuth2 (XOAUTH2) to the upstream, through the relay', () => {
  test('steady mail over several token lifetimes: every message delivered, tokens refreshed before expiry, endpoint calls counted, nothing secret logged', async () => {
    // Today's single `upstream`, with an OAuth2 login.
    const { relay, logs } = await relayWith((c) => {
      const { name: _name, ...up } = upstream('x', secretDir);
      c.upstream = up;
    });
    const hydraBefore = hydra.tokenEndpointCalls();
    const deliveredBefore = submission.delivered().length;
    const runMs = 3 * TOKEN_TTL_S * 1000;
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < runMs) {
      const r = await send(relay, `oauth-relay-${sent}`);
      expect(r).toMatchObject({ ok: true });
      sent++;
      await new Promise((res) => setTimeout(res, 200));
    }
    const elapsedS = (Date.now() - started) / 1000;
    const calls = hydra.tokenEndpointCalls() - hydraBefore;
    expect((await submission.waitForDelivered(deliveredBefore + sent)).length).toBe(deliveredBefore + sent);
    process.stdout.write(
      `oauth2 through the relay: ${sent} messages in ${elapsedS.toFixed(1)} s with ${TOKEN_TTL_S} s tokens: ${calls} token endpoint calls (Hydra's count), ` +
        `${((calls / elapsedS) * 3600).toFixed(0)} calls/hour at this lifetime\n`,
    );
    // At 80% of an 8 s lifetime: one call per ~6.4 s, plus the first; never one per message.
    expect(calls).toBeGreaterThanOrEqual(Math.floor(elapsedS / TOKEN_TTL_S));
    expect(calls).toBeLessThanOrEqual(Math.ceil(elapsedS / (0.8 * TOKEN_TTL_S)) + 2);
    expect(calls).toBeLessThan(sent / 2);
    expect(relay.queueSummary().upstreams).toEqual([{ name: 'default', state: 'closed' }]);
    const text = logs() + JSON.stringify(relay.queueSummary()) + (await relay.metrics.registry.metrics());
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toMatch(/ory_at_/); // Hydra's access tokens
    expect(submission.dovecotLog()).not.toContain(CLIENT_SECRET);
  }, 90_000);

  test('a client the token endpoint refuses: health says UpstreamAuthFailed with invalid_client; its route fails over to the next upstream; alone it answers 451 4.4.1', async () => {
    const { relay, logs } = await relayWith((c) => {
      c.upstreams = [upstream('m365-wrong', wrongSecretDir), upstream('m365', secretDir)];
      c.routes = [
        { senderDomains: ['corp.example'], upstreams: ['m365-wrong'] },
        { upstreams: ['m365-wrong', 'm365'] },
      ];
    });
    const before = submission.delivered().length;
    expect(await send(relay, 'oauth-failover')).toMatchObject({ ok: true });
    await submission.waitForDelivered(before + 1);
    const alone = await send(relay, 'oauth-alone', 'app@corp.example');
    expect(alone).toMatchObject({ ok: false, code: 451 });
    expect(alone.response).toMatch(/^451 4\.4\.1 /);
    const wrong = relay.queueSummary().upstreams?.find((u) => u.name === 'm365-wrong');
    expect(wrong?.lastError).toMatchObject({ reason: 'UpstreamAuthFailed', oauthError: 'invalid_client' });
    expect(relay.queueSummary().upstreams?.find((u) => u.name === 'm365')).toEqual({ name: 'm365', state: 'closed' });
    await new Promise((r) => setTimeout(r, 500));
    expect(submission.delivered().some((m) => m.includes('Subject: oauth-alone'))).toBe(false);
    expect(logs()).not.toContain('not-the-secret-1234');
  }, 60_000);
});
