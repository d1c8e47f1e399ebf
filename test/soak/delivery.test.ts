// Delivery soaks: thousands of messages through the relay process while the upstream
// misbehaves, while the relay itself is killed -9 over and over, and while slowloris and
// connection floods run. Accounting: every message a client got 250 for is in the sink
// (lost: target 0); duplicates are counted and must each follow a failed attempt (the
// upstream took it, the client never heard back, the client retried).
// The long runs need `npm run test:soak`; a short run of the upstream-failure soak (same
// code, SHORT_MESSAGES messages) is part of every `npm test`, so CI always proves no loss.
import { describe, expect, jest, test } from '@jest/globals';
import net from 'node:net';
import { getFreePort } from '../harness/controlplane.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../helpers/smtp/relay-fixture.js';
import type { FailMode } from '../helpers/smtp/capture-upstream.js';
import { cleanupStack, saveConfig, sleep } from './run-kit.js';
import { account, pooledClient, sendWithRetries, summary, type LedgerEntry } from './accounting.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

const soak = process.env.SMTP_RELAY_SOAK === '1';
const soakTest = soak ? test : test.skip;
const N_UPSTREAM = Number(process.env.SOAK_MESSAGES ?? 10_000);
/** The short run in every `npm test`: about 20-40 s on two shared cores. */
const SHORT_MESSAGES = 2_000;
const N_KILL = Number(process.env.SOAK_KILL_MESSAGES ?? 3_000);
const WORKERS = 16;
jest.setTimeout(60 * 60_000);

const cleanups = cleanupStack();

/** Progress watchdog: no 250 for this long means the relay is wedged, not slow. */
const STALL_MS = 90_000;
/** The short run must stay well inside its test timeout: the longest fault (a hung upstream) lasts about 5 s. */
const SHORT_STALL_MS = 30_000;

async function runClients(total: number, port: () => number, fx: RelayFixture, maxAttempts: number, backoffMs: number, stallMs = STALL_MS): Promise<{ ledger: LedgerEntry[]; stalled: boolean }> {
  const ledger: LedgerEntry[] = [];
  let next = 0;
  let lastAck = Date.now();
  let stalled = false;
  const watchdog = setInterval(() => {
    if (Date.now() - lastAck > stallMs) stalled = true;
  }, 1000);
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      let client = pooledClient(port(), fx.ca.caCert, USER, PASSWORD);
      while (next < total && !stalled) {
        const id = `m${++next}`;
        const e = await sendWithRetries(
          {
            send: async (x) => {
              const r = await client.send(x);
              if (!r.ok && r.code === undefined) {
                client.close(); // connection-level failure: start a fresh session
                client = pooledClient(port(), fx.ca.caCert, USER, PASSWORD);
              }
              return r;
            },
            close: () => client.close(),
          },
          id,
          maxAttempts,
          backoffMs,
          () => stalled,
        );
        if (e.outcome === 'acked') lastAck = Date.now();
        ledger.push(e);
      }
      client.close();
    }),
  );
  clearInterval(watchdog);
  return { ledger, stalled };
}

type Fault = 'none' | '4xx' | '5xx' | 'drop-mid-data' | 'hang' | 'killed+restarted' | 'slow';
/** Share of the chaos windows each fault gets in the soak; the rest is healthy. */
const FAULT_SHARES: [Fault, number][] = [['4xx', 0.1], ['5xx', 0.05], ['drop-mid-data', 0.05], ['hang', 0.02], ['killed+restarted', 0.1], ['slow', 0.12]];
const ALL_FAULTS = FAULT_SHARES.map(([f]) => f);

/** Soak order: each window's fault drawn by its share. */
function weightedFaults(): () => Fault {
  return () => {
    let x = Math.random();
    for (const [fault, share] of FAULT_SHARES) if ((x -= share) < 0) return fault;
    return 'none';
  };
}

/** Short-run order: every fault once per round (shuffled), each followed by a healthy window, so a short run meets them all. */
function everyFaultInTurn(): () => Fault {
  let round: Fault[] = [];
  return () => {
    if (round.length === 0) round = [...ALL_FAULTS].sort(() => Math.random() - 0.5).flatMap((f): Fault[] => [f, 'none']);
    return round.shift()!;
  };
}

/** Puts the upstream (and the proxy in front of it) into one fault state. */
function applyFault(fault: Fault, fx: RelayFixture, proxy: FaultProxy): void {
  const modes: Partial<Record<Fault, FailMode>> = { '4xx': 'temp', '5xx': 'perm', 'drop-mid-data': 'close-mid-data', hang: 'hang' };
  fx.upstream.fail = modes[fault] ?? 'none';
  proxy.mode = 'pass';
  fx.upstream.delayMs = 0;
  if (fault === 'killed+restarted') {
    proxy.mode = 'down';
    proxy.cutAll();
  } else if (fault === 'slow') {
    proxy.mode = 'slow';
    proxy.slowMs = 50 + Math.floor(Math.random() * 400);
    fx.upstream.delayMs = Math.floor(Math.random() * 800);
  }
}

/**
 * `total` messages from 16 clients through a relay process whose upstream, behind a fault
 * proxy, answers 4xx/5xx, drops mid-DATA, hangs, is killed and restarted, or is slow.
 */
async function upstreamFailureRun(name: string, total: number, stallMs: number, nextFault: () => Fault): Promise<Record<string, number>> {
  const fx = await createRelayFixture();
  cleanups.push(() => fx.cleanup());
  const proxy = await startFaultProxy(fx.upstream.port);
  cleanups.push(() => proxy.close());
  fx.config.upstream.port = proxy.port;
  fx.config.upstream.timeoutMs = 4000;
  saveConfig(fx);
  const relay = await startRelayProcess(fx);
  cleanups.push(async () => {
    relay.child.kill('SIGKILL');
    await relay.exited;
  });
  const faults: Record<string, number> = {};
  let stop = false;
  const chaos = (async () => {
    while (!stop) {
      const fault = nextFault();
      applyFault(fault, fx, proxy);
      faults[fault] = (faults[fault] ?? 0) + 1;
      await sleep(fault === 'none' ? 400 + Math.random() * 800 : 200 + Math.random() * 800);
    }
    applyFault('none', fx, proxy);
  })();
  const t0 = Date.now();
  const { ledger, stalled } = await runClients(total, () => relay.ports.submission, fx, 30, 100, stallMs);
  stop = true;
  await chaos;
  await sleep(1000);
  const r = account(ledger, fx.upstream.messages);
  process.stdout.write(summary(name, r, ` seconds=${Math.round((Date.now() - t0) / 1000)} faults=${JSON.stringify(faults)} relay-alive=${relay.child.exitCode === null} stalled=${stalled}`));
  expect(relay.child.exitCode).toBeNull();
  expect({ stalledFor: stalled ? `no 250 for ${stallMs / 1000} s: the relay stopped delivering` : 'never' }).toEqual({ stalledFor: 'never' });
  expect(r.messages).toBe(total);
  expect(r.lost).toEqual([]);
  expect(r.unexplainedDuplicates).toEqual([]);
  expect(r.deliveredRefused).toEqual([]);
  expect(r.sinkUnknown).toBe(0);
  expect(r.acked).toBeGreaterThan(total * 0.8);
  return faults;
}

describe('delivery accounting under faults', () => {
  test(`upstream failures, short run (every npm test): ${SHORT_MESSAGES} messages while the upstream answers 4xx/5xx, drops, hangs, is killed and restarted, or is slow`, async () => {
    const faults = await upstreamFailureRun('upstream-failures-short', SHORT_MESSAGES, SHORT_STALL_MS, everyFaultInTurn());
    expect(ALL_FAULTS.filter((f) => !faults[f])).toEqual([]); // every fault really happened during the run
  }, 150_000);

  soakTest(`upstream failures: ${N_UPSTREAM} messages while the upstream answers 4xx/5xx, drops, hangs, is killed and restarted, or is slow`, async () => {
    await upstreamFailureRun('upstream-failures', N_UPSTREAM, STALL_MS, weightedFaults());
  });

  soakTest(`relay kill -9 mid-transaction, repeatedly: ${N_KILL} messages`, async () => {
    const fx = await createRelayFixture();
    cleanups.push(() => fx.cleanup());
    for (const l of fx.config.listeners) l.port = await getFreePort();
    saveConfig(fx);
    fx.upstream.delayMs = 20; // a transaction takes long enough to be cut in the middle
    let relay: RelayProcess = await startRelayProcess(fx);
    cleanups.push(async () => {
      relay.child.kill('SIGKILL');
      await relay.exited;
    });
    let kills = 0;
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        await sleep(1000 + Math.random() * 2000);
        if (stop) break;
        relay.child.kill('SIGKILL');
        await relay.exited;
        kills++;
        await sleep(Math.random() * 500);
        relay = await startRelayProcess(fx);
      }
    })();
    const t0 = Date.now();
    const { ledger, stalled } = await runClients(N_KILL, () => fx.config.listeners[0]!.port, fx, 60, 100);
    stop = true;
    await killer;
    await sleep(500);
    const r = account(ledger, fx.upstream.messages);
    process.stdout.write(summary('relay-kill-9', r, ` kills=${kills} seconds=${Math.round((Date.now() - t0) / 1000)} stalled=${stalled}`));
    expect(stalled).toBe(false);
    expect(kills).toBeGreaterThan(3);
    expect(r.lost).toEqual([]);
    expect(r.unexplainedDuplicates).toEqual([]);
    expect(r.gaveUp).toBe(0);
    expect(r.acked).toBe(N_KILL);
  });

  soakTest('slowloris and connection floods within maxConnections: legitimate clients are still served', async () => {
    const fx = await createRelayFixture((c) => {
      c.limits.maxConnections = 150;
      c.limits.socketTimeoutMs = 60_000;
    });
    cleanups.push(() => fx.cleanup());
    const relay = await startRelayProcess(fx);
    cleanups.push(async () => {
      relay.child.kill('SIGKILL');
      await relay.exited;
    });
    const port = relay.ports.submission;
    let stop = false;
    // Slowloris: 80 sessions that dribble one byte every 2 s and never finish a command.
    const loris: net.Socket[] = [];
    for (let i = 0; i < 80; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      loris.push(s);
    }
    const dribble = setInterval(() => loris.forEach((s) => !s.destroyed && s.write('X')), 2000);
    // Flood: 30 parallel connect/close loops (each connection lives a few ms).
    let floodConnections = 0;
    const flood = Promise.all(
      Array.from({ length: 30 }, async () => {
        while (!stop) {
          await new Promise<void>((resolve) => {
            const s = net.connect(port, '127.0.0.1', () => {
              floodConnections++;
              s.destroy();
              resolve();
            });
            s.on('error', () => resolve());
          });
        }
      }),
    );
    const DURATION = 60_000;
    const t0 = Date.now();
    const ledger: LedgerEntry[] = [];
    let n = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const client = pooledClient(port, fx.ca.caCert, USER, PASSWORD);
        while (Date.now() - t0 < DURATION) ledger.push(await sendWithRetries(client, `legit${++n}`, 1, 0));
        client.close();
      }),
    );
    stop = true;
    await flood;
    clearInterval(dribble);
    const lorisAlive = loris.filter((s) => !s.destroyed).length;
    loris.forEach((s) => s.destroy());
    const r = account(ledger, fx.upstream.messages);
    process.stdout.write(summary('slowloris+flood', r, ` flood-connections=${floodConnections} slowloris-still-open=${lorisAlive}/80 seconds=${Math.round((Date.now() - t0) / 1000)}`));
    expect(r.acked).toBe(r.messages); // every legit message, first try
    expect(r.lost).toEqual([]);
    expect(relay.child.exitCode).toBeNull();
  });
});
