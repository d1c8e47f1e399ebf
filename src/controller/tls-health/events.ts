// Events for TLS health transitions, from the stored status to the new one. Pure.
// - TLSHealthy True/Unknown -> False: Warning TLSUnhealthy (the message names the reason).
// - TLSHealthy False -> True: Normal TLSHealthy.
// - TLSHealthy newly Unknown/ProbeDelayed: Warning ProbeDelayed (the operator could not probe on time).
// - A served certificate crossing the expiry warning threshold or expiring:
//   Warning CertificateExpiringSoon / CertificateExpired, once per endpoint crossing.
// - An endpoint found relaying for an outside sender without AUTH: Warning OpenRelay, once
//   per endpoint crossing, even when TLSHealthy was already False for another reason.
import { ConditionType, type EndpointStatus, type SmtpRelayStatus } from '../../api/types.js';
import { getCondition } from '../conditions.js';
import { Reason } from '../reasons.js';

export interface RelayEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Probe codes that raise their own Event when an endpoint newly reports them: code -> Event reason and what it means. */
const ENDPOINT_EVENTS: Record<string, { reason: string; what: string }> = {
  'certificate-expiring-soon': { reason: 'CertificateExpiringSoon', what: 'serves a certificate that expires soon' },
  'certificate-expired': { reason: 'CertificateExpired', what: 'serves a certificate that has expired' },
  'open-relay': { reason: 'OpenRelay', what: 'is an open relay: it accepted an outside recipient from an outside sender without AUTH' },
};

function eventCodes(e: EndpointStatus | undefined): Set<string> {
  return new Set((e?.failures ?? []).map((f) => f.reason).filter((r) => Object.hasOwn(ENDPOINT_EVENTS, r)));
}

export function tlsHealthEvents(before: SmtpRelayStatus | undefined, after: SmtpRelayStatus): RelayEvent[] {
  const events: RelayEvent[] = [];
  const was = getCondition(before?.conditions, ConditionType.TLSHealthy);
  const now = getCondition(after.conditions, ConditionType.TLSHealthy);
  if (now?.status === 'False' && was?.status !== 'False') {
    events.push({ type: 'Warning', reason: 'TLSUnhealthy', message: `${now.reason}: ${now.message}` });
  } else if (now?.status === 'True' && was?.status === 'False') {
    events.push({ type: 'Normal', reason: 'TLSHealthy', message: now.message });
  } else if (now?.reason === Reason.ProbeDelayed && was?.reason !== Reason.ProbeDelayed) {
    events.push({ type: 'Warning', reason: Reason.ProbeDelayed, message: now.message });
  }
  for (const e of after.endpoints ?? []) {
    const previous = eventCodes(before?.endpoints?.find((p) => p.name === e.name));
    for (const code of eventCodes(e)) {
      if (previous.has(code)) continue;
      const failure = e.failures!.find((f) => f.reason === code)!;
      const { reason, what } = ENDPOINT_EVENTS[code]!;
      events.push({ type: 'Warning', reason, message: `Endpoint ${e.name} (port ${e.port}) ${what}: ${failure.message ?? code}` });
    }
  }
  return events;
}
