// Durable mode (relay.json `queue`, issue 12) on real parts: a private Postfix as the
// upstream (stopped and started, refusing some recipients per its check_recipient_access
// map), in-process relays, a tmpfs as a full disk. The outage and crash runs are in
// test/soak/durable-queue.test.ts.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import type { RelayConfig } from '../../../src/common/relay-config.js';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { getFreePort } from '../../harness/controlplane.js';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { startPostfix, type PostfixOptions, type PostfixUpstream } from '../../helpers/smtp/postfix.js';
import { createRelayFixture, PASSWORD, startInProcessRelay, startRelayProcess, USER, type FixtureConfig, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let fx: RelayFixture;
let postfix: PostfixUpstream;
let postfixPort: number;
const relays: RelayRuntime[] = [];
const POSTFIX_OPTS: PostfixOptions = {
  domains: ['dest.example', 'example.com'],
  recipientAccess: {
    'gone@dest.example': '550 5.1.1 No such user here',
    'busy@dest.example': '450 4.2.0 Mailbox busy, try again later',
    // The sender of the bounce-of-a-bounce case: its DSN is refused too.
    'nobounce@example.com': '550 5.1.1 Sender mailbox gone',
  },
};

function postfixTls() {
  return fx.ca.issue('postfix', ['localhost', '127.0.0.1']);
}

/** Postfix again on the same port, with the same Maildir (the relay's upstream comes back). */
async function restartPostfix(): Promise<void> {
  postfix = await startPostfix(path.join(fx.root, 'postfix'), postfixTls(), { ...POSTFIX_OPTS, port: postfixPort });
}

/** A durable relay on the shared Postfix (or `upstreamPort`), its queue in `dir`. */
async function durableRelay(dir: string, queue: Partial<NonNullable<RelayConfig['queue']>> = {}, upstreamPort = postfixPort): Promise<RelayRuntime> {
  const config: FixtureConfig = structuredClone(fx.config);
  config.upstream = { ...config.upstream, port: upstreamPort, credentialsDir: undefined };
  config.queue = { dir, maxAgeMs: 3_600_000, minBackoffMs: 500, maxBackoffMs: 2000, ...queue };
  const relay = await startInProcessRelay({ ...fx, config });
  relays.push(relay);
  return relay;
}

async function summary(relay: RelayRuntime): Promise<QueueSummary> {
  const res = await fetch(`http://127.0.0.1:${relay.metricsPort}/queue`);
  return (await res.json()) as QueueSummary;
}

async function waitFor<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Postfix's copies (one per recipient) carrying this Message-ID. */
function deliveredWith(messageId: string): string[] {
  return postfix.delivered().filter((m) => m.includes(`Message-ID: <${messageId}>`));
}
function deliveredTo(m: string): string | undefined {
  return /^Delivered-To: (\S+)/m.exec(m)?.[1];
}
/** DSNs Postfix delivered that quote the original Message-ID in their text/rfc822-headers part. */
function dsnsFor(messageId: string): string[] {
  return postfix.delivered().filter((m) => m.includes('multipart/report') && m.includes(`Message-ID: <${messageId}>`));
}

interface ParsedDsn {
  type: string;
  reportType: string | null;
  returnPath: string | null;
  recipients: Array<{ final: string; action: string; status: string; diagnostic: string | null }>;
  headersPart: string | null;
}

/** Python's email parser reads the DSN (a real, independent MIME parser). */
async function parseWithPython(raw: string): Promise<ParsedDsn> {
  const file = path.join(fx.root, `dsn-${Date.now()}.eml`);
  fs.writeFileSync(file, raw);
  const script = [
    'import email, json, sys',
    'm = email.message_from_binary_file(open(sys.argv[1], "rb"))',
    'out = {"type": m.get_content_type(), "reportType": m.get_param("report-type"), "returnPath": m.get("Return-Path"), "recipients": [], "headersPart": None}',
    'for part in m.walk():',
    '    if part.get_content_type() == "message/delivery-status":',
    '        for block in part.get_payload()[1:]:',
    '            out["recipients"].append({"final": block.get("Final-Recipient"), "action": block.get("Action"), "status": block.get("Status"), "diagnostic": block.get("Diagnostic-Code")})',
    '    if part.get_content_type() == "text/rfc822-headers":',
    '        out["headersPart"] = part.get_payload()',
    'print(json.dumps(out))',
  ].join('\n');
  const { stdout } = await run('python3', ['-c', script, file]);
  return JSON.parse(stdout) as ParsedDsn;
}

function send(relay: RelayRuntime, opts: { from?: string; to: string[]; id: string; bytes?: number }) {
  const raw = message(opts.bytes ?? 1000, opts.id); // Subject: <id>, Message-ID: <id@example.com>
  return sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, from: opts.from ?? 'app@example.com', to: opts.to, raw });
}

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.policy.maxMessageBytes = 512 * 1024;
  });
  postfixPort = await getFreePort();
  await restartPostfix();
}, 60_000);
afterAll(async () => {
  for (const r of relays) await r.stop(200).catch(() => undefined);
  await postfix?.stop();
  await fx?.cleanup();
});

describe('durable queue: per-recipient results and DSNs (Postfix upstream)', () => {
  test('5xx for one recipient: the others are delivered; the sender gets an RFC 3464 DSN that Python reads; a bounce is never bounced', async () => {
    const relay = await durableRelay(path.join(fx.root, 'q-perm'));
    const r = await send(relay, { id: 'perm-1', to: ['ok1@dest.example', 'gone@dest.example', 'ok2@dest.example'] });
    expect(r.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}/);

    const copies = await waitFor('both good recipients', () => {
      const c = deliveredWith('perm-1@example.com').filter((m) => !m.includes('multipart/report'));
      return c.length >= 2 && c;
    });
    expect(copies.map(deliveredTo).sort()).toEqual(['ok1@dest.example', 'ok2@dest.example']);
    const [dsn] = await waitFor('the DSN', () => {
      const d = dsnsFor('perm-1@example.com');
      return d.length > 0 && d;
    });
    expect(deliveredTo(dsn as string)).toBe('app@example.com');
    const parsed = await parseWithPython(dsn as string);
    expect(parsed.type).toBe('multipart/report');
    expect(parsed.reportType).toBe('delivery-status');
    expect(parsed.returnPath).toBe('<>'); // sent with the null reverse-path
    expect(parsed.recipients).toEqual([{ final: 'rfc822; gone@dest.example', action: 'failed', status: '5.1.1', diagnostic: expect.stringMatching(/^smtp; 550 5\.1\.1 .*No such user here/) }]);
    expect(parsed.headersPart).toContain('Subject: perm-1');

    // Bounce of a bounce: the DSN to nobounce@example.com is refused (5xx) as well; it is
    // dropped and counted, and nothing more is sent.
    const r2 = await send(relay, { from: 'nobounce@example.com', id: 'perm-2', to: ['gone@dest.example'] });
    expect(r2.ok).toBe(true);
    await waitFor('the refused DSN to be dropped', async () => (await relay.metrics.queue.bouncesDropped.get()).values[0]?.value === 1 && (await summary(relay)).depth === 0);
    await sleep(1500);
    expect((await relay.metrics.queue.bouncesDropped.get()).values[0]?.value).toBe(1);
    expect(dsnsFor('perm-2@example.com')).toEqual([]);
    expect(postfix.log()).toMatch(/NOQUEUE: reject: RCPT from [^\n]*<nobounce@example\.com>: Recipient address rejected: Sender mailbox gone; from=<>/);
    // Refused recipients: gone@ twice (perm-1, perm-2), then nobounce@ (the DSN to it).
    expect((await relay.metrics.queue.bounced.get()).values[0]?.value).toBe(3);
    expect((await relay.metrics.queue.delivered.get()).values[0]?.value).toBe(3); // ok1, ok2, the DSN to app@
  });

  test('maxAge passes while the upstream keeps deferring: a DSN with Status 4.4.7 quoting the last 4xx', async () => {
    const relay = await durableRelay(path.join(fx.root, 'q-expire'), { maxAgeMs: 3000, minBackoffMs: 300, maxBackoffMs: 1000 });
    const r = await send(relay, { id: 'expire-1', to: ['busy@dest.example'] });
    expect(r.ok).toBe(true);
    expect(await waitFor('a deferral', async () => (await summary(relay)).deferred === 1)).toBe(true);
    const s = await summary(relay);
    expect(s.lastError).toMatchObject({ upstream: `127.0.0.1:${postfixPort}`, code: 450, temporary: true });
    const [dsn] = await waitFor('the expiry DSN', () => {
      const d = dsnsFor('expire-1@example.com');
      return d.length > 0 && d;
    });
    const parsed = await parseWithPython(dsn as string);
    expect(parsed.type).toBe('multipart/report');
    expect(parsed.recipients).toEqual([{ final: 'rfc822; busy@dest.example', action: 'failed', status: '4.4.7', diagnostic: expect.stringMatching(/^smtp; 450 4\.2\.0 .*Mailbox busy/) }]);
    expect((await relay.metrics.queue.expired.get()).values[0]?.value).toBe(1);
    expect(await waitFor('an empty queue', async () => (await summary(relay)).depth === 0)).toBe(true);
  });
});

describe('durable queue: restart, corrupt entries, drain', () => {
  test('restart: a queued message is attempted at once; partial and corrupt entries are quarantined and counted; the relay serves', async () => {
    const dir = path.join(fx.root, 'q-restart');
    const deadPort = await getFreePort(); // nothing listens: every attempt fails to connect
    // minBackoff of a minute: only the attempt at start can deliver within this test.
    const first = await durableRelay(dir, { minBackoffMs: 60_000, maxBackoffMs: 120_000 }, deadPort);
    expect((await send(first, { id: 'restart-1', to: ['r1@dest.example'] })).ok).toBe(true);
    await waitFor('a failed attempt', async () => (await summary(first)).deferred === 1);
    await first.stop(200);

    fs.writeFileSync(path.join(dir, 'msg', '0f0f0f0f-0000-4000-8000-000000000001.msg'), 'not a queue file at all\n');
    fs.writeFileSync(path.join(dir, 'msg', '0f0f0f0f-0000-4000-8000-000000000002.msg'), 'SMTPRELAYQ1\n{"id":"0f0f0f0f-0000-4000-8000-000000000002","from":"a@exa');
    fs.writeFileSync(path.join(dir, 'tmp', '0f0f0f0f-0000-4000-8000-000000000003.msg'), 'SMTPRELAYQ1\n{"id":"0f0f0f0f-0000-4000-8000-000000000003"}\nFrom: half a mess');

    const t0 = Date.now();
    const second = await durableRelay(dir, { minBackoffMs: 60_000, maxBackoffMs: 120_000 });
    expect((await second.metrics.queue.quarantined.get()).values[0]?.value).toBe(3);
    expect(fs.readdirSync(path.join(dir, 'quarantine'))).toHaveLength(3);
    await waitFor('restart-1 delivered', () => deliveredWith('restart-1@example.com').length === 1);
    expect(Date.now() - t0).toBeLessThan(30_000); // long before the 60 s backoff: attempted at start
    expect((await send(second, { id: 'restart-2', to: ['r2@dest.example'] })).ok).toBe(true);
    await waitFor('restart-2 delivered', () => deliveredWith('restart-2@example.com').length === 1);
    await waitFor('the queue files removed after delivery', () => fs.readdirSync(path.join(dir, 'msg')).length === 0);
    expect(fs.readdirSync(path.join(dir, 'msg'))).toEqual([]);
  });

  test('drain (POST /drain): readiness false, 421 to new sessions and to the next MAIL of an open one, the queue delivered, /queue shows it', async () => {
    const relay = await durableRelay(path.join(fx.root, 'q-drain'));
    await postfix.stop(); // the upstream is down while mail is queued
    let up = false;
    try {
      for (let i = 1; i <= 5; i++) expect((await send(relay, { id: `drain-${i}`, to: [`d${i}@dest.example`] })).ok).toBe(true);
      // A session opened before the drain, authenticated and ready for its next transaction.
      const open = await RawSmtp.connect(relay.port('submission') as number);
      await open.reply();
      await open.cmd('EHLO client.example');
      await open.cmd('STARTTLS');
      await open.starttls(fx.ca.caCert);
      await open.cmd('EHLO client.example');
      expect(await open.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}`)).toMatch(/^235 /);

      const res = await fetch(`http://127.0.0.1:${relay.metricsPort}/drain`, { method: 'POST' });
      expect(res.status).toBe(202);
      const drained = (await res.json()) as QueueSummary;
      expect(drained).toMatchObject({ mode: 'durable', accepting: false, draining: true, depth: 5 });
      expect((await fetch(`http://127.0.0.1:${relay.metricsPort}/readyz`)).status).toBe(503);

      const fresh = await RawSmtp.connect(relay.port('submission') as number);
      expect(await fresh.reply()).toMatch(/^421 4\.3\.2 /);
      fresh.close();
      expect(await open.cmd('MAIL FROM:<app@example.com>')).toMatch(/^421 4\.3\.2 /);
      open.close();

      await restartPostfix();
      up = true;
      await waitFor('the drained queue to be empty', async () => (await summary(relay)).depth === 0, 30_000);
      expect(await summary(relay)).toMatchObject({ accepting: false, draining: true, depth: 0, deferred: 0, bytes: 0 });
      for (let i = 1; i <= 5; i++) expect(deliveredWith(`drain-${i}@example.com`)).toHaveLength(1);
    } finally {
      if (!up) await restartPostfix().catch(() => undefined);
    }
  });
});

describe('durable queue: DKIM, SIGTERM, and the /queue contract in pass-through mode', () => {
  test('DKIM signs at acceptance: the queued file holds the signed message, delivered byte for byte', async () => {
    const dkimDir = path.join(fx.root, 'dkim');
    fs.mkdirSync(dkimDir, { recursive: true });
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path.join(dkimDir, 'private.key')], { stdio: 'ignore' });
    fx.upstream.fail = 'temp'; // the capture upstream defers: the message waits in the queue
    const dir = path.join(fx.root, 'q-dkim');
    const config: FixtureConfig = structuredClone(fx.config);
    config.queue = { dir, maxAgeMs: 3_600_000, minBackoffMs: 200, maxBackoffMs: 500 };
    config.dkim = [{ selector: 'sel1', domain: 'example.com', keyDir: dkimDir }];
    config.spoolDir = path.join(fx.root, 'spool-dkim');
    const relay = await startInProcessRelay({ ...fx, config });
    relays.push(relay);
    try {
      expect((await send(relay, { id: 'dkim-1', to: ['d@dest.example'], bytes: 20_000 })).ok).toBe(true);
      const [file] = fs.readdirSync(path.join(dir, 'msg'));
      const queued = fs.readFileSync(path.join(dir, 'msg', file as string), 'latin1');
      const body = queued.slice(queued.indexOf('\n', queued.indexOf('\n') + 1) + 1);
      expect(body).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; [^]*d=example\.com;/);
      fx.upstream.fail = 'none';
      await waitFor('delivery', () => fx.upstream.messages.some((m) => m.raw.toString('latin1').includes('Subject: dkim-1')), 20_000);
      const delivered = fx.upstream.messages.find((m) => m.raw.toString('latin1').includes('Subject: dkim-1'));
      expect(delivered?.raw.toString('latin1')).toBe(body);
    } finally {
      fx.upstream.fail = 'none';
      await relay.stop(200);
    }
  });

  test('SIGTERM with mail queued and the upstream down: the process exits 0 at once, the queue stays on disk and is delivered by the next start', async () => {
    const dir = path.join(fx.root, 'q-sigterm');
    const config: FixtureConfig = structuredClone(fx.config);
    config.upstream = { ...config.upstream, port: await getFreePort(), credentialsDir: undefined }; // nothing listens
    config.queue = { dir, maxAgeMs: 3_600_000, minBackoffMs: 60_000, maxBackoffMs: 120_000 };
    const configPath = path.join(fx.root, 'relay-sigterm.json');
    fs.writeFileSync(configPath, JSON.stringify(config));
    const first = await startRelayProcess({ configPath });
    for (let i = 1; i <= 3; i++) {
      const r = await sendWithNodemailer({ port: first.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, to: [`t${i}@dest.example`], raw: message(1000, `term-${i}`) });
      expect(r.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
    }
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000); // it does not wait for the queue to empty
    expect(fs.readdirSync(path.join(dir, 'msg'))).toHaveLength(3);

    config.upstream.port = postfixPort;
    fs.writeFileSync(configPath, JSON.stringify(config));
    const second = await startRelayProcess({ configPath });
    try {
      await waitFor('the three messages', () => [1, 2, 3].every((i) => deliveredWith(`term-${i}@example.com`).length === 1));
      // The sink can hold a message a few ms before the relay deletes its file (the
      // at-least-once window): wait for the delete rather than race it.
      await waitFor('the queue files removed after delivery', () => fs.readdirSync(path.join(dir, 'msg')).length === 0);
      expect(fs.readdirSync(path.join(dir, 'msg'))).toEqual([]);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  test('pass-through mode: GET /queue says so; POST /drain stops accepting (421, not ready), DELETE /drain takes it back', async () => {
    const relay = await startInProcessRelay(fx); // no queue: pass-through
    relays.push(relay);
    const base = `http://127.0.0.1:${relay.metricsPort}`;
    expect(await summary(relay)).toEqual({ mode: 'pass-through', accepting: true, draining: false, depth: 0, deferred: 0, oldestAgeSeconds: 0, bytes: 0, upstreams: [{ name: 'default', state: 'closed' }] });
    expect((await fetch(`${base}/drain`, { method: 'POST' })).status).toBe(202);
    expect(await summary(relay)).toMatchObject({ accepting: false, draining: true, depth: 0 });
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    const c = await RawSmtp.connect(relay.port('submission') as number);
    expect(await c.reply()).toMatch(/^421 4\.3\.2 /);
    c.close();
    expect((await fetch(`${base}/drain`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/queue`, { method: 'POST' })).status).toBe(405);
    expect((await send(relay, { id: 'pt-after-drain', to: ['p@dest.example'] })).response).toMatch(/^250 2\.0\.0 Ok: relayed as /);
    await relay.stop(200);
  });
});

describe('durable queue: full disk', () => {
  const mnt = path.join('/tmp', `relay-queue-tmpfs-${process.pid}`);
  let mounted = false;
  beforeAll(() => {
    fs.mkdirSync(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (err) {
      // Not skipped: a full disk is part of the queue's contract, so say what the run lacks.
      throw new Error(`this test mounts a 2 MiB tmpfs as a full disk and needs root (CI runs as root): mount failed: ${(err as Error).message}`);
    }
    mounted = true;
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  test('a 2 MiB tmpfs as the queue: 452 4.3.1 once full, never 250 for a message not on disk; nothing acknowledged is lost', async () => {
    // The capture upstream defers everything first (451), so the queue only fills.
    fx.upstream.fail = 'temp';
    const config: FixtureConfig = structuredClone(fx.config);
    config.queue = { dir: mnt, maxAgeMs: 3_600_000, minBackoffMs: 200, maxBackoffMs: 500 };
    const relay = await startInProcessRelay({ ...fx, config });
    relays.push(relay);
    const replies: Array<{ id: string; code: number }> = [];
    for (let i = 1; i <= 40; i++) {
      const id = `full-${i}`;
      const r = await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(100 * 1024, id) });
      replies.push({ id, code: r.ok ? 250 : (r.code ?? 0) });
      if (!r.ok) expect(r.response).toMatch(/^452 4\.3\.1 Insufficient system storage/);
    }
    const acked = replies.filter((r) => r.code === 250).map((r) => r.id);
    const refused = replies.filter((r) => r.code === 452).map((r) => r.id);
    expect(acked.length + refused.length).toBe(40); // 250 or 452, nothing else
    expect(acked.length).toBeGreaterThan(5);
    expect(refused.length).toBeGreaterThan(10);
    expect(fs.readdirSync(path.join(mnt, 'tmp'))).toEqual([]); // partial files removed
    expect(fs.readdirSync(path.join(mnt, 'msg'))).toHaveLength(acked.length);
    expect((await summary(relay)).depth).toBe(acked.length);

    const fullIds = () => fx.upstream.messages.map((m) => /^Subject: (\S+)/m.exec(m.raw.toString())?.[1] ?? '').filter((id) => id.startsWith('full-'));
    fx.upstream.fail = 'none';
    await waitFor('every acknowledged message delivered', () => fullIds().length >= acked.length, 30_000);
    await waitFor('an empty queue', async () => (await summary(relay)).depth === 0);
    const ids = fullIds();
    expect([...ids].sort()).toEqual([...acked].sort()); // each acknowledged one, once; no refused one
    // With room again, mail is accepted again.
    expect((await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(100 * 1024, 'full-after') })).ok).toBe(true);
    await relay.stop(200);
  }, 90_000);
});
