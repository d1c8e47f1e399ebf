// Which DKIM key signs a message (relaxed alignment with the header From:), and relay.json
// `dkim` in both shapes.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { alignedDomain, DkimKeySet, fromDomain, publicKeyOf } from '../../../src/relay/dkim-keys.js';
import { fromHeader } from '../../../src/relay/header-from.js';
import { ConfigError, dkimKeys } from '../../../src/relay/config.js';

describe('alignedDomain', () => {
  const keys = ['example.com', 'mail.example.com', 'apps.example'];
  test.each([
    ['example.com', 'example.com'],
    ['EXAMPLE.com.', 'example.com'],
    ['mail.example.com', 'mail.example.com'], // exact beats parent
    ['news.mail.example.com', 'mail.example.com'], // the closest parent
    ['shop.example.com', 'example.com'],
    ['x.apps.example', 'apps.example'],
  ])('From: %s -> d=%s', (from, d) => expect(alignedDomain(from, keys)).toBe(d));
  test.each(['notexample.com', 'example.org', 'com', 'example.com.evil.test', ''])('From: %s aligns with no key', (from) => expect(alignedDomain(from, keys)).toBeUndefined());
  test('no From: domain, no key', () => expect(alignedDomain(undefined, keys)).toBeUndefined());
});

describe('fromDomain (from the parsed header From:)', () => {
  test.each([
    ['From: App <app@Example.COM>', 'example.com'],
    ['From: a@example.com, b@example.com', 'example.com'],
    ['From: a@example.com, b@apps.example', undefined], // two domains: no single alignment
    ['Subject: none', undefined],
    ['From: "quoted"@example.com', undefined], // refused by the parser: not signed
  ])('%s -> %s', (block, d) => expect(fromDomain(fromHeader(block))).toBe(d));
});

describe('DkimKeySet', () => {
  test('picks the aligned signer and serves public keys sorted by domain', () => {
    const set = new DkimKeySet<string>();
    set.set('example.com', 's1', 'signer-example', 'PK1');
    set.set('apps.example', 's2', 'signer-apps', 'PK2');
    expect(set.signerFor('news.example.com')).toBe('signer-example');
    expect(set.signerFor('apps.example')).toBe('signer-apps');
    expect(set.signerFor('other.example')).toBeUndefined();
    expect(set.publicKeys()).toEqual([
      { domain: 'apps.example', selector: 's2', publicKey: 'PK2' },
      { domain: 'example.com', selector: 's1', publicKey: 'PK1' },
    ]);
    set.set('apps.example', 's3', 'signer-apps-2', 'PK3'); // a reload replaces only its domain
    expect(set.signerFor('apps.example')).toBe('signer-apps-2');
    expect(set.size).toBe(2);
  });

  test('publicKeyOf: SPKI of an RSA key; other key types are refused with a reason', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(publicKeyOf(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)).toBe(publicKey.export({ type: 'spki', format: 'der' }).toString('base64'));
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => publicKeyOf(ed)).toThrow('a DKIM key must be an RSA key, not ed25519');
  });
});

describe('relay.json dkim', () => {
  test('the older single object becomes a list of one', () => {
    expect(dkimKeys({ selector: 's1', domain: 'Example.com', keyDir: '/k' })).toEqual([{ domain: 'example.com', selector: 's1', keyDir: '/k' }]);
  });
  test('a list is kept, domains lower-cased', () => {
    expect(
      dkimKeys([
        { selector: 's1', domain: 'example.com', keyDir: '/k/a' },
        { selector: 's2', domain: 'APPS.example', keyDir: '/k/b' },
      ]),
    ).toEqual([
      { domain: 'example.com', selector: 's1', keyDir: '/k/a' },
      { domain: 'apps.example', selector: 's2', keyDir: '/k/b' },
    ]);
  });
  test.each([
    [[], /config\.dkim must list at least one key/],
    [[{ selector: 's1', domain: 'example.com', keyDir: '/a' }, { selector: 's2', domain: 'EXAMPLE.com', keyDir: '/b' }], /config\.dkim\[1\]\.domain 'EXAMPLE\.com' appears twice/],
    [[{ selector: 's1', domain: 'example.com' }], /config\.dkim\[0\]\.keyDir must be a non-empty string/],
    [{ selector: 's1', domain: 'not a domain', keyDir: '/a' }, /config\.dkim\.domain 'not a domain' is not a domain name/],
    ['s1', /config\.dkim must be an object/],
  ])('%j is refused, naming the field', (value, message) => {
    expect(() => dkimKeys(value)).toThrow(ConfigError);
    expect(() => dkimKeys(value)).toThrow(message);
  });
});
