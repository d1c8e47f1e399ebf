// The TLS-health scheduler: probes every enabled listener of every relay on its own
// clock, outside the reconcile's critical path.
//
// How it runs: the reconcile calls observe(). That returns at once with the latest
// results and the time until the next probe is due (the reconcile turns it into its
// requeueAfter). When a probe is due, observe() starts it in the background and
// returns; when the probe finishes, onProbed(key) puts the relay back on the work
// queue, and that reconcile writes the new outcome. So a slow or black-holed endpoint
// (each probe is bounded by its timeout) holds a probe slot, never a reconcile worker,
// and never delays another relay's reconcile. Global concurrency is bounded by a
// semaphore (--probe-concurrency): a cluster with many relays probes at most that
// many endpoints at once. Probes of a relay whose probed subject just changed (new relay,
// spec generation, Secret certificate, addresses, a finished rollout of its pods) wait in the semaphore's urgent line, ahead of
// the routine ones, and supersede a routine cycle of the same relay still waiting for slots.
// A relay whose results are older than the interval plus a grace gets probeDelayedSince
// (status: ProbeDelayed), and the reconcile is asked back when that moment comes.
import type { EndpointStatus, SmtpRelay } from '../../api/types.js';
import type { Logger } from '../../common/logger.js';
import { DEFAULT_FULL_HANDSHAKE_EVERY_MS, DEFAULT_TIMEOUT_MS, TlsSessionCache, deepScan, probeEndpoint, toEndpointStatus } from '../../probe/index.js';
import type { DeepScanResult, ProbeOptions, ProbeResult } from '../../probe/index.js';
import { parseDuration } from '../builders/index.js';
import type { ProbeMetrics } from './metrics.js';
import { DEFAULT_PROBE_INTERVAL_MS, deepKey, plan, probeDelay, probeKey, staleRecheckAt, started, type ScheduleState } from './schedule.js';
import { inClusterEndpointName, type ProbeTarget } from './targets.js';
import { Semaphore } from '../../common/semaphore.js';

export interface TlsHealthOptions {
  /** Endpoints probed at once, over all relays (--probe-concurrency). */
  concurrency: number;
  /** Replaces every relay's spec.healthCheck.interval (tests only: --probe-interval-override). */
  intervalOverrideMs?: number;
  /** Budget of one fast probe. Default 10 s. */
  probeTimeoutMs?: number;
  /** Budget of each handshake of a deep scan. Default 5 s. */
  deepTimeoutMs?: number;
  /** A probe finished: reconcile this relay key again. */
  onProbed: (key: string) => void;
  metrics?: ProbeMetrics;
  logger: Logger;
  /** Injected for tests; default the real prober. */
  probe?: (opts: ProbeOptions) => Promise<ProbeResult>;
  deepScan?: (opts: ProbeOptions) => Promise<DeepScanResult>;
  now?: () => number;
  random?: () => number;
  /** Lowers the 30 s minimum of the ProbeDelayed grace (tests only; never below half the interval). */
  delayGraceMinMs?: number;
  /**
   * Fast probes resume TLS sessions, with certificate verdicts from a full handshake at most this old
   * (a new Secret certificate always gets one; src/probe/session-cache.ts). 0: no resumption. Default 10 minutes.
   */
  fullHandshakeEveryMs?: number;
}

export interface TlsHealthInput {
  relay: SmtpRelay;
  targets: ProbeTarget[];
  /** SNI and hostname check. */
  servername: string;
  /** The TLS Secret's leaf fingerprint: the served certificate must be this one. */
  expectedFingerprint?: string;
  /** The TLS Secret's ca.crt, trusted on top of the system roots. */
  caPem?: string;
  /** spec.tls.internalCertificate's Secret: what the in-cluster targets (ProbeTarget.inClusterName) must serve, and its CA. */
  internal?: { expectedFingerprint?: string; caPem?: string };
  /**
   * The workload's generation when its rollout is done (every replica updated and available),
   * undefined while it rolls: a newly settled rollout makes a probe due at once.
   */
  settledRollout?: string;
  /** False while nothing can answer yet (no available replica): report, do not probe. */
  canProbe: boolean;
}

export interface TlsHealthView {
  /** Latest results for the current listeners; undefined until the first probe finished. */
  endpoints?: EndpointStatus[];
  /** Time until the next probe is due, or until the results would count as delayed; undefined when none is scheduled. */
  nextProbeInMs?: number;
  /** The results are overdue: the probe due then (ISO time) has not run within the grace. */
  probeDelayedSince?: string;
}

interface EndpointResult {
  target: ProbeTarget;
  probe: ProbeResult;
  deep?: DeepScanResult;
  expectedFingerprint?: string;
}

interface RelayState {
  schedule: ScheduleState;
  results: Map<string, EndpointResult>;
  running: boolean;
  /** Number of the newest cycle; an older cycle still waiting for slots is superseded and skips its probes. */
  cycle: number;
  /** The last settled rollout seen (TlsHealthInput.settledRollout), kept while the next one rolls. */
  settledRollout?: string;
  /** Cycles in a row that found a stale certificate (schedule.ts: staleRecheckAt). */
  staleCycles: number;
}

export function intervalOf(relay: SmtpRelay, overrideMs?: number): number {
  return overrideMs ?? parseDuration(relay.spec.healthCheck?.interval) ?? DEFAULT_PROBE_INTERVAL_MS;
}

export class TlsHealthScheduler {
  private readonly relays = new Map<string, RelayState>();
  private readonly slots: Semaphore;
  private readonly inflight = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly random: () => number;
  /** TLS sessions of the fast probes, per endpoint; undefined with resumption off. */
  private readonly sessions?: TlsSessionCache;
  private stopped = false;
  /** Probe cycles finished (for figures and tests). */
  cycles = 0;

  constructor(private readonly opts: TlsHealthOptions) {
    this.slots = new Semaphore(opts.concurrency);
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const fullEvery = opts.fullHandshakeEveryMs ?? DEFAULT_FULL_HANDSHAKE_EVERY_MS;
    if (fullEvery > 0) this.sessions = new TlsSessionCache({ fullHandshakeEveryMs: fullEvery });
    opts.metrics?.trackWaiting(() => this.slots.waiting);
  }

  observe(input: TlsHealthInput): TlsHealthView {
    const { relay } = input;
    const key = `${relay.metadata.namespace}/${relay.metadata.name}`;
    let state = this.relays.get(key);
    if (!state) {
      state = { schedule: {}, results: new Map(), running: false, cycle: 0, staleCycles: 0 };
      this.relays.set(key, state);
    }
    if (input.settledRollout !== undefined) state.settledRollout = input.settledRollout;
    const endpoints = this.view(state, input.targets);
    if (!input.canProbe || input.targets.length === 0 || this.stopped) return { endpoints };
    const now = this.now();
    const scheduleInput = {
      now,
      // A rotated in-cluster certificate is probed at once, like a rotated public one.
      probeKey: probeKey(relay.metadata.generation, [input.expectedFingerprint, input.internal?.expectedFingerprint].filter(Boolean).join('/') || undefined, input.targets.map((t) => `${t.name}=${t.host}:${t.port}`), state.settledRollout),
      deepKey: deepKey(relay.metadata.generation, input.expectedFingerprint),
    };
    const interval = intervalOf(relay, this.opts.intervalOverrideMs);
    const withDelay = (nextProbeInMs: number | undefined) => this.delayView(state, input.targets, endpoints, interval, now, nextProbeInMs);
    // What is probed changed (or was never probed): urgent, and it replaces a cycle still waiting for slots.
    const urgent = state.schedule.probeKey !== scheduleInput.probeKey;
    if (state.running && !urgent) return withDelay(state.schedule.nextDueAt !== undefined ? Math.max(0, state.schedule.nextDueAt - now) : undefined);
    const p = plan(state.schedule, scheduleInput);
    if (!p.probe) return withDelay(p.dueInMs);
    state.schedule = started(state.schedule, scheduleInput, p, interval, this.random);
    state.running = true;
    const cycle = ++state.cycle;
    const job = this.runCycle(key, state, input, p.deep, cycle, urgent, now, interval).finally(() => {
      if (state.cycle === cycle) state.running = false;
      this.inflight.delete(job);
    });
    this.inflight.add(job);
    return withDelay(state.schedule.nextDueAt! - now);
  }

  /** The view, with probeDelayedSince when the shown results are overdue, and a wake-up for when they will be. */
  private delayView(state: RelayState, targets: ProbeTarget[], endpoints: EndpointStatus[] | undefined, intervalMs: number, now: number, nextProbeInMs: number | undefined): TlsHealthView {
    const starts = targets.map((t) => state.results.get(t.name)?.probe.startedAt).filter((t): t is string => t !== undefined).map(Date.parse);
    if (starts.length === 0) return { endpoints, nextProbeInMs };
    const delay = probeDelay(Math.min(...starts), intervalMs, now, this.opts.delayGraceMinMs);
    if (delay.delayed) return { endpoints, nextProbeInMs, probeDelayedSince: new Date(delay.dueAt).toISOString() };
    return { endpoints, nextProbeInMs: Math.min(nextProbeInMs ?? Infinity, delay.delayedAt - now) };
  }

  /** The relay is gone: drop its state and series. */
  forget(namespace: string, name: string): void {
    this.relays.delete(`${namespace}/${name}`);
    this.opts.metrics?.removeProbes(namespace, name);
  }

  /** Stop scheduling; resolves when running probes have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inflight]);
  }

  private view(state: RelayState, targets: ProbeTarget[]): EndpointStatus[] | undefined {
    if (state.results.size === 0) return undefined;
    const out: EndpointStatus[] = [];
    for (const t of targets) {
      const r = state.results.get(t.name);
      if (!r) continue;
      // The Service port, not the local one: status describes the Service.
      out.push({ ...toEndpointStatus({ name: t.name, probe: r.probe, deep: r.deep, secretFingerprint: r.expectedFingerprint, serverName: r.probe.target.servername }), port: t.servicePort });
    }
    return out.length > 0 ? out : undefined;
  }

  private async runCycle(key: string, state: RelayState, input: TlsHealthInput, deep: boolean, cycle: number, urgent: boolean, startedAt: number, intervalMs: number): Promise<void> {
    const { relay } = input;
    const log = this.opts.logger.child({ namespace: relay.metadata.namespace, name: relay.metadata.name });
    const probe = this.opts.probe ?? probeEndpoint;
    const scan = this.opts.deepScan ?? deepScan;
    const expiryWarningMs = parseDuration(relay.spec.healthCheck?.expiryWarning);
    // An in-cluster target asks for its Service name and must get the in-cluster certificate.
    const expected = (t: ProbeTarget) => (t.inClusterName ? input.internal?.expectedFingerprint : input.expectedFingerprint);
    const base = (t: ProbeTarget): ProbeOptions => {
      const caPem = t.inClusterName ? input.internal?.caPem : input.caPem;
      return {
        host: t.host,
        port: t.port,
        mode: t.mode,
        servername: t.inClusterName ?? input.servername,
        caPem: caPem ? [caPem] : undefined,
        expectedFingerprint: expected(t),
        unauthenticatedListener: t.name === 'relay' || t.name === inClusterEndpointName('relay'),
        ...(expiryWarningMs !== undefined ? { expiryWarningMs } : {}),
      };
    };
    let deepSkipped = false;
    const superseded = () => state.cycle !== cycle;
    // A newer cycle of this relay took over while this one waited: give the slot back at once.
    const inSlot = <T>(fn: () => Promise<T>) => this.slots.run(async () => (superseded() ? undefined : fn()), { urgent });
    const results = await Promise.all(
      input.targets.map(async (t): Promise<EndpointResult | undefined> => {
        try {
          const fast = await inSlot(() => probe({ ...base(t), timeoutMs: this.opts.probeTimeoutMs ?? DEFAULT_TIMEOUT_MS, ...(this.sessions ? { sessions: this.sessions } : {}) }));
          if (!fast) return undefined;
          let deepResult = state.results.get(t.name)?.deep;
          // No deep scan of an endpoint that does not even answer: it would only time out six times.
          // Nor of an in-cluster name: same listener, same TLS policy, only another certificate.
          if (deep && !t.inClusterName) {
            if (fast.tls) deepResult = (await inSlot(() => scan({ ...base(t), timeoutMs: this.opts.deepTimeoutMs ?? 5000 }))) ?? deepResult;
            else deepSkipped = true;
          }
          return { target: t, probe: fast, deep: deepResult, expectedFingerprint: expected(t) };
        } catch (err) {
          // The prober reports failures as results; a throw is a bug. Keep the last result.
          log.error('TLS probe threw', { endpoint: t.name, error: err instanceof Error ? err.message : String(err) });
          return undefined;
        }
      }),
    );
    if (this.stopped || this.relays.get(key) !== state || superseded()) return;
    // A deep scan skipped for an unreachable endpoint is still owed: the next cycle tries again.
    if (deepSkipped) state.schedule = { ...state.schedule, deepKey: undefined };
    const names = new Set(input.targets.map((t) => t.name));
    for (const name of [...state.results.keys()]) if (!names.has(name)) state.results.delete(name);
    for (const r of results) if (r) state.results.set(r.target.name, r);
    this.cycles++;
    const endpoints = this.view(state, input.targets) ?? [];
    // A stale certificate usually clears within seconds (a reload, a Service catching up): look again soon.
    const stale = endpoints.some((e) => e.failures?.some((f) => f.reason === 'stale-certificate-served'));
    state.staleCycles = stale ? state.staleCycles + 1 : 0;
    const recheckAt = stale ? staleRecheckAt(startedAt, state.staleCycles, intervalMs) : undefined;
    if (recheckAt !== undefined && (state.schedule.nextDueAt === undefined || recheckAt < state.schedule.nextDueAt)) state.schedule = { ...state.schedule, nextDueAt: recheckAt };
    this.opts.metrics?.setProbes(
      relay.metadata.namespace,
      relay.metadata.name,
      endpoints.map((e) => ({ endpoint: e, durationSeconds: (state.results.get(e.name)?.probe.latencyMs ?? 0) / 1000 })),
    );
    log.debug('TLS probe finished', { endpoints: endpoints.map((e) => `${e.name}:${e.healthy ? 'ok' : 'fail'}`).join(' '), deep });
    this.opts.onProbed(key);
  }
}
