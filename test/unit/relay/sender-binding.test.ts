import { describe, expect, test } from '@jest/globals';
import { SenderBinding } from '../../../src/relay/sender-binding.js';

describe('SenderBinding (smtpd_sender_login_maps)', () => {
  const b = new SenderBinding({ senderLogins: { app1: ['app1@example.com'], billing: ['@billing.example.com', 'invoices@example.com'] }, allowedSenderDomains: ['example.com', 'billing.example.com'] });

  test('a listed user may use only the listed addresses and domains', () => {
    expect(b.owns('app1', 'app1@example.com')).toBe(true);
    expect(b.owns('app1', 'App1@Example.COM')).toBe(true);
    expect(b.owns('app1', 'other@example.com')).toBe(false);
    expect(b.owns('billing', 'anything@billing.example.com')).toBe(true);
    expect(b.owns('billing', 'invoices@example.com')).toBe(true);
    expect(b.owns('billing', 'x@sub.billing.example.com')).toBe(false);
  });

  test('an unlisted user may use allowedSenderDomains', () => {
    expect(b.owns('app2', 'whoever@example.com')).toBe(true);
    expect(b.owns('app2', 'whoever@evil.example')).toBe(false);
    expect(b.restricts('app2')).toBe(true);
  });

  test('no list and no domains: no restriction (and no header hold)', () => {
    const open = new SenderBinding({ allowedSenderDomains: [] });
    expect(open.restricts('app1')).toBe(false);
    expect(open.owns('app1', 'ceo@anywhere.example')).toBe(true);
    const listedOnly = new SenderBinding({ senderLogins: { app1: ['app1@example.com'] }, allowedSenderDomains: [] });
    expect(listedOnly.restricts('app1')).toBe(true);
    expect(listedOnly.restricts('app2')).toBe(false);
  });

  test('the refusal is 553 5.7.1 naming the address and the user, printable only', () => {
    expect(b.check('app1', 'other@example.com')).toEqual({ code: 553, message: '5.7.1 Sender address <other@example.com> not owned by user <app1>' });
    expect(b.check('app1', 'app1@example.com')).toBeNull();
    expect(b.check('app1', 'x\u0000y@example.com')?.message).toContain('<x?y@example.com>');
  });
});
