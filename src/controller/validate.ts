// Semantic checks the CRD schema cannot express (or that objects written before
// a schema rule existed may break). Each finding is a Problem: a human must fix the spec.
import type { SmtpRelay } from '../api/types.js';
import { enabledListeners, parseDuration } from './builders/spec.js';
import { Reason } from './reasons.js';
import type { Problem } from './status.js';

const OPEN_NETWORKS = new Set(['0.0.0.0/0', '::/0']);

/**
 * Annotation keys the operator itself writes or interprets (the pod template's
 * config checksum, the development probe target local.smtprelay.dev/endpoints):
 * a relay author must not set or spoof them. Every key under smtprelay.dev is reserved.
 */
export function isReservedAnnotation(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash).toLowerCase();
  return prefix === 'smtprelay.dev' || prefix.endsWith('.smtprelay.dev');
}

export function validateSemantics(relay: SmtpRelay): Problem[] {
  const { spec } = relay;
  const problems: string[] = [];
  if (!spec.tls?.issuerRef && !spec.tls?.secretName) problems.push('spec.tls needs issuerRef or secretName.');
  if (spec.tls?.issuerRef && spec.tls.secretName) problems.push('spec.tls.issuerRef and spec.tls.secretName are exclusive; set one.');
  const relayListener = spec.listeners?.relay;
  if (relayListener && relayListener.enabled !== false) {
    if (relayListener.allowedNetworks.some((n) => OPEN_NETWORKS.has(n.trim()))) problems.push('spec.listeners.relay.allowedNetworks must not contain 0.0.0.0/0 or ::/0: that would be an open relay.');
    if (relayListener.allowedSenderDomains.length === 0) problems.push('spec.listeners.relay.allowedSenderDomains must list at least one domain.');
  }
  if (spec.upstream?.tls === 'none-insecure' && !spec.upstream.allowInsecurePlaintext) {
    problems.push('spec.upstream.tls none-insecure sends mail and credentials in clear text; set spec.upstream.allowInsecurePlaintext: true to accept that, or use starttls/implicit.');
  }
  for (const [field, annotations] of [
    ['spec.pod.annotations', spec.pod?.annotations],
    ['spec.service.annotations', spec.service?.annotations],
  ] as const) {
    const reserved = Object.keys(annotations ?? {}).filter(isReservedAnnotation);
    if (reserved.length > 0) problems.push(`${field} must not set ${reserved.join(', ')}: keys under smtprelay.dev are reserved for the operator. Remove them.`);
  }
  const ports = enabledListeners(relay).map((l) => l.port);
  if (new Set(ports).size !== ports.length) problems.push('Two enabled listeners use the same port; give each a distinct port.');
  if (enabledListeners(relay).length === 0) problems.push('All listeners are disabled; enable at least one.');
  for (const [field, value] of [
    ['spec.tls.duration', spec.tls?.duration],
    ['spec.tls.renewBefore', spec.tls?.renewBefore],
    ['spec.healthCheck.interval', spec.healthCheck?.interval],
    ['spec.healthCheck.expiryWarning', spec.healthCheck?.expiryWarning],
  ] as const) {
    if (value !== undefined && parseDuration(value) === undefined) problems.push(`${field} "${value}" is not a duration like 90m or 2160h.`);
  }
  return problems.map((message) => ({ reason: Reason.InvalidSpec, message }));
}
