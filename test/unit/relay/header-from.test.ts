import { describe, expect, test } from '@jest/globals';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkFromHeader, decodeEncodedWords, fromHeader, headerBlockLength, HeaderEndScanner, headerFields } from '../../../src/relay/header-from.js';
import { HeaderFromGate } from '../../../src/relay/header-from-gate.js';
import { SenderBinding } from '../../../src/relay/sender-binding.js';

const addresses = (block: string) => {
  const f = fromHeader(block);
  return f.kind === 'present' ? [...f.addresses, ...f.displayed] : f;
};

describe('header block end', () => {
  test.each([
    ['CRLF', 'A: 1\r\nB: 2\r\n\r\nbody', 12],
    ['bare LF', 'A: 1\nB: 2\n\nbody', 10],
    ['bare CR (the upstream will see CRLF)', 'A: 1\rB: 2\r\rbody', 10],
    ['message starting with an empty line', '\r\nbody', 0],
    ['no empty line yet', 'A: 1\r\nB: 2\r\n', -1],
    ['CR at the end: undecided until the next byte', 'A: 1\r', -1],
  ])('%s', (_n, text, len) => {
    expect(headerBlockLength(Buffer.from(text))).toBe(len);
  });

  test('found across chunk boundaries, one byte at a time', () => {
    const s = new HeaderEndScanner();
    const text = Buffer.from('From: a@b.example\r\n\r\nbody');
    let found = -1;
    for (let i = 0; i < text.length && found < 0; i++) found = s.push(text.subarray(i, i + 1));
    expect(found).toBe(19);
  });
});

describe('header fields', () => {
  test('unfolds continuation lines and keeps "From :" (obs-syntax) as From', () => {
    expect(headerFields('Subject: a\r\n b\r\nFrom : x@y.example\r\n')).toEqual([
      { name: 'Subject', value: ' a b' },
      { name: 'From', value: ' x@y.example' },
    ]);
  });
});

describe('From: addresses', () => {
  test.each([
    ['bare address', 'From: app1@example.com', ['app1@example.com']],
    ['display name and angle address', 'From: App One <app1@example.com>', ['app1@example.com']],
    ['quoted display name with specials', 'From: "One, App (billing)" <app1@example.com>', ['app1@example.com']],
    ['folded header', 'From: App One\r\n <app1@example.com>', ['app1@example.com']],
    ['folded with a tab, lower-case name', 'from:\r\n\tapp1@example.com', ['app1@example.com']],
    ['comment around an address', 'From: app1@example.com (App One)', ['app1@example.com']],
    ['several mailboxes', 'From: a@example.com, B <b@example.com>', ['a@example.com', 'b@example.com']],
    ['group', 'From: Team: a@example.com, <b@example.com>;', ['a@example.com', 'b@example.com']],
    ['display name that is an address', 'From: "ceo@example.com" <app1@example.com>', ['app1@example.com', 'ceo@example.com']],
    ['address hidden in an encoded word (Q)', 'From: =?utf-8?q?ceo=40example=2Ecom?= <app1@example.com>', ['app1@example.com', 'ceo@example.com']],
    ['address hidden in an encoded word (B)', `From: =?UTF-8?B?${Buffer.from('CEO@Example.com').toString('base64')}?= <app1@example.com>`, ['app1@example.com', 'ceo@example.com']],
    ['address in a comment', 'From: app1@example.com (ceo@example.com)', ['app1@example.com', 'ceo@example.com']],
    ['full-width at sign in a display name', 'From: "ceo＠example.com" <app1@example.com>', ['app1@example.com', 'ceo@example.com']],
  ])('%s', (_n, block, expected) => {
    expect(addresses(block)).toEqual(expected);
  });

  test.each([
    ['two From: headers', 'From: app1@example.com\r\nSubject: x\r\nFROM: ceo@example.com', 'more than one From: header'],
    ['words before a bare address', 'From: ceo app1@example.com', 'words before an address'],
    ['quoted local part', 'From: "ceo"@example.com', 'quoted local part'],
    ['source route', 'From: <@evil.example:ceo@example.com>', 'source route'],
    ['domain literal', 'From: ceo@[192.0.2.1]', "unexpected '['"],
    ['unterminated angle', 'From: App <app1@example.com', 'unterminated'],
    ['two angle addresses', 'From: <a@example.com> <b@example.com>', 'two <addresses>'],
    ['no address at all', 'From: undisclosed:;', 'without an address'],
    ['empty', 'From: ', 'without an address'],
    ['no @', 'From: =?utf-8?b?Y2VvQGV4YW1wbGUuY29t?=', 'without @'],
  ])('refused: %s', (_n, block, reason) => {
    const f = fromHeader(block);
    expect(f.kind).toBe('invalid');
    expect(f.kind === 'invalid' && f.reason).toContain(reason);
  });

  test('no From: header at all is "absent" (allowed; the envelope check still applies)', () => {
    expect(fromHeader('Subject: hi\r\nTo: x@y.example')).toEqual({ kind: 'absent' });
  });

  test('encoded words decode with their charset', () => {
    expect(decodeEncodedWords('=?iso-8859-1?q?J=F6rg?= =?utf-8?b?w6k=?=')).toBe('Jörg é');
  });
});

describe('checkFromHeader with the login binding', () => {
  const binding = new SenderBinding({ senderLogins: { app1: ['app1@example.com', '@billing.example.com'] }, allowedSenderDomains: ['example.com'] });
  const check = (block: string, user = 'app1') => checkFromHeader(block, user, (a) => binding.owns(user, a));

  test('owned addresses pass', () => {
    expect(check('From: App <APP1@example.com>')).toBeNull();
    expect(check('From: x@billing.example.com, y@BILLING.example.com')).toBeNull();
    expect(check('Subject: no from')).toBeNull();
  });

  test('a foreign address anywhere in From: is refused with 553 5.7.1', () => {
    expect(check('From: app1@example.com, ceo@example.com')).toEqual({ code: 553, message: '5.7.1 Sender address <ceo@example.com> not owned by user <app1>' });
    expect(check('From: "ceo@example.com" <app1@example.com>')?.code).toBe(553);
    expect(check('From: x@sub.billing.example.com')?.code).toBe(553); // @domain is that domain only
  });

  test('a user not listed may use allowedSenderDomains', () => {
    expect(check('From: anyone@example.com', 'other')).toBeNull();
    expect(check('From: anyone@elsewhere.example', 'other')?.code).toBe(553);
  });
});

async function through(gate: HeaderFromGate, chunks: string[]): Promise<string> {
  let out = '';
  gate.on('data', (c: Buffer) => (out += c.toString()));
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), gate);
  return out;
}

describe('HeaderFromGate', () => {
  const refuseCeo = (block: string) => (/ceo@/.test(block) ? { code: 553, message: '5.7.1 no' } : null);

  test('holds until the header is complete, then passes the message through unchanged', async () => {
    const gate = new HeaderFromGate(refuseCeo, new AbortController().signal);
    const chunks = ['From: app1@exa', 'mple.com\r\nSubject: s\r\n', '\r\nbody line\r\n', 'more\r\n'];
    const out = await through(gate, chunks);
    expect(out).toBe(chunks.join(''));
    expect(await gate.decision).toBeNull();
  });

  test('a refused header forwards nothing, and the input is still drained', async () => {
    const gate = new HeaderFromGate(refuseCeo, new AbortController().signal);
    const out = await through(gate, ['From: ceo@example.com\r\n\r\n', 'body\r\n'.repeat(1000)]);
    expect(out).toBe('');
    expect(await gate.decision).toEqual({ code: 553, message: '5.7.1 no' });
  });

  test('a header block over the bound is refused without being held', async () => {
    const gate = new HeaderFromGate(refuseCeo, new AbortController().signal, 1024);
    const out = await through(gate, Array<string>(50).fill(`X-Pad: ${'a'.repeat(70)}\r\n`));
    expect(out).toBe('');
    expect((await gate.decision)?.code).toBe(552);
  });

  test('a message that is all header (no empty line) is checked at its end', async () => {
    const gate = new HeaderFromGate(refuseCeo, new AbortController().signal);
    expect(await through(gate, ['From: app1@example.com\r\n'])).toBe('From: app1@example.com\r\n');
    const bad = new HeaderFromGate(refuseCeo, new AbortController().signal);
    expect(await through(bad, ['From: ceo@example.com'])).toBe('');
  });

  test('an aborted transaction (client gone) decides at once and forwards nothing', async () => {
    const abort = new AbortController();
    const gate = new HeaderFromGate(refuseCeo, abort.signal);
    gate.write(Buffer.from('From: app1@example.com\r\n'));
    abort.abort();
    expect((await gate.decision)?.code).toBe(451);
  });
});
