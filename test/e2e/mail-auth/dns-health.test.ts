// DNS health of mail authentication against a real authoritative DNS server (Knot DNS,
// Debian package `knot`) serving test zones on loopback: the real node:dns resolver
// path, real DKIM keys, and the answers a real server gives (records, NXDOMAIN, NODATA,
// SERVFAIL, REFUSED, no answer at all).
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  MailAuthMonitor,
  checkMailAuth,
  createTxtLookup,
  dkimRecordFor,
  mailAuthCondition,
  mailAuthEvent,
  mailAuthResultsEqual,
  publicKeyOfPrivateKey,
  senderDomainStatuses,
  type MailAuthTarget,
  type TxtLookup,
} from '../../../src/controller/mail-auth/index.js';
import { startKnot, txtStrings, zoneFile, type KnotServer } from '../../helpers/dns/knot.js';

// The relay's signing keys (PEM private keys, as the DKIM Secret holds them).
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const signingEd = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
// Someone else's key, published by mistake at bad.test.
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });

const spki = publicKeyOfPrivateKey(signing);
const spkiEd = publicKeyOfPrivateKey(signingEd);

const GOOD_SPF = 'v=spf1 include:_spf.upstream.test -all';

const goodZone = zoneFile('good.test', [
  `@ TXT "${GOOD_SPF}"`,
  '@ TXT "google-site-verification=abc"', // other TXT at the apex is not SPF
  '_dmarc TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@good.test"',
  // A 2048-bit key is longer than one 255-byte string: the record comes in several.
  `s1._domainkey TXT ${txtStrings(dkimRecordFor(spki))}`,
]);
const badZone = (serial: number, fixed: boolean) =>
  zoneFile(
    'bad.test',
    fixed
      ? [`@ TXT "${GOOD_SPF}"`, '_dmarc TXT "v=DMARC1; p=quarantine"', `s1._domainkey TXT ${txtStrings(dkimRecordFor(spki))}`]
      : ['@ TXT "v=spf1 ip4:192.0.2.1 -all"', '@ TXT "v=spf1 include:_spf.upstream.test ~all"', `s1._domainkey TXT ${txtStrings(dkimRecordFor(stranger))}`],
    serial,
  );
const edZone = zoneFile('ed.test', [`@ TXT "${GOOD_SPF}"`, '_dmarc TXT "v=DMARC1; p=none"', '_dmarc TXT "v=DMARC1; p=reject"', `ed._domainkey TXT "${dkimRecordFor(spkiEd)}"`]);
const revokedZone = zoneFile('revoked.test', [`@ TXT "${GOOD_SPF}"`, '_dmarc TXT "v=DMARC1; p=reject"', 's1._domainkey TXT "v=DKIM1; k=rsa; p="']);

const targets: Record<string, MailAuthTarget> = {
  good: { domain: 'good.test', dkim: { selector: 's1', publicKey: spki } },
  bad: { domain: 'bad.test', dkim: { selector: 's1', publicKey: spki } },
  ed: { domain: 'ed.test', dkim: { selector: 'ed', publicKey: spkiEd } },
  revoked: { domain: 'revoked.test', dkim: { selector: 's1', publicKey: spki } },
  // A name that does not exist in a zone Knot serves: NXDOMAIN everywhere.
  gone: { domain: 'gone.good.test', dkim: { selector: 's1', publicKey: spki } },
  servfail: { domain: 'broken.test', dkim: { selector: 's1', publicKey: spki } },
  refused: { domain: 'elsewhere.example' },
};

let root: string;
let knot: KnotServer;
let lookup: TxtLookup;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mail-auth-dns-'));
  knot = await startKnot(path.join(root, 'knot'), {
    zones: { 'good.test': goodZone, 'bad.test': badZone(1, false), 'ed.test': edZone, 'revoked.test': revokedZone, 'broken.test': null },
  });
  lookup = createTxtLookup({ servers: [knot.server], timeoutMs: 500, tries: 1 });
});

afterAll(async () => {
  await knot?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('mail authentication against a real DNS server (Knot)', () => {
  it('a domain that publishes everything right: MailAuthentication True', async () => {
    const result = await checkMailAuth(targets.good!, lookup);
    expect(senderDomainStatuses([result])).toEqual([
      {
        domain: 'good.test',
        dkim: { state: 'Valid', selector: 's1' },
        dmarc: { state: 'Found', policy: 'reject', subdomainPolicy: 'quarantine', percentage: 100 },
        spf: { state: 'Found', record: GOOD_SPF },
      },
    ]);
    expect(result.dkim.keyMatches).toBe(true);
    expect(mailAuthCondition([result])).toMatchObject({ status: 'True', reason: 'MailAuthenticationValid' });
  });

  it('a wrong DKIM key, no DMARC and two SPF records: False, DkimKeyMismatch, with the record to publish', async () => {
    const result = await checkMailAuth(targets.bad!, lookup);
    expect(result.dkim).toMatchObject({ state: 'KeyMismatch', found: true, keyMatches: false });
    expect(result.dmarc).toMatchObject({ state: 'Missing', found: false });
    expect(result.spf).toMatchObject({ state: 'Invalid', found: true });
    const condition = mailAuthCondition([result]);
    expect(condition).toMatchObject({ status: 'False', reason: 'DkimKeyMismatch' });
    expect(condition.message).toContain('s1._domainkey.bad.test');
    expect(condition.message).toContain(`p=${spki.toString('base64')}`);
    expect(condition.message).toContain('_dmarc.bad.test');
    expect(condition.message).toContain('2 SPF records');
  });

  it('ed25519 keys (RFC 8463) match; two DMARC records are invalid', async () => {
    const result = await checkMailAuth(targets.ed!, lookup);
    expect(result.dkim).toMatchObject({ state: 'Valid', keyMatches: true });
    expect(result.dmarc).toMatchObject({ state: 'Invalid' });
    expect(mailAuthCondition([result])).toMatchObject({ status: 'False', reason: 'DmarcInvalid' });
  });

  it('an empty p= is a revoked key', async () => {
    const result = await checkMailAuth(targets.revoked!, lookup);
    expect(result.dkim).toMatchObject({ state: 'Revoked', found: true });
    expect(mailAuthCondition([result]).reason).toBe('DkimKeyRevoked');
  });

  it('NXDOMAIN and NODATA are missing, not failed', async () => {
    const result = await checkMailAuth(targets.gone!, lookup);
    expect([result.dkim.state, result.dmarc.state, result.spf.state]).toEqual(['Missing', 'Missing', 'Missing']);
    expect(mailAuthCondition([result])).toMatchObject({ status: 'False', reason: 'DkimRecordMissing' });
    // ns.good.test exists (an A record) but has no TXT: NODATA.
    expect(await lookup('ns.good.test')).toEqual({ kind: 'nodata' });
    expect(await lookup('nothing.good.test')).toEqual({ kind: 'nxdomain' });
    expect((await checkMailAuth({ domain: 'ns.good.test' }, lookup)).spf).toEqual({ state: 'Missing', found: false });
  });

  it('SERVFAIL and REFUSED are unknown, never missing: DnsLookupFailed, status Unknown', async () => {
    const servfail = await checkMailAuth(targets.servfail!, lookup);
    expect(servfail.spf).toEqual({ state: 'Unknown', found: false, lookupError: 'ServFail' });
    expect(servfail.dkim.lookupError).toBe('ServFail');
    const refused = await checkMailAuth(targets.refused!, lookup);
    expect(refused.dmarc).toEqual({ state: 'Unknown', found: false, lookupError: 'Refused' });
    expect(mailAuthCondition([servfail, refused])).toMatchObject({ status: 'Unknown', reason: 'DnsLookupFailed' });
    // A definite problem elsewhere outranks the unknown ones, and the message keeps both.
    const good = await checkMailAuth(targets.good!, lookup);
    const gone = await checkMailAuth(targets.gone!, lookup);
    const mixed = mailAuthCondition([servfail, good, gone]);
    expect(mixed).toMatchObject({ status: 'False', reason: 'DkimRecordMissing' });
    expect(mixed.message).toMatch(/broken\.test: .*DNS lookup failed/);
  });

  it('a server that does not answer (paused) times out: DnsLookupFailed, and the server answers again after', async () => {
    await knot.pause();
    try {
      const result = await checkMailAuth(targets.good!, lookup);
      expect(result.spf).toEqual({ state: 'Unknown', found: false, lookupError: 'Timeout' });
      expect(result.dkim).toMatchObject({ state: 'Unknown', lookupError: 'Timeout' });
      expect(mailAuthCondition([result])).toMatchObject({ status: 'Unknown', reason: 'DnsLookupFailed' });
    } finally {
      knot.resume();
    }
    expect((await checkMailAuth(targets.good!, lookup)).spf.state).toBe('Found');
  });

  it('the monitor: checks off the reconcile path, reports a change as a value and an Event, and stays quiet when nothing changed', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const checked: string[] = [];
    let wake: (() => void) | undefined;
    const monitor = new MailAuthMonitor({
      lookup,
      concurrency: 2,
      onChecked: (key) => {
        checked.push(key);
        wake?.();
      },
      now: () => now,
      random: () => 0.5, // no jitter: the next check is exactly a day later
    });
    const relayTargets = [targets.good!, targets.bad!];
    const nextCheck = () => new Promise<void>((resolve) => (wake = resolve));

    let done = nextCheck();
    expect(monitor.observe('ns/relay', relayTargets)).toEqual({ results: undefined, nextCheckInMs: undefined });
    await done;
    const first = monitor.observe('ns/relay', relayTargets);
    expect(first.nextCheckInMs).toBe(24 * 3_600_000);
    const firstCondition = mailAuthCondition(first.results!);
    expect(firstCondition.reason).toBe('DkimKeyMismatch');
    expect(mailAuthEvent(undefined, firstCondition)).toMatchObject({ type: 'Warning', reason: 'DkimKeyMismatch' });

    // A day later, DNS unchanged: equal results, so no status write and no Event.
    now += 24 * 3_600_000;
    done = nextCheck();
    monitor.observe('ns/relay', relayTargets);
    await done;
    const second = monitor.observe('ns/relay', relayTargets);
    expect(mailAuthResultsEqual(first.results, second.results)).toBe(true);
    expect(mailAuthEvent(firstCondition, mailAuthCondition(second.results!))).toBeUndefined();

    // The owner publishes the right records; the next daily check sees it.
    await knot.setZone('bad.test', badZone(2, true));
    now += 24 * 3_600_000;
    done = nextCheck();
    monitor.observe('ns/relay', relayTargets);
    await done;
    const third = monitor.observe('ns/relay', relayTargets);
    expect(mailAuthResultsEqual(second.results, third.results)).toBe(false);
    const fixed = mailAuthCondition(third.results!);
    expect(fixed).toMatchObject({ status: 'True', reason: 'MailAuthenticationValid' });
    expect(mailAuthEvent(firstCondition, fixed)).toMatchObject({ type: 'Normal', reason: 'MailAuthenticationValid' });
    expect(checked).toEqual(['ns/relay', 'ns/relay', 'ns/relay']);
    await monitor.stop();
  });

  it('a stopped server: every lookup fails (Unreachable), DnsLookupFailed, retried in 15 minutes', async () => {
    await knot.stop();
    const now = 1_000_000;
    let wake: (() => void) | undefined;
    const monitor = new MailAuthMonitor({ lookup, concurrency: 1, onChecked: () => wake?.(), now: () => now, random: () => 0.5 });
    const done = new Promise<void>((resolve) => (wake = resolve));
    monitor.observe('ns/relay', [targets.good!]);
    await done;
    const view = monitor.observe('ns/relay', [targets.good!]);
    expect(view.results![0]!.spf.lookupError).toBe('Unreachable');
    expect(mailAuthCondition(view.results!)).toMatchObject({ status: 'Unknown', reason: 'DnsLookupFailed' });
    expect(view.nextCheckInMs).toBe(15 * 60_000);
    await monitor.stop();
  });
});
