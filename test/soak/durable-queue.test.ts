// Durable mode (issue 12) under outage and crashes, counted message by message
// (accounting.ts): lost = the client got 250 and the sink never got the message.
// - upstream down, then up: every message is accepted (250) while the private Postfix is
//   stopped; once it is started, every one is delivered, counted at its Maildir by X-Soak-Id
//   (= the Message-ID's local part).
// - kill -9 of the relay process at random points while clients send and the queue delivers
//   (mid-DATA, mid-fsync, mid-delivery: wherever the kill lands); 0 acknowledged messages
//   lost, duplicates counted and reported (at least once: a crash between the upstream's 250
//   and the removal of the queue file, or between the queue's commit and the client's 250).
// Short runs are part of every `npm test`; SMTP_RELAY_SOAK=1 (`npm run test:soak`) runs the
// full counts: DURABLE_OUTAGE_MESSAGES (default 2,000 here too, the issue's figure; raise it
// for more), DURABLE_KILL_MESSAGES (10,000) with at least DURABLE_KILLS (50) kills.
import { describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import type { QueueSummary } from '../../src/common/queue-summary.js';
import { getFreePort } from '../harness/controlplane.js';
import { startPostfix, type PostfixUpstream } from '../helpers/smtp/postfix.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../helpers/smtp/relay-fixture.js';
import { cleanupStack, saveConfig, sleep } from './run-kit.js';
import { account, idOf, pooledClient, sendWithRetries, summary, type Client, type LedgerEntry, type SinkMessage } from './accounting.js';

const soak = process.env.SMTP_RELAY_SOAK === '1';
const soakTest = soak ? test : test.skip;
const OUTAGE_MESSAGES = Number(process.env.DURABLE_OUTAGE_MESSAGES ?? 2_000);
const SHORT_KILL_MESSAGES = 1_000;
const SHORT_KILLS = 10;
const KILL_MESSAGES = Number(process.env.DURABLE_KILL_MESSAGES ?? 10_000);
const KILLS = Number(process.env.DURABLE_KILLS ?? 50);
const WORKERS = 16;
jest.setTimeout(60 * 60_000);

const cleanups = cleanupStack();

async function queueOf(metricsPort: number): Promise<QueueSummary> {
  return (await (await fetch(`http://127.0.0.1:${metricsPort}/queue`)).json()) as QueueSummary;
}

async function waitFor(what: string, f: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** `total` messages from WORKERS sessions, each retried on 4xx and connection errors; the ledger of what each client was told. */
async function sendAll(total: number, port: () => number, fx: RelayFixture, maxAttempts: number, backoffMs: number): Promise<LedgerEntry[]> {
  const ledger: LedgerEntry[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      let client = pooledClient(port(), fx.ca.caCert, USER, PASSWORD);
      const reconnecting: Client = {
        send: async (id) => {
          const r = await client.send(id);
          if (!r.ok && r.code === undefined) {
            client.close(); // connection-level failure (a killed relay): a fresh session
            client = pooledClient(port(), fx.ca.caCert, USER, PASSWORD);
          }
          return r;
        },
        close: () => client.close(),
      };
      while (next < total) ledger.push(await sendWithRetries(reconnecting, `m${++next}`, maxAttempts, backoffMs));
      client.close();
    }),
  );
  return ledger;
}

/** Files in Postfix's Maildir, as the ledger's sink. */
function maildirSink(postfix: PostfixUpstream): SinkMessage[] {
  return postfix.delivered().map((text) => ({ raw: Buffer.from(text) }));
}
function maildirCount(postfix: PostfixUpstream): number {
  return fs.existsSync(postfix.maildir) ? fs.readdirSync(postfix.maildir).length : 0;
}

/** "mean=...ms p99<=...ms n=..." of a Prometheus histogram in the text exposition (p99 as the bucket bound). */
function histogram(text: string, name: string, label = ''): string {
  const lines = text.split('\n').filter((l) => l.startsWith(name) && l.includes(label));
  const value = (suffix: string) => Number(lines.find((l) => l.startsWith(`${name}_${suffix}`))?.split(' ').pop() ?? NaN);
  const count = value('count');
  const buckets = lines
    .filter((l) => l.startsWith(`${name}_bucket`))
    .map((l) => ({ le: Number(/le="([^"]+)"/.exec(l)?.[1]), n: Number(l.split(' ').pop()) }))
    .sort((a, b) => a.le - b.le);
  const p99 = buckets.find((b) => b.n >= count * 0.99)?.le;
  return `mean=${((value('sum') / count) * 1000).toFixed(2)}ms,p99<=${p99 === undefined ? '?' : p99 * 1000}ms,n=${count}`;
}

async function outageRun(name: string, total: number, deliverWithinMs: number): Promise<void> {
  const fx = await createRelayFixture();
  cleanups.push(() => fx.cleanup());
  const postfixPort = await getFreePort(); // Postfix is not running yet: the upstream is down
  const postfixRoot = path.join(fx.root, 'postfix');
  fx.config.upstream = { ...fx.config.upstream, port: postfixPort, credentialsDir: undefined };
  fx.config.queue = { dir: path.join(fx.root, 'queue'), maxAgeMs: 3_600_000, minBackoffMs: 1000, maxBackoffMs: 5000 };
  saveConfig(fx);
  const relay = await startRelayProcess(fx);
  cleanups.push(async () => {
    relay.child.kill('SIGKILL');
    await relay.exited;
  });

  const t0 = Date.now();
  const ledger = await sendAll(total, () => relay.ports.submission, fx, 5, 200);
  const acceptSeconds = (Date.now() - t0) / 1000;
  const held = await queueOf(relay.metricsPort);
  expect(held).toMatchObject({ mode: 'durable', depth: ledger.filter((e) => e.outcome === 'acked').length });
  expect(held.lastError).toMatchObject({ upstream: `127.0.0.1:${postfixPort}`, temporary: true });

  const t1 = Date.now();
  const postfix = await startPostfix(postfixRoot, fx.ca.issue('postfix', ['localhost', '127.0.0.1']), { port: postfixPort });
  cleanups.push(() => postfix.stop());
  await waitFor('the queue to empty', async () => (await queueOf(relay.metricsPort)).depth === 0, deliverWithinMs);
  await waitFor('Postfix to write every message', () => maildirCount(postfix) >= total, 30_000).catch(() => undefined);
  const catchUpSeconds = (Date.now() - t1) / 1000;
  const r = account(ledger, maildirSink(postfix));
  const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
  process.stdout.write(
    summary(
      name,
      r,
      ` accept-seconds=${acceptSeconds.toFixed(1)} (${Math.round(total / acceptSeconds)}/s, upstream down) catch-up-seconds=${catchUpSeconds.toFixed(1)}` +
        ` fsync-file=${histogram(metrics, 'smtp_relay_queue_fsync_duration_seconds', 'what="file"')} fsync-dir=${histogram(metrics, 'smtp_relay_queue_fsync_duration_seconds', 'what="dir"')}` +
        ` duplicate-window=${histogram(metrics, 'smtp_relay_queue_duplicate_window_seconds')}`,
    ),
  );
  expect(r.acked).toBe(total); // every message accepted while the upstream was down
  expect(r.lost).toEqual([]);
  expect(r.duplicates).toBe(0); // no crash, no duplicate
  expect(r.sinkUnknown).toBe(0);
  expect(relay.child.exitCode).toBeNull();
}

async function killRun(name: string, total: number, minKills: number): Promise<void> {
  const fx = await createRelayFixture();
  cleanups.push(() => fx.cleanup());
  for (const l of fx.config.listeners) l.port = await getFreePort(); // the same ports after every restart
  fx.config.metricsPort = await getFreePort();
  const queueDir = path.join(fx.root, 'queue');
  fx.config.queue = { dir: queueDir, maxAgeMs: 3_600_000, minBackoffMs: 200, maxBackoffMs: 2000 };
  saveConfig(fx);
  fx.upstream.delayMs = 10; // deliveries are in flight when a kill lands
  let relay: RelayProcess = await startRelayProcess(fx);
  cleanups.push(async () => {
    relay.child.kill('SIGKILL');
    await relay.exited;
  });
  let kills = 0;
  let sending = true;
  // Kills go on while clients send (mid-DATA, mid-fsync) and, once they are done, while the
  // queue delivers (mid-delivery), until at least minKills.
  const killer = (async () => {
    while (sending || kills < minKills) {
      await sleep(200 + Math.random() * 900);
      relay.child.kill('SIGKILL');
      await relay.exited;
      kills++;
      await sleep(Math.random() * 200);
      relay = await startRelayProcess(fx);
    }
  })();
  const t0 = Date.now();
  const ledger = await sendAll(total, () => fx.config.listeners[0]!.port, fx, 200, 100);
  sending = false;
  await killer;
  await waitFor('the queue to empty after the last restart', async () => (await queueOf(relay.metricsPort)).depth === 0, 120_000);
  const r = account(ledger, fx.upstream.messages);
  const quarantined = fs.readdirSync(path.join(queueDir, 'quarantine')).length;
  process.stdout.write(
    summary(name, r, ` kills=${kills} quarantined-partials=${quarantined} seconds=${Math.round((Date.now() - t0) / 1000)} extra-copies=${fx.upstream.messages.length - new Set(fx.upstream.messages.map(idOf)).size}`),
  );
  expect(kills).toBeGreaterThanOrEqual(minKills);
  expect(r.gaveUp).toBe(0);
  expect(r.acked).toBe(total);
  expect(r.lost).toEqual([]); // 0 acknowledged messages lost
  expect(r.sinkUnknown).toBe(0);
  // Files in quarantine are only ever writes a kill cut short (never acknowledged).
  for (const f of fs.readdirSync(path.join(queueDir, 'quarantine'))) expect(f).toMatch(/^\d+-[0-9a-f-]{36}\.(msg|state)$/);
}

describe('durable queue: outage and crashes, counted', () => {
  test(`upstream down, then up (every npm test): ${OUTAGE_MESSAGES} messages accepted while Postfix is stopped, all delivered once it starts`, async () => {
    await outageRun('durable-outage', OUTAGE_MESSAGES, 90_000);
  }, 180_000);

  test(`relay kill -9, short run (every npm test): ${SHORT_KILL_MESSAGES} messages, at least ${SHORT_KILLS} kills; 0 acknowledged lost, duplicates reported`, async () => {
    await killRun('durable-kill-9-short', SHORT_KILL_MESSAGES, SHORT_KILLS);
  }, 180_000);

  soakTest(`relay kill -9: ${KILL_MESSAGES} messages, at least ${KILLS} kills; 0 acknowledged lost, duplicates reported`, async () => {
    await killRun('durable-kill-9', KILL_MESSAGES, KILLS);
  });
});
