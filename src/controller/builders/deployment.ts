// The relay Deployment: restricted Pod Security, config and Secrets mounted at
// the MOUNTS paths, and a checksum annotation that rolls pods on any change.
import { createHash } from 'node:crypto';
import type { V1Deployment, V1PodSpec, V1PodTemplateSpec, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { SmtpRelay } from '../../api/types.js';
import { MOUNTS, RELAY_CONFIG_KEY, resolveLimits } from '../../common/relay-config.js';
import { configMapName, renderRelayConfig, renderRelayConfigJson } from './configmap.js';
import { CHECKSUM_ANNOTATION, childLabels, childMeta, names, selectorLabels, type Built } from './labels.js';
import { managesUsers } from './configmap.js';
import { containerPort, enabledListeners, METRICS_PORT, referencedSecrets, replicas, type BuildContext, type SecretRole } from './spec.js';

export type DeploymentObject = Built<V1Deployment>;

export const RELAY_CONTAINER = 'relay';
export const RUN_AS_USER = 65532;
export const TERMINATION_GRACE_SECONDS = 60;
/**
 * A terminating pod keeps accepting for this long before SIGTERM: kube-proxy on every node
 * removes its endpoint a moment after the deletion, and until then new connections still
 * arrive (a relay that closed its listener at once refused them, or timed out once the pod
 * was gone: seen on the real node during a certificate roll, test/node/cert-rotation.test.ts).
 */
export const PRE_STOP_SLEEP_SECONDS = 5;

// Roles whose Secret has one fixed place; upstream Secrets carry their own (builders/upstreams.ts).
const SECRET_MOUNTS: Partial<Record<SecretRole, string>> = {
  tls: MOUNTS.tls,
  internalTls: MOUNTS.internalTls,
  users: MOUNTS.users,
  dkim: MOUNTS.dkim,
};

const VOLUME_NAMES: Partial<Record<SecretRole, string>> = {
  tls: 'tls',
  internalTls: 'internal-tls',
  users: 'users',
  dkim: 'dkim',
};

/**
 * The relay container's resources unless spec.pod.resources says otherwise (it replaces them
 * whole). From bench/relay-footprint.ts (docs/benchmarks.md, "Relay footprint", 2026-12-01):
 * - memory request 128Mi: idle RSS 82 MiB + 200 idle authenticated sessions (relay.json
 *   maxConnections) at ~75 KiB each (15 MiB) + the default 20 DATA slots' buffers and DKIM
 *   share (~30 MiB, see dataSlots in src/relay/relay.ts).
 * - memory limit 384Mi: peak RSS under 500 concurrent submitting clients 194-219 MiB (GC slack
 *   included) + the whole in-memory DKIM budget config.ts admits (DKIM_MEMORY_BUDGET, 128 MiB)
 *   + ~10 %. The durable queue streams to disk and adds no message bytes to memory.
 * - cpu request 100m: ~400 messages per CPU-second (one TLS connection each, C=10), so 100m
 *   carries ~40 msgs/s, and an HPA on CPU utilisation scales out near 30 msgs/s per pod.
 * - no cpu limit: throttling would stall TLS handshakes and timers for every session at once.
 */
const DEFAULT_RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '384Mi' } };

/**
 * Hash of what the pods consume: the rendered config and the resourceVersion of
 * each referenced Secret (never the Secret's bytes). Equal inputs, equal hash.
 * Not the users Secrets: the relay hot-reloads them, and a user change must not roll pods.
 */
export function configChecksum(relay: SmtpRelay, ctx: BuildContext): string {
  const hash = createHash('sha256');
  hash.update(renderRelayConfigJson(relay));
  for (const ref of referencedSecrets(relay)) {
    if (ref.role === 'users') continue;
    hash.update(`\0${ref.role}${ref.upstream ? `:${ref.upstream}` : ''}=${ref.name}@${ctx.secretVersions[ref.name] ?? ''}`);
  }
  return hash.digest('hex');
}

const MI = 1024 * 1024;

/**
 * The spool emptyDir's sizeLimit. The relay spills large DKIM-signed messages there, at most
 * one per DATA slot; a pod whose emptyDir outgrows its sizeLimit is evicted, so the limit
 * covers every slot holding a largest message, plus headroom, and never less than 256Mi.
 */
export function spoolSizeLimit(relay: SmtpRelay): string {
  const config = renderRelayConfig(relay);
  const worstCase = config.policy.maxMessageBytes * resolveLimits(config).maxConcurrentData;
  return `${Math.max(256, Math.ceil(worstCase / MI) + 64)}Mi`;
}

function volumesAndMounts(relay: SmtpRelay): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [
    { name: 'config', configMap: { name: configMapName(relay), items: [{ key: RELAY_CONFIG_KEY, path: RELAY_CONFIG_KEY }] } },
  ];
  const mounts: V1VolumeMount[] = [{ name: 'config', mountPath: MOUNTS.config, readOnly: true }];
  for (const ref of referencedSecrets(relay)) {
    const name = ref.volumeName ?? VOLUME_NAMES[ref.role]!;
    // 0440 + fsGroup: readable by the relay's group only. items: the named keys onto the file names the relay reads.
    volumes.push({ name, secret: { secretName: ref.name, ...(ref.items ? { items: ref.items.map((i) => ({ ...i })) } : {}), defaultMode: 0o440 } });
    mounts.push({ name, mountPath: ref.mountPath ?? SECRET_MOUNTS[ref.role]!, readOnly: true });
  }
  if (managesUsers(relay)) {
    // The operator's SmtpUser store. optional: the pods start before the first SmtpUser exists; kubelet fills it later.
    volumes.push({ name: 'managed-users', secret: { secretName: names.managedUsers(relay), optional: true, defaultMode: 0o440 } });
    mounts.push({ name: 'managed-users', mountPath: MOUNTS.managedUsers, readOnly: true });
  }
  // The root filesystem is read-only: scratch space lives in emptyDirs.
  volumes.push({ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }, { name: 'spool', emptyDir: { sizeLimit: spoolSizeLimit(relay) } });
  mounts.push({ name: 'tmp', mountPath: '/tmp' }, { name: 'spool', mountPath: MOUNTS.spool });
  return { volumes, mounts };
}

function podOverrides(relay: SmtpRelay): Partial<V1PodSpec> {
  const pod = relay.spec.pod ?? {};
  const out: Partial<V1PodSpec> = {};
  if (pod.nodeSelector) out.nodeSelector = { ...pod.nodeSelector };
  if (pod.tolerations) out.tolerations = structuredClone(pod.tolerations) as V1PodSpec['tolerations'];
  if (pod.affinity) out.affinity = structuredClone(pod.affinity) as V1PodSpec['affinity'];
  if (pod.priorityClassName) out.priorityClassName = pod.priorityClassName;
  if (pod.topologySpreadConstraints) {
    out.topologySpreadConstraints = structuredClone(pod.topologySpreadConstraints) as unknown as V1PodSpec['topologySpreadConstraints'];
  } else {
    // Spread replicas over nodes so one node failure does not take the relay down. Whatever the
    // replica count (ScheduleAnyway costs a single pod nothing): the template must not change when
    // the relay scales, or every scale (kubectl scale, an HPA crossing 1 <-> 2) would roll every pod.
    out.topologySpreadConstraints = [
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorLabels(relay) } },
    ];
  }
  return out;
}

/**
 * The relay pod template both workloads share (Deployment in PassThrough, StatefulSet in
 * Durable): restricted Pod Security, config and Secrets at the MOUNTS paths, the checksum
 * annotation. `extraMounts` adds the Durable queue claim's mount. Independent of spec.replicas:
 * a template that changed with the count would roll every pod on each scale (a StatefulSet's
 * draining pods included).
 */
export function buildPodTemplate(relay: SmtpRelay, ctx: BuildContext, extraMounts: V1VolumeMount[] = []): V1PodTemplateSpec {
  const { volumes, mounts } = volumesAndMounts(relay);
  const ports = [
    ...enabledListeners(relay).map((l) => ({ name: l.name, containerPort: containerPort(l.port), protocol: 'TCP' })),
    { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
  ];
  const podAnnotations = { ...(relay.spec.pod?.annotations ?? {}), [CHECKSUM_ANNOTATION]: configChecksum(relay, ctx) };
  return {
    metadata: { labels: childLabels(relay), annotations: podAnnotations },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: RUN_AS_USER,
        runAsGroup: RUN_AS_USER,
        fsGroup: RUN_AS_USER,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: RELAY_CONTAINER,
          image: relay.spec.image || ctx.defaultImage,
          imagePullPolicy: 'IfNotPresent',
          args: ['relay', '--config', `${MOUNTS.config}/${RELAY_CONFIG_KEY}`],
          ports,
          resources: (relay.spec.pod?.resources as object | undefined) ?? DEFAULT_RESOURCES,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUN_AS_USER,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
          livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
          readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
          // The sleep action needs no shell (the image has none); on by default since Kubernetes 1.30.
          lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SLEEP_SECONDS } } },
          volumeMounts: [...mounts, ...extraMounts],
        },
      ],
      volumes,
      ...podOverrides(relay),
    },
  };
}

/** PassThrough: a Deployment (no storage). */
export function buildDeployment(relay: SmtpRelay, ctx: BuildContext): DeploymentObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(relay, names.deployment(relay)),
    spec: {
      replicas: replicas(relay),
      revisionHistoryLimit: 5,
      selector: { matchLabels: selectorLabels(relay) },
      // Never drop below the desired count while rolling: a relay is a front door.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: buildPodTemplate(relay, ctx),
    },
  };
}
