// SMTP protocol fuzzing of the relay process at each listener for a bounded time: random
// and malformed streams (overlong lines, binary, NUL, bare LF/CR, pipelining floods,
// garbage in DATA/AUTH/BDAT). The relay must stay up with bounded memory (VmRSS from
// /proc) and still deliver a legitimate message afterwards. 5 s in `npm test`, 60 s per
// listener in `npm run test:soak`.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { message, sendWithNodemailer } from '../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../helpers/smtp/relay-fixture.js';
import { b64 } from './smtp-session.js';

const soak = process.env.SMTP_RELAY_SOAK === '1';
const DURATION_MS = soak ? 60_000 : 5_000;
const PARALLEL = soak ? 16 : 6;
jest.setTimeout(DURATION_MS * 4 + 60_000);

let fx: RelayFixture;
let relay: RelayProcess;

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.limits.socketTimeoutMs = 3000; // fuzzers that stall are dropped quickly
    c.limits.maxConnections = 200;
  });
  relay = await startRelayProcess(fx);
});
afterAll(async () => {
  relay?.child.kill('SIGKILL');
  await relay?.exited;
  await fx?.cleanup();
});

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

const r = (n: number) => Math.floor(Math.random() * n);
const pick = <T>(xs: T[]): T => xs[r(xs.length)]!;
const VERBS = ['EHLO', 'HELO', 'MAIL FROM:', 'RCPT TO:', 'DATA', 'BDAT', 'AUTH', 'AUTH PLAIN', 'AUTH LOGIN', 'STARTTLS', 'RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'QUIT', 'XCLIENT', 'XFORWARD', 'ETRN', 'TURN'];

/** One malformed chunk; each kind aims at a parser edge. */
function chunk(): Buffer {
  switch (r(12)) {
    case 0: return crypto.randomBytes(1 + r(4096)); // binary noise
    case 1: return Buffer.from(`${pick(VERBS)} ${'A'.repeat(5000 + r(200_000))}\r\n`); // overlong line
    case 2: return Buffer.from(`${pick(VERBS)}\0${crypto.randomBytes(r(64)).toString('latin1')}\r\n`, 'latin1'); // NUL
    case 3: return Buffer.from(`${pick(VERBS)} x@y.example\n`); // bare LF
    case 4: return Buffer.from(`${pick(VERBS)} x@y.example\r`); // bare CR
    case 5: return Buffer.from(Array.from({ length: 200 + r(2000) }, () => `${pick(VERBS)} <a${r(9)}@b.example>\r\n`).join('')); // pipelining flood
    case 6: return Buffer.from(`MAIL FROM:<${'a'.repeat(r(3000))}@${'b.'.repeat(r(300))}example> SIZE=${r(1e12)} BODY=${pick(['8BITMIME', 'BINARYMIME', 'x'])}\r\n`);
    case 7: return Buffer.from(`AUTH PLAIN ${b64(crypto.randomBytes(r(20_000)).toString('latin1'))}\r\n`);
    case 8: return Buffer.from(`BDAT ${pick(['0', '-1', '99999999999', 'x', '10 LAST'])}\r\n${crypto.randomBytes(r(100)).toString('latin1')}`, 'latin1');
    case 9: return Buffer.from(`DATA\r\n${'.\r\n'.repeat(r(3))}${crypto.randomBytes(r(1000)).toString('latin1')}\r\n.\r\n`, 'latin1');
    case 10: return Buffer.from(`${'\r\n'.repeat(r(5000))}`);
    default: return Buffer.from(`EHLO ${'\u00e9\u{1F4E7}'.repeat(r(500))}\r\n${pick(VERBS)} ${'%!@"\\:<>'.repeat(r(100))}\r\n`);
  }
}

/** One fuzzing connection: a few chunks, sometimes slowly, then close or abort. */
async function fuzzOnce(port: number, mode: 'plain' | 'implicit' | 'starttls'): Promise<void> {
  const socket: net.Socket = mode === 'implicit' ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  await new Promise<void>((resolve) => {
    socket.once(mode === 'implicit' ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', () => resolve());
    socket.once('close', () => resolve());
  });
  let s: net.Socket = socket;
  if (mode === 'starttls' && !socket.destroyed) {
    socket.write('EHLO fuzz\r\nSTARTTLS\r\n');
    await new Promise((res) => setTimeout(res, 50));
    s = tls.connect({ socket, rejectUnauthorized: false });
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      s.once('secureConnect', () => resolve());
      s.once('error', () => resolve());
      s.once('close', () => resolve());
      setTimeout(resolve, 1000);
    });
  }
  const n = 1 + r(8);
  for (let i = 0; i < n && !s.destroyed; i++) {
    s.write(chunk());
    if (r(3) === 0) await new Promise((res) => setTimeout(res, r(100)));
  }
  if (r(2) === 0) s.destroy();
  else s.end();
}

describe(`fuzzing each listener for ${DURATION_MS / 1000} s`, () => {
  test.each([
    ['submission (587, plaintext phase)', 'submission', 'plain'],
    ['submission (587, after STARTTLS)', 'submission', 'starttls'],
    ['submissions (465)', 'submissions', 'implicit'],
    ['relay listener', 'relay', 'plain'],
  ] as const)('%s: the relay stays up, memory stays bounded, a real message still goes through', async (_t, listener, mode) => {
    const pid = relay.child.pid!;
    const base = rssKb(pid);
    let peak = base;
    let connections = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 200);
    const until = Date.now() + DURATION_MS / (soak ? 1 : 4);
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (Date.now() < until) {
          await fuzzOnce(relay.ports[listener], mode);
          connections++;
        }
      }),
    );
    clearInterval(sampler);
    expect(relay.child.exitCode).toBeNull();
    expect(relay.child.signalCode).toBeNull();
    // The fuzzers' garbage AUTH lines get 127.0.0.1 throttled (per-IP brute-force limit, as
    // intended); a legitimate client at another address must still be served.
    const ok = await sendWithNodemailer({ port: relay.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(500, `after-fuzz-${listener}-${mode}`), localAddress: '127.0.0.2' });
    expect(ok).toMatchObject({ ok: true });
    expect(fx.upstream.messages.at(-1)?.raw.toString()).toContain(`after-fuzz-${listener}-${mode}`);
    process.stdout.write(`FUZZ ${listener}/${mode}: ${connections} connections, RSS ${Math.round(base / 1024)} -> peak ${Math.round(peak / 1024)} MiB\n`);
    // Bounded: the overlong lines and floods must not be buffered without limit.
    expect(peak - base).toBeLessThan(256 * 1024);
    expect(relay.logs()).not.toMatch(/uncaught|unhandled|FATAL|heap out of memory/i);
  });
});

test('only the fuzz messages the relay accepted reached the upstream: none of the garbage', () => {
  // The fuzzers never authenticate: every message at the upstream is one of the legit ones.
  const subjects = fx.upstream.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]);
  expect(subjects.length).toBe(4);
  expect(subjects.every((s) => s?.startsWith('after-fuzz-'))).toBe(true);
});
