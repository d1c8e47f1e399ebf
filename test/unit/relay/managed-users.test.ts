// The relay's managed users dir (SmtpUsers): JSON per user, several hashes during a rotation's
// grace period, expiry enforced at AUTH time, static users winning a name clash.
import { describe, expect, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { parseManagedUsers, UserStore } from '../../../src/relay/users.js';
import type { DirSnapshot } from '../../../src/relay/secret-dir.js';

const snap = (files: Record<string, string>): DirSnapshot => ({ files: new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])), hash: 'h' });
const OLD = bcrypt.hashSync('old-password', 4);
const NEW = bcrypt.hashSync('new-password', 4);

describe('managed users', () => {
  test('parses hashes, notAfter and senders; malformed entries are skipped by name', () => {
    const { users, skipped } = parseManagedUsers(
      snap({
        'payments.billing': JSON.stringify({ hashes: [{ hash: NEW, issuedAt: 'x' }, { hash: OLD, notAfter: '2030-01-01T00:00:00Z' }], senders: ['billing@example.com'] }),
        'bad.json': '{not json',
        'bad.hash': JSON.stringify({ hashes: [{ hash: 'plaintext' }], senders: [] }),
        'bad name!': JSON.stringify({ hashes: [], senders: [] }),
      }),
    );
    expect([...users.keys()]).toEqual(['payments.billing']);
    expect(users.get('payments.billing')).toEqual({ hashes: [{ hash: NEW }, { hash: OLD, notAfterMs: Date.parse('2030-01-01T00:00:00Z') }], senders: ['billing@example.com'] });
    expect(skipped.sort()).toEqual(['bad name!', 'bad.hash', 'bad.json']);
  });

  test('during the grace period both passwords work; after notAfter only the new one, even before the operator removes it', async () => {
    const future = new Date(Date.now() + 60_000).toISOString();
    const past = new Date(Date.now() - 1).toISOString();
    const during = UserStore.merged(null, parseManagedUsers(snap({ u: JSON.stringify({ hashes: [{ hash: NEW }, { hash: OLD, notAfter: future }], senders: ['a@x.com'] }) })).users);
    expect(await during.verify('u', 'new-password')).toBe(true);
    expect(await during.verify('u', 'old-password')).toBe(true);
    expect(await during.verify('u', 'wrong')).toBe(false);
    const after = UserStore.merged(null, parseManagedUsers(snap({ u: JSON.stringify({ hashes: [{ hash: NEW }, { hash: OLD, notAfter: past }], senders: ['a@x.com'] }) })).users);
    expect(await after.verify('u', 'old-password')).toBe(false);
    expect(await after.verify('u', 'new-password')).toBe(true);
    expect(await after.verify('nobody', 'new-password')).toBe(false);
  });

  test('merged with the static users; a static user of the same name wins and the managed one is reported as shadowed', async () => {
    const managed = parseManagedUsers(snap({ alice: JSON.stringify({ hashes: [{ hash: NEW }], senders: ['a@x.com'] }), bob: JSON.stringify({ hashes: [{ hash: NEW }], senders: ['b@x.com'] }) })).users;
    const store = UserStore.merged(snap({ alice: OLD }), managed);
    expect(store.shadowed).toEqual(['alice']);
    expect(store.size).toBe(2);
    expect(await store.verify('alice', 'old-password')).toBe(true);
    expect(await store.verify('alice', 'new-password')).toBe(false);
    expect(await store.verify('bob', 'new-password')).toBe(true);
  });
});
