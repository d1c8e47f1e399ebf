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
// A relay this process has not probed yet but whose status.endpoints an earlier process wrote
// (an operator restart, a new leader) adopts them: they are shown, aged and delayed as its own,
// and its next probe is due one interval after them, in the routine line. Without that, every
// restart turned every relay's TLSHealthy to NotProbed (Ready=False) and probed them all at once.
import type { EndpointStatus, SmtpRelay } from '../../api/types.js';
import type { Logger } from '../../common/logger.js';
import { DEFAULT_FULL_HANDSHAKE_EVERY_MS, DEFAULT_TIMEOUT_MS, TlsSessionCache, deepScan, deepScanFromStatus, probeEndpoint, toEndpointStatus } from '../../probe/index.js';
import type { DeepScanResult, ProbeOptions, ProbeResult } from '../../probe/index.js';
import { parseDuration } from '../builders/index.js';
import type { ProbeMetrics } from './metrics.js';
import { DEFAULT_PROBE_INTERVAL_MS, deepKey, jitteredInterval, plan, probeDelay, probeKey, staleRecheckAt, started, type ScheduleState } from './schedule.js';
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
  /**
   * The relay's status.endpoints, when its status is of the current generation: adopted by a
   * scheduler that has no results of its own for the relay yet (see the header).
   */
  previous?: EndpointStatus[];
}

export interface TlsHealthView {
  /** Latest results for the current listeners; undefined until the first probe finished. */
  endpoints?: EndpointStatus[];
  /** Time until the next probe is due, or until the results would count as delayed; undefined when none is scheduled. */
  nextProbeInMs?: number;
  /** The results are overdue: the probe due then (ISO time) has not run within the grace. */
  probeDelayedSince?: string;
}

/**
 * One endpoint's latest result, kept as its status entry only: the full probe and deep-scan
 * results (chains, every handshake attempt, every passing check's message) held ~25 KiB per relay,
 * 250 MiB at 10,000 (bench/probe-scale.ts).
 */
interface EndpointResult {
  target: ProbeTarget;
  /** Its deep scan, as much as later fast probes are combined with, is deepScanFromStatus(status). */
  status: EndpointStatus;
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
  /** Endpoints adopted from status.endpoints, by name, until this process probed them. */
  adopted?: Map<string, EndpointStatus>;
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
    const fresh = !state;
    if (!state) {
      state = { schedule: {}, results: new Map(), running: false, cycle: 0, staleCycles: 0 };
      this.relays.set(key, state);
    }
    if (input.settledRollout !== undefined) state.settledRollout = input.settledRollout;
    const now = this.now();
    const scheduleInput = {
      now,
      // A rotated in-cluster certificate is probed at once, like a rotated public one.
      probeKey: probeKey(relay.metadata.generation, [input.expectedFingerprint, input.internal?.expectedFingerprint].filter(Boolean).join('/') || undefined, input.targets.map((t) => `${t.name}=${t.host}:${t.port}`), state.settledRollout),
      deepKey: deepKey(relay.metadata.generation, input.expectedFingerprint),
    };
    const interval = intervalOf(relay, this.opts.intervalOverrideMs);
    if (fresh && input.previous?.length) this.adopt(state, input, scheduleInput, interval);
    const endpoints = this.view(state, input.targets);
    if (!input.canProbe || input.targets.length === 0 || this.stopped) return { endpoints };
    const withDelay = (nextProbeInMs: number | undefined) => this.delayView(state, input.targets, endpoints, interval, now, nextProbeInMs);
    // What is probed changed (or was never probed): urgent, and it replaces a cycle still waiting for slots.
    const urgent = state.schedule.probeKey !== scheduleInput.probeKey;
    if (state.running && !urgent) {
      // The running cycle asks for a reconcile when it finishes (onProbed): ask back only for a due time after now.
      // A cycle still waiting for slots past its due time used to answer 0 here: a reconcile per second per
      // waiting relay, for as long as the backlog lasted (bench/probe-scale.ts at 10,000 relays).
      const due = state.schedule.nextDueAt;
      return withDelay(due !== undefined && due > now ? due - now : undefined);
    }
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

  /**
   * Takes over the results an earlier process wrote (input.previous) for a relay new to this one.
   * Each listener's entry is adopted when it describes what would be probed now (Service port,
   * mode, SNI name). When every listener has one, with the certificate the Secret holds now and a
   * probe time, the schedule is adopted too: the next probe is due one jittered interval after the
   * oldest of them, in the routine line; otherwise the first probe is due at once, urgent, as for a new relay.
   * Their deep scans are kept as well (deepScanFromStatus): with the schedule, the next deep scan is
   * due a day after the oldest, as if this process had run them.
   */
  private adopt(state: RelayState, input: TlsHealthInput, current: { probeKey: string; deepKey: string }, intervalMs: number): void {
    const adopted = new Map<string, EndpointStatus>();
    for (const t of input.targets) {
      const e = input.previous?.find((p) => p.name === t.name);
      if (e && e.port === t.servicePort && e.mode === t.mode && (e.serverName ?? input.servername) === (t.inClusterName ?? input.servername)) adopted.set(t.name, e);
    }
    if (adopted.size === 0) return;
    state.adopted = adopted;
    const expected = (t: ProbeTarget) => (t.inClusterName ? input.internal?.expectedFingerprint : input.expectedFingerprint);
    const times = input.targets.map((t) => Date.parse(adopted.get(t.name)?.lastProbeTime ?? ''));
    const upToDate = input.targets.every((t) => adopted.has(t.name) && (expected(t) === undefined || adopted.get(t.name)!.fingerprint === expected(t)));
    if (!upToDate || times.some(Number.isNaN)) return;
    state.schedule = { probeKey: current.probeKey, nextDueAt: Math.min(...times) + jitteredInterval(intervalMs, this.random) };
    // Deep scans run on the public targets only (runCycle); each must have one to adopt the deep schedule.
    const deepTimes = input.targets.filter((t) => !t.inClusterName).map((t) => Date.parse(adopted.get(t.name)?.lastDeepScanTime ?? ''));
    if (deepTimes.length > 0 && !deepTimes.some(Number.isNaN)) state.schedule = { ...state.schedule, deepKey: current.deepKey, lastDeepAt: Math.min(...deepTimes) };
  }

  /** The view, with probeDelayedSince when the shown results are overdue, and a wake-up for when they will be. */
  private delayView(state: RelayState, targets: ProbeTarget[], endpoints: EndpointStatus[] | undefined, intervalMs: number, now: number, nextProbeInMs: number | undefined): TlsHealthView {
    const starts = targets.map((t) => (state.results.get(t.name)?.status ?? state.adopted?.get(t.name))?.lastProbeTime).filter((t): t is string => t !== undefined).map(Date.parse);
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
    if (state.results.size === 0 && !state.adopted?.size) return undefined;
    const out: EndpointStatus[] = [];
    for (const t of targets) {
      const r = state.results.get(t.name);
      if (!r) {
        const adopted = state.adopted?.get(t.name);
        if (adopted) out.push(adopted);
        continue;
      }
      // The Service port, not the local one: status describes the Service.
      out.push({ ...r.status, port: t.servicePort });
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
          // The deep scan runs in the fast probe's slot, right after it. Queued for a slot of its own, behind
          // every other relay's probes, it published fast results minutes old after a bulk creation (10,000
          // relays: up to 220 s), i.e. ProbeDelayed at once (bench/probe-scale.ts).
          const done = await inSlot(async () => {
            const fast = await probe({ ...base(t), timeoutMs: this.opts.probeTimeoutMs ?? DEFAULT_TIMEOUT_MS, ...(this.sessions ? { sessions: this.sessions } : {}) });
            // No deep scan of an endpoint that does not even answer: it would only time out six times.
            // Nor of an in-cluster name: same listener, same TLS policy, only another certificate.
            if (!deep || t.inClusterName) return { fast };
            if (!fast.tls) return { fast, deepSkipped: true };
            return { fast, deep: await scan({ ...base(t), timeoutMs: this.opts.deepTimeoutMs ?? 5000 }) };
          });
          if (!done) return undefined;
          const { fast } = done;
          if (done.deepSkipped) deepSkipped = true;
          // Without a deep scan in this cycle, the last one's findings, as the last status shows them (also an adopted one).
          const last = state.results.get(t.name)?.status ?? state.adopted?.get(t.name);
          const deepResult = done.deep ?? (last ? deepScanFromStatus(last) : undefined);
          const status = toEndpointStatus({ name: t.name, probe: fast, deep: deepResult, secretFingerprint: expected(t), serverName: fast.target.servername });
          return { target: t, status };
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
    for (const r of results) {
      if (!r) continue;
      state.results.set(r.target.name, r);
      state.adopted?.delete(r.target.name);
    }
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
      endpoints.map((e) => ({ endpoint: e, durationSeconds: (e.latencyMilliseconds ?? 0) / 1000 })),
    );
    log.debug('TLS probe finished', { endpoints: endpoints.map((e) => `${e.name}:${e.healthy ? 'ok' : 'fail'}`).join(' '), deep });
    this.opts.onProbed(key);
  }
}
