// Wires the controller: informers feed the work queue with relay keys, workers
// run the reconciler, leader election gates the workers, and an HTTP server
// exposes /metrics, /healthz and /readyz.
import type http from 'node:http';
import type { KubeConfig } from '../kube/kube-config.js';
import { API_VERSION, KIND, PLURAL, type SmtpRelay } from '../api/types.js';
import { startHealthServer } from '../common/http-server.js';
import type { Logger } from '../common/logger.js';
import { hasResource } from '../kube/apply.js';
import { controllerOwnerKey, objectKey, type KubeInformer } from '../kube/informer.js';
import { createInformerFor } from '../kube/multi-namespace.js';
import type { KubeObject } from '../kube/types.js';
import { createWorkQueue, runWorkers, type Workers } from '../kube/workqueue.js';
import { CHILD_KINDS, LABEL_INSTANCE, MANAGED_SELECTOR, referencedSecrets } from './builders/index.js';
import { childShape, customResourceShape, interned, labelledShape, podShape, secretShape } from './cache-shape.js';
import { createClusterAccess, indexByInstance, readSecret } from './cluster.js';
import type { OperatorOptions } from './flags.js';
import type { DeepScanResult, ProbeOptions, ProbeResult } from '../probe/index.js';
import { ISSUER_INDEX, issuerIndexValues, startIssuerInformers } from './issuers.js';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.js';
import { QueuePoller } from './queue/index.js';
import { createTxtLookup, MailAuthMonitor, type TxtLookup } from './mail-auth/index.js';
import { Reconciler } from './reconciler.js';
import { TlsHealthScheduler } from './tls-health/index.js';
import { SecretFactsCache } from './tls-secret.js';
import { USER_KIND, USER_PLURAL, type SmtpUser } from '../api/smtpuser.js';
import { createInformer } from '../kube/informer.js';
import { SmtpUserController } from './users/controller.js';

export interface OperatorHandle {
  metrics: OperatorMetrics;
  /** Bound ports (useful with port 0). */
  metricsPort: number;
  healthPort: number;
  /** True while this process holds the lease (always true without leader election). */
  isLeader(): boolean;
  /** Resolves when the operator stops on its own (lost leadership). */
  readonly done: Promise<{ reason: string }>;
  /** Graceful stop: workers drain, the lease is released, informers and servers stop. */
  stop(): Promise<void>;
}

export interface LeaderElector {
  /** Resolves when this process leads; onLost is called if it later loses the lease. */
  start(onLost: () => void): Promise<void>;
  /** Release the lease (if held) and stop renewing. */
  release(): Promise<void>;
}

export interface OperatorDeps {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Leader election; undefined when --leader-elect=false. */
  leader?: LeaderElector;
  recordEvent: (relay: SmtpRelay, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;
  /** The prober the TLS-health scheduler calls; default the real one (src/probe). For tests. */
  prober?: { probe?: (opts: ProbeOptions) => Promise<ProbeResult>; deepScan?: (opts: ProbeOptions) => Promise<DeepScanResult> };
  /** The mail-authentication monitor's DNS lookup and clock; default the real resolver (--dns-servers) and Date.now. For tests. */
  mailAuth?: { lookup?: TxtLookup; now?: () => number };
}

const SECRET_INDEX = 'secrets';
const USER_RELAY_INDEX = 'relay';

export async function startOperator(opts: OperatorOptions, deps: OperatorDeps): Promise<OperatorHandle> {
  const { kubeConfig: kc, logger } = deps;
  const metrics = createOperatorMetrics();
  // --namespace a,b: every informer lists and watches those namespaces only, so every write (children, status, Events) stays in them.
  const namespaces = opts.namespaces;

  const relays = createInformerFor<KubeObject>(kc, { apiVersion: API_VERSION, kind: KIND, plural: PLURAL, transform: interned(customResourceShape) }, namespaces);
  // Which relays reference a Secret: "namespace/secret" -> relays, so a Secret event wakes exactly them.
  relays.addIndex(SECRET_INDEX, (obj) => referencedSecrets(obj as unknown as SmtpRelay).map((r) => `${obj.metadata.namespace}/${r.name}`));
  relays.addIndex(ISSUER_INDEX, (obj) => issuerIndexValues(obj as unknown as SmtpRelay));
  const secrets = createInformerFor<KubeObject>(kc, { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', metadataOnly: true, transform: interned(secretShape) }, namespaces);
  // The relays' pods (IPs for the queue's GET /queue and POST /drain) and queue claims (names only: stranded mail).
  const pods = createInformerFor<KubeObject>(kc, { apiVersion: 'v1', kind: 'Pod', plural: 'pods', labelSelector: MANAGED_SELECTOR, transform: interned(podShape) }, namespaces);
  const claims = createInformerFor<KubeObject>(kc, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', labelSelector: MANAGED_SELECTOR, metadataOnly: true, transform: interned(labelledShape) }, namespaces);
  indexByInstance(pods);
  indexByInstance(claims);

  // SmtpUsers (controller/users), and the namespaces' labels for spec.users.namespaceSelector
  // (metadata only; cluster-scoped, so not in a namespaced install, where a namespace is known by its name only).
  const users = createInformerFor<KubeObject>(kc, { apiVersion: API_VERSION, kind: USER_KIND, plural: USER_PLURAL, transform: interned(customResourceShape) }, namespaces);
  users.addIndex(USER_RELAY_INDEX, (obj) => {
    const ref = (obj as unknown as SmtpUser).spec?.relayRef;
    return ref ? [`${ref.namespace}/${ref.name}`] : [];
  });
  const namespaceInformer = namespaces ? undefined : createInformer<KubeObject>(kc, { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', metadataOnly: true, transform: interned(labelledShape) });
  const userQueue = createWorkQueue({ name: 'smtpuser', baseDelayMs: 500, maxDelayMs: 5 * 60_000 });
  const enqueueUsersOf = (relayKey: string) => {
    for (const u of users.byIndex(USER_RELAY_INDEX, relayKey)) userQueue.add(objectKey(u));
  };
  users.on('add', (obj) => userQueue.add(objectKey(obj)));
  users.on('update', (obj, old) => {
    // Not our own status writes: spec, the rotate annotation, finalizers and deletion matter.
    if (!old || obj.metadata.generation !== old.metadata.generation || obj.metadata.deletionTimestamp !== old.metadata.deletionTimestamp || JSON.stringify(obj.metadata.annotations) !== JSON.stringify(old.metadata.annotations)) {
      userQueue.add(objectKey(obj));
    }
  });
  namespaceInformer?.on('update', (obj, old) => {
    if (JSON.stringify(obj.metadata.labels) !== JSON.stringify(old?.metadata.labels)) for (const u of users.list(obj.metadata.name)) userQueue.add(objectKey(u));
  });
  namespaceInformer?.on('add', (obj) => {
    for (const u of users.list(obj.metadata.name)) userQueue.add(objectKey(u));
  });
  const userController = new SmtpUserController({
    kc,
    users,
    relays,
    namespaces: namespaceInformer,
    logger,
    recordEvent: (obj, type, reason, message) => deps.recordEvent(obj as unknown as SmtpRelay, type, reason, message),
  });
  let userWorkers: Workers | undefined;

  const children = new Map<string, KubeInformer<KubeObject>>();
  const queue = createWorkQueue({ name: 'smtprelay', baseDelayMs: 500, maxDelayMs: 5 * 60_000 });
  const enqueue = (key: string | undefined) => {
    if (key) queue.add(key);
  };
  const enqueueOwner = (obj: KubeObject) => enqueue(controllerOwnerKey(obj, KIND, API_VERSION.split('/')[0]));

  function startChildInformer(kind: (typeof CHILD_KINDS)[number]): KubeInformer<KubeObject> {
    const informer = createInformerFor<KubeObject>(kc, { apiVersion: kind.apiVersion, kind: kind.kind, plural: kind.plural, labelSelector: MANAGED_SELECTOR, transform: interned(childShape(kind.kind)) }, namespaces);
    indexByInstance(informer);
    for (const event of ['add', 'update', 'delete'] as const) informer.on(event, enqueueOwner);
    informer.onError((err) => logger.warn('informer error', { kind: kind.kind, error: String(err) }));
    children.set(kind.kind, informer);
    return informer;
  }

  // cert-manager may be installed after the operator started: check discovery
  // (cached briefly by hasResource) and start the Certificate informer once it is there.
  const certificateKind = CHILD_KINDS.find((k) => k.kind === 'Certificate')!;
  let certInformerStarting: Promise<void> | undefined;
  const issuerInformers: KubeInformer<KubeObject>[] = [];
  async function certManagerInstalled(): Promise<boolean> {
    if (children.has('Certificate')) return true;
    if (!(await hasResource(kc, 'cert-manager.io', 'v1', 'certificates'))) return false;
    certInformerStarting ??= (async () => {
      const informer = startChildInformer(certificateKind);
      await informer.start();
      await informer.waitForSync(30_000);
      logger.info('cert-manager found: watching Certificates');
      // Issuers: a relay stalled on a missing Issuer heals when it appears.
      issuerInformers.push(
        ...(await startIssuerInformers(kc, namespaces, logger, (value) => {
          for (const relay of relays.byIndex(ISSUER_INDEX, value)) enqueue(objectKey(relay));
        })),
      );
    })();
    await certInformerStarting;
    return true;
  }

  relays.on('add', (obj) => {
    enqueue(objectKey(obj));
    enqueueUsersOf(objectKey(obj));
  });
  relays.on('update', (obj, old) => {
    if (!old || obj.metadata.generation !== old.metadata.generation) enqueueUsersOf(objectKey(obj));
    // Our own status writes change only status: skip those (GenerationChanged, as controller-runtime's predicate).
    if (!old || obj.metadata.generation !== old.metadata.generation || obj.metadata.deletionTimestamp !== old.metadata.deletionTimestamp) enqueue(objectKey(obj));
  });
  relays.on('delete', (obj) => {
    const namespace = obj.metadata.namespace ?? '';
    metrics.relayReady.remove({ namespace, name: obj.metadata.name });
    metrics.probes.removeRelay(namespace, obj.metadata.name);
    tlsHealth?.forget(namespace, obj.metadata.name);
    queuePoller.forget(`${namespace}/${obj.metadata.name}`);
    mailAuth?.forget(`${namespace}/${obj.metadata.name}`);
    enqueue(objectKey(obj));
    enqueueUsersOf(objectKey(obj));
  });
  // Probes run in the background; a finished probe puts its relay back on the queue.
  const tlsHealth = opts.tlsProbe
    ? new TlsHealthScheduler({
        concurrency: opts.probeConcurrency,
        intervalOverrideMs: opts.probeIntervalOverrideMs,
        fullHandshakeEveryMs: opts.probeFullHandshakeEveryMs,
        onProbed: (key) => queue.add(key),
        metrics: metrics.probes,
        logger,
        probe: deps.prober?.probe,
        deepScan: deps.prober?.deepScan,
      })
    : undefined;
  // The sender domains' SPF, DKIM and DMARC, looked up daily in the background; a finished check requeues the relay.
  const mailAuth = opts.mailAuthCheck
    ? new MailAuthMonitor({
        lookup: deps.mailAuth?.lookup ?? createTxtLookup({ servers: opts.dnsServers }),
        concurrency: opts.probeConcurrency,
        onChecked: (key) => queue.add(key),
        ...(deps.mailAuth?.now ? { now: deps.mailAuth.now } : {}),
      })
    : undefined;
  // Every relay's queue, read on the probe schedule (every 2 s while it drains); a finished read requeues the relay.
  const queuePoller = new QueuePoller({
    concurrency: opts.probeConcurrency,
    onPolled: (key) => queue.add(key),
    logger,
    onDepth: (key, depth) => {
      const [namespace = '', name = ''] = key.split('/');
      if (depth === undefined) metrics.relayQueueDepth.remove({ namespace, name });
      else metrics.relayQueueDepth.set({ namespace, name }, depth);
    },
  });
  // A deleted claim may end a stranded-mail report.
  claims.on('delete', (obj) => {
    const instance = obj.metadata.labels?.[LABEL_INSTANCE];
    if (instance) enqueue(`${obj.metadata.namespace}/${instance}`);
  });
  const secretFacts = new SecretFactsCache((namespace, name) => readSecret(kc, namespace, name));
  const onSecret = (obj: KubeObject) => {
    for (const relay of relays.byIndex(SECRET_INDEX, objectKey(obj))) enqueue(objectKey(relay));
  };
  secrets.on('add', onSecret);
  secrets.on('update', (obj, old) => {
    if (obj.metadata.resourceVersion !== old?.metadata.resourceVersion) onSecret(obj);
  });
  secrets.on('delete', (obj) => {
    secretFacts.forget(obj.metadata.namespace ?? '', obj.metadata.name);
    onSecret(obj);
    // A deleted managed users Secret or connection Secret: the users concerned issue again.
    if (obj.metadata.name.endsWith('-smtpusers')) enqueueUsersOf(`${obj.metadata.namespace}/${obj.metadata.name.slice(0, -'-smtpusers'.length)}`);
    for (const u of users.list(obj.metadata.namespace)) if ((u as unknown as SmtpUser).spec?.connectionSecretRef?.name === obj.metadata.name) userQueue.add(objectKey(u));
  });
  for (const [name, inf] of [['SmtpRelay', relays], ['Secret', secrets], ['Pod', pods], ['PersistentVolumeClaim', claims], ['SmtpUser', users], ...(namespaceInformer ? [['Namespace', namespaceInformer] as const] : [])] as const) {
    inf.onError((err) => logger.warn('informer error', { kind: name, error: String(err) }));
  }

  if (opts.probeLocalEndpoints) {
    logger.warn('--probe-local-endpoints: probing the addresses in the Service annotation local.smtprelay.dev/endpoints (DEVELOPMENT ONLY, for the local runtime)');
  }
  if (opts.probeIntervalOverrideMs !== undefined) {
    logger.warn('--probe-interval-override: every relay is probed at this interval, ignoring spec.healthCheck.interval (TESTS ONLY)', { intervalMs: opts.probeIntervalOverrideMs });
  }
  const reconciler = new Reconciler({
    cluster: createClusterAccess({ kubeConfig: kc, relays, secrets, children: () => children, certManagerInstalled, recordEvent: deps.recordEvent, pods, claims }),
    queue: { poller: queuePoller, drainTimeoutMs: opts.drainTimeoutMs },
    secrets: secretFacts,
    defaultImage: opts.defaultRelayImage,
    tenancy: { defaultImage: opts.defaultRelayImage, allowedRelayImages: opts.allowedRelayImages, allowedClusterIssuers: opts.allowedClusterIssuers, allowedUpstreamHosts: opts.allowedUpstreamHosts },
    probeEnabled: opts.tlsProbe,
    tlsHealth,
    mailAuth,
    probeLocalEndpoints: opts.probeLocalEndpoints,
    monitoringNamespace: opts.monitoringNamespace,
    operatorNamespace: opts.operatorNamespace,
    logger,
    maxRequeueMs: opts.resyncMs,
    onStatus: (relay, status, replicas) => {
      const ready = status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      metrics.relayReady.set({ namespace: relay.metadata.namespace, name: relay.metadata.name }, ready ? 1 : 0);
      metrics.probes.setReplicas(relay.metadata.namespace, relay.metadata.name, replicas.desired, replicas.available);
    },
    onStatusWrite: (_relay, why) => metrics.statusWrites.inc({ why }),
  });

  // Caches first (also while not leading, so a new leader starts warm).
  for (const kind of CHILD_KINDS) if (kind.kind !== 'Certificate') startChildInformer(kind);
  // An operator upgraded before its SmtpUser CRD was applied runs on without SmtpUsers (instead of waiting for a cache that cannot sync).
  const usersServed = await hasResource(kc, API_VERSION.split('/')[0]!, API_VERSION.split('/')[1]!, USER_PLURAL).catch(() => true);
  if (!usersServed) logger.warn('the SmtpUser CRD is not installed: SmtpUsers are off until it is applied and the operator restarted');
  const userInformers = usersServed ? [users, ...(namespaceInformer ? [namespaceInformer] : [])] : [];
  await Promise.all([relays.start(), secrets.start(), pods.start(), claims.start(), ...userInformers.map((i) => i.start()), ...[...children.values()].map((i) => i.start())]);
  try {
    await certManagerInstalled();
  } catch (err) {
    logger.warn('could not check for cert-manager; will retry on reconcile', { error: String(err) });
  }

  let synced = false;
  let leading = !deps.leader;
  let stopped = false;
  let workers: Workers | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  let resolveDone!: (v: { reason: string }) => void;
  const done = new Promise<{ reason: string }>((r) => (resolveDone = r));

  const servers: http.Server[] = [];
  const healthy = () => !stopped;
  const ready = () => synced && !stopped;
  const metricsServer = await startHealthServer({ port: opts.metricsPort, host: opts.bindAddress, registry: metrics.registry, healthy, ready });
  servers.push(metricsServer);
  const metricsPort = (metricsServer.address() as { port: number }).port;
  let healthPort = metricsPort;
  if (opts.healthPort !== opts.metricsPort || opts.metricsPort === 0) {
    const healthServer = await startHealthServer({ port: opts.healthPort, host: opts.bindAddress, registry: metrics.registry, healthy, ready });
    servers.push(healthServer);
    healthPort = (healthServer.address() as { port: number }).port;
  }

  const depthTimer = setInterval(() => metrics.queueDepth.set(queue.len()), 1000);
  depthTimer.unref();

  const informers = () => [relays, secrets, pods, claims, ...userInformers, ...children.values(), ...issuerInformers];
  synced = (await Promise.all(informers().map((i) => i.waitForSync(60_000)))).every(Boolean);
  if (!synced) logger.warn('caches did not sync within 60s; continuing, they keep retrying');
  synced = true;

  async function startWorking(): Promise<void> {
    if (stopped) return;
    leading = true;
    logger.info('starting workers', { concurrency: opts.concurrency, namespaces: namespaces?.join(',') ?? '(all)' });
    workers = runWorkers(queue, opts.concurrency, async (key) => reconciler.reconcile(key), {
      onResult: (key, outcome, durationMs) => {
        metrics.reconcileDuration.observe(durationMs / 1000);
        const result = !outcome.ok ? 'error' : outcome.result?.requeueAfterMs ? 'requeue' : 'success';
        metrics.reconcileTotal.inc({ result });
        if (!outcome.ok) {
          const [namespace, name] = key.split('/');
          logger.warn('reconcile failed; retrying with backoff', { namespace, name, error: outcome.error instanceof Error ? outcome.error.message : String(outcome.error) });
        }
      },
    });
    userWorkers = runWorkers(userQueue, opts.concurrency, async (key) => userController.reconcile(key), {
      onResult: (key, outcome) => {
        if (!outcome.ok) logger.warn('SmtpUser reconcile failed; retrying with backoff', { key, error: outcome.error instanceof Error ? outcome.error.message : String(outcome.error) });
      },
    });
    for (const relay of relays.list()) enqueue(objectKey(relay));
    for (const u of users.list()) userQueue.add(objectKey(u));
    // Level-based safety net: every relay is reconciled at least once per resync period.
    resyncTimer = setInterval(() => {
      for (const relay of relays.list()) enqueue(objectKey(relay));
      for (const u of users.list()) userQueue.add(objectKey(u));
    }, opts.resyncMs);
    resyncTimer.unref();
  }

  async function stop(reason = 'stopped'): Promise<void> {
    if (stopped) return;
    stopped = true;
    clearInterval(depthTimer);
    if (resyncTimer) clearInterval(resyncTimer);
    queue.shutDown();
    userQueue.shutDown();
    await workers?.stop();
    await userWorkers?.stop();
    await tlsHealth?.stop();
    await queuePoller.stop();
    await mailAuth?.stop();
    leading = false;
    await deps.leader?.release().catch((err: unknown) => logger.warn('could not release the lease', { error: String(err) }));
    for (const informer of informers()) informer.stop();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    resolveDone({ reason });
  }

  if (deps.leader) {
    deps.leader
      .start(() => {
        logger.error('lost the leader lease; stopping so that only one operator reconciles');
        void stop('lost leadership');
      })
      .then(startWorking, (err: unknown) => {
        logger.error('leader election failed', { error: String(err) });
        void stop('leader election failed');
      });
  } else {
    await startWorking();
  }

  return { metrics, metricsPort, healthPort, isLeader: () => leading, done, stop: () => stop() };
}
