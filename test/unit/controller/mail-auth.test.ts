// Mail-authentication checks without a network: record parsing (DKIM, DMARC, SPF), the
// DNS error mapping, the per-domain verdicts, the MailAuthentication condition and
// status.senderDomains[], the daily schedule, targets and Events. The DNS path itself
// is tested against a real Knot server in test/e2e/mail-auth/.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import type { SmtpRelaySpec } from '../../../src/api/types.js';
import {
  MAIL_AUTH_INTERVAL_MS,
  MAIL_AUTH_RETRY_MS,
  MAX_MESSAGE_CHARS,
  afterMailAuthCheck,
  answerForDnsError,
  compareDkimKey,
  dkimRecordFor,
  evaluateMailAuth,
  isDmarcRecord,
  isSpfRecord,
  jittered,
  mailAuthCondition,
  mailAuthDue,
  mailAuthEvent,
  mailAuthResultsEqual,
  mailAuthTargets,
  parseDkimRecord,
  parseDmarcRecord,
  parseDnsServers,
  parseTagList,
  pendingMailAuthCondition,
  publicKeyOfPrivateKey,
  senderDomainStatuses,
  senderDomainsOfSpec,
  targetsKey,
  txtRecords,
  type MailAuthLookups,
  type TxtAnswer,
} from '../../../src/controller/mail-auth/index.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const rsaSpki = publicKeyOfPrivateKey(rsaPem);
const otherSpki = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' });
const ed = generateKeyPairSync('ed25519');
const edSpki = publicKeyOfPrivateKey(ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

const records = (...r: string[]): TxtAnswer => ({ kind: 'records', records: r });
const nx: TxtAnswer = { kind: 'nxdomain' };
const timeout: TxtAnswer = { kind: 'failed', failure: 'Timeout' };
const SPF = 'v=spf1 include:_spf.upstream.test -all';
const good = (over: Partial<MailAuthLookups> = {}): MailAuthLookups => ({
  spf: records(SPF),
  dmarc: records('v=DMARC1; p=reject'),
  dkim: records(dkimRecordFor(rsaSpki)),
  ...over,
});
const signed = { domain: 'example.com', dkim: { selector: 's1', publicKey: rsaSpki } };

describe('TXT answers', () => {
  test('multi-string records are concatenated without separators', () => {
    expect(txtRecords([['v=DKIM1; p=AB', 'CD'], ['x']])).toEqual(records('v=DKIM1; p=ABCD', 'x'));
  });
  test('node:dns error codes: NXDOMAIN and NODATA are answers, the rest are failures', () => {
    expect(answerForDnsError('ENOTFOUND')).toEqual({ kind: 'nxdomain' });
    expect(answerForDnsError('ENODATA')).toEqual({ kind: 'nodata' });
    expect(answerForDnsError('ESERVFAIL')).toEqual({ kind: 'failed', failure: 'ServFail' });
    expect(answerForDnsError('EREFUSED')).toEqual({ kind: 'failed', failure: 'Refused' });
    expect(answerForDnsError('ETIMEOUT')).toEqual({ kind: 'failed', failure: 'Timeout' });
    expect(answerForDnsError('ECONNREFUSED')).toEqual({ kind: 'failed', failure: 'Unreachable' });
    expect(answerForDnsError(undefined)).toEqual({ kind: 'failed', failure: 'Other' });
  });
  test('--dns-servers: addresses with optional ports; a bad entry is named', () => {
    expect(parseDnsServers('10.96.0.10, 127.0.0.1:5353,[::1]:53')).toEqual(['10.96.0.10', '127.0.0.1:5353', '[::1]:53']);
    expect(() => parseDnsServers('10.0.0.1,dns.example')).toThrow('"dns.example"');
  });
});

describe('record parsing', () => {
  test('tag lists: whitespace, trailing ";", duplicates', () => {
    const t = parseTagList(' v = DKIM1 ;k=rsa; p=AB CD ;');
    expect(t.ok && [...t.tags]).toEqual([['v', 'DKIM1'], ['k', 'rsa'], ['p', 'AB CD']]);
    expect(parseTagList('p=a; p=b')).toEqual({ ok: false, error: 'tag p= appears twice' });
    expect(parseTagList('garbage').ok).toBe(false);
  });
  test('DKIM: key types, revoked, invalid', () => {
    expect(parseDkimRecord(`v=DKIM1; k=rsa; p=${rsaSpki.toString('base64')}`)).toMatchObject({ ok: true, keyType: 'rsa', revoked: false });
    expect(parseDkimRecord(`p=${rsaSpki.toString('base64')}`)).toMatchObject({ ok: true, keyType: 'rsa' }); // k= defaults to rsa, v= optional
    expect(parseDkimRecord('v=DKIM1; k=rsa; p=')).toMatchObject({ ok: true, revoked: true });
    expect(parseDkimRecord('k=rsa; v=DKIM1; p=AAAA')).toMatchObject({ ok: false }); // v= must come first
    expect(parseDkimRecord('v=DKIM1; k=dsa; p=AAAA')).toMatchObject({ ok: false, error: 'unsupported key type k=dsa' });
    expect(parseDkimRecord('v=DKIM1; k=rsa')).toMatchObject({ ok: false, error: 'no p= tag' });
    expect(parseDkimRecord('v=DKIM1; p=!!!')).toMatchObject({ ok: false, error: 'p= is not base64' });
  });
  test('DKIM: the published key is compared with the signing key as SPKI DER', () => {
    const parse = (r: string) => {
      const p = parseDkimRecord(r);
      if (!p.ok) throw new Error(p.error);
      return p;
    };
    expect(compareDkimKey(parse(dkimRecordFor(rsaSpki)), rsaSpki)).toBe('match');
    expect(compareDkimKey(parse(dkimRecordFor(otherSpki)), rsaSpki)).toBe('mismatch');
    // Whitespace folded into p= (long keys in zone files) still matches.
    const folded = dkimRecordFor(rsaSpki).replace(/(p=.{40})/, '$1 \t ');
    expect(compareDkimKey(parse(folded), rsaSpki)).toBe('match');
    // A bare PKCS#1 RSA key in p= is accepted as the same key.
    const pkcs1 = rsa.publicKey.export({ type: 'pkcs1', format: 'der' }).toString('base64');
    expect(compareDkimKey(parse(`v=DKIM1; p=${pkcs1}`), rsaSpki)).toBe('match');
    // ed25519: p= is the bare 32-byte key (RFC 8463).
    expect(dkimRecordFor(edSpki)).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    expect(compareDkimKey(parse(dkimRecordFor(edSpki)), edSpki)).toBe('match');
    expect(compareDkimKey(parse(dkimRecordFor(edSpki)), rsaSpki)).toBe('mismatch');
    expect(compareDkimKey(parse('v=DKIM1; p=AAAA'), rsaSpki)).toBe('unparsable');
  });
  test('DMARC: v=DMARC1 first, p= required, sp= and pct=', () => {
    expect(parseDmarcRecord('v=DMARC1; p=reject; sp=none; pct=50; rua=mailto:a@b')).toEqual({ ok: true, policy: 'reject', subdomainPolicy: 'none', pct: 50 });
    expect(parseDmarcRecord('v=DMARC1; p=Quarantine')).toEqual({ ok: true, policy: 'quarantine', pct: 100 });
    expect(parseDmarcRecord('v=DMARC1; rua=mailto:a@b')).toMatchObject({ ok: false, error: 'no p= tag' });
    expect(parseDmarcRecord('v=DMARC1; p=block')).toMatchObject({ ok: false });
    expect(parseDmarcRecord('v=DMARC1; p=none; pct=101')).toMatchObject({ ok: false });
    expect(isDmarcRecord('v=DMARC1; p=none')).toBe(true);
    expect(isDmarcRecord('v=spf1 -all')).toBe(false);
  });
  test('SPF: "v=spf1" then a space or the end', () => {
    expect(isSpfRecord('v=spf1 -all')).toBe(true);
    expect(isSpfRecord('V=SPF1')).toBe(true);
    expect(isSpfRecord('v=spf10 -all')).toBe(false);
    expect(isSpfRecord('spf2.0/pra -all')).toBe(false);
  });
});

describe('evaluateMailAuth', () => {
  test('everything published and the key matches', () => {
    expect(evaluateMailAuth(signed, good())).toEqual({
      domain: 'example.com',
      dkim: { state: 'Valid', selector: 's1', found: true, keyMatches: true, expectedRecord: dkimRecordFor(rsaSpki) },
      dmarc: { state: 'Found', found: true, policy: 'reject', pct: 100 },
      spf: { state: 'Found', found: true, record: SPF },
    });
  });
  test('missing, mismatched, revoked, invalid', () => {
    expect(evaluateMailAuth(signed, good({ dkim: nx })).dkim).toMatchObject({ state: 'Missing', found: false });
    expect(evaluateMailAuth(signed, good({ dkim: records(dkimRecordFor(otherSpki)) })).dkim).toMatchObject({ state: 'KeyMismatch', keyMatches: false });
    expect(evaluateMailAuth(signed, good({ dkim: records('v=DKIM1; p=') })).dkim).toMatchObject({ state: 'Revoked' });
    expect(evaluateMailAuth(signed, good({ dkim: records('a', 'b') })).dkim).toMatchObject({ state: 'Invalid' });
    expect(evaluateMailAuth(signed, good({ dmarc: records('something else') })).dmarc).toEqual({ state: 'Missing', found: false });
    expect(evaluateMailAuth(signed, good({ dmarc: records('v=DMARC1; p=none', 'v=DMARC1; p=reject') })).dmarc).toMatchObject({ state: 'Invalid' });
    expect(evaluateMailAuth(signed, good({ spf: records('v=spf1 -all', 'v=spf1 a -all') })).spf).toMatchObject({ state: 'Invalid' });
    expect(evaluateMailAuth(signed, good({ spf: records('google-site-verification=x') })).spf).toEqual({ state: 'Missing', found: false });
  });
  test('a failed lookup is Unknown, not Missing', () => {
    const r = evaluateMailAuth(signed, { spf: timeout, dmarc: timeout, dkim: timeout });
    expect([r.spf.state, r.dmarc.state, r.dkim.state]).toEqual(['Unknown', 'Unknown', 'Unknown']);
    expect(r.spf.lookupError).toBe('Timeout');
  });
  test('a domain the relay does not sign expects no DKIM record; an unread key is only parsed', () => {
    expect(evaluateMailAuth({ domain: 'example.com' }, good()).dkim).toEqual({ state: 'NotSigned', found: false });
    expect(evaluateMailAuth({ domain: 'example.com', dkim: { selector: 's1' } }, good()).dkim).toMatchObject({ state: 'Found', found: true });
  });
});

describe('MailAuthentication condition and status.senderDomains[]', () => {
  test('True when every domain is fine; domains are named in sorted order', () => {
    const c = mailAuthCondition([evaluateMailAuth({ ...signed, domain: 'b.com' }, good()), evaluateMailAuth({ domain: 'a.com' }, good())]);
    expect(c).toEqual({ type: 'MailAuthentication', status: 'True', reason: 'MailAuthenticationValid', message: 'SPF, DMARC and DKIM (where the relay signs) are published for a.com, b.com.' });
  });
  test('False with the most urgent reason; the message says what to publish where', () => {
    const r = evaluateMailAuth(signed, good({ dkim: nx, dmarc: nx, spf: nx }));
    const c = mailAuthCondition([r]);
    expect(c.status).toBe('False');
    expect(c.reason).toBe('DkimRecordMissing');
    expect(c.message).toContain(`no DKIM record at s1._domainkey.example.com; publish TXT "${dkimRecordFor(rsaSpki)}"`);
    expect(c.message).toContain('publish TXT at _dmarc.example.com');
    expect(c.message).toContain('no SPF record; publish TXT at example.com');
    expect(mailAuthCondition([evaluateMailAuth(signed, good({ spf: nx }))]).reason).toBe('SpfMissing');
    expect(mailAuthCondition([evaluateMailAuth(signed, good({ dmarc: nx, spf: nx }))]).reason).toBe('DmarcMissing');
    expect(mailAuthCondition([evaluateMailAuth(signed, good({ dkim: records(dkimRecordFor(otherSpki)), dmarc: nx }))]).reason).toBe('DkimKeyMismatch');
  });
  test('only failed lookups: Unknown DnsLookupFailed; with a definite problem: False', () => {
    const failed = evaluateMailAuth(signed, { spf: timeout, dmarc: timeout, dkim: timeout });
    expect(mailAuthCondition([failed])).toMatchObject({ status: 'Unknown', reason: 'DnsLookupFailed' });
    expect(mailAuthCondition([failed]).message).toBe('example.com: DNS lookup failed (DKIM Timeout, DMARC Timeout, SPF Timeout); checked again later.');
    const missing = evaluateMailAuth({ domain: 'other.com' }, good({ spf: nx }));
    expect(mailAuthCondition([failed, missing])).toMatchObject({ status: 'False', reason: 'SpfMissing' });
  });
  test('no domain to check; pending before the first check; a long message is capped', () => {
    expect(mailAuthCondition([])).toMatchObject({ status: 'Unknown', reason: 'NoSenderDomains' });
    expect(pendingMailAuthCondition()).toMatchObject({ status: 'Unknown', reason: 'MailAuthenticationPending' });
    const many = Array.from({ length: 40 }, (_, i) => evaluateMailAuth({ ...signed, domain: `d${i}.example.com` }, good({ dkim: nx })));
    expect(mailAuthCondition(many).message.length).toBe(MAX_MESSAGE_CHARS);
  });
  test('status entries: states only, no times, sorted', () => {
    const entries = senderDomainStatuses([
      evaluateMailAuth({ ...signed, domain: 'z.com' }, { spf: timeout, dmarc: records('v=DMARC1; p=none'), dkim: nx }),
      evaluateMailAuth({ domain: 'a.com' }, good()),
    ]);
    expect(entries).toEqual([
      { domain: 'a.com', dkim: { state: 'NotSigned' }, dmarc: { state: 'Found', policy: 'reject', percentage: 100 }, spf: { state: 'Found', record: SPF } },
      { domain: 'z.com', dkim: { state: 'Missing', selector: 's1' }, dmarc: { state: 'Found', policy: 'none', percentage: 100 }, spf: { state: 'Unknown', lookupError: 'Timeout' } },
    ]);
  });
  test('results compare as values: the same answers in another order are equal, a changed answer is not', () => {
    const a = [evaluateMailAuth(signed, good()), evaluateMailAuth({ domain: 'a.com' }, good())];
    const b = [evaluateMailAuth({ domain: 'a.com' }, good()), evaluateMailAuth(signed, good())];
    expect(mailAuthResultsEqual(a, b)).toBe(true);
    expect(mailAuthResultsEqual(a, [evaluateMailAuth(signed, good({ dmarc: records('v=DMARC1; p=none') })), b[0]!])).toBe(false);
    expect(mailAuthResultsEqual(undefined, a)).toBe(false);
  });
});

describe('Events', () => {
  const bad = mailAuthCondition([evaluateMailAuth(signed, good({ spf: nx }))]);
  const fine = mailAuthCondition([evaluateMailAuth(signed, good())]);
  test('a Warning when it turns False, Normal when it recovers, nothing when unchanged or pending', () => {
    expect(mailAuthEvent(undefined, bad)).toEqual({ type: 'Warning', reason: 'SpfMissing', message: bad.message });
    expect(mailAuthEvent(bad, fine)).toMatchObject({ type: 'Normal', reason: 'MailAuthenticationValid' });
    expect(mailAuthEvent(fine, fine)).toBeUndefined();
    expect(mailAuthEvent(undefined, pendingMailAuthCondition())).toBeUndefined();
  });
});

describe('daily schedule', () => {
  const key = targetsKey([signed]);
  test('due before the first check and when the targets change; else at nextDueAt', () => {
    expect(mailAuthDue({}, key, 0)).toEqual({ due: true, dueInMs: 0 });
    const state = afterMailAuthCheck(key, 1_000, false, () => 0.5);
    expect(state).toEqual({ targetsKey: key, nextDueAt: 1_000 + MAIL_AUTH_INTERVAL_MS });
    expect(mailAuthDue(state, key, 2_000)).toEqual({ due: false, dueInMs: MAIL_AUTH_INTERVAL_MS - 1_000 });
    expect(mailAuthDue(state, key, 1_000 + MAIL_AUTH_INTERVAL_MS).due).toBe(true);
    expect(mailAuthDue(state, targetsKey([{ ...signed, dkim: { selector: 's2', publicKey: rsaSpki } }]), 2_000).due).toBe(true);
    expect(mailAuthDue(state, targetsKey([{ ...signed, dkim: { selector: 's1', publicKey: otherSpki } }]), 2_000).due).toBe(true);
  });
  test('a failed lookup is retried after 15 minutes; jitter stays within ±10%', () => {
    expect(afterMailAuthCheck(key, 0, true, () => 0.5).nextDueAt).toBe(MAIL_AUTH_RETRY_MS);
    expect(jittered(MAIL_AUTH_INTERVAL_MS, () => 0)).toBe(MAIL_AUTH_INTERVAL_MS * 0.9);
    expect(jittered(MAIL_AUTH_INTERVAL_MS, () => 0.999999)).toBeLessThanOrEqual(MAIL_AUTH_INTERVAL_MS * 1.1);
    expect(targetsKey([signed, { domain: 'a.com' }])).toBe(targetsKey([{ domain: 'a.com' }, signed]));
  });
});

describe('targets', () => {
  test('sender domains from policy, the relay listener, per-user senders and DKIM; wildcards skipped', () => {
    const spec = {
      policy: { allowedSenderDomains: ['Example.com', '*.wild.example'] },
      listeners: { relay: { enabled: true, allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['relay.example'] } },
      auth: { secretRef: { name: 'u' }, senders: [{ user: 'billing', allowed: ['billing@invoices.example', '@example.com'] }] },
      dkim: { selector: 's1', domain: 'signed.example', keySecretRef: { name: 'k' } },
    } as unknown as SmtpRelaySpec;
    expect(senderDomainsOfSpec(spec)).toEqual(['example.com', 'invoices.example', 'relay.example', 'signed.example']);
    expect(mailAuthTargets(['example.com', 'signed.example'], [{ domain: 'signed.example', selector: 's1', publicKey: rsaSpki }])).toEqual([
      { domain: 'example.com' },
      { domain: 'signed.example', dkim: { selector: 's1', publicKey: rsaSpki } },
    ]);
  });
});
