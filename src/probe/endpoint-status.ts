// Probe results -> the SmtpRelay status shape (src/api/types.ts). Pure.
import type { EndpointCheckFailure, EndpointStatus } from '../api/types.js';
import { DEEP_SCAN_CHECKS } from './deep-scan.js';
import { problems, verdictOf } from './outcome.js';
import type { ReasonCode } from './reasons.js';
import type { CheckResult, DeepScanResult, ProbeResult } from './types.js';

export interface EndpointStatusInput {
  /** Listener name: submission, submissions, relay. */
  name: string;
  probe: ProbeResult;
  /** The latest deep scan of this endpoint, if one has run. */
  deep?: DeepScanResult;
  /** Fingerprint of the certificate in the TLS Secret, to say whether the served one matches. */
  secretFingerprint?: string;
  /** The name probed by SNI and checked (status.endpoints[].serverName). */
  serverName?: string;
}

export function toEndpointStatus(input: EndpointStatusInput): EndpointStatus {
  const { probe, deep } = input;
  const checks = [...probe.checks, ...(deep?.checks ?? [])];
  const leaf = probe.tls?.chain[0];
  const authCheck = probe.checks.find((c) => c.check === 'auth-before-tls');
  const legacy = deep?.checks.find((c) => c.check === 'legacy-protocols');
  const failures: EndpointCheckFailure[] = problems(checks).map((c) => ({
    check: c.check,
    result: c.result as 'warn' | 'fail',
    reason: c.reason ?? 'validation-failure',
    message: c.message,
  }));
  const status: EndpointStatus = {
    name: input.name,
    port: probe.target.port,
    mode: probe.target.mode,
    healthy: verdictOf(checks) !== 'failing',
    tlsVersion: probe.tls?.protocol,
    cipher: probe.tls?.cipher,
    group: probe.tls?.group,
    notAfter: leaf?.notAfter,
    fingerprint: leaf?.fingerprint,
    serverName: input.serverName,
    matchesSecret: input.secretFingerprint && leaf ? leaf.fingerprint === input.secretFingerprint : undefined,
    hostnameVerified: probe.tls?.hostnameVerified,
    chainVerified: probe.tls?.chainVerified,
    authBeforeTLS: authCheck ? authCheck.result !== 'pass' : undefined,
    legacyProtocolsRefused: legacy && legacy.result !== 'warn' ? legacy.result === 'pass' : undefined,
    failures: failures.length > 0 ? failures : undefined,
    latencyMilliseconds: probe.latencyMs,
    lastProbeTime: probe.startedAt,
    lastDeepScanTime: deep?.startedAt,
  };
  // Drop undefined fields: the status patch stays minimal and comparable.
  return Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined)) as unknown as EndpointStatus;
}

/**
 * What an EndpointStatus still says of its deep scan, as a DeepScanResult that toEndpointStatus
 * maps back to the same fields (lastDeepScanTime, legacyProtocolsRefused, the deep checks' failures
 * in their order): lets a restarted operator keep a deep scan it did not run. Only its checks and
 * start time are meaningful; undefined when the endpoint has no deep scan.
 */
export function deepScanFromStatus(e: EndpointStatus): DeepScanResult | undefined {
  if (!e.lastDeepScanTime) return undefined;
  const checks: CheckResult[] = (e.failures ?? [])
    .filter((f) => DEEP_SCAN_CHECKS.has(f.check))
    .map((f) => ({ check: f.check, result: f.result, reason: f.reason as ReasonCode, message: f.message ?? '' }));
  if (e.legacyProtocolsRefused === true) checks.push({ check: 'legacy-protocols', result: 'pass', message: 'refused (as last reported in status)' });
  const notKept = { outcome: 'error' as const, detail: 'not kept in status' };
  return {
    target: { host: '', port: e.port, mode: e.mode, ...(e.serverName ? { servername: e.serverName } : {}) },
    startedAt: e.lastDeepScanTime,
    durationMs: 0,
    handshakes: 0,
    protocols: { TLSv1: notKept, 'TLSv1.1': notKept, 'TLSv1.2': notKept, 'TLSv1.3': notKept },
    cipherClasses: {},
    groups: {},
    checks,
    verdict: verdictOf(checks),
  };
}

/** Summary for the TLS printer column. */
export function tlsHealthSummary(endpoints: EndpointStatus[]): 'Healthy' | 'Degraded' | 'Unhealthy' | 'Unknown' {
  if (endpoints.length === 0) return 'Unknown';
  if (endpoints.some((e) => !e.healthy)) return 'Unhealthy';
  if (endpoints.some((e) => (e.failures ?? []).length > 0)) return 'Degraded';
  return 'Healthy';
}

/** Reason code -> stable CamelCase condition reason, e.g. stale-certificate-served -> StaleCertificateServed. */
export function conditionReason(code: ReasonCode): string {
  return code
    .split('-')
    .map((w) => (w === 'tls' ? 'TLS' : w.charAt(0).toUpperCase() + w.slice(1)))
    .join('');
}
