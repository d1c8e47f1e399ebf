// DKIM signing must not hold whole messages in memory: a real relay process with DKIM on
// takes 20 messages of 8 MiB at once. Every one is delivered (signed, intact) or answered
// 451 4.3.2 before its 354; the process never dies; its peak RSS stays within the bound
// the DATA slots give (maxConcurrentData x (dkimSpillBytes + stream buffers), see relay.ts)
// over its idle footprint; the spill files appear in spoolDir while messages are in and are
// all gone afterwards, also after a client that hangs up mid-message and after a crash
// (stale files are removed at start). Before the fix the signer buffered every message in
// full: the same load raised the peak RSS by about the sum of the messages.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const MiB = 1024 * 1024;
const MESSAGES = 20;
const MESSAGE_BYTES = 8 * MiB;
const MAX_CONCURRENT_DATA = 3;
const SPILL_BYTES = 1 * MiB;
/** Stream buffers per transaction (relay.ts: smtp-server, counter, signer, upstream socket). */
const BUFFERS_PER_TRANSACTION = 0.5 * MiB;
/**
 * Garbage Buffers of any streaming (socket reads, TLS records, file chunks) live until V8
 * collects them, which external memory forces after 64 MiB of growth (V8's external
 * allocation soft limit): the same load without DKIM raised the peak RSS by 64 MiB too.
 * Plus 16 MiB for malloc fragmentation. Measured with the fix: +63..67 MiB over idle; without
 * it (the signer buffering every message in full): +192 MiB, and 19 of 20 messages failed.
 */
const GC_ALLOWANCE = 64 * MiB + 16 * MiB;

let fx: RelayFixture;
let relay: RelayProcess;
let spoolDir: string;

function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Relaxed body canonicalization (RFC 6376 3.4.4) and its sha256, as in bh=. */
function relaxedBodyHash(body: string): string {
  const lines = body.split('\r\n').map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return crypto.createHash('sha256').update(lines.length ? `${lines.join('\r\n')}\r\n` : '').digest('base64');
}

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.policy.maxMessageBytes = 10 * MiB;
    c.upstream.poolSize = MESSAGES;
    c.upstream.timeoutMs = 120_000;
    // 20 upstream TLS sessions opening at once on a loaded CI machine can take longer than the
    // fixture's 3 s: what this test measures is the DATA slots, not the upstream's greeting.
    c.upstream.connectTimeoutMs = 30_000;
    c.limits.maxConcurrentData = MAX_CONCURRENT_DATA;
    c.limits.dkimSpillBytes = SPILL_BYTES;
    c.limits.upstreamPerUserConcurrency = MESSAGES; // the DATA slots are what this test exercises
    c.limits.upstreamAcquireTimeoutMs = 10_000; // under the test client's 15 s socket timeout: a waiting DATA gets its 451
  });
  const dkimDir = path.join(fx.root, 'dkim');
  fs.mkdirSync(dkimDir);
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path.join(dkimDir, 'private.key')], { stdio: 'ignore' });
  spoolDir = path.join(fx.root, 'spool');
  // What a crash leaves behind: a message directory with a spill file.
  fs.mkdirSync(path.join(spoolDir, 'msg-left-by-a-crash'), { recursive: true });
  fs.writeFileSync(path.join(spoolDir, 'msg-left-by-a-crash', 'message.1-abc'), 'x'.repeat(4096));
  fx.config.dkim = [{ selector: 'sel1', domain: 'example.com', keyDir: dkimDir }];
  fx.config.spoolDir = spoolDir;
  fs.writeFileSync(fx.configPath, JSON.stringify(fx.config, null, 2));
  // A small V8 heap: what the relay holds must not hide in a lazily collected heap.
  relay = await startRelayProcess(fx, { nodeArgs: ['--max-old-space-size=64'] });
}, 60_000);

afterAll(async () => {
  if (relay && relay.child.exitCode === null) {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
  await fx?.cleanup();
});

const send = (raw: string) => sendWithNodemailer({ port: relay.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw });

describe('DKIM spill and DATA slots (real relay process)', () => {
  test('stale spill files from an earlier run are removed at start', () => {
    expect(fs.readdirSync(spoolDir)).toEqual([]);
  });

  test(`${MESSAGES} x 8 MiB at once: delivered signed or 451 4.3.2, peak RSS within the DATA-slot bound, spool empty after`, async () => {
    // Warm up (TLS, DKIM key, upstream connection), then take the idle footprint.
    expect((await send(message(1024, 'warm-up'))).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const pid = relay.child.pid as number;
    const idle = procStatusBytes(pid, 'VmRSS');
    const delivered0 = fx.upstream.messages.length;

    let spillSeen = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const entries = fs.readdirSync(spoolDir);
        const files = entries.reduce((n, d) => n + (fs.existsSync(path.join(spoolDir, d)) ? fs.readdirSync(path.join(spoolDir, d)).length : 0), 0);
        spillSeen = Math.max(spillSeen, files);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const raws = Array.from({ length: MESSAGES }, (_, i) => message(MESSAGE_BYTES, `big-${i}`));
    const results = await Promise.all(raws.map((raw) => send(raw)));
    sampling = false;
    await sampler;

    const peak = procStatusBytes(pid, 'VmHWM');
    const bound = idle + MAX_CONCURRENT_DATA * (SPILL_BYTES + BUFFERS_PER_TRANSACTION) + GC_ALLOWANCE;
    const delivered = results.filter((r) => r.ok).length;
    const refused = results.filter((r) => !r.ok);
    process.stdout.write(
      `dkim-memory: idle RSS ${(idle / MiB).toFixed(1)} MiB, peak RSS ${(peak / MiB).toFixed(1)} MiB, bound ${(bound / MiB).toFixed(1)} MiB, delivered ${delivered}, refused ${refused.length}, spill files seen ${spillSeen}\n`,
    );

    expect(relay.child.exitCode).toBeNull();
    for (const r of refused) expect(r.response).toMatch(/^451 4\.3\.2 Too many concurrent transactions/);
    expect(delivered).toBeGreaterThanOrEqual(MAX_CONCURRENT_DATA);
    expect(fx.upstream.messages.length - delivered0).toBe(delivered);
    for (const m of fx.upstream.messages.slice(delivered0)) {
      const raw = m.raw.toString('latin1');
      const sig = /^DKIM-Signature: ([\s\S]*?)\r\n(?![ \t])/.exec(raw)?.[1] ?? '';
      expect(sig).toMatch(/d=example\.com;/);
      const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
      const subject = /^Subject: (.*)$/m.exec(raw)?.[1] ?? '';
      const sent = raws[Number(subject.replace('big-', ''))] as string;
      expect(body).toBe(sent.slice(sent.indexOf('\r\n\r\n') + 4)); // intact
      expect(/bh=([^;]+);/.exec(sig.replace(/\s+/g, ''))?.[1]).toBe(relaxedBodyHash(body)); // signed over the whole body
    }
    expect(spillSeen).toBeGreaterThan(0); // the bodies went to the spool, not to memory
    expect(peak).toBeLessThanOrEqual(bound);
    expect(fs.readdirSync(spoolDir)).toEqual([]);
  }, 180_000);

  test('a client that hangs up in the middle of a large message leaves no spill file behind', async () => {
    const c = await RawSmtp.connect(relay.ports.submissions, fx.ca.caCert);
    await c.reply();
    await c.cmd('EHLO client.example');
    expect(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}`)).toMatch(/^235 /);
    expect(await c.cmd('MAIL FROM:<app@example.com>')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<rcpt@dest.example>')).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    const chunk = `${'y'.repeat(1022)}\r\n`.repeat(1024); // 1 MiB
    c.socket.write('From: <app@example.com>\r\nSubject: cut\r\n\r\n'); // DKIM signs (and spills) only mail whose From: aligns with the key
    for (let i = 0; i < 4; i++) await new Promise<void>((resolve) => c.socket.write(chunk, () => resolve()));
    // The spill file exists while the message is in...
    const until = Date.now() + 5000;
    let files: string[] = [];
    while (Date.now() < until && files.length === 0) {
      files = fs.readdirSync(spoolDir).flatMap((d) => (fs.existsSync(path.join(spoolDir, d)) ? fs.readdirSync(path.join(spoolDir, d)) : []));
      if (!files.length) await new Promise((r) => setTimeout(r, 20));
    }
    expect(files.length).toBeGreaterThan(0);
    c.socket.destroy(); // ...and the client goes away before the end-of-data dot
    const gone = Date.now() + 5000;
    while (Date.now() < gone && fs.readdirSync(spoolDir).length > 0) await new Promise((r) => setTimeout(r, 20));
    expect(fs.readdirSync(spoolDir)).toEqual([]);
    expect(relay.child.exitCode).toBeNull();
  }, 30_000);
});
