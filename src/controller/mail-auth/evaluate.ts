// What a sender domain publishes for mail authentication, judged from its TXT answers.
// Pure: the lookups come in as data (see lookup.ts for the I/O), so every verdict is
// unit-tested without a network.
import { compareDkimKey, dkimRecordFor, parseDkimRecord } from './dkim-record.js';
import { isDmarcRecord, parseDmarcRecord, type DmarcPolicy } from './dmarc-record.js';
import { spfRecords } from './spf-record.js';
import type { DnsFailure, TxtAnswer } from './txt-answer.js';

/** One sender domain to check, and how the relay signs for it. */
export interface MailAuthTarget {
  domain: string;
  /** Absent: the relay does not sign this domain's mail, so no DKIM record is expected. */
  dkim?: {
    selector: string;
    /** SPKI DER of the signing key; absent when the key could not be read (the record is then only parsed). */
    publicKey?: Buffer;
  };
}

export interface MailAuthLookups {
  spf: TxtAnswer;
  dmarc: TxtAnswer;
  /** Only when the target has a DKIM selector. */
  dkim?: TxtAnswer;
}

/** Found: a record exists but its key was not compared (no key known). */
export type DkimState = 'Valid' | 'Found' | 'KeyMismatch' | 'Revoked' | 'Missing' | 'Invalid' | 'Unknown' | 'NotSigned';
export type RecordState = 'Found' | 'Missing' | 'Invalid' | 'Unknown';

export interface DkimResult {
  state: DkimState;
  selector?: string;
  found: boolean;
  keyMatches?: boolean;
  /** Why a record is Invalid. */
  detail?: string;
  lookupError?: DnsFailure;
  /** The record to publish (from the signing key), when one is known. */
  expectedRecord?: string;
}

export interface DmarcResult {
  state: RecordState;
  found: boolean;
  policy?: DmarcPolicy;
  subdomainPolicy?: DmarcPolicy;
  pct?: number;
  detail?: string;
  lookupError?: DnsFailure;
}

export interface SpfResult {
  state: RecordState;
  found: boolean;
  record?: string;
  detail?: string;
  lookupError?: DnsFailure;
}

export interface DomainMailAuth {
  domain: string;
  dkim: DkimResult;
  dmarc: DmarcResult;
  spf: SpfResult;
}

export function dkimName(selector: string, domain: string): string {
  return `${selector}._domainkey.${domain}`;
}

export function dmarcName(domain: string): string {
  return `_dmarc.${domain}`;
}

/** The TXT records, [] for NXDOMAIN/NODATA, or the lookup failure. */
function recordsOf(answer: TxtAnswer): string[] | DnsFailure {
  if (answer.kind === 'records') return answer.records;
  if (answer.kind === 'failed') return answer.failure;
  return [];
}

function evaluateDkim(target: MailAuthTarget, answer: TxtAnswer | undefined): DkimResult {
  if (!target.dkim) return { state: 'NotSigned', found: false };
  const { selector, publicKey } = target.dkim;
  const base = { selector, ...(publicKey ? { expectedRecord: dkimRecordFor(publicKey) } : {}) };
  const records = recordsOf(answer ?? { kind: 'failed', failure: 'Other' });
  if (typeof records === 'string') return { ...base, state: 'Unknown', found: false, lookupError: records };
  if (records.length === 0) return { ...base, state: 'Missing', found: false };
  if (records.length > 1) return { ...base, state: 'Invalid', found: true, detail: `${records.length} TXT records at the selector; publish exactly one` };
  const record = parseDkimRecord(records[0]!);
  if (!record.ok) return { ...base, state: 'Invalid', found: true, detail: record.error };
  if (record.revoked) return { ...base, state: 'Revoked', found: true, keyMatches: false };
  if (!publicKey) return { ...base, state: 'Found', found: true };
  const comparison = compareDkimKey(record, publicKey);
  if (comparison === 'unparsable') return { ...base, state: 'Invalid', found: true, detail: `p= is no ${record.keyType} public key` };
  return comparison === 'match' ? { ...base, state: 'Valid', found: true, keyMatches: true } : { ...base, state: 'KeyMismatch', found: true, keyMatches: false };
}

function evaluateDmarc(answer: TxtAnswer): DmarcResult {
  const records = recordsOf(answer);
  if (typeof records === 'string') return { state: 'Unknown', found: false, lookupError: records };
  const dmarc = records.filter(isDmarcRecord);
  if (dmarc.length === 0) return { state: 'Missing', found: false };
  // RFC 7489 6.6.3: more than one record means no DMARC policy applies.
  if (dmarc.length > 1) return { state: 'Invalid', found: true, detail: `${dmarc.length} DMARC records; receivers apply none of them` };
  const record = parseDmarcRecord(dmarc[0]!);
  if (!record.ok) return { state: 'Invalid', found: true, detail: record.error };
  return {
    state: 'Found',
    found: true,
    policy: record.policy,
    ...(record.subdomainPolicy ? { subdomainPolicy: record.subdomainPolicy } : {}),
    pct: record.pct,
  };
}

function evaluateSpf(answer: TxtAnswer): SpfResult {
  const records = recordsOf(answer);
  if (typeof records === 'string') return { state: 'Unknown', found: false, lookupError: records };
  const spf = spfRecords(records);
  if (spf.length === 0) return { state: 'Missing', found: false };
  // RFC 7208 4.5: more than one record is a permerror, i.e. SPF fails for every message.
  if (spf.length > 1) return { state: 'Invalid', found: true, detail: `${spf.length} SPF records (permerror, RFC 7208 4.5); merge them into one` };
  return { state: 'Found', found: true, record: spf[0]! };
}

export function evaluateMailAuth(target: MailAuthTarget, lookups: MailAuthLookups): DomainMailAuth {
  return { domain: target.domain, dkim: evaluateDkim(target, lookups.dkim), dmarc: evaluateDmarc(lookups.dmarc), spf: evaluateSpf(lookups.spf) };
}
