import { describe, expect, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { BcryptPool, BcryptPoolBusy } from '../../../src/relay/bcrypt-pool.js';
import { dummyBcryptHash, UserStore } from '../../../src/relay/users.js';

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

describe('UserStore: hashes and warnings', () => {
  test('a $2y$ hash (what `htpasswd -nbBC 12` writes) is a bcrypt user, checked through the worker pool too', async () => {
    // $2y$ is PHP/Apache's name for the same algorithm as $2b$; htpasswd is not on the test machine.
    const y = bcrypt.hashSync('app-password', 4).replace(/^\$2[ab]\$/, '$2y$');
    expect(y.startsWith('$2y$04$')).toBe(true);
    const s = UserStore.fromSnapshot(snap({ app: y }));
    expect(s.plaintextUsers).toEqual([]);
    expect(s.bcryptCost).toBe(4);
    expect(await s.verify('app', 'app-password')).toBe(true);
    expect(await s.verify('app', y)).toBe(false); // not taken as a plaintext password
    const pool = new BcryptPool({ size: 1 });
    try {
      const p = UserStore.fromSnapshot(snap({ app: y }), pool.compare);
      expect(await p.verify('app', 'app-password')).toBe(true);
      expect(await p.verify('app', 'wrong')).toBe(false);
    } finally {
      await pool.close();
    }
  });

  test('plaintext users are listed by name, to warn about; bcrypt users are not', () => {
    const s = UserStore.fromSnapshot(snap({ zed: 'plain', alice: 'pw', bob: bcrypt.hashSync('x', 4) }));
    expect(s.plaintextUsers).toEqual(['alice', 'zed']);
  });

  test('the unknown-user dummy hash takes the highest cost among the real hashes', async () => {
    const s = UserStore.fromSnapshot(snap({ a: bcrypt.hashSync('x', 4), b: bcrypt.hashSync('y', 6), c: 'plain' }));
    expect(s.bcryptCost).toBe(6);
    const seen: string[] = [];
    const spy = UserStore.fromSnapshot(snap({ a: bcrypt.hashSync('x', 4), b: bcrypt.hashSync('y', 6) }), async (_p, h) => {
      seen.push(h);
      return false;
    });
    expect(await spy.verify('nobody', 'guess')).toBe(false);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^\$2b\$06\$[./A-Za-z0-9]{53}$/);
    expect(UserStore.fromSnapshot(snap({ p: 'plain' })).bcryptCost).toBe(0);
  });

  test('a built dummy hash is a valid bcrypt hash of its cost that matches nothing', async () => {
    const h = dummyBcryptHash(5);
    expect(bcrypt.getRounds(h)).toBe(5);
    expect(await bcrypt.compare('', h)).toBe(false);
    expect(await bcrypt.compare('password', h)).toBe(false);
  });

  test('bcrypt verification goes through the injected compare (the worker pool in the relay)', async () => {
    const pool = new BcryptPool({ size: 1 });
    try {
      const s = UserStore.fromSnapshot(snap({ bob: bcrypt.hashSync('s3cret', 4) }), pool.compare);
      expect(await s.verify('bob', 's3cret')).toBe(true);
      expect(await s.verify('bob', 'wrong')).toBe(false);
      expect(await s.verify('nobody', 'wrong')).toBe(false);
      expect(pool.completed).toBe(3); // the unknown user paid a bcrypt verification too
    } finally {
      await pool.close();
    }
  });
});

describe('BcryptPool', () => {
  test('runs verifications in worker threads and refuses when its queue is full', async () => {
    const pool = new BcryptPool({ size: 1, maxQueue: 2 });
    const hash = bcrypt.hashSync('pw', 8);
    try {
      const jobs = [pool.compare('pw', hash), pool.compare('no', hash), pool.compare('pw', hash)];
      // One running, two waiting: the fourth is refused at once.
      await expect(pool.compare('pw', hash)).rejects.toBeInstanceOf(BcryptPoolBusy);
      expect(await Promise.all(jobs)).toEqual([true, false, true]);
      expect(pool.completed).toBe(3);
    } finally {
      await pool.close();
    }
  });

  test('a malformed hash is false, not a crash', async () => {
    const pool = new BcryptPool({ size: 1 });
    try {
      expect(await pool.compare('pw', '$2b$99$notahash')).toBe(false);
    } finally {
      await pool.close();
    }
  });
});
