// A relay's mail-authentication results → the MailAuthentication condition and
// status.senderDomains[]. Advice only: the condition never feeds Ready. Pure; messages
// are deterministic (domains sorted, no times), so an unchanged DNS answer yields an
// identical status and therefore no write.
import type { DomainMailAuth, DkimState, RecordState } from './evaluate.js';
import { dkimName, dmarcName } from './evaluate.js';
import type { DmarcPolicy } from './dmarc-record.js';
import type { DnsFailure } from './txt-answer.js';

export const MAIL_AUTHENTICATION = 'MailAuthentication';

/** Stable reasons, most urgent first: the condition carries the first that applies. */
export const MailAuthReasons = {
  DkimKeyMismatch: 'DkimKeyMismatch',
  DkimKeyRevoked: 'DkimKeyRevoked',
  DkimRecordMissing: 'DkimRecordMissing',
  DkimRecordInvalid: 'DkimRecordInvalid',
  DmarcMissing: 'DmarcMissing',
  DmarcInvalid: 'DmarcInvalid',
  SpfMissing: 'SpfMissing',
  SpfInvalid: 'SpfInvalid',
  DnsLookupFailed: 'DnsLookupFailed',
  MailAuthenticationValid: 'MailAuthenticationValid',
  NoSenderDomains: 'NoSenderDomains',
  MailAuthenticationPending: 'MailAuthenticationPending',
} as const;
export type MailAuthReason = (typeof MailAuthReasons)[keyof typeof MailAuthReasons];

const URGENCY: readonly MailAuthReason[] = [
  'DkimKeyMismatch',
  'DkimKeyRevoked',
  'DkimRecordMissing',
  'DkimRecordInvalid',
  'DmarcMissing',
  'DmarcInvalid',
  'SpfMissing',
  'SpfInvalid',
  'DnsLookupFailed',
];

/** Same shape as ConditionInput of ../conditions.ts (setCondition takes it as is). */
export interface MailAuthCondition {
  type: typeof MAIL_AUTHENTICATION;
  status: 'True' | 'False' | 'Unknown';
  reason: MailAuthReason;
  message: string;
}

/** One entry of the proposed status.senderDomains[]. */
export interface SenderDomainStatus {
  domain: string;
  dkim: { state: DkimState; selector?: string; lookupError?: DnsFailure };
  dmarc: { state: RecordState; policy?: DmarcPolicy; subdomainPolicy?: DmarcPolicy; percentage?: number; lookupError?: DnsFailure };
  spf: { state: RecordState; record?: string; lookupError?: DnsFailure };
}

/** metav1.Condition allows 32768; a few domains' advice fits well below this. */
export const MAX_MESSAGE_CHARS = 4096;

interface Finding {
  reason: MailAuthReason;
  text: string;
}

function findings(r: DomainMailAuth): Finding[] {
  const out: Finding[] = [];
  const { dkim, dmarc, spf } = r;
  const selectorName = dkim.selector ? dkimName(dkim.selector, r.domain) : '';
  const publish = dkim.expectedRecord ? `; publish TXT "${dkim.expectedRecord}"` : '';
  if (dkim.state === 'KeyMismatch') out.push({ reason: 'DkimKeyMismatch', text: `the DKIM key at ${selectorName} is not the signing key${publish}` });
  if (dkim.state === 'Revoked') out.push({ reason: 'DkimKeyRevoked', text: `the DKIM key at ${selectorName} is revoked (empty p=)${publish}` });
  if (dkim.state === 'Missing') out.push({ reason: 'DkimRecordMissing', text: `no DKIM record at ${selectorName}${publish || '; publish the signing key\'s public key there'}` });
  if (dkim.state === 'Invalid') out.push({ reason: 'DkimRecordInvalid', text: `the DKIM record at ${selectorName} is invalid (${dkim.detail})${publish}` });
  if (dmarc.state === 'Missing') out.push({ reason: 'DmarcMissing', text: `no DMARC record; publish TXT at ${dmarcName(r.domain)} such as "v=DMARC1; p=quarantine"` });
  if (dmarc.state === 'Invalid') out.push({ reason: 'DmarcInvalid', text: `the DMARC record at ${dmarcName(r.domain)} is invalid (${dmarc.detail})` });
  if (spf.state === 'Missing') out.push({ reason: 'SpfMissing', text: `no SPF record; publish TXT at ${r.domain} such as "v=spf1 include:<your upstream's SPF domain> -all"` });
  if (spf.state === 'Invalid') out.push({ reason: 'SpfInvalid', text: `${spf.detail}` });
  const failed = [
    ...(dkim.lookupError ? [`DKIM ${dkim.lookupError}`] : []),
    ...(dmarc.lookupError ? [`DMARC ${dmarc.lookupError}`] : []),
    ...(spf.lookupError ? [`SPF ${spf.lookupError}`] : []),
  ];
  if (failed.length > 0) out.push({ reason: 'DnsLookupFailed', text: `DNS lookup failed (${failed.join(', ')}); checked again later` });
  return out;
}

function capped(message: string): string {
  return message.length <= MAX_MESSAGE_CHARS ? message : `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

function byDomain(results: readonly DomainMailAuth[]): DomainMailAuth[] {
  return [...results].sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
}

/** Before the first check of a relay finished. */
export function pendingMailAuthCondition(): MailAuthCondition {
  return { type: MAIL_AUTHENTICATION, status: 'Unknown', reason: 'MailAuthenticationPending', message: 'The DNS records of the sender domains have not been checked yet.' };
}

/**
 * True: every domain publishes SPF, DMARC and (where the relay signs) the right DKIM key.
 * False: something is missing or wrong (the most urgent reason; the message lists every
 * domain's findings and what to publish). Unknown: only lookups failed, so nothing is known
 * to be wrong (a timeout is not a missing record), or there is no domain to check.
 */
export function mailAuthCondition(results: readonly DomainMailAuth[]): MailAuthCondition {
  if (results.length === 0) {
    return { type: MAIL_AUTHENTICATION, status: 'Unknown', reason: 'NoSenderDomains', message: 'No sender domain to check (wildcard domains cannot be looked up).' };
  }
  const sorted = byDomain(results);
  const perDomain = sorted.map((r) => ({ domain: r.domain, findings: findings(r) })).filter((d) => d.findings.length > 0);
  if (perDomain.length === 0) {
    return {
      type: MAIL_AUTHENTICATION,
      status: 'True',
      reason: 'MailAuthenticationValid',
      message: `SPF, DMARC and DKIM (where the relay signs) are published for ${sorted.map((r) => r.domain).join(', ')}.`,
    };
  }
  const reasons = new Set(perDomain.flatMap((d) => d.findings.map((f) => f.reason)));
  const reason = URGENCY.find((r) => reasons.has(r))!;
  const message = capped(perDomain.map((d) => `${d.domain}: ${d.findings.map((f) => f.text).join('; ')}.`).join(' '));
  return { type: MAIL_AUTHENTICATION, status: reason === 'DnsLookupFailed' ? 'Unknown' : 'False', reason, message };
}

export function senderDomainStatus(r: DomainMailAuth): SenderDomainStatus {
  const { dkim, dmarc, spf } = r;
  return {
    domain: r.domain,
    dkim: { state: dkim.state, ...(dkim.selector ? { selector: dkim.selector } : {}), ...(dkim.lookupError ? { lookupError: dkim.lookupError } : {}) },
    dmarc: {
      state: dmarc.state,
      ...(dmarc.policy ? { policy: dmarc.policy } : {}),
      ...(dmarc.subdomainPolicy ? { subdomainPolicy: dmarc.subdomainPolicy } : {}),
      ...(dmarc.pct !== undefined ? { percentage: dmarc.pct } : {}),
      ...(dmarc.lookupError ? { lookupError: dmarc.lookupError } : {}),
    },
    spf: { state: spf.state, ...(spf.record !== undefined ? { record: spf.record } : {}), ...(spf.lookupError ? { lookupError: spf.lookupError } : {}) },
  };
}

/** status.senderDomains[], sorted by domain. */
export function senderDomainStatuses(results: readonly DomainMailAuth[]): SenderDomainStatus[] {
  return byDomain(results).map(senderDomainStatus);
}

/** Results compared as values: equal results must not cause a status write or an Event. */
export function mailAuthResultsEqual(a: readonly DomainMailAuth[] | undefined, b: readonly DomainMailAuth[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return JSON.stringify(senderDomainStatuses(a)) === JSON.stringify(senderDomainStatuses(b)) && JSON.stringify(mailAuthCondition(a)) === JSON.stringify(mailAuthCondition(b));
}
