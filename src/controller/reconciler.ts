// The level-based reconcile of one SmtpRelay: read the world from the caches,
// check what the relay references, server-side apply the desired children,
// prune what is no longer desired, and write the status only when it changed.
// The same call serves create, update, resync and restart.
import { createHash } from 'node:crypto';
import type { Condition, SmtpRelay, SmtpRelayStatus } from '../api/types.js';
import { ConditionType } from '../api/types.js';
import type { Logger } from '../common/logger.js';
import type { KubeObject, ReconcileResult } from '../kube/types.js';
import { desiredChildren, isDurable, issuerRefs, names, parseDuration, primaryServiceName, referencedSecrets, replicas, type BuildContext } from './builders/index.js';
import { DRAIN_POLL_MS, planWorkload, queueEvents, queueTargets, type ObservedQueuePod, type QueueObserveInput, type QueueTarget, type WorkloadPlan } from './queue/index.js';
import type { QueueObservation } from './queue/delivering.js';
import { conditionTransitions } from './conditions.js';
import { coversDesired } from './covers-desired.js';
import { Reason } from './reasons.js';
import { dkimKeysOfSpec, mailAuthEvent, mailAuthTargets, senderDomainsOfSpec, type MailAuthCondition, type MailAuthTarget, type MailAuthView } from './mail-auth/index.js';
import type { DkimPublicKey } from '../common/dkim-keys.js';
import { computeStatus, rolloutProgress, type MailAuthObservation, type CertificateObservation, type DeploymentObservation, type ProbeObservation, type Problem, type TlsSecretFacts } from './status.js';
import { probeTargets, statusWriteDecision, tlsHealthEvents, type TlsHealthInput, type TlsHealthView } from './tls-health/index.js';
import { checkTenancy, type TenancyPolicy } from './tenancy.js';
import type { SecretFactsCache } from './tls-secret.js';
import { validateSemantics } from './validate.js';

/** What the reconciler needs from the cluster. main.ts wires it to informers and the API. */
export interface ClusterAccess {
  getRelay(namespace: string, name: string): SmtpRelay | undefined;
  /** From the metadata-only Secret cache. */
  secretVersion(namespace: string, name: string): string | undefined;
  /** Children in the caches that carry our labels for this relay (any kind we manage). */
  ownedChildren(relay: SmtpRelay): KubeObject[];
  /** Cached child by kind and name (the caches hold only objects with our labels). */
  cachedChild(kind: string, namespace: string, name: string): KubeObject | undefined;
  /** A live read, after a create-only apply found the name taken: ours (not in the cache yet, or our labels removed), or someone else's? */
  getLive(obj: KubeObject): Promise<KubeObject | undefined>;
  /**
   * Server-side apply under our field manager, force on our fields. Returns the object as stored.
   * createOnly: fail with a 409 Conflict, changing nothing, when an object of that name exists.
   */
  apply(obj: KubeObject, opts?: { createOnly?: boolean }): Promise<KubeObject>;
  applyStatus(relay: SmtpRelay, status: SmtpRelayStatus): Promise<void>;
  delete(obj: KubeObject): Promise<void>;
  certManagerInstalled(): Promise<boolean>;
  issuerExists(kind: 'Issuer' | 'ClusterIssuer', namespace: string, name: string): Promise<boolean>;
  event(relay: SmtpRelay, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
  /** The relay's pods from the Pod cache (their IPs: GET /queue, POST /drain). Absent: none known. */
  relayPods?(relay: SmtpRelay): KubeObject[];
  /** Names of the relay's PersistentVolumeClaims (metadata cache); undefined when not watched. */
  queueClaims?(relay: SmtpRelay): ReadonlySet<string> | undefined;
}

/** The relay queues' reader (queue/poller.ts) and the drain timeout (--drain-timeout). */
export interface QueueAccess {
  poller: {
    latest(key: string, targets: QueueTarget[]): ObservedQueuePod[];
    observe(input: QueueObserveInput): { nextPollInMs: number };
    forget(key: string): void;
    /** The DKIM public keys the relay's pods serve (GET /dkim); undefined while none answered. */
    dkimKeys?(key: string): DkimPublicKey[] | undefined;
  };
  drainTimeoutMs: number;
}

export interface ReconcilerOptions {
  cluster: ClusterAccess;
  secrets: SecretFactsCache;
  defaultImage: string;
  /** The operator's allow-lists (--allowed-relay-images, ...); undefined: no checks. */
  tenancy?: TenancyPolicy;
  /** --tls-probe: whether TLSHealthy gates Ready. */
  probeEnabled: boolean;
  /** The TLS-health scheduler (tls-health/scheduler.ts); required for probeEnabled to probe anything. */
  tlsHealth?: { observe(input: TlsHealthInput): TlsHealthView; forget(namespace: string, name: string): void };
  /** --probe-local-endpoints: probe the addresses in the Service annotation (development only). */
  probeLocalEndpoints?: boolean;
  /** --monitoring-namespace: the namespace the relays' NetworkPolicy lets scrape metrics. */
  monitoringNamespace?: string;
  /** --operator-namespace: the operator pods there may reach the relays' metrics port (queue reads, drain). */
  operatorNamespace?: string;
  /** Reads the relays' queues and drains before scale-down; undefined: the StatefulSet follows spec.replicas at once. */
  queue?: QueueAccess;
  /** DNS checks of the sender domains (mail-auth/monitor.ts); undefined: no MailAuthentication condition (--mail-auth-check=off). */
  mailAuth?: { observe(key: string, targets: readonly MailAuthTarget[]): MailAuthView; forget(key: string): void };
  logger: Logger;
  now?: () => Date;
  /** Upper bound of any requeue (the resync period). */
  maxRequeueMs?: number;
  /** Called after each status computation (metrics). */
  onStatus?: (relay: SmtpRelay, status: SmtpRelayStatus, replicas: { desired: number; available: number }) => void;
  /** Called after each status write (figures: writes per relay). */
  onStatusWrite?: (relay: SmtpRelay, why: 'changed' | 'heartbeat') => void;
}

/** An API error the kube layer surfaced: status code plus reason. */
interface ApiErrorLike {
  code?: number;
  statusCode?: number;
  reason?: string;
  message?: string;
}

function httpCode(err: unknown): number | undefined {
  const e = err as ApiErrorLike;
  return typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What applying one child came to: the stored object, a problem to report, a transient error, or nothing to do. */
type ChildOutcome = { applied?: KubeObject; problem?: Problem; error?: unknown };

/** What checkReferences learned: Secret versions, and the public facts of the TLS Secrets (main and in-cluster). */
interface References {
  versions: Record<string, string>;
  tls?: TlsSecretFacts;
  caPem?: string;
  /** spec.tls.internalCertificate's Secret, once cert-manager wrote a usable one. */
  internal?: { tls?: TlsSecretFacts; caPem?: string };
}

const STALLED_RETRY_BASE_MS = 5_000;
const STALLED_RETRY_MAX_MS = 5 * 60_000;

export class Reconciler {
  private readonly stalledAttempts = new Map<string, number>();
  /**
   * The status we last wrote per key, and the resourceVersion of the relay it was computed from:
   * the cache may lag our own write. Dropped once the cache shows a newer relay (it then holds
   * that status, or something newer), so at rest nothing is kept here (~1.5 KiB per relay).
   */
  private readonly written = new Map<string, { fromResourceVersion: string | undefined; status: SmtpRelayStatus }>();
  /**
   * Per relay key, per child "Kind/name": "<child uid>:<digest of what we applied>".
   * A skip needs both: the stored child covers desired (restores hand edits) and
   * desired is what we last applied to that very object (so a field we stopped
   * sending is still removed by an apply). Empty after a restart: one apply each.
   */
  private readonly appliedDigests = new Map<string, Map<string, string>>();
  private readonly now: () => Date;
  private readonly maxRequeueMs: number;

  /** Statuses written that the cache has not shown yet (for tests and figures). */
  get statusCopies(): number {
    return this.written.size;
  }

  constructor(private readonly opts: ReconcilerOptions) {
    this.now = opts.now ?? (() => new Date());
    this.maxRequeueMs = opts.maxRequeueMs ?? 10 * 60_000;
  }

  /** Reconcile one key `namespace/name`. Throws only for transient errors (the queue retries with backoff). */
  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const { cluster } = this.opts;
    const relay = cluster.getRelay(namespace, name);
    if (!relay || relay.metadata.deletionTimestamp) {
      // Gone: owner references let the garbage collector remove the children.
      this.stalledAttempts.delete(key);
      this.written.delete(key);
      this.appliedDigests.delete(key);
      this.opts.queue?.poller.forget(key);
      this.opts.mailAuth?.forget(key);
      return {};
    }
    const log = this.opts.logger.child({ namespace, name });

    const problems: Problem[] = [...validateSemantics(relay), ...(this.opts.tenancy ? checkTenancy(relay, this.opts.tenancy) : [])];
    // An invalid spec (or one the allow-lists refuse) changes nothing in the cluster: the last good children keep serving.
    const specInvalid = problems.length > 0;
    const refs = await this.checkReferences(relay, problems);
    const certManager = issuerRefs(relay).length > 0 ? await this.checkIssuers(relay, problems) : true;

    let last = this.written.get(key);
    if (last && last.fromResourceVersion !== relay.metadata.resourceVersion) {
      this.written.delete(key);
      last = undefined;
    }
    const stored = last ? last.status : relay.status;
    // While something needs a human the workload is held as it is (applyChild), so no pod is asked to drain either.
    const queue = this.planQueue(key, relay, stored, problems.length > 0);

    const ctx: BuildContext = {
      defaultImage: this.opts.defaultImage,
      secretVersions: refs.versions,
      monitoringNamespace: this.opts.monitoringNamespace,
      operatorNamespace: this.opts.operatorNamespace,
      ...(queue.plan.statefulSetReplicas !== undefined ? { statefulSetReplicas: queue.plan.statefulSetReplicas } : {}),
    };
    const desired = desiredChildren(relay, ctx);
    const applied = await this.applyChildren(key, relay, specInvalid ? [] : desired, problems, certManager);
    if (!specInvalid) await this.prune(relay, desired, log, keptChildren(relay, queue.plan));

    // The apply responses are fresher than the caches (they carry the new generation).
    const workloadKind = isDurable(relay) ? 'StatefulSet' : 'Deployment';
    const deployment = applied.get(`${workloadKind}/${names.deployment(relay)}`) ?? cluster.cachedChild(workloadKind, namespace, names.deployment(relay));
    const certificate = relay.spec.tls.issuerRef
      ? (applied.get(`Certificate/${names.certificate(relay)}`) ?? cluster.cachedChild('Certificate', namespace, names.certificate(relay)))
      : undefined;
    const deploymentObs = deployment ? observeDeployment(deployment) : undefined;
    const { probe, nextProbeInMs } = this.observeTlsHealth(relay, deploymentObs, refs);
    const mailAuth = this.observeMailAuth(key, relay);
    const status = computeStatus(
      { ...relay, status: stored },
      {
        problems,
        deployment: deploymentObs,
        certificate: certificate ? observeCertificate(certificate) : undefined,
        tlsSecret: refs.tls,
        probe,
        queue: queue.observation,
        ...(mailAuth ? { mailAuth: mailAuth.observation } : {}),
      },
      this.now(),
    );
    const decision = statusWriteDecision(stored, status);
    if (decision.write) {
      await cluster.applyStatus(relay, status);
      this.written.set(key, { fromResourceVersion: relay.metadata.resourceVersion, status });
      this.opts.onStatusWrite?.(relay, decision.why);
      this.recordTransitions(relay, stored, status, log);
      if (decision.why === 'changed') log.info('status updated', { ready: readyOf(status), reason: status.conditions?.[0]?.reason, tlsHealth: status.tlsHealth, observedGeneration: status.observedGeneration });
    }
    this.opts.onStatus?.(relay, status, { desired: replicas(relay), available: deploymentObs?.availableReplicas ?? 0 });
    // The next probe or queue poll is due then (both also requeue the relay when they finish); a drain looks again soon.
    const soonest = Math.min(nextProbeInMs ?? Infinity, queue.nextPollInMs ?? Infinity, queue.plan.requeueAfterMs ?? Infinity, mailAuth?.nextCheckInMs ?? Infinity);
    return { requeueAfterMs: this.nextRun(key, relay, problems, refs.tls, Number.isFinite(soonest) ? soonest : undefined) };
  }

  /**
   * The drain plan from observed state (queue/drain.ts) and the queue observation for the status.
   * Reads the queues' latest summaries, tells the poller which pods must drain or resume, and never
   * waits on a pod: the poller talks to them in the background.
   */
  private planQueue(key: string, relay: SmtpRelay, stored: SmtpRelayStatus | undefined, hold: boolean): { plan: WorkloadPlan; observation?: QueueObservation; nextPollInMs?: number } {
    const { cluster } = this.opts;
    const namespace = relay.metadata.namespace;
    const durable = isDurable(relay);
    const sts = cluster.cachedChild('StatefulSet', namespace, names.statefulSet(relay));
    const dep = cluster.cachedChild('Deployment', namespace, names.deployment(relay));
    const queue = this.opts.queue;
    if (!queue) return { plan: { keep: [], drainPods: [], resumePods: [], stranded: [], gaveUp: [] } };
    const pods = cluster.relayPods?.(relay) ?? [];
    const local = this.opts.probeLocalEndpoints ?? false;
    const stsTargets = queueTargets(sts, pods, local);
    const depTargets = queueTargets(dep, pods, local);
    const stsPods = queue.poller.latest(key, stsTargets);
    const planned = planWorkload({
      durable,
      desiredReplicas: replicas(relay),
      statefulSet: sts ? { replicas: Number((sts.spec as { replicas?: number } | undefined)?.replicas ?? 0), availableReplicas: observeDeployment(sts).availableReplicas ?? 0 } : undefined,
      deployment: dep ? { availableReplicas: observeDeployment(dep).availableReplicas ?? 0 } : undefined,
      pods: stsPods,
      previousDrain: stored?.queue?.drain,
      recordedStranded: stored?.queue?.strandedClaims ?? [],
      claims: cluster.queueClaims?.(relay),
      podName: (o) => `${names.statefulSet(relay)}-${o}`,
      claimName: (o) => names.queueClaim(relay, o),
      now: this.now(),
      drainTimeoutMs: queue.drainTimeoutMs,
    });
    const plan: WorkloadPlan = hold ? { ...planned, statefulSetReplicas: sts ? undefined : planned.statefulSetReplicas, drainPods: [], drain: undefined, requeueAfterMs: undefined } : planned;
    const targets = [...stsTargets, ...depTargets];
    const intervalMs = plan.drain ? DRAIN_POLL_MS : parseDuration(relay.spec.healthCheck?.interval) ?? 60_000;
    const { nextPollInMs } = queue.poller.observe({ key, targets, intervalMs, drain: plan.drainPods, resume: plan.resumePods, dkim: relay.spec.dkim !== undefined });
    const observation: QueueObservation = {
      durable,
      pods: queue.poller.latest(key, targets),
      ...(plan.drain ? { drain: plan.drain } : {}),
      stranded: plan.stranded,
      desiredReplicas: replicas(relay),
    };
    return { plan, observation, nextPollInMs: targets.length > 0 ? nextPollInMs : undefined };
  }

  /**
   * Server-side applies the desired children, skipping those whose stored copy
   * already holds what we would send. Independent children are applied
   * concurrently; when the Deployment exists, in two waves (everything before
   * the Deployment, then the Deployment and the rest), so a problem with an
   * earlier child still holds the running Deployment back. Returns the apply responses (fresher than the caches); adds
   * problems for failures no retry fixes; throws the first transient failure.
   */
  private async applyChildren(key: string, relay: SmtpRelay, desired: KubeObject[], problems: Problem[], certManager: boolean): Promise<Map<string, KubeObject>> {
    let digests = this.appliedDigests.get(key);
    if (!digests) this.appliedDigests.set(key, (digests = new Map()));
    const split = desired.findIndex((c) => WORKLOAD_KINDS.has(c.kind));
    // Only an existing workload is ever held back, so one to create goes in the same wave as the rest.
    const deploymentExists = split > 0 && this.opts.cluster.cachedChild(desired[split]!.kind, relay.metadata.namespace, desired[split]!.metadata.name) !== undefined;
    const waves = deploymentExists ? [desired.slice(0, split), desired.slice(split)] : [desired];
    const applied = new Map<string, KubeObject>();
    for (const wave of waves) {
      // Decided before the wave: the Deployment hold depends on the problems found so far.
      const hasProblems = problems.length > 0;
      const outcomes = await Promise.all(wave.map((child) => this.applyChild(relay, child, digests, hasProblems, certManager)));
      let transient: ChildOutcome | undefined;
      outcomes.forEach((o, i) => {
        const child = wave[i]!;
        if (o.applied) applied.set(`${child.kind}/${child.metadata.name}`, o.applied);
        if (o.problem) problems.push(o.problem);
        if ('error' in o) transient ??= o;
      });
      if (transient) throw transient.error;
    }
    return applied;
  }

  /** One child: held, foreign, already as desired (no request), or applied. Never rejects. */
  private async applyChild(relay: SmtpRelay, child: KubeObject, digests: Map<string, string>, hasProblems: boolean, certManager: boolean): Promise<ChildOutcome> {
    const { cluster } = this.opts;
    if (child.kind === 'Certificate' && !certManager) return {};
    const cached = cluster.cachedChild(child.kind, relay.metadata.namespace, child.metadata.name);
    // While a human must fix something, keep the running pods as they are:
    // a rollout now would only produce pods that cannot start.
    if (WORKLOAD_KINDS.has(child.kind) && hasProblems && cached) return {};
    try {
      const foreign = cached ? notOwnedBy(relay, child, cached) : undefined;
      if (foreign) return { problem: foreign };
      const childKey = `${child.kind}/${child.metadata.name}`;
      const digest = digestOf(child);
      if (cached && digests.get(childKey) === `${cached.metadata.uid}:${digest}` && coversDesired(cached, child)) return {};
      const created = cached ? undefined : await this.createChild(relay, child);
      if (created?.problem) return { problem: created.problem };
      const stored = created?.stored ?? (await cluster.apply(child));
      digests.set(childKey, `${stored.metadata?.uid}:${digest}`);
      return { applied: stored };
    } catch (err) {
      const problem = this.classifyApplyError(child, err);
      return problem ? { problem } : { error: err };
    }
  }

  /**
   * The latest DNS results of the sender domains (the monitor looks them up in the background,
   * daily). The expected DKIM keys are the ones the relay's pods serve on GET /dkim; before a
   * pod answered, the records are only parsed (Found, never KeyMismatch).
   */
  private observeMailAuth(key: string, relay: SmtpRelay): { observation: MailAuthObservation; nextCheckInMs?: number } | undefined {
    const monitor = this.opts.mailAuth;
    if (!monitor) return undefined;
    const served = this.opts.queue?.poller.dkimKeys?.(key);
    const keys = dkimKeysOfSpec(relay.spec).map((k) => {
      const publicKey = served?.find((s) => s.domain === k.domain && s.selector === k.selector)?.publicKey;
      return publicKey ? { ...k, publicKey: Buffer.from(publicKey, 'base64') } : k;
    });
    const targets = mailAuthTargets(senderDomainsOfSpec(relay.spec), keys);
    const view = monitor.observe(key, targets);
    // No domain to look up: say so at once (NoSenderDomains) rather than Pending forever.
    const results = targets.length === 0 ? [] : view.results;
    return { observation: results ? { results } : {}, ...(view.nextCheckInMs !== undefined ? { nextCheckInMs: view.nextCheckInMs } : {}) };
  }

  /** Whether this relay is probed at all: --tls-probe, a scheduler, healthCheck.enabled, replicas. */
  private probeDisabledBecause(relay: SmtpRelay): string | undefined {
    if (!this.opts.probeEnabled || !this.opts.tlsHealth) return 'TLS probing is not enabled in the operator (--tls-probe=off).';
    if (relay.spec.healthCheck?.enabled === false) return 'TLS health checks are off for this relay (spec.healthCheck.enabled: false).';
    if (replicas(relay) === 0) return 'spec.replicas is 0: no relay serves TLS, so there is nothing to probe.';
    return undefined;
  }

  /** Asks the scheduler for the latest results (it probes in the background when due). */
  private observeTlsHealth(
    relay: SmtpRelay,
    deployment: DeploymentObservation | undefined,
    refs: References,
  ): { probe: ProbeObservation; nextProbeInMs?: number } {
    const disabled = this.probeDisabledBecause(relay);
    if (disabled) {
      // Probing was switched off for this relay: drop its results and metric series.
      this.opts.tlsHealth?.forget(relay.metadata.namespace, relay.metadata.name);
      return { probe: { enabled: false, disabledMessage: disabled } };
    }
    const service = this.opts.cluster.cachedChild('Service', relay.metadata.namespace, primaryServiceName(relay));
    const targets = probeTargets(relay, service, this.opts.probeLocalEndpoints ?? false);
    let pending: string | undefined;
    if (!targets.ok) pending = `Not probed yet: ${targets.why}.`;
    else if (!refs.tls) pending = 'Not probed yet: the TLS Secret holds no usable certificate yet.';
    else if (relay.spec.tls.internalCertificate && !refs.internal?.tls) pending = 'Not probed yet: the in-cluster TLS Secret (spec.tls.internalCertificate) holds no usable certificate yet.';
    else if ((deployment?.availableReplicas ?? 0) < 1) pending = 'Not probed yet: waiting for an available relay replica.';
    const view = this.opts.tlsHealth!.observe({
      relay,
      targets: targets.ok ? targets.targets : [],
      servername: relay.spec.hostname,
      expectedFingerprint: refs.tls?.fingerprint,
      caPem: refs.caPem,
      ...(refs.internal?.tls ? { internal: { expectedFingerprint: refs.internal.tls.fingerprint, caPem: refs.internal.caPem } } : {}),
      // Pods that just rolled (a renewed certificate) are probed once all of them serve.
      ...(deployment && rolloutProgress(relay, deployment) === undefined ? { settledRollout: String(deployment.generation ?? 0) } : {}),
      canProbe: pending === undefined,
      // What an earlier operator process wrote, when it describes this generation: kept across a restart.
      ...(relay.status?.endpoints && relay.status.observedGeneration === relay.metadata.generation ? { previous: relay.status.endpoints } : {}),
    });
    return {
      probe: { enabled: true, endpoints: view.endpoints, ...(pending ? { pendingMessage: pending } : {}), ...(view.probeDelayedSince ? { delayedSince: view.probeDelayedSince } : {}) },
      nextProbeInMs: view.nextProbeInMs,
    };
  }

  /** Checks every referenced Secret; returns their versions and the TLS facts. */
  private async checkReferences(relay: SmtpRelay, problems: Problem[]): Promise<References> {
    const namespace = relay.metadata.namespace;
    const versions: Record<string, string> = {};
    let tls: TlsSecretFacts | undefined;
    let caPem: string | undefined;
    let internal: References['internal'];
    for (const ref of referencedSecrets(relay)) {
      const version = this.opts.cluster.secretVersion(namespace, ref.name);
      const isTls = ref.role === 'tls';
      // The in-cluster certificate's Secret (spec.tls.internalCertificate) is a TLS Secret too: read for the probe.
      const isInternalTls = ref.role === 'internalTls';
      if (version === undefined) {
        // cert-manager writes its Secret once issued: absence is progress, not a problem.
        if (ref.userProvided) {
          problems.push({
            reason: Reason.SecretNotFound,
            message: `Secret ${ref.name} (${describeRole(ref.role, ref.upstream)}) was not found in namespace ${namespace}. Create it, or fix the reference in the SmtpRelay spec.`,
            certificate: isTls,
          });
        }
        continue;
      }
      versions[ref.name] = version;
      // Only the TLS Secret is read in full (its public tls.crt/ca.crt: expiry, fingerprint, probe trust).
      // Credentials, DKIM key, users and upstream CA are checked for existence in the metadata-only
      // cache; a missing key inside them is reported by the relay, which fails to start (docs/security.md).
      if (!isTls && !isInternalTls) continue;
      const facts = await this.opts.secrets.get(namespace, ref.name, version);
      if (!facts) continue;
      const missing = ref.requiredKeys.filter((k) => !facts.keys.includes(k));
      if (missing.length > 0 || !facts.tls) {
        if (!ref.userProvided && missing.length > 0) continue; // cert-manager is still writing it
        const why = missing.length > 0 ? `lacks the key(s) ${missing.join(', ')}` : `has an unusable tls.crt (${facts.tlsError ?? 'no certificate'})`;
        problems.push({ reason: Reason.SecretInvalid, message: `Secret ${ref.name} (${describeRole(ref.role, ref.upstream)}) ${why}. Fix the Secret's data.`, certificate: isTls || isInternalTls });
        continue;
      }
      if (isTls) {
        tls = facts.tls;
        caPem = facts.caPem;
      } else {
        internal = { tls: facts.tls, caPem: facts.caPem };
      }
    }
    return { versions, tls, caPem, internal };
  }

  /** Returns whether cert-manager is installed; adds a problem when it or the issuer is missing. */
  private async checkIssuers(relay: SmtpRelay, problems: Problem[]): Promise<boolean> {
    const refs = issuerRefs(relay);
    if (!(await this.opts.cluster.certManagerInstalled())) {
      const fix = relay.spec.tls.issuerRef ? 'use spec.tls.secretName with your own certificate' : 'remove spec.tls.internalCertificate';
      problems.push({
        reason: Reason.CertManagerNotInstalled,
        message: `${refs.map((r) => r.field).join(' and ')} need${refs.length === 1 ? 's' : ''} cert-manager, whose API (cert-manager.io/v1 Certificate) is not installed. Install cert-manager, or ${fix}.`,
        certificate: true,
      });
      return false;
    }
    for (const { field, ref: issuerRef } of refs) {
      const kind = issuerRef.kind ?? 'Issuer';
      if ((issuerRef.group ?? 'cert-manager.io') === 'cert-manager.io' && !(await this.opts.cluster.issuerExists(kind, relay.metadata.namespace, issuerRef.name))) {
        const where = kind === 'ClusterIssuer' ? 'in the cluster' : `in namespace ${relay.metadata.namespace}`;
        problems.push({ reason: Reason.IssuerNotFound, message: `${kind} ${issuerRef.name} was not found ${where}. Create it, or fix ${field}.`, certificate: true });
      }
    }
    return true;
  }

  /**
   * A child the synced cache lacks is taken to be absent, as controller-runtime's cached
   * client does (no read per child). It is created by a create-only apply, because
   * apply with force would take over a same-named object someone else made (created
   * since our cache synced, or never in it: the caches hold our labels only). When the
   * name is taken (409), and only then, the live object says whether it is ours (cache
   * lag, our labels removed: returns nothing, and the caller applies as usual) or not.
   */
  private async createChild(relay: SmtpRelay, child: KubeObject): Promise<{ stored?: KubeObject; problem?: Problem }> {
    const { cluster } = this.opts;
    try {
      return { stored: await cluster.apply(child, { createOnly: true }) };
    } catch (err) {
      if (httpCode(err) !== 409) throw err;
    }
    const live = await cluster.getLive(child);
    // Deleted again since the 409: a transient state, retried with backoff.
    if (!live) throw new Error(`${child.kind} ${child.metadata.name} existed a moment ago and is gone now`);
    const foreign = notOwnedBy(relay, child, live);
    return foreign ? { problem: foreign } : {};
  }

  /** Turns an apply failure no retry will fix into a Problem; undefined means transient (throw). */
  private classifyApplyError(child: KubeObject, err: unknown): Problem | undefined {
    const code = httpCode(err);
    const what = `${child.kind} ${child.metadata.name}`;
    if (code === 422 || code === 400) {
      return { reason: Reason.InvalidSpec, message: `The API server rejected ${what}: ${errorMessage(err)}. Fix the SmtpRelay spec.` };
    }
    if (code === 403) {
      return { reason: Reason.ApplyForbidden, message: `The operator may not write ${what}: ${errorMessage(err)}. Grant its ServiceAccount the RBAC in deploy/base/rbac.yaml.` };
    }
    if (code === 404 && child.kind === 'Certificate') {
      return { reason: Reason.CertManagerNotInstalled, message: 'cert-manager.io/v1 Certificate is not served by the API server. Install cert-manager, or use spec.tls.secretName.', certificate: true };
    }
    return undefined;
  }

  /** Deletes children we own that the builders no longer produce (Certificate after switching to secretName, PDB after scaling to 1). */
  private async prune(relay: SmtpRelay, desired: KubeObject[], log: Logger, keep: string[] = []): Promise<void> {
    const wanted = new Set([...desired.map((c) => `${c.kind}/${c.metadata.name}`), ...keep]);
    for (const child of this.opts.cluster.ownedChildren(relay)) {
      const owned = child.metadata.ownerReferences?.some((o) => o.controller && o.uid === relay.metadata.uid);
      if (!owned || wanted.has(`${child.kind}/${child.metadata.name}`) || child.metadata.deletionTimestamp) continue;
      log.info('pruning child no longer desired', { kind: child.kind, child: child.metadata.name });
      await this.opts.cluster.delete(child);
    }
  }

  private recordTransitions(relay: SmtpRelay, before: SmtpRelayStatus | undefined, after: SmtpRelayStatus, log: Logger): void {
    const events: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = [];
    for (const t of conditionTransitions(before?.conditions, after.conditions ?? [])) {
      const event = eventFor(t.type, t.from, t.to);
      if (event) events.push({ type: event.type, reason: t.to.reason, message: t.to.message });
    }
    events.push(...tlsHealthEvents(before, after), ...queueEvents(before, after));
    // MailAuthentication: an Event whenever its reason or message changes (mail-auth/events.ts).
    const mailAuthOf = (s: SmtpRelayStatus | undefined) => s?.conditions?.find((c) => c.type === ConditionType.MailAuthentication) as MailAuthCondition | undefined;
    const mailAuthAfter = mailAuthOf(after);
    const mailAuthChange = mailAuthAfter ? mailAuthEvent(mailAuthOf(before), mailAuthAfter) : undefined;
    if (mailAuthChange) events.push(mailAuthChange);
    // Events are best effort and not awaited: a reconcile never waits for, or fails on, one.
    const warn = (err: unknown) => log.warn('could not record event', { error: errorMessage(err) });
    for (const e of events) {
      try {
        this.opts.cluster.event(relay, e.type, e.reason, e.message).catch(warn);
      } catch (err) {
        warn(err);
      }
    }
  }

  /** When to run again: growing retries while stalled, on time for certificate expiry, at most the resync period. */
  private nextRun(key: string, relay: SmtpRelay, problems: Problem[], tls: TlsSecretFacts | undefined, nextProbeInMs: number | undefined): number {
    const candidates = [this.maxRequeueMs];
    if (problems.length > 0) {
      // Most problems heal through watched objects (Secrets); Issuers and cert-manager are not watched, so look again, less often each time.
      const attempts = this.stalledAttempts.get(key) ?? 0;
      this.stalledAttempts.set(key, attempts + 1);
      candidates.push(Math.min(STALLED_RETRY_BASE_MS * 2 ** attempts, STALLED_RETRY_MAX_MS));
    } else {
      this.stalledAttempts.delete(key);
    }
    if (tls) {
      const now = this.now().getTime();
      const warnMs = parseDuration(relay.spec.healthCheck?.expiryWarning) ?? 14 * 86_400_000;
      for (const at of [Date.parse(tls.notAfter) - warnMs, Date.parse(tls.notAfter), Date.parse(tls.notBefore)]) {
        if (at > now) candidates.push(at - now + 1000);
      }
    }
    // The next probe is due then; the scheduler also requeues the relay when a probe finishes.
    if (nextProbeInMs !== undefined) candidates.push(nextProbeInMs);
    return Math.max(1000, Math.min(...candidates));
  }
}

/** The relay's workload kinds (spec.queue.mode): an existing one is held back while a problem needs a human. */
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet']);

/** Children of the other mode that must outlive a mode switch until drained or replaced: the workload and the ConfigMap its pods mount. */
function keptChildren(relay: SmtpRelay, plan: WorkloadPlan): string[] {
  return plan.keep.flatMap((kind) =>
    kind === 'StatefulSet'
      ? [`StatefulSet/${names.statefulSet(relay)}`, `ConfigMap/${names.queueConfigMap(relay)}`]
      : [`Deployment/${names.deployment(relay)}`, `ConfigMap/${names.configMap(relay)}`],
  );
}

/** ChildNotOwned when the stored object of a child's name is not controlled by this relay. Pure. */
function notOwnedBy(relay: SmtpRelay, child: KubeObject, stored: KubeObject): Problem | undefined {
  const { namespace, name } = child.metadata;
  const controller = stored.metadata.ownerReferences?.find((o) => o.controller);
  if (controller?.uid === relay.metadata.uid) return undefined;
  const owner = controller ? `is controlled by ${controller.kind} ${controller.name}` : 'was not created by this SmtpRelay';
  return {
    reason: Reason.ChildNotOwned,
    message: `A ${child.kind} named ${name} already exists in namespace ${namespace} and ${owner}; the operator leaves it alone. Delete or rename it, or rename the SmtpRelay.`,
  };
}

/** A short fingerprint of a child as we would apply it (builders emit keys in a stable order). */
function digestOf(child: KubeObject): string {
  return createHash('sha256').update(JSON.stringify(child)).digest('base64');
}

function describeRole(role: string, upstream?: string): string {
  const what =
    (
      {
        tls: 'the TLS certificate',
        internalTls: 'the in-cluster TLS certificate',
        users: 'the SMTP users',
        upstreamCredentials: 'the upstream credentials',
        upstreamCa: 'the upstream CA',
        upstreamOAuth2: 'the upstream OAuth2 credentials',
        dkim: 'the DKIM key',
      } as Record<string, string>
    )[role] ?? role;
  return upstream ? `${what} of upstream ${upstream}` : what;
}

function readyOf(status: SmtpRelayStatus): string | undefined {
  return status.conditions?.find((c) => c.type === ConditionType.Ready)?.status;
}

/** Which condition transitions are worth an Event, and of what type. */
export function eventFor(type: string, from: string | undefined, to: Condition): { type: 'Normal' | 'Warning' } | undefined {
  switch (type) {
    case ConditionType.Ready:
      if (to.status === 'True') return { type: 'Normal' };
      // TLSUnhealthy has its own event (tls-health/events.ts); a drain has DrainStarted (queue/events.ts).
      return from === 'True' && to.reason !== Reason.TLSUnhealthy && to.reason !== Reason.QueueDraining ? { type: 'Warning' } : undefined;
    case ConditionType.Stalled:
      if (to.status === 'True') return { type: 'Warning' };
      return from === 'True' ? { type: 'Normal' } : undefined;
    case ConditionType.CertificateReady:
      if (to.status === 'False' && to.reason !== Reason.CertificateIssuing) return { type: 'Warning' };
      if (to.reason === Reason.CertificateExpiringSoon) return { type: 'Warning' };
      return from !== undefined && to.status === 'True' ? { type: 'Normal' } : undefined;
    case ConditionType.UpstreamsHealthy:
      // Status or reason changed (an upstream started or stopped failing, or failed differently); Unknown is not news.
      if (to.status === 'False') return { type: 'Warning' };
      return from === 'False' && to.status === 'True' ? { type: 'Normal' } : undefined;
    // TLSHealthy transitions: tls-health/events.ts (TLSUnhealthy / TLSHealthy).
    default:
      return undefined;
  }
}

export function observeDeployment(obj: KubeObject): DeploymentObservation {
  const status = (obj.status ?? {}) as Record<string, number | undefined>;
  return {
    generation: obj.metadata.generation,
    observedGeneration: status.observedGeneration,
    replicas: status.replicas,
    updatedReplicas: status.updatedReplicas,
    readyReplicas: status.readyReplicas,
    availableReplicas: status.availableReplicas,
  };
}

export function observeCertificate(obj: KubeObject): CertificateObservation {
  const status = (obj.status ?? {}) as { conditions?: { type: string; status: string; reason?: string; message?: string; observedGeneration?: number }[]; renewalTime?: string };
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  // A Ready condition from before our last spec change does not count.
  const current = ready && (ready.observedGeneration === undefined || ready.observedGeneration >= (obj.metadata.generation ?? 0));
  return {
    ready: current && (ready.status === 'True' || ready.status === 'False') ? ready.status : 'Unknown',
    reason: ready?.reason,
    message: ready?.message,
    renewalTime: status.renewalTime,
  };
}
