// The open-relay verdict from what an endpoint answered to MAIL/RCPT without AUTH. Pure.
import { describe, expect, test } from '@jest/globals';
import { checkAfterTls } from '../../../src/probe/fast-probe.js';
import { classifyRelayAttempt, relayRefusedAtGreeting } from '../../../src/probe/relay-check.js';

const reply = (code: number, text = 'x') => ({ code, lines: [text] });

describe('open-relay classification', () => {
  test('a 2xx to RCPT from an outside sender without AUTH is an open relay', () => {
    expect(classifyRelayAttempt({ mail: reply(250, '2.1.0 Ok'), rcpt: reply(250, '2.1.5 Ok') })).toMatchObject({ check: 'open-relay', result: 'fail', reason: 'open-relay', message: expect.stringMatching(/250 2\.1\.5 Ok.*open relay/) });
    expect(classifyRelayAttempt({ mail: reply(250), rcpt: reply(251, 'User not local; will forward') }).reason).toBe('open-relay');
  });
  test('MAIL refused without AUTH (530, or the relay listener refusing an outside sender with 553) passes', () => {
    expect(classifyRelayAttempt({ mail: reply(530, '5.7.0 Authentication required') })).toMatchObject({ result: 'pass', message: expect.stringMatching(/refused \(530 5\.7\.0/) });
    expect(classifyRelayAttempt({ mail: reply(553, '5.7.1 Sender domain not allowed') }).result).toBe('pass');
  });
  test('MAIL accepted, RCPT refused (Postfix: 554 Relay access denied) passes', () => {
    expect(classifyRelayAttempt({ mail: reply(250), rcpt: reply(554, '5.7.1 Relay access denied') })).toMatchObject({ result: 'pass', message: expect.stringMatching(/recipient refused .*554 5\.7\.1 Relay access denied/) });
  });
  test('a temporary refusal is not acceptance, and says it was temporary', () => {
    expect(classifyRelayAttempt({ mail: reply(451) })).toMatchObject({ result: 'pass', message: expect.stringContaining('temporarily refused') });
    expect(classifyRelayAttempt({ mail: reply(250), rcpt: reply(450, 'greylisted') })).toMatchObject({ result: 'pass', message: expect.stringContaining('temporarily refused') });
  });
  test('MAIL accepted and no RCPT answer is a warning, never a pass', () => {
    expect(classifyRelayAttempt({ mail: reply(250) })).toMatchObject({ result: 'warn', reason: 'protocol-error' });
  });
  test('a connection refused at the greeting relays nothing, and says the sender check did not run', () => {
    expect(relayRefusedAtGreeting(reply(554, '5.7.1 Relay access denied for this client address'))).toMatchObject({ check: 'open-relay', result: 'pass', message: expect.stringMatching(/554 5\.7\.1 .*not exercised/) });
  });
});

describe('AUTH after TLS on an unauthenticated relay listener', () => {
  test('not offering AUTH is expected there, and still a warning on a submission port', () => {
    expect(checkAfterTls(['PIPELINING', '8BITMIME'], true)[0]).toMatchObject({ check: 'auth-after-tls', result: 'pass' });
    expect(checkAfterTls(['PIPELINING', '8BITMIME'])[0]).toMatchObject({ check: 'auth-after-tls', result: 'warn', reason: 'auth-not-offered' });
  });
});
