// The durable queue's pure parts: backoff, the on-disk envelope codec, per-recipient
// result classification, the DSN builder and the due-time heap.
import { describe, expect, test } from '@jest/globals';
import { retryDelayMs } from '../../../../src/relay/queue/backoff.js';
import { buildDsn, headerBlock, rfc5322Date } from '../../../../src/relay/queue/dsn.js';
import { DueHeap } from '../../../../src/relay/queue/due-heap.js';
import { decodeHeader, decodeState, encodeHeader, encodeState, QueueFormatError, type QueueEnvelope } from '../../../../src/relay/queue/envelope.js';
import { classifyAttempt, statusOf } from '../../../../src/relay/queue/recipient-results.js';

const env: QueueEnvelope = { id: 'a1b2c3d4-0000-4000-8000-000000000001', from: 'app@example.com', to: ['a@dest.example', 'b@dest.example'], receivedAt: 1_700_000_000_000, user: 'app1', client: '127.0.0.1', requireTls: false, use8BitMime: true };

describe('retryDelayMs', () => {
  test('doubles per failure from the minimum, capped at the maximum', () => {
    const mid = () => 0.5; // no jitter: 0.5 + 0.5 = x1
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 300_000, 4_000_000, mid))).toEqual([300_000, 600_000, 1_200_000, 2_400_000, 4_000_000, 4_000_000]);
  });
  test('jitter spreads the base over [base/2, 1.5 x base), always within [min, max]', () => {
    expect(retryDelayMs(3, 1000, 60_000, () => 0)).toBe(2000); // 4000 x 0.5
    expect(retryDelayMs(3, 1000, 60_000, () => 0.999)).toBe(5996); // 4000 x 1.499
    expect(retryDelayMs(1, 1000, 60_000, () => 0)).toBe(1000); // clamped up to min
    expect(retryDelayMs(10, 1000, 60_000, () => 0.999)).toBe(60_000); // clamped down to max
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(1 + (i % 50), 500, 8000);
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });
  test('stays finite after very many failures', () => {
    expect(retryDelayMs(10_000, 1000, 4_000_000, () => 0.5)).toBe(4_000_000);
  });
});

describe('envelope codec', () => {
  test('a header round-trips, and the body starts right after it', () => {
    const body = Buffer.from('Subject: x\r\n\r\nhello\r\n');
    const file = Buffer.concat([encodeHeader(env), body]);
    const { envelope, bodyOffset } = decodeHeader(file);
    expect(envelope).toEqual(env);
    expect(file.subarray(bodyOffset).equals(body)).toBe(true);
  });
  test('a null sender and the DSN flag survive', () => {
    const dsn = { ...env, from: '', dsn: true, user: undefined, client: undefined };
    const { envelope } = decodeHeader(encodeHeader(dsn));
    expect(envelope.from).toBe('');
    expect(envelope.dsn).toBe(true);
  });
  test.each([
    ['no magic', Buffer.from('hello\n{}\n')],
    ['truncated envelope', Buffer.from('SMTPRELAYQ1\n{"id":"x"')],
    ['not JSON', Buffer.from('SMTPRELAYQ1\n{oops}\nbody')],
    ['no recipients', encodeHeader({ ...env, to: [] })],
    ['a recipient with a line break', Buffer.from(`SMTPRELAYQ1\n${JSON.stringify({ ...env, to: ['a@x\r\nRCPT TO:<b@y>'] })}\n`)],
    ['a sender with angle brackets', Buffer.from(`SMTPRELAYQ1\n${JSON.stringify({ ...env, from: 'a@x> SIZE=1' })}\n`)],
    ['a bad id', Buffer.from(`SMTPRELAYQ1\n${JSON.stringify({ ...env, id: '../etc/passwd' })}\n`)],
    ['no receivedAt', Buffer.from(`SMTPRELAYQ1\n${JSON.stringify({ ...env, receivedAt: 'yesterday' })}\n`)],
  ])('refuses a corrupt header: %s', (_name, buf) => {
    expect(() => decodeHeader(buf)).toThrow(QueueFormatError);
  });
  test('state round-trips and may only name the message\'s recipients', () => {
    const state = { remaining: ['b@dest.example'] };
    expect(decodeState(encodeState(state).toString(), env)).toEqual(state);
    expect(() => decodeState(JSON.stringify({ remaining: ['stranger@x.example'] }), env)).toThrow(/not a recipient/);
    expect(() => decodeState('{', env)).toThrow(QueueFormatError);
  });
});

describe('classifyAttempt', () => {
  const rcpts = ['ok@d.example', 'gone@d.example', 'busy@d.example'];
  test('accepted are delivered, 5xx at RCPT bounce, 4xx at RCPT are deferred', () => {
    const d = classifyAttempt(rcpts, {
      kind: 'answered',
      accepted: ['ok@d.example'],
      rejected: [
        { recipient: 'gone@d.example', code: 550, response: '550 5.1.1 <gone@d.example>: Recipient address rejected: No such user' },
        { recipient: 'busy@d.example', code: 450, response: '450 4.2.0 <busy@d.example>: Recipient address rejected: Mailbox busy' },
      ],
      response: '250 2.0.0 Ok: queued as ABC',
    });
    expect(d.delivered).toEqual(['ok@d.example']);
    expect(d.bounced).toEqual([{ recipient: 'gone@d.example', code: 550, status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 <gone@d.example>: Recipient address rejected: No such user' }]);
    expect(d.deferred.map((f) => [f.recipient, f.status])).toEqual([['busy@d.example', '4.2.0']]);
  });
  test('a connection failure defers everyone; no reply code, a local diagnostic', () => {
    const d = classifyAttempt(rcpts, { kind: 'failed', response: '', temporary: true, reason: 'upstream_unavailable', message: '4.4.1 Upstream unavailable, try again later', rejected: [] });
    expect(d.delivered).toEqual([]);
    expect(d.bounced).toEqual([]);
    expect(d.deferred.map((f) => f.status)).toEqual(['4.4.1', '4.4.1', '4.4.1']);
    expect(d.deferred[0]?.diagnostic).toMatch(/^X-smtp-relay; 4\.4\.1 Upstream unavailable/);
  });
  test('end of DATA refused with 554: every recipient not refused before bounces; one refused at RCPT keeps its own reply', () => {
    const d = classifyAttempt(rcpts, { kind: 'failed', code: 554, response: '554 5.7.1 Content rejected', temporary: false, reason: 'upstream_5xx', message: 'x', rejected: [{ recipient: 'busy@d.example', code: 452, response: '452 4.5.3 Too many recipients' }] });
    expect(d.bounced.map((f) => [f.recipient, f.status])).toEqual([
      ['ok@d.example', '5.7.1'],
      ['gone@d.example', '5.7.1'],
    ]);
    expect(d.deferred.map((f) => [f.recipient, f.code])).toEqual([['busy@d.example', 452]]);
  });
  test('REQUIRETLS the next hop cannot honour bounces with 5.7.30', () => {
    const d = classifyAttempt(['a@d.example'], { kind: 'failed', response: '', temporary: false, reason: 'requiretls', message: '5.7.30 REQUIRETLS support required', rejected: [] });
    expect(d.bounced[0]?.status).toBe('5.7.30');
  });
  test('a recipient neither accepted nor refused is deferred, never dropped', () => {
    const d = classifyAttempt(['a@d.example', 'b@d.example'], { kind: 'answered', accepted: ['A@D.example'], rejected: [], response: '250 ok' });
    expect(d.delivered).toEqual(['a@d.example']);
    expect(d.deferred.map((f) => f.recipient)).toEqual(['b@d.example']);
  });
  test('an enhanced status whose class disagrees with the code is not trusted', () => {
    expect(statusOf('550 4.2.0 odd', 550, '5.0.0')).toBe('5.0.0');
    expect(statusOf('451 4.3.0 later', 451, '4.0.0')).toBe('4.3.0');
  });
});

describe('buildDsn', () => {
  const original = Buffer.from('From: <app@example.com>\r\nTo: <gone@d.example>\r\nSubject: hello\r\nMessage-ID: <m1@example.com>\r\n\r\nbody text\r\n');
  const dsn = buildDsn({
    reportingMta: 'relay.test.example',
    remoteMta: '127.0.0.1',
    original: env,
    failures: [{ recipient: 'gone@d.example', code: 550, status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 No such user' }],
    originalHeaders: headerBlock(original),
    now: new Date('2026-12-01T18:00:00Z'),
    token: 'tok123',
    expired: false,
  }).toString('latin1');

  test('is an RFC 3464 multipart/report to the original sender', () => {
    expect(dsn).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@relay\.test\.example>\r\n/);
    expect(dsn).toContain('To: <app@example.com>\r\n');
    expect(dsn).toContain('Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-tok123"\r\n');
    expect(dsn).toContain('Auto-Submitted: auto-replied\r\n');
    expect(dsn).toContain('Content-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\nReporting-MTA: dns; relay.test.example\r\n');
    expect(dsn).toContain('Final-Recipient: rfc822; gone@d.example\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; 127.0.0.1\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user\r\n');
    expect(dsn.trimEnd().endsWith('--dsn-tok123--')).toBe(true);
  });
  test('carries the original header block only, not the body', () => {
    expect(dsn).toContain('Content-Type: text/rfc822-headers');
    expect(dsn).toContain('Subject: hello\r\nMessage-ID: <m1@example.com>\r\n');
    expect(dsn).not.toContain('body text');
  });
  test('headerBlock: bare LF becomes CRLF; a block cut short drops its partial last line', () => {
    expect(headerBlock(Buffer.from('A: 1\nB: 2\n\nbody')).toString()).toBe('A: 1\r\nB: 2');
    expect(headerBlock(Buffer.from('A: 1\r\nB: 22222222'), 12).toString()).toBe('A: 1');
  });
  test('dates are RFC 5322', () => {
    expect(rfc5322Date(new Date('2026-12-01T18:00:00Z'))).toBe('Tue, 01 Dec 2026 18:00:00 +0000');
  });
});

describe('DueHeap', () => {
  test('pops in due order, whatever the push order', () => {
    const h = new DueHeap();
    const dues = [50, 10, 40, 10, 30, 20, 60, 0, 35];
    dues.forEach((due, i) => h.push({ due, id: `m${i}` }));
    const out: number[] = [];
    for (let x = h.pop(); x; x = h.pop()) out.push(x.due);
    expect(out).toEqual([...dues].sort((a, b) => a - b));
    expect(h.size).toBe(0);
  });
});
