import { describe, expect, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { UserStore } from '../../../src/relay/users.js';

function snap(files: Record<string, string>) {
  return { files: new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])), hash: 'x' };
}

describe('UserStore', () => {
  const hash = bcrypt.hashSync('s3cret-b', 4);
  const store = UserStore.fromSnapshot(snap({ alice: 'pw-a\n', bob: hash, 'bad name': 'x', empty: '' }));
  test('plain passwords (one trailing newline dropped) and bcrypt hashes verify', async () => {
    expect(await store.verify('alice', 'pw-a')).toBe(true);
    expect(await store.verify('alice', 'pw-a\n')).toBe(false);
    expect(await store.verify('bob', 's3cret-b')).toBe(true);
    expect(await store.verify('bob', hash)).toBe(false);
  });
  test('unknown user and wrong password fail', async () => {
    expect(await store.verify('carol', 'pw-a')).toBe(false);
    expect(await store.verify('alice', 'nope')).toBe(false);
  });
  test('bad names and empty values are skipped, not users', () => {
    expect(store.size).toBe(2);
    expect(store.skipped.sort()).toEqual(['bad name', 'empty']);
  });
});
