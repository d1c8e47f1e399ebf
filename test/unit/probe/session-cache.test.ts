// The session cache's rules: a session is offered only with verdicts of a full handshake made
// against the same expected certificate and CAs, younger than fullHandshakeEveryMs; bounded size.
// Resumption against a real relay, and real rotations, are in test/e2e/probe/session-resumption.test.ts.
import { describe, expect, test } from '@jest/globals';
import { TlsSessionCache, type VerifiedCertificate } from '../../../src/probe/session-cache.js';

const T0 = Date.parse('2026-11-28T10:00:00Z');
const MIN = 60_000;
const verdicts = (at: number): VerifiedCertificate => ({
  dates: [{ subject: 'CN=a', validFromDate: new Date(T0 - MIN), validToDate: new Date(T0 + 90 * 24 * 60 * MIN) }],
  chain: [],
  trust: { check: 'certificate-trust', result: 'pass', message: 'ok' },
  hostname: { check: 'certificate-hostname', result: 'pass', message: 'ok' },
  at,
});
const ticket = Buffer.from('ticket');

describe('TlsSessionCache', () => {
  test('a session is offered with the verdicts of the last full handshake, until fullHandshakeEveryMs has passed', () => {
    const c = new TlsSessionCache({ fullHandshakeEveryMs: 10 * MIN });
    expect(c.lookup('ep', 'fp1|1', T0)).toBeUndefined();
    c.verified('ep', 'fp1|1', verdicts(T0));
    // No session ticket yet: nothing to resume.
    expect(c.lookup('ep', 'fp1|1', T0)).toBeUndefined();
    c.session('ep', ticket);
    expect(c.lookup('ep', 'fp1|1', T0 + 10 * MIN - 1)).toEqual({ session: ticket, certificate: verdicts(T0) });
    expect(c.lookup('ep', 'fp1|1', T0 + 10 * MIN)).toBeUndefined();
  });

  test('a new expected certificate (or CA set) makes the next handshake a full one', () => {
    const c = new TlsSessionCache();
    c.verified('ep', 'fp1|1', verdicts(T0));
    c.session('ep', ticket);
    expect(c.lookup('ep', 'fp2|1', T0 + 1000)).toBeUndefined();
    expect(c.lookup('ep', 'fp1|2', T0 + 1000)).toBeUndefined();
    expect(c.lookup('other', 'fp1|1', T0 + 1000)).toBeUndefined();
  });

  test('a full handshake replaces the verdicts; the newest session is kept', () => {
    const c = new TlsSessionCache();
    c.verified('ep', 'fp1|1', verdicts(T0));
    c.session('ep', ticket);
    c.verified('ep', 'fp2|1', verdicts(T0 + MIN));
    c.session('ep', Buffer.from('newer'));
    expect(c.lookup('ep', 'fp1|1', T0 + MIN)).toBeUndefined();
    expect(c.lookup('ep', 'fp2|1', T0 + MIN)).toEqual({ session: Buffer.from('newer'), certificate: verdicts(T0 + MIN) });
  });

  test('bounded: the least recently used endpoint goes first', () => {
    const c = new TlsSessionCache({ maxEntries: 2 });
    for (const k of ['a', 'b']) {
      c.verified(k, 'x', verdicts(T0));
      c.session(k, ticket);
    }
    c.session('a', ticket); // a used again
    c.verified('c', 'x', verdicts(T0));
    expect(c.size).toBe(2);
    expect(c.lookup('b', 'x', T0)).toBeUndefined();
    expect(c.lookup('a', 'x', T0)).toBeDefined();
  });
});
