// Status churn rules for probe results. A probe every minute must not mean a status
// write every minute: only a changed outcome is written. latencyMilliseconds and lastProbeTime
// change on every probe and are "volatile": they alone never cause a write, except
// for one heartbeat per HEARTBEAT_MS, which refreshes them so readers can see the
// probe is alive. Pure.
import type { EndpointStatus, SmtpRelayStatus } from '../../api/types.js';
import { statusEqual } from '../status.js';

export const HEARTBEAT_MS = 10 * 60_000;

const VOLATILE: readonly (keyof EndpointStatus)[] = ['latencyMilliseconds', 'lastProbeTime'];

function withoutVolatile(status: SmtpRelayStatus | undefined): SmtpRelayStatus | undefined {
  if (!status?.endpoints) return status;
  return {
    ...status,
    endpoints: status.endpoints.map((e) => {
      const copy = { ...e };
      for (const key of VOLATILE) delete copy[key];
      return copy;
    }),
  };
}

function newestProbe(status: SmtpRelayStatus | undefined): number | undefined {
  const times = (status?.endpoints ?? []).map((e) => (e.lastProbeTime ? Date.parse(e.lastProbeTime) : NaN)).filter((t) => !Number.isNaN(t));
  return times.length > 0 ? Math.max(...times) : undefined;
}

export type WriteDecision = { write: false } | { write: true; why: 'changed' | 'heartbeat' };

/**
 * Whether `next` must be written over `stored`: when anything but the volatile
 * fields differs, or when the stored probe time is HEARTBEAT_MS older than the new one.
 */
export function statusWriteDecision(stored: SmtpRelayStatus | undefined, next: SmtpRelayStatus): WriteDecision {
  if (!statusEqual(withoutVolatile(stored), withoutVolatile(next))) return { write: true, why: 'changed' };
  const before = newestProbe(stored);
  const after = newestProbe(next);
  if (after !== undefined && (before === undefined || after - before >= HEARTBEAT_MS)) return { write: true, why: 'heartbeat' };
  return { write: false };
}
