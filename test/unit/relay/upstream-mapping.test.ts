import { describe, expect, test } from '@jest/globals';
import { mapUpstreamError, partialRejection } from '../../../src/relay/upstream.js';

describe('upstream reply mapping', () => {
  test('connection failure -> 451 4.4.1 (temporary: the client keeps the message)', () => {
    expect(mapUpstreamError({ code: 'ECONNECTION' })).toMatchObject({ code: 451, temporary: true, message: expect.stringMatching(/^4\.4\.1 /) });
  });
  test('timeout -> 451 4.4.2', () => {
    expect(mapUpstreamError({ code: 'ETIMEDOUT' }).message).toMatch(/^4\.4\.2 /);
  });
  test('upstream 4xx -> 451 with its enhanced code', () => {
    expect(mapUpstreamError({ code: 'EMESSAGE', responseCode: 450, response: '450 4.2.1 Mailbox busy' })).toMatchObject({ code: 451, temporary: true, message: expect.stringMatching(/^4\.2\.1 .*Mailbox busy/) });
  });
  test('upstream 5xx is passed back with code and enhanced code', () => {
    expect(mapUpstreamError({ code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 Spam' })).toMatchObject({ code: 554, temporary: false, message: expect.stringMatching(/^5\.7\.1 .*Spam/) });
  });
  test('REQUIRETLS not possible -> 550 5.7.30', () => {
    expect(mapUpstreamError({ code: 'EREQUIRETLS' })).toMatchObject({ code: 550, message: expect.stringMatching(/^5\.7\.30 /) });
  });
  test('upstream text cannot inject control characters', () => {
    expect(mapUpstreamError({ responseCode: 550, response: '550 5.1.1 bad\r\n250 fake' }).message).not.toMatch(/[\r\n]/);
  });
  test('partial rejection: any 4xx -> 451, else the 5xx, naming the recipient', () => {
    expect(partialRejection([{ responseCode: 550, response: '550 5.1.1 No such user', recipient: 'a@x.example' }, { responseCode: 450, response: '450 busy', recipient: 'b@x.example' }])).toMatchObject({ code: 451, temporary: true });
    expect(partialRejection([{ responseCode: 550, response: '550 5.1.1 No such user', recipient: 'a@x.example' }])).toMatchObject({ code: 550, temporary: false, message: expect.stringMatching(/^5\.1\.1 .*<a@x\.example>.*relayed to no recipient/) });
  });
});
