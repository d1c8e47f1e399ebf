// SmtpUser decisions without I/O: who may attach, the user name, the store entry, when to
// issue a password, the connection Secret's data and the status. No clock: `now` is passed in.
import type { LabelSelector, SmtpRelay } from '../../api/types.js';
import { USER_DEFAULTS, USER_REASONS, type SmtpUser, type UserReason } from '../../api/smtpuser.js';
import { parseDuration } from '../builders/spec.js';
import { enabledListeners } from '../builders/spec.js';

/** The SMTP user name: namespaces carry no dot, so the first dot splits it unambiguously. */
export function userName(user: Pick<SmtpUser, 'metadata'>): string {
  return `${user.metadata.namespace}.${user.metadata.name}`;
}

/** metav1.LabelSelector semantics; an unset selector selects nothing, {} everything. */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Senders outside the relay's allowedSenderDomains (none when the relay sets none). */
export function sendersOutside(senders: readonly string[], allowedDomains: readonly string[]): string[] {
  if (allowedDomains.length === 0) return [];
  const allowed = new Set(allowedDomains.map((d) => d.toLowerCase()));
  return senders.filter((s) => !allowed.has(s.slice(s.lastIndexOf('@') + 1).toLowerCase()));
}

/** Why this user may not attach to this relay, or null. */
export function refusal(user: SmtpUser, relay: SmtpRelay | undefined, namespaceLabels: Record<string, string> | undefined): { reason: UserReason; message: string } | null {
  const ref = user.spec.relayRef;
  if (!relay) return { reason: USER_REASONS.RelayNotFound, message: `SmtpRelay ${ref.namespace}/${ref.name} does not exist` };
  if (!selects(relay.spec.users?.namespaceSelector, namespaceLabels ?? {})) {
    return {
      reason: USER_REASONS.NamespaceNotAllowed,
      message: `SmtpRelay ${ref.namespace}/${ref.name} does not admit SmtpUsers from namespace ${user.metadata.namespace}: its spec.users.namespaceSelector ${relay.spec.users?.namespaceSelector ? 'does not select it' : 'is unset (no namespace may attach)'}`,
    };
  }
  const outside = sendersOutside(user.spec.senders, relay.spec.policy?.allowedSenderDomains ?? []);
  if (outside.length > 0) {
    return {
      reason: USER_REASONS.SendersNotAllowed,
      message: `senders ${outside.join(', ')} are outside the relay's policy.allowedSenderDomains (${(relay.spec.policy?.allowedSenderDomains ?? []).join(', ')})`,
    };
  }
  return null;
}

/** One user's file in the managed users Secret (the relay reads hash, notAfter and senders). */
export interface StoreEntry {
  hashes: { hash: string; issuedAt: string; notAfter?: string }[];
  senders: string[];
  /** The smtprelay.dev/rotate value already acted on. */
  rotateToken?: string;
}

export function parseEntry(text: string | undefined): StoreEntry | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as StoreEntry;
    return Array.isArray(v.hashes) && Array.isArray(v.senders) ? v : undefined;
  } catch {
    return undefined;
  }
}

const ms = (d: string | undefined): number | undefined => parseDuration(d);

/** The hash issued last (the connection Secret's password), or undefined. */
export function currentHash(entry: StoreEntry | undefined): StoreEntry['hashes'][number] | undefined {
  return entry?.hashes.find((h) => h.notAfter === undefined);
}

/**
 * Whether to issue a new password now, and why. `secretIssuedAt` is the connection Secret's
 * record of the password it holds: a missing or different one means the app lacks the current password.
 */
export function issueReason(user: SmtpUser, entry: StoreEntry | undefined, secretIssuedAt: string | undefined, now: Date): 'initial' | 'resync' | 'annotation' | 'period' | null {
  const cur = currentHash(entry);
  if (!cur) return 'initial';
  if (secretIssuedAt !== cur.issuedAt) return 'resync';
  const token = user.metadata.annotations?.['smtprelay.dev/rotate'];
  if (token !== undefined && token !== entry?.rotateToken) return 'annotation';
  const period = ms(user.spec.rotation?.period);
  if (period !== undefined && now.getTime() >= Date.parse(cur.issuedAt) + period) return 'period';
  return null;
}

/** The entry after issuing `hash` at `now`: the previous password keeps working for the grace period. */
export function withNewHash(user: SmtpUser, entry: StoreEntry | undefined, hash: string, now: Date): StoreEntry {
  const grace = ms(user.spec.rotation?.gracePeriod ?? USER_DEFAULTS.gracePeriod) ?? 3_600_000;
  const notAfter = new Date(now.getTime() + grace).toISOString();
  const previous = live(entry, now).map((h) => (h.notAfter === undefined ? { ...h, notAfter } : h));
  const token = user.metadata.annotations?.['smtprelay.dev/rotate'];
  return { hashes: [{ hash, issuedAt: now.toISOString() }, ...previous], senders: [...user.spec.senders], ...(token !== undefined ? { rotateToken: token } : {}) };
}

/** Hashes still valid at `now` (expired ones leave the store). */
export function live(entry: StoreEntry | undefined, now: Date): StoreEntry['hashes'] {
  return (entry?.hashes ?? []).filter((h) => h.notAfter === undefined || Date.parse(h.notAfter) > now.getTime());
}

/** The entry kept in step with the spec (senders) and the clock (expired hashes gone). */
export function tidied(user: SmtpUser, entry: StoreEntry, now: Date): StoreEntry {
  return { ...entry, hashes: live(entry, now), senders: [...user.spec.senders] };
}

/** When the reconcile must run again: the next grace expiry or scheduled rotation. */
export function nextWake(user: SmtpUser, entry: StoreEntry, now: Date): number | undefined {
  const times: number[] = entry.hashes.filter((h) => h.notAfter).map((h) => Date.parse(h.notAfter!));
  const period = ms(user.spec.rotation?.period);
  const cur = currentHash(entry);
  if (period !== undefined && cur) times.push(Date.parse(cur.issuedAt) + period);
  const future = times.filter((t) => t > now.getTime());
  return future.length ? Math.min(...future) - now.getTime() + 50 : undefined;
}

export interface RelayEndpoint {
  hostname: string;
  submissionPort?: number;
  submissionsPort?: number;
}

export function relayEndpoint(relay: SmtpRelay): RelayEndpoint {
  const listeners = enabledListeners(relay);
  const out: RelayEndpoint = { hostname: relay.spec.hostname };
  const sub = listeners.find((l) => l.name === 'submission');
  const subs = listeners.find((l) => l.name === 'submissions');
  if (sub) out.submissionPort = sub.port;
  if (subs) out.submissionsPort = subs.port;
  return out;
}

/** The connection Secret's string data. `caCrt` only when the relay's CA is private (the TLS Secret has ca.crt). */
export function connectionData(ep: RelayEndpoint, username: string, password: string, caCrt?: string): Record<string, string> {
  const port = ep.submissionPort ?? ep.submissionsPort;
  const data: Record<string, string> = { host: ep.hostname, username, password };
  if (port !== undefined) data.port = String(port);
  const u = encodeURIComponent(username);
  const p = encodeURIComponent(password);
  if (ep.submissionPort !== undefined) data.url = `smtp://${u}:${p}@${ep.hostname}:${ep.submissionPort}?starttls=required`;
  if (ep.submissionsPort !== undefined) data.urlSmtps = `smtps://${u}:${p}@${ep.hostname}:${ep.submissionsPort}`;
  if (caCrt) data['ca.crt'] = caCrt;
  return data;
}
