// One measurement of one side (our relay, our relay in durable mode, or Postfix) under the
// same client load, relaying to the shared sink: end-to-end msgs/s, client latencies and the
// side's CPU seconds. Used by bench/relay-vs-postfix.ts and bench/relay-footprint.ts.
import fs from 'node:fs';
import path from 'node:path';
import { log, sleep } from './result.js';
import { runLoad, type LoadResult } from './smtp-client.js';
import { RELAY_HOST, startOurRelay, startPostfix, SUBMIT_PASS, SUBMIT_USER, type Pki, type Relay, type Sink } from './smtp-fixtures.js';
import { median } from './stats.js';

export type Side = 'ours' | 'durable' | 'postfix';

export interface SideResult {
  load: LoadResult;
  e2eRate: number;
  cpuPer1000: number;
}

export interface CompareEnv {
  pki: Pki;
  sink: Sink;
  /** Length of one measurement. */
  seconds: number;
  /** Message size. */
  bytes: number;
}

async function startSide(env: CompareEnv, kind: Side, c: number) {
  if (kind === 'postfix') return startPostfix(env.pki, env.sink.port, c);
  const queue = kind === 'durable' ? { queueDir: fs.mkdtempSync(path.join(env.pki.root, 'queue-')) } : {};
  return startOurRelay(env.pki, env.sink.port, c, kind === 'durable' ? 'durable-relay' : 'relay', queue);
}

/** The submission options of the bench user against a port of either side. */
export function submitBase(pki: Pki, port: number) {
  return { host: '127.0.0.1', port, mode: 'starttls' as const, ca: pki.ca.caCert, servername: RELAY_HOST, user: SUBMIT_USER, pass: SUBMIT_PASS, from: 'app@example.com', to: 'rcpt@dest.example' };
}

export async function measureSide(env: CompareEnv, kind: Side, c: number, resume: boolean, onRelay?: (r: Relay) => Promise<void>): Promise<SideResult> {
  const { sink, seconds, bytes } = env;
  const target = await startSide(env, kind, c);
  try {
    const port = 'submissionPort' in target ? target.submissionPort : target.port;
    const base = submitBase(env.pki, port);
    // Warm up (JIT, Postfix daemons, pools) outside the measurement.
    await runLoad(base, { connections: Math.min(c, 4), seconds: 1, bytes, resume });
    const sinkStart = await waitStable(sink);
    const cpu0 = target.cpu();
    const t0 = performance.now();
    const load = await runLoad(base, { connections: c, seconds, bytes, resume });
    // End to end: until the sink holds every accepted message.
    const until = performance.now() + 120_000;
    let delivered = 0;
    for (;;) {
      delivered = (await sink.count()) - sinkStart;
      if (delivered >= load.ok || performance.now() > until) break;
      await sleep(20);
    }
    const e2eS = (performance.now() - t0) / 1000;
    const cpu = target.cpu() - cpu0;
    if (delivered < load.ok) log(`${kind} C=${c}: only ${delivered} of ${load.ok} accepted messages reached the sink within 120 s`);
    if (load.failed > 0) log(`${kind} C=${c}: ${load.failed} failed, e.g. ${load.errors[0]}`);
    const r = { load, e2eRate: delivered / e2eS, cpuPer1000: (cpu / Math.max(1, load.ok)) * 1000 };
    log(`${kind} C=${c} resume=${resume}: ${r.e2eRate.toFixed(1)} msgs/s end to end, p50 ${median(load.latenciesMs).toFixed(1)} ms, ${load.resumed}/${load.ok} resumed, CPU ${r.cpuPer1000.toFixed(2)} s/1000`);
    if (onRelay && 'metricsPort' in target) await onRelay(target);
    return r;
  } finally {
    await target.stop();
  }
}

/** The sink's count once it stopped moving (leftovers of the warm-up). */
export async function waitStable(sink: Sink): Promise<number> {
  let last = await sink.count();
  for (;;) {
    await sleep(300);
    const now = await sink.count();
    if (now === last) return now;
    last = now;
  }
}
