// The operator's credential refresh without client-node in its process: the plain connection
// the kubeconfig child prints, the refresh policy (pure, clock as an argument), and
// KubeCredentials driven by a hand-set clock and an in-memory reload.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { connectionExpiry, jwtExpiry, parseChildOutput, redactSecrets, sameCredentials, sameTls, type KubeConnection } from '../../../src/kube/connection.js';
import { KubeCredentials, loadConnectionSync } from '../../../src/kube/credentials.js';
import { afterAttempt, beforeRequest, MAX_RETRY_MS, MIN_RETRY_MS, OPEN_GATE, renewAt, TOKEN_FILE_REREAD_MS } from '../../../src/kube/refresh-policy.js';

const jwt = (claims: object): string => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2lnbmF0dXJl`;

describe('the connection the child prints', () => {
  test('a valid connection parses; a bad field is named', () => {
    const c = parseChildOutput(JSON.stringify({ server: 'https://127.0.0.1:6443', ca: 'PEM', token: 't', renewable: true, headers: { 'Impersonate-User': 'u' } }));
    expect(c).toEqual({ server: 'https://127.0.0.1:6443', ca: 'PEM', token: 't', renewable: true, headers: { 'Impersonate-User': 'u' } });
    expect(() => parseChildOutput('{"server":"127.0.0.1","renewable":false}')).toThrow('connection.server must be an http(s) URL');
    expect(() => parseChildOutput('{"server":"https://x","renewable":false,"token":1}')).toThrow('connection.token must be a string');
    expect(() => parseChildOutput('{"server":"https://x"}')).toThrow('connection.renewable must be a boolean');
    expect(() => parseChildOutput('{"server":"https://x","renewable":false,"expiresAt":"soon"}')).toThrow('connection.expiresAt must be a date');
    expect(() => parseChildOutput('{"server":"https://x","renewable":false,"headers":{"a":1}}')).toThrow('connection.headers');
    expect(() => parseChildOutput('')).toThrow('printed no JSON');
  });

  test("the child's error comes back redacted", () => {
    const token = jwt({ exp: 1 });
    expect(() => parseChildOutput(JSON.stringify({ error: `exec plugin said: bad token ${token}` }))).toThrow('exec plugin said: bad token [redacted token]');
  });

  test('redaction masks JWTs, PEM blocks and long base64, and keeps paths and words', () => {
    const key = 'LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFcEFJQkFBS0NBUUVBN1ZKVFV0OVVzOGNLakMK';
    expect(redactSecrets(`client-key-data: ${key}`)).toBe('client-key-data: [redacted]');
    expect(redactSecrets('-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- after')).toBe('[redacted PEM] after');
    expect(redactSecrets(`Bearer ${jwt({ sub: 'x' })}`)).toBe('Bearer [redacted token]');
    const plain = 'kubeconfig file /tmp/some-long-directory-name-here/with/a/kubeconfig-file-name.yaml does not exist';
    expect(redactSecrets(plain)).toBe(plain);
  });

  test('expiry: the exec plugin wins, else the JWT exp claim, else none', () => {
    expect(jwtExpiry(jwt({ exp: 2_000_000_000 }))).toBe(2_000_000_000_000);
    expect(jwtExpiry(jwt({ sub: 'no exp' }))).toBeUndefined();
    expect(jwtExpiry('k8s-aws-v1.aHR0cHM6Ly9zdHM')).toBeUndefined();
    expect(jwtExpiry('a.!!!.c')).toBeUndefined();
    const base: KubeConnection = { server: 'https://x', renewable: true };
    expect(connectionExpiry({ ...base, expiresAt: '2030-01-01T00:00:00Z', token: jwt({ exp: 1 }) })).toBe(Date.parse('2030-01-01T00:00:00Z'));
    expect(connectionExpiry({ ...base, token: jwt({ exp: 5 }) })).toBe(5000);
    expect(connectionExpiry(base)).toBeUndefined();
  });

  test('sameTls and sameCredentials', () => {
    const a: KubeConnection = { server: 'https://x', ca: 'CA', token: 't1', renewable: true };
    expect(sameCredentials(a, { ...a })).toBe(true);
    expect(sameCredentials(a, { ...a, token: 't2' })).toBe(false);
    expect(sameTls(a, { ...a, token: 't2' })).toBe(true);
    expect(sameTls(a, { ...a, cert: 'C' })).toBe(false);
    expect(sameCredentials(a, { ...a, headers: { 'Impersonate-User': 'u' } })).toBe(false);
  });
});

describe('refresh policy', () => {
  test('renew after 80% of the lifetime, and at least 30 s before expiry', () => {
    expect(renewAt(0, 3_600_000)).toBe(2_880_000);
    expect(renewAt(0, 100_000)).toBe(70_000);
    expect(renewAt(1000, 20_000)).toBe(1000); // lifetime below the margin: renew right away
  });

  test('the retry gate opens at once, backs off doubling to a cap while nothing new comes, and resets on new credentials', () => {
    let gate = OPEN_GATE;
    expect(gate.notBefore).toBe(0);
    gate = afterAttempt(gate, 1000, false);
    expect(gate).toEqual({ notBefore: 1000 + MIN_RETRY_MS, delayMs: 2 * MIN_RETRY_MS });
    gate = afterAttempt(gate, 2000, false);
    expect(gate).toEqual({ notBefore: 2000 + 2 * MIN_RETRY_MS, delayMs: 4 * MIN_RETRY_MS });
    for (let i = 0; i < 20; i++) gate = afterAttempt(gate, 3000, false);
    expect(gate.delayMs).toBe(MAX_RETRY_MS);
    expect(afterAttempt(gate, 4000, true)).toEqual({ notBefore: 4000 + MIN_RETRY_MS, delayMs: MIN_RETRY_MS });
  });

  test('before a request: nothing, renew in the background, or renew and wait', () => {
    expect(beforeRequest(10, undefined, undefined, OPEN_GATE)).toBe('nothing');
    expect(beforeRequest(10, 20, 30, OPEN_GATE)).toBe('nothing');
    expect(beforeRequest(25, 20, 30, OPEN_GATE)).toBe('renew-in-background');
    expect(beforeRequest(30, 20, 30, OPEN_GATE)).toBe('renew-and-wait');
    expect(beforeRequest(30, 20, 30, { notBefore: 40, delayMs: 1 })).toBe('nothing');
  });
});

/** A KubeCredentials with a hand-set clock and a reload that hands out the queued connections (or throws). */
function harness(initial: KubeConnection, queue: (KubeConnection | Error)[]) {
  const clock = { now: 1_000_000 };
  let reloads = 0;
  const creds = new KubeCredentials(initial, {
    now: () => clock.now,
    reload: async () => {
      reloads++;
      const next = queue.shift();
      if (!next) throw new Error('no more connections');
      if (next instanceof Error) throw next;
      return next;
    },
  });
  const authorization = async (): Promise<string | undefined> => {
    const opts: https.RequestOptions = {};
    await creds.applyToHTTPSOptions(opts);
    return (opts.headers as Record<string, string>).Authorization;
  };
  return { creds, clock, reloads: () => reloads, authorization };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('KubeCredentials', () => {
  test('hands out TLS material, token, basic auth and extra headers', async () => {
    const h = harness({ server: 'https://x', ca: 'CA', cert: 'CERT', key: 'KEY', tlsServerName: 'kubernetes', insecureSkipTLSVerify: true, basicAuth: 'u:p', headers: { 'Impersonate-User': 'u' }, token: 't', renewable: false }, []);
    const opts: https.RequestOptions = {};
    await h.creds.applyToHTTPSOptions(opts);
    expect(opts).toMatchObject({ ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'kubernetes', rejectUnauthorized: false, auth: 'u:p' });
    expect(opts.headers).toEqual({ 'Impersonate-User': 'u', Authorization: 'Bearer t' });
    expect(h.creds.getCurrentCluster()).toEqual({ server: 'https://x' });
  });

  test('renewable credentials are renewed in the background near expiry, and waited for once expired', async () => {
    const start = 1_000_000;
    const exp = (s: number) => new Date(start + s * 1000).toISOString();
    const h = harness({ server: 'https://x', token: 'one', expiresAt: exp(100), renewable: true }, [
      { server: 'https://x', token: 'two', expiresAt: exp(200), renewable: true },
      { server: 'https://x', token: 'three', expiresAt: exp(1000), renewable: true },
    ]);
    expect(await h.authorization()).toBe('Bearer one');
    expect(h.reloads()).toBe(0);
    h.clock.now = start + 75_000; // past 70 s (100 s lifetime - 30 s margin): renew, still send the old one
    expect(await h.authorization()).toBe('Bearer one');
    await flush();
    expect(h.reloads()).toBe(1);
    expect(await h.authorization()).toBe('Bearer two');
    h.clock.now = start + 250_000; // "two" expired at 200 s: this request waits for "three"
    expect(await h.authorization()).toBe('Bearer three');
    expect(h.reloads()).toBe(2);
  });

  test('static credentials are never renewed ahead of time, even with a JWT exp', async () => {
    const h = harness({ server: 'https://x', token: jwt({ exp: 1001 }), renewable: false }, []);
    h.clock.now = 5_000_000;
    await h.authorization();
    await flush();
    expect(h.reloads()).toBe(0);
  });

  test('a 401 reloads once and says whether to retry; then it backs off while nothing new comes', async () => {
    const same: KubeConnection = { server: 'https://x', token: 'old', renewable: false };
    const h = harness(same, [{ ...same, token: 'new' }, { ...same, token: 'new' }, new Error('exec plugin failed'), { ...same, token: 'newest' }]);
    const [a, b] = await Promise.all([h.creds.refreshAfterUnauthorized(), h.creds.refreshAfterUnauthorized()]);
    expect([a, b]).toEqual([true, true]); // concurrent 401s share one reload
    expect(h.reloads()).toBe(1);
    expect(await h.authorization()).toBe('Bearer new');
    expect(await h.creds.refreshAfterUnauthorized()).toBe(false); // within the gate: no reload
    expect(h.reloads()).toBe(1);
    h.clock.now += MIN_RETRY_MS;
    expect(await h.creds.refreshAfterUnauthorized()).toBe(false); // reloaded, the same token: no retry
    expect(h.reloads()).toBe(2);
    h.clock.now += MIN_RETRY_MS - 1; // nothing new came: the gate stays closed a while
    expect(await h.creds.refreshAfterUnauthorized()).toBe(false);
    expect(h.reloads()).toBe(2);
    h.clock.now += 1;
    expect(await h.creds.refreshAfterUnauthorized()).toBe(false); // the loader fails: keep the old credentials
    expect(h.reloads()).toBe(3);
    expect(h.creds.lastError).toBe('cannot renew the credentials: exec plugin failed');
    expect(await h.authorization()).toBe('Bearer new');
    h.clock.now += 2 * MIN_RETRY_MS - 1; // the wait doubled
    expect(await h.creds.refreshAfterUnauthorized()).toBe(false);
    expect(h.reloads()).toBe(3);
    h.clock.now += 1;
    expect(await h.creds.refreshAfterUnauthorized()).toBe(true);
    expect(await h.authorization()).toBe('Bearer newest');
  });

  test('a token file is re-read every minute and after a 401, never reloading the kubeconfig', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'creds-'));
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, 'first\n');
    const h = harness({ server: 'https://x', tokenFile: file, renewable: false }, []);
    expect(await h.authorization()).toBe('Bearer first');
    fs.writeFileSync(file, 'second\n');
    expect(await h.authorization()).toBe('Bearer first'); // read at most once a minute
    h.clock.now += TOKEN_FILE_REREAD_MS;
    expect(await h.authorization()).toBe('Bearer second');
    fs.writeFileSync(file, 'third');
    expect(await h.creds.refreshAfterUnauthorized()).toBe(true);
    expect(await h.authorization()).toBe('Bearer third');
    expect(await h.creds.refreshAfterUnauthorized()).toBe(false); // unchanged: no retry
    fs.rmSync(file);
    h.clock.now += TOKEN_FILE_REREAD_MS;
    expect(await h.authorization()).toBe('Bearer third'); // unreadable: the last token stays
    expect(h.creds.lastError).toMatch(/cannot read token file .*ENOENT/);
    expect(h.reloads()).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('the kubeconfig child (real client-node in a real child process)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'creds-child-'));
  const kubeconfig = (user: object, cluster: object = {}): string => {
    const file = path.join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', ...cluster } }],
        users: [{ name: 'u', user }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    return file;
  };
  /** An exec credential plugin: a Node script that prints what it is given, or fails. */
  const plugin = (body: string): { command: string; args: string[]; apiVersion: string } => {
    const script = path.join(dir, `plugin-${Math.random().toString(36).slice(2)}.mjs`);
    fs.writeFileSync(script, body);
    return { command: process.execPath, args: [script], apiVersion: 'client.authentication.k8s.io/v1' };
  };

  test('a tokenFile (relative to the kubeconfig) is passed on as a file to re-read, not as its content; TLS name and impersonation too', () => {
    fs.writeFileSync(path.join(dir, 'token'), 'file-token');
    const conn = loadConnectionSync({ kind: 'file', path: kubeconfig({ tokenFile: 'token', as: 'someone' }, { 'tls-server-name': 'kubernetes', 'insecure-skip-tls-verify': true }) });
    expect(conn).toEqual({ server: 'https://127.0.0.1:6443', tlsServerName: 'kubernetes', insecureSkipTLSVerify: true, tokenFile: path.join(dir, 'token'), headers: { 'Impersonate-User': 'someone' }, renewable: false });
  });

  test("an exec plugin's token and expirationTimestamp come back, marked renewable", () => {
    const exec = plugin(`process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'exec-token', expirationTimestamp: '2030-01-02T03:04:05Z' } }));`);
    const conn = loadConnectionSync({ kind: 'file', path: kubeconfig({ exec }) });
    expect(conn).toEqual({ server: 'https://127.0.0.1:6443', token: 'exec-token', expiresAt: '2030-01-02T03:04:05Z', renewable: true });
  });

  test('a failing exec plugin: the error names the failure, a token it printed on stderr is redacted', () => {
    const secret = jwt({ sub: 'leaked' });
    const exec = plugin(`process.stderr.write('refresh failed for ${secret}\\n'); process.exit(1);`);
    let message = '';
    try {
      loadConnectionSync({ kind: 'file', path: kubeconfig({ exec }) });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('refresh failed for [redacted token]');
    expect(message).not.toContain(secret.split('.')[1]!);
  });
});
