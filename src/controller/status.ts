// computeStatus: a pure function from what the reconciler observed to the
// SmtpRelay status, in kstatus vocabulary (Ready, Reconciling, Stalled +
// observedGeneration) plus CertificateReady, Available and TLSHealthy.
import { ConditionType, DEFAULTS, type Condition, type EndpointCheckFailure, type EndpointStatus, type SenderDomainStatus, type SmtpRelay, type SmtpRelayStatus } from '../api/types.js';
import { conditionReason, isReasonCode, tlsHealthSummary } from '../probe/index.js';
import { names, parseDuration, replicas, selectorString } from './builders/index.js';
import { setCondition, type ConditionInput } from './conditions.js';
import { deliveringCondition, queueState, type QueueObservation } from './queue/delivering.js';
import { upstreamsHealthyCondition } from './queue/upstreams-health.js';
import { mailAuthCondition, pendingMailAuthCondition, senderDomainStatuses, type DomainMailAuth } from './mail-auth/index.js';
import { Reason } from './reasons.js';

/** Something only a human can fix. Makes Stalled=True. */
export interface Problem {
  reason: string;
  /** A sentence that says what to do. */
  message: string;
  /** True when it is about the serving certificate (then CertificateReady carries it too). */
  certificate?: boolean;
}

/** Facts about the TLS Secret's leaf certificate, parsed with crypto.X509Certificate at reconcile time. */
export interface TlsSecretFacts {
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER, lower-case hex without colons. */
  fingerprint: string;
}

export interface DeploymentObservation {
  generation?: number;
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
}

export interface CertificateObservation {
  /** cert-manager's Ready condition. */
  ready: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  renewalTime?: string;
}

export interface ProbeObservation {
  /** --tls-probe and spec.healthCheck.enabled: when off, TLSHealthy is Unknown/NotProbed and does not gate Ready. */
  enabled: boolean;
  /** Why probing is off, for the TLSHealthy message. */
  disabledMessage?: string;
  /** Latest results; undefined until the first probe of this generation finished. */
  endpoints?: EndpointStatus[];
  /** Why no probe has run yet (no replica available, no address), for the TLSHealthy message. */
  pendingMessage?: string;
  /** The endpoints' results are overdue: the probe due at this ISO time has not run within the grace (ProbeDelayed). */
  delayedSince?: string;
}

export interface Observed {
  problems: Problem[];
  /** undefined until the Deployment exists in the cache. */
  deployment?: DeploymentObservation;
  /** Only with spec.tls.issuerRef; undefined until cert-manager's object is observed. */
  certificate?: CertificateObservation;
  /** undefined when the TLS Secret is absent or holds no parsable certificate. */
  tlsSecret?: TlsSecretFacts;
  probe: ProbeObservation;
  /** The relays' queues (GET /queue) and the drain plan; undefined when the operator does not read them. */
  queue?: QueueObservation;
  /** DNS health of mail authentication (mail-auth/); undefined when the operator does not check it (--mail-auth-check=off). */
  mailAuth?: MailAuthObservation;
}

export interface MailAuthObservation {
  /** Latest results; undefined before the first check (the last status is kept meanwhile, else Pending). */
  results?: DomainMailAuth[];
}

const DAY_MS = 86_400_000;

function certificateCondition(relay: SmtpRelay, observed: Observed, now: Date): { condition: ConditionInput; issuing: boolean; problem?: Problem } {
  const type = ConditionType.CertificateReady;
  const certProblem = observed.problems.find((p) => p.certificate);
  if (certProblem) return { condition: { type, status: 'False', reason: certProblem.reason, message: certProblem.message }, issuing: false };
  const secret = names.tlsSecret(relay);
  const viaIssuer = Boolean(relay.spec.tls.issuerRef);
  const facts = observed.tlsSecret;
  if (viaIssuer && (observed.certificate?.ready !== 'True' || !facts)) {
    const detail = observed.certificate?.message ? ` cert-manager says: ${observed.certificate.message}` : '';
    return {
      condition: { type, status: 'False', reason: Reason.CertificateIssuing, message: `Waiting for cert-manager to issue the certificate into Secret ${secret}.${detail}` },
      issuing: true,
    };
  }
  if (!facts) {
    // A user-provided Secret without facts is reported as a Problem by the reconciler; this is a safety net.
    return { condition: { type, status: 'False', reason: Reason.CertificateNotReady, message: `Secret ${secret} holds no usable certificate yet.` }, issuing: false };
  }
  const notAfter = Date.parse(facts.notAfter);
  const notBefore = Date.parse(facts.notBefore);
  const fix = viaIssuer ? 'Check the cert-manager Certificate and its issuer.' : `Replace the certificate in Secret ${secret}.`;
  if (now.getTime() >= notAfter) {
    const message = `The certificate in Secret ${secret} expired at ${facts.notAfter}. ${fix}`;
    return { condition: { type, status: 'False', reason: Reason.CertificateExpired, message }, issuing: false, problem: { reason: Reason.CertificateExpired, message, certificate: true } };
  }
  if (now.getTime() < notBefore) {
    const message = `The certificate in Secret ${secret} is not valid before ${facts.notBefore}. Check the issuer's clock or ${fix.toLowerCase()}`;
    return { condition: { type, status: 'False', reason: Reason.CertificateNotYetValid, message }, issuing: false, problem: { reason: Reason.CertificateNotYetValid, message, certificate: true } };
  }
  const warnMs = parseDuration(relay.spec.healthCheck?.expiryWarning) ?? parseDuration(DEFAULTS.expiryWarning) ?? 14 * DAY_MS;
  if (notAfter - now.getTime() < warnMs) {
    const days = Math.max(0, Math.floor((notAfter - now.getTime()) / DAY_MS));
    return {
      condition: { type, status: 'True', reason: Reason.CertificateExpiringSoon, message: `The certificate in Secret ${secret} expires at ${facts.notAfter} (in ${days} days). ${viaIssuer ? 'cert-manager should renew it; check the Certificate if it does not.' : 'Renew it and update the Secret.'}` },
      issuing: false,
    };
  }
  return { condition: { type, status: 'True', reason: Reason.CertificateValid, message: `Serving the certificate in Secret ${secret}, valid until ${facts.notAfter}.` }, issuing: false };
}

function availableCondition(relay: SmtpRelay, d: DeploymentObservation | undefined): ConditionInput {
  const type = ConditionType.Available;
  const desired = replicas(relay);
  if (desired === 0) return { type, status: 'False', reason: Reason.ScaledToZero, message: 'spec.replicas is 0: the relay is stopped. Set spec.replicas to 1 or more to serve mail.' };
  if (!d) return { type, status: 'Unknown', reason: Reason.DeploymentNotObserved, message: 'The relay Deployment has not been observed yet.' };
  const available = d.availableReplicas ?? 0;
  if (available >= 1) {
    return { type, status: 'True', reason: Reason.MinimumReplicasAvailable, message: `${available} of ${desired} relay replicas are available.` };
  }
  return { type, status: 'False', reason: Reason.NoReplicasAvailable, message: `No relay replica is available (0 of ${desired}). Check the pods: kubectl describe pods -l app.kubernetes.io/instance=${relay.metadata.name}.` };
}

/** Why the Deployment is not done rolling out, if it is not (undefined: every desired replica is updated and available). */
export function rolloutProgress(relay: SmtpRelay, d: DeploymentObservation | undefined): { reason: string; message: string } | undefined {
  const desired = replicas(relay);
  if (!d) return { reason: Reason.DeploymentRollingOut, message: 'Waiting for the relay Deployment to be created.' };
  if ((d.observedGeneration ?? 0) < (d.generation ?? 0) || (d.updatedReplicas ?? 0) < desired || (d.replicas ?? 0) > (d.updatedReplicas ?? 0)) {
    return { reason: Reason.DeploymentRollingOut, message: `Rolling out: ${d.updatedReplicas ?? 0} of ${desired} replicas updated.` };
  }
  if ((d.availableReplicas ?? 0) < desired) {
    return { reason: Reason.ReplicasUnavailable, message: `${d.availableReplicas ?? 0} of ${desired} replicas available.` };
  }
  return undefined;
}

/**
 * Which failure names the TLSHealthy reason when several fail: an open relay first (it is
 * abused within hours, whatever else is wrong), then nothing answering, then what breaks
 * every client (expired, untrusted, wrong name), then a stale certificate.
 * Codes not listed rank after these, in the order the prober reported them.
 */
const FAILURE_SEVERITY = [
  'open-relay',
  'connection-refused', 'dns-failure', 'timeout', 'tls-handshake-failed', 'protocol-error', 'plaintext-on-implicit-port', 'starttls-not-supported',
  'certificate-expired', 'certificate-not-yet-valid', 'certificate-not-trusted', 'certificate-host-mismatch', 'validation-failure',
  'stale-certificate-served', 'auth-before-tls',
];

function severity(code: string): number {
  const i = FAILURE_SEVERITY.indexOf(code);
  return i < 0 ? FAILURE_SEVERITY.length : i;
}

/** The prober's kebab-case code as the CRD's CamelCase condition reason (e.g. StaleCertificateServed). */
export function reasonFromCode(code: string): string {
  return isReasonCode(code) ? conditionReason(code) : Reason.EndpointUnhealthy;
}

export function worstFailure(endpoints: EndpointStatus[], result: 'fail' | 'warn'): EndpointCheckFailure | undefined {
  const all = endpoints.flatMap((e) => (e.failures ?? []).filter((f) => f.result === result));
  return [...all].sort((a, b) => severity(a.reason) - severity(b.reason))[0];
}

function describeFailures(e: EndpointStatus, result: 'fail' | 'warn'): string {
  return (e.failures ?? []).filter((f) => f.result === result).map((f) => f.message ?? f.reason).join('; ');
}

/**
 * TLSHealthy from the last results, then the delay rule: results that are overdue are no longer
 * a Healthy verdict (Unknown, ProbeDelayed, saying since when); a known failure stays False (an
 * overdue probe cannot make it better) and says the results are overdue. Ready follows the last
 * known results either way: the operator's lack of probe capacity is not the relay's fault.
 */
function tlsHealth(probe: ProbeObservation): { condition: ConditionInput; summary: string } {
  const last = lastTlsHealth(probe);
  if (!probe.delayedSince || !probe.endpoints?.length || last.condition.status === 'Unknown') return last;
  const lastProbe = probe.endpoints.map((e) => e.lastProbeTime).filter(Boolean).sort()[0] ?? 'unknown';
  const overdue = `No TLS probe since ${lastProbe}: the probe due at ${probe.delayedSince} is overdue (the operator probes more endpoints than it can in time; see docs/reliability.md, "Probe budget").`;
  if (last.condition.status === 'False') return { ...last, condition: { ...last.condition, message: `${last.condition.message} ${overdue}` } };
  return { condition: { type: ConditionType.TLSHealthy, status: 'Unknown', reason: Reason.ProbeDelayed, message: `${overdue} The last probe found: ${last.condition.message}` }, summary: 'Unknown' };
}

function lastTlsHealth(probe: ProbeObservation): { condition: ConditionInput; summary: string } {
  const type = ConditionType.TLSHealthy;
  if (!probe.enabled) {
    const message = probe.disabledMessage ?? 'TLS probing is not enabled in the operator (--tls-probe=off).';
    return { condition: { type, status: 'Unknown', reason: Reason.NotProbed, message }, summary: 'Unknown' };
  }
  if (!probe.endpoints || probe.endpoints.length === 0) {
    return { condition: { type, status: 'Unknown', reason: Reason.NotProbed, message: probe.pendingMessage ?? 'The relay endpoints have not been probed yet.' }, summary: 'Unknown' };
  }
  const summary = tlsHealthSummary(probe.endpoints);
  const unhealthy = probe.endpoints.filter((e) => !e.healthy);
  if (unhealthy.length > 0) {
    const worst = worstFailure(unhealthy, 'fail');
    const reason = worst ? reasonFromCode(worst.reason) : Reason.EndpointUnhealthy;
    const what = unhealthy.map((e) => `${e.name} (port ${e.port}): ${describeFailures(e, 'fail') || 'unhealthy'}`).join(', ');
    return { condition: { type, status: 'False', reason, message: `TLS checks failed on ${what}.` }, summary };
  }
  const warned = probe.endpoints.filter((e) => e.failures?.some((f) => f.result === 'warn'));
  if (warned.length > 0) {
    const what = warned.map((e) => `${e.name}: ${describeFailures(e, 'warn')}`).join(', ');
    return { condition: { type, status: 'True', reason: Reason.EndpointsHealthyWithWarnings, message: `All endpoints serve healthy TLS, with warnings: ${what}.` }, summary };
  }
  return { condition: { type, status: 'True', reason: Reason.AllEndpointsHealthy, message: `All ${probe.endpoints.length} endpoints serve healthy TLS.` }, summary };
}

export function computeStatus(relay: SmtpRelay, observed: Observed, now: Date): SmtpRelayStatus {
  const generation = relay.metadata.generation;
  const previous = relay.status?.conditions;
  const cert = certificateCondition(relay, observed, now);
  const problems = cert.problem ? [...observed.problems, cert.problem] : observed.problems;
  const available = availableCondition(relay, observed.deployment);
  const rollout = rolloutProgress(relay, observed.deployment);
  const tls = tlsHealth(observed.probe);
  // Only a first probe is awaited; an overdue one (ProbeDelayed) keeps Ready on the last results.
  const awaitingProbe = observed.probe.enabled && tls.condition.reason === Reason.NotProbed;

  // Stalled: the first problem names the reason; the message lists them all.
  const stalled: ConditionInput =
    problems.length > 0
      ? { type: ConditionType.Stalled, status: 'True', reason: problems[0]!.reason, message: problems.map((p) => p.message).join(' ') }
      : { type: ConditionType.Stalled, status: 'False', reason: Reason.NotStalled, message: 'No problem needs attention.' };

  // Reconciling: work that will finish on its own.
  const drain = observed.queue?.drain;
  const draining = drain
    ? {
        reason: Reason.QueueDraining,
        message: `${drain.reason === 'ScaleDown' ? 'Scaling down' : 'Switching to PassThrough'}: pod(s) ${drain.pods.join(', ')} stopped accepting and deliver their queues first (since ${drain.startTime}).`,
      }
    : undefined;
  const progress = cert.issuing
    ? { reason: Reason.CertificateIssuing, message: cert.condition.message }
    : draining ?? rollout ?? (awaitingProbe ? { reason: Reason.AwaitingTLSProbe, message: 'Waiting for the first TLS probe of the relay endpoints.' } : undefined);
  const reconciling: ConditionInput =
    progress && problems.length === 0
      ? { type: ConditionType.Reconciling, status: 'True', ...progress }
      : { type: ConditionType.Reconciling, status: 'False', reason: Reason.Reconciled, message: problems.length > 0 ? 'Reconciliation is blocked; see the Stalled condition.' : 'The relay matches its spec.' };

  let ready: ConditionInput;
  if (problems.length > 0) ready = { type: ConditionType.Ready, status: 'False', reason: stalled.reason, message: stalled.message };
  else if (cert.condition.status !== 'True') ready = { type: ConditionType.Ready, status: 'False', reason: cert.condition.reason, message: cert.condition.message };
  // Scaled to zero on purpose: the desired state is reached (kstatus Current), and Available=False says no mail is served.
  else if (available.reason === Reason.ScaledToZero && !progress) ready = { type: ConditionType.Ready, status: 'True', reason: Reason.ScaledToZero, message: available.message };
  else if (available.status !== 'True') ready = { type: ConditionType.Ready, status: 'False', reason: available.reason, message: available.message };
  else if (progress) ready = { type: ConditionType.Ready, status: 'False', reason: progress.reason, message: progress.message };
  // An open relay names itself in Ready too: it is a security incident, not a TLS detail.
  else if (tls.condition.status === 'False') ready = { type: ConditionType.Ready, status: 'False', reason: tls.condition.reason === Reason.OpenRelay ? Reason.OpenRelay : Reason.TLSUnhealthy, message: tls.condition.message };
  else ready = { type: ConditionType.Ready, status: 'True', reason: Reason.Ready, message: `The relay serves ${relay.spec.hostname} with a valid certificate.` };

  // Start from the previous conditions so unchanged statuses keep their lastTransitionTime.
  let conditions: Condition[] = (previous ?? []).filter((c) => ORDER.includes(c.type));
  const delivering = observed.queue ? [deliveringCondition(observed.queue), upstreamsHealthyCondition(observed.queue.pods)] : [];
  const mailAuth = mailAuthStatus(relay.status, observed.mailAuth);
  if (!mailAuth) conditions = conditions.filter((c) => c.type !== ConditionType.MailAuthentication);
  for (const input of [ready, reconciling, stalled, cert.condition, available, tls.condition, ...delivering, ...(mailAuth ? [mailAuth.condition] : [])]) {
    conditions = setCondition(conditions, { ...input, observedGeneration: generation }, now);
  }

  const status: SmtpRelayStatus = { observedGeneration: generation, conditions: orderConditions(conditions) };
  if (observed.deployment) {
    status.replicas = observed.deployment.replicas ?? 0;
    status.readyReplicas = observed.deployment.readyReplicas ?? 0;
  }
  // Always, and constant per relay: /scale reports it, so an HPA finds the pods before the first one exists.
  status.selector = selectorString(relay);
  if (observed.tlsSecret || observed.certificate?.renewalTime) {
    status.certificate = { secretName: names.tlsSecret(relay) };
    if (observed.tlsSecret) Object.assign(status.certificate, observed.tlsSecret);
    if (observed.certificate?.renewalTime) status.certificate.renewalTime = observed.certificate.renewalTime;
  }
  if (observed.probe.enabled && observed.probe.endpoints) status.endpoints = observed.probe.endpoints;
  status.tlsHealth = tls.summary;
  if (observed.queue) {
    status.queue = { state: queueState(observed.queue) };
    if (observed.queue.drain) status.queue.drain = observed.queue.drain;
    if (observed.queue.stranded.length > 0) status.queue.strandedClaims = observed.queue.stranded;
  }
  if (mailAuth?.senderDomains && mailAuth.senderDomains.length > 0) status.senderDomains = mailAuth.senderDomains;
  return status;
}

/**
 * MailAuthentication and status.senderDomains. Advice only: never an input of Ready. Before the
 * first check (e.g. after an operator restart) the last written values stay, so a restart writes nothing.
 */
function mailAuthStatus(previous: SmtpRelayStatus | undefined, observed: MailAuthObservation | undefined): { condition: ConditionInput; senderDomains?: SenderDomainStatus[] } | undefined {
  if (!observed) return undefined;
  if (observed.results) return { condition: mailAuthCondition(observed.results), senderDomains: senderDomainStatuses(observed.results) };
  const last = previous?.conditions?.find((c) => c.type === ConditionType.MailAuthentication);
  if (last) return { condition: { type: last.type, status: last.status, reason: last.reason, message: last.message }, ...(previous?.senderDomains ? { senderDomains: previous.senderDomains } : {}) };
  return { condition: pendingMailAuthCondition() };
}

const ORDER: string[] = [ConditionType.Ready, ConditionType.Reconciling, ConditionType.Stalled, ConditionType.CertificateReady, ConditionType.Available, ConditionType.TLSHealthy, ConditionType.Delivering, ConditionType.UpstreamsHealthy, ConditionType.MailAuthentication];

function orderConditions(conditions: Condition[]): Condition[] {
  return [...conditions].sort((a, b) => ORDER.indexOf(a.type) - ORDER.indexOf(b.type));
}

/** Canonical JSON: object keys sorted, undefined dropped, so equal meaning means equal text. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

/** True when patching `b` over `a` would change nothing (conditions compared by type, not position). */
export function statusEqual(a: SmtpRelayStatus | undefined, b: SmtpRelayStatus | undefined): boolean {
  const norm = (s: SmtpRelayStatus | undefined) => canonical({ ...(s ?? {}), conditions: s?.conditions ? orderConditions(s.conditions) : undefined });
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}
