// Events for TLS health transitions, from the stored status to the new one. Pure.
// - TLSHealthy True/Unknown -> False: Warning TLSUnhealthy (the message names the reason).
// - TLSHealthy False -> True: Normal TLSHealthy.
// - A served certificate crossing the expiry warning threshold or expiring:
//   Warning CertificateExpiringSoon / CertificateExpired, once per endpoint crossing.
import { ConditionType, type EndpointStatus, type SmtpRelayStatus } from '../../api/types.js';
import { getCondition } from '../conditions.js';

export interface RelayEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

const EXPIRY_REASONS: Record<string, string> = {
  'certificate-expiring-soon': 'CertificateExpiringSoon',
  'certificate-expired': 'CertificateExpired',
};

function expiryCodes(e: EndpointStatus | undefined): Set<string> {
  return new Set((e?.failures ?? []).map((f) => f.reason).filter((r) => r in EXPIRY_REASONS));
}

export function tlsHealthEvents(before: SmtpRelayStatus | undefined, after: SmtpRelayStatus): RelayEvent[] {
  const events: RelayEvent[] = [];
  const was = getCondition(before?.conditions, ConditionType.TLSHealthy);
  const now = getCondition(after.conditions, ConditionType.TLSHealthy);
  if (now?.status === 'False' && was?.status !== 'False') {
    events.push({ type: 'Warning', reason: 'TLSUnhealthy', message: `${now.reason}: ${now.message}` });
  } else if (now?.status === 'True' && was?.status === 'False') {
    events.push({ type: 'Normal', reason: 'TLSHealthy', message: now.message });
  }
  for (const e of after.endpoints ?? []) {
    const previous = expiryCodes(before?.endpoints?.find((p) => p.name === e.name));
    for (const code of expiryCodes(e)) {
      if (previous.has(code)) continue;
      const failure = e.failures!.find((f) => f.reason === code)!;
      events.push({ type: 'Warning', reason: EXPIRY_REASONS[code]!, message: `Endpoint ${e.name} (port ${e.port}) serves a certificate that ${code === 'certificate-expired' ? 'has expired' : 'expires soon'}: ${failure.message ?? code}` });
    }
  }
  return events;
}
