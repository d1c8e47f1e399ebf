// Reading the API server's audit log (Metadata level, JSON lines) of a private control plane.
import fs from 'node:fs';

export interface AuditEvent {
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export function readAudit(file: string): AuditEvent[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** Successful writes by `user` (optionally to one object), leases excluded unless asked. */
export function writesBy(events: AuditEvent[], user: string, filter: { resource?: string; name?: string; includeLeases?: boolean } = {}): AuditEvent[] {
  return events.filter(
    (e) =>
      e.user.username === user &&
      WRITE_VERBS.has(e.verb) &&
      (e.responseStatus?.code ?? 0) < 300 &&
      (filter.includeLeases || e.objectRef?.resource !== 'leases') &&
      (!filter.resource || e.objectRef?.resource === filter.resource) &&
      (!filter.name || e.objectRef?.name === filter.name),
  );
}
